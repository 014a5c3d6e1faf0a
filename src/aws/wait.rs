//! Waiting for AWS to finish what it does asynchronously: a poll that knows
//! the target state, the states on the way, and the states that mean failure
//! (which end the wait at once with AWS's reason, instead of at the timeout).

use std::future::Future;
use std::time::{Duration, Instant};

use crate::diag::{Error, Result};

/// What one poll saw.
#[derive(Debug)]
pub(crate) enum Seen<T> {
    /// Done: the object is in the state waited for.
    Ready(T),
    /// Still on the way; the state is named in the timeout message.
    Pending(String),
    /// AWS says it will not get there: the reason.
    Failed(String),
}

/// Polls until `Ready`, `Failed` or `timeout`, backing off from 200 ms to 10 s.
pub(crate) async fn until<T, F, Fut>(what: &str, timeout: Duration, mut poll: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Seen<T>>>,
{
    let start = Instant::now();
    let mut every = Duration::from_millis(200);
    loop {
        let state = match poll().await? {
            Seen::Ready(v) => return Ok(v),
            Seen::Failed(why) => return Err(Error::other(format!("{what} failed: {why}"))),
            Seen::Pending(state) => state,
        };
        if start.elapsed() >= timeout {
            return Err(Error::other(format!(
                "timed out after {} waiting for {what} (last seen: {state})",
                humantime::format_duration(Duration::from_secs(timeout.as_secs()))
            )));
        }
        crate::interrupt::pause(
            every.min(timeout.saturating_sub(start.elapsed())),
            &format!("waiting for {what}"),
        )
        .await?;
        every = (every * 2).min(Duration::from_secs(10));
    }
}

/// Waits until `exists` says the object is gone.
pub(crate) async fn gone<F, Fut>(what: &str, timeout: Duration, mut exists: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    until(&format!("{what} to be deleted"), timeout, || {
        let f = exists();
        async move {
            Ok(if f.await? {
                Seen::Pending("still there".into())
            } else {
                Seen::Ready(())
            })
        }
    })
    .await
}

/// Waits until the status `poll` reads is one of `target`; one of `failed`
/// (or a status starting with one) ends the wait at once. `None` from the
/// poll means not visible yet (right after a create).
pub(crate) async fn for_status<T, F, Fut>(
    what: &str,
    timeout: Duration,
    target: &[&str],
    failed: &[&str],
    mut poll: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<(String, T)>>>,
{
    until(what, timeout, || {
        let f = poll();
        async move {
            Ok(match f.await? {
                None => Seen::Pending("not visible yet".into()),
                Some((status, v)) => by_status(&status, target, failed, v),
            })
        }
    })
    .await
}

/// Maps a status string to what it means, given the target and failure states.
pub(crate) fn by_status<T>(status: &str, target: &[&str], failed: &[&str], v: T) -> Seen<T> {
    if target.contains(&status) {
        Seen::Ready(v)
    } else if failed.iter().any(|f| status == *f || status.starts_with(f)) {
        Seen::Failed(format!("it is {status}"))
    } else {
        Seen::Pending(status.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failure_state_ends_the_wait_at_once() {
        let t = Instant::now();
        let mut n = 0;
        let r: Result<()> = until("thing", Duration::from_secs(60), || {
            n += 1;
            let n = n;
            async move {
                Ok(if n < 2 {
                    Seen::Pending("pending".into())
                } else {
                    by_status("failed", &["available"], &["failed"], ())
                })
            }
        })
        .await;
        assert!(
            r.unwrap_err()
                .to_string()
                .contains("thing failed: it is failed")
        );
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
