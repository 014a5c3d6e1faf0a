//! SIGINT and SIGTERM as everything that waits sees them. The first signal
//! raises the process's [`Interrupt`]: nothing new starts, and every wait or
//! retry loop ([`pause`]) ends at once with [`Error::Interrupted`], so an
//! apply stops within moments, its state as true as after kill -9 (a begun
//! create recorded as begun, an unfinished delete still recorded), its lock
//! released. The second signal ends the process: [`release_now`] first frees
//! the lock, if it can within a second.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::diag::{Error, Result};

/// SIGINT or SIGTERM, once it came: everything that waits sees it.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    flag: Arc<AtomicBool>,
    notify: Arc<tokio::sync::Notify>,
}

impl Interrupt {
    /// Raises it; true the first time.
    pub fn raise(&self) -> bool {
        let first = !self.flag.swap(true, Ordering::SeqCst);
        self.notify.notify_waiters();
        first
    }

    pub fn raised(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// The flag the executor checks before starting anything.
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.flag.clone()
    }

    /// Waits until it is raised.
    pub async fn wait(&self) {
        let n = self.notify.notified();
        tokio::pin!(n);
        n.as_mut().enable();
        if self.raised() {
            return;
        }
        n.await;
    }
}

/// The process's interrupt, which the signal handler raises and every wait
/// of the AWS layer looks at.
pub fn global() -> &'static Interrupt {
    static G: OnceLock<Interrupt> = OnceLock::new();
    G.get_or_init(Interrupt::default)
}

/// Sleeps for `d`, unless the process is interrupted first (or was already):
/// then `Error::Interrupted`, naming what was waited for.
pub async fn pause(d: Duration, what: &str) -> Result<()> {
    let i = global();
    if i.raised() {
        return Err(stopped(what));
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => Ok(()),
        _ = i.wait() => Err(stopped(what)),
    }
}

fn stopped(what: &str) -> Error {
    Error::Interrupted(format!("stopped {what}"))
}

type Release = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

fn held() -> &'static Mutex<Option<Release>> {
    static H: OnceLock<Mutex<Option<Release>>> = OnceLock::new();
    H.get_or_init(Default::default)
}

/// What frees the lock this process holds, for a second signal; `None` once
/// it is released.
pub fn on_exit_release(r: Option<Release>) {
    *held().lock().unwrap_or_else(|p| p.into_inner()) = r;
}

/// Frees the lock this process holds, giving up after a second.
pub async fn release_now() -> bool {
    let r = held().lock().unwrap_or_else(|p| p.into_inner()).take();
    match r {
        Some(r) => tokio::time::timeout(Duration::from_secs(1), r())
            .await
            .is_ok(),
        None => false,
    }
}
