//! Every AWS call of a kind goes through an [`Api`]: one place that decides,
//! by what an error means (`errors::Class`), whether to try again.
//!
//! - Calls are paced to the buckets AWS publishes (`rates.rs`) before they
//!   are sent, so that an apply alone is never throttled.
//! - Throttling slows the whole service down (a gate shared by every call to
//!   it, reads and writes apart, as AWS meters them) and is retried until the
//!   policy's budget is spent, never after a fixed number of attempts.
//! - An answer that may or may not have been carried out (an internal error,
//!   a timeout, a lost connection) is retried for reads and for writes that
//!   are safe to repeat; a create is never repeated blindly: its caller learns
//!   that the outcome is unknown and looks for the object first.
//! - NotFound on a write names an id that AWS has not made visible yet
//!   (eventual consistency right after a create): retried within the settle
//!   window. Deletes take NotFound as done.
//!
//! The SDK's own retries are off (`client.rs`): one policy, one meaning.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::errors::{Class, class_of, from_sdk};
use crate::diag::Result;

/// One call through the service's policy, in the form
/// `call!(s, write "ModifyVpcAttribute", modify_vpc_attribute().vpc_id(id))`:
/// `s` is a [`super::Svc`], the word is the [`Api`] method (`read`, `write`,
/// `delete` or `create`), then the operation's name and the builder calls.
macro_rules! call {
    ($s:expr, $how:ident $op:literal, $($chain:tt)+) => {
        $s.api.$how($op, || $s.c.$($chain)+.send())
    };
}

/// Every item of every page of a paginated read:
/// `pages!(s, "DescribeVpcs", describe_vpcs().set_filters(Some(f.clone())))`.
macro_rules! pages {
    ($s:expr, $op:literal, $($chain:tt)+) => {
        $s.api.read($op, || {
            $s.c.$($chain)+.into_paginator().items().send().try_collect()
        })
    };
}

/// Every page's whole answer, for paginated reads that answer with several
/// lists (IAM's GetAccountAuthorizationDetails).
macro_rules! answers {
    ($s:expr, $op:literal, $($chain:tt)+) => {
        $s.api.read($op, || {
            $s.c.$($chain)+.into_paginator().send().try_collect()
        })
    };
}

pub(crate) use {answers, call, pages};

/// Calls tried again, per (operation, why): shared by every service's `Api`.
pub type RetryCounts = BTreeMap<(String, String), u64>;

/// How calls are retried.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    /// Attempts for an answer of unknown outcome (reads and repeatable writes).
    pub attempts: u32,
    /// How long throttling may hold up one call before it fails.
    pub throttle_budget: Duration,
    /// How long an id created moments ago may stay invisible.
    pub settle: Duration,
    /// The first delay between attempts; it doubles up to a cap.
    pub backoff: Duration,
    /// Where retries are counted (for `--stats` and tests).
    pub retries: Arc<Mutex<RetryCounts>>,
}

impl Policy {
    fn count_retry(&self, op: &str, class: Class) {
        let mut counts = self.retries.lock().unwrap_or_else(|x| x.into_inner());
        *counts
            .entry((op.to_string(), format!("{class:?}")))
            .or_default() += 1;
    }

    /// `AWS_MAX_ATTEMPTS` (the SDK's variable) for unknown outcomes, and
    /// `PROVISION_SETTLE` (a duration such as `2m`) for eventual consistency.
    pub(crate) fn from_env() -> Policy {
        let attempts = std::env::var("AWS_MAX_ATTEMPTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|n| *n >= 1)
            .unwrap_or(5);
        let settle = std::env::var("PROVISION_SETTLE")
            .ok()
            .and_then(|v| humantime::parse_duration(&v).ok())
            .unwrap_or(Duration::from_secs(120));
        Policy {
            attempts,
            throttle_budget: Duration::from_secs(30 * 60),
            settle,
            backoff: Duration::from_millis(100),
            retries: Arc::default(),
        }
    }
}

/// How long an id created moments ago may stay invisible, as the
/// environment says (`PROVISION_SETTLE`, default 2 minutes).
pub(crate) fn settle() -> Duration {
    static SETTLE: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *SETTLE.get_or_init(|| Policy::from_env().settle)
}

/// What kind of call this is, for the retry decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    Read,
    Detail,
    Write,
    Delete,
    Create,
}

/// Paces the calls of one service after AWS has throttled it: the rate drops
/// to a fraction of what was being sent, then climbs back with every success
/// until the gate opens fully again (additive increase, multiplicative decrease).
#[derive(Debug, Default)]
struct Gate {
    st: Mutex<GateState>,
}

#[derive(Debug, Default)]
struct GateState {
    /// Calls per second allowed; `None`: unlimited.
    rate: Option<f64>,
    next: Option<Instant>,
    recent: VecDeque<Instant>,
    throttles: u64,
}

const MIN_RATE: f64 = 0.5;
const OPEN_RATE: f64 = 200.0;

impl Gate {
    async fn pass(&self) -> Result<()> {
        let wait = {
            let mut g = self.st.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            g.recent.push_back(now);
            if g.recent.len() > 50 {
                g.recent.pop_front();
            }
            match g.rate {
                None => Duration::ZERO,
                Some(r) => {
                    let slot = g.next.map_or(now, |n| n.max(now));
                    g.next = Some(slot + Duration::from_secs_f64(1.0 / r));
                    slot - now
                }
            }
        };
        if !wait.is_zero() {
            crate::interrupt::pause(wait, "waiting for AWS's rate limit").await?;
        }
        Ok(())
    }

    fn throttled(&self) {
        let mut g = self.st.lock().unwrap_or_else(|p| p.into_inner());
        g.throttles += 1;
        let sent = match (g.recent.front(), g.recent.back()) {
            (Some(a), Some(b)) if g.recent.len() > 1 && b > a => {
                g.recent.len() as f64 / (*b - *a).as_secs_f64()
            }
            _ => 10.0,
        };
        let base = g.rate.unwrap_or(sent).min(sent.max(MIN_RATE));
        g.rate = Some((base * 0.5).max(MIN_RATE));
    }

    fn succeeded(&self) {
        let mut g = self.st.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = g.rate {
            let r = r + 0.5;
            g.rate = (r < OPEN_RATE).then_some(r);
        }
    }
}

/// One service's calls: its gates and the retry policy.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    reads: Gate,
    writes: Gate,
    policy: Policy,
    /// The service's name in AWS's rate tables (`rates.rs`); empty: none.
    service: &'static str,
    /// AWS's published buckets: calls are paced to them before they are
    /// sent.
    meters: super::rates::Meters,
}

/// How long a detail read waits for an object a list showed to be visible.
const DETAIL_SETTLE: Duration = Duration::from_secs(10);

type SdkResult<T, E> = std::result::Result<T, SdkError<E, HttpResponse>>;

impl Api {
    /// The calls of `service`, paced to the buckets AWS publishes for it.
    pub(crate) fn metered(policy: Policy, service: &'static str) -> Api {
        Api {
            inner: Arc::new(Inner {
                reads: Gate::default(),
                writes: Gate::default(),
                policy,
                service,
                meters: super::rates::Meters::default(),
            }),
        }
    }

    /// Takes a token from each published bucket `op` spends, waiting until
    /// the bucket has refilled enough when it is empty (waiters go in turn).
    /// An operation of the executor gives its slot back while it waits
    /// (`provider::pace`), so operations spending other buckets go on.
    async fn meter(&self, op: &str) -> Result<()> {
        let wait = self.inner.meters.take(self.inner.service, op);
        if !wait.is_zero() {
            crate::provider::pace(wait, "pacing calls to AWS's published rate").await?;
        }
        Ok(())
    }

    /// How long an id created moments ago may stay invisible.
    pub(crate) fn settle(&self) -> Duration {
        self.inner.policy.settle
    }

    /// A Describe/List/Get call.
    pub(crate) async fn read<T, E, F, Fut>(&self, op: &'static str, f: F) -> Result<T>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        F: FnMut() -> Fut,
        Fut: Future<Output = SdkResult<T, E>>,
    {
        self.run(op, How::Read, f).await
    }

    /// A read of more about an object a list has just shown (an attribute,
    /// its versions): NotFound means not visible yet, and is tried again
    /// for a few seconds.
    pub(crate) async fn detail<T, E, F, Fut>(&self, op: &'static str, f: F) -> Result<T>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        F: FnMut() -> Fut,
        Fut: Future<Output = SdkResult<T, E>>,
    {
        self.run(op, How::Detail, f).await
    }

    /// A change that is safe to repeat (modify, tag, associate, put).
    pub(crate) async fn write<T, E, F, Fut>(&self, op: &'static str, f: F) -> Result<T>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        F: FnMut() -> Fut,
        Fut: Future<Output = SdkResult<T, E>>,
    {
        self.run(op, How::Write, f).await
    }

    /// A change that is safe to repeat but that AWS answers with a
    /// "duplicate" error when it is already in place (a rule authorized, a
    /// route or association made): `None` when an earlier attempt, whose
    /// answer was lost, carried it out.
    pub(crate) async fn ensure<T, E, F, Fut>(&self, op: &'static str, f: F) -> Result<Option<T>>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        F: FnMut() -> Fut,
        Fut: Future<Output = SdkResult<T, E>>,
    {
        match self.attempts(op, How::Write, f).await {
            (Ok(v), _) => Ok(Some(v)),
            (Err(e), true) if class_of(&e) == Class::Duplicate => {
                tracing::debug!(op, "an attempt whose answer was lost did it: {e}");
                Ok(None)
            }
            (Err(e), _) => Err(e),
        }
    }

    /// A delete or detach: NotFound is answered at once (the caller takes it as done).
    pub(crate) async fn delete<T, E, F, Fut>(&self, op: &'static str, f: F) -> Result<T>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        F: FnMut() -> Fut,
        Fut: Future<Output = SdkResult<T, E>>,
    {
        self.run(op, How::Delete, f).await
    }

    /// A create. Repeated only when AWS certainly did not carry it out
    /// (throttled, or naming an id not visible yet); an unknown outcome is
    /// the caller's to resolve, or a create that takes an idempotency token
    /// (the same token every time) may use [`Api::write`].
    pub(crate) async fn create<T, E, F, Fut>(&self, op: &'static str, f: F) -> Result<T>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        F: FnMut() -> Fut,
        Fut: Future<Output = SdkResult<T, E>>,
    {
        self.run(op, How::Create, f).await
    }

    async fn run<T, E, F, Fut>(&self, op: &'static str, how: How, f: F) -> Result<T>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        F: FnMut() -> Fut,
        Fut: Future<Output = SdkResult<T, E>>,
    {
        self.attempts(op, how, f).await.0
    }

    /// Calls until an answer that ends it; true when an attempt's outcome
    /// was unknown (it may have been carried out).
    async fn attempts<T, E, F, Fut>(
        &self,
        op: &'static str,
        how: How,
        mut f: F,
    ) -> (Result<T>, bool)
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        F: FnMut() -> Fut,
        Fut: Future<Output = SdkResult<T, E>>,
    {
        let p = &self.inner.policy;
        let gate = match how {
            How::Read | How::Detail => &self.inner.reads,
            _ => &self.inner.writes,
        };
        let start = Instant::now();
        let mut unknown = 0;
        let mut tries = 0u32;
        loop {
            if let Err(e) = self.meter(op).await {
                return (Err(e), unknown > 0);
            }
            if let Err(e) = gate.pass().await {
                return (Err(e), unknown > 0);
            }
            let e = match f().await {
                Ok(v) => {
                    gate.succeeded();
                    return (Ok(v), unknown > 0);
                }
                Err(e) => from_sdk(op, e),
            };
            let class = class_of(&e);
            let again = match (class, how) {
                (Class::Throttled, _) => {
                    gate.throttled();
                    start.elapsed() < p.throttle_budget
                }
                (Class::Unknown, How::Create) => false,
                (Class::Unknown, _) => {
                    unknown += 1;
                    unknown < p.attempts
                }
                (Class::NotFound, How::Write | How::Create) => start.elapsed() < p.settle,
                (Class::NotFound, How::Detail) => start.elapsed() < p.settle.min(DETAIL_SETTLE),
                _ => false,
            };
            if !again {
                return (Err(e), unknown > 0 || class == Class::Unknown);
            }
            tracing::debug!(op, ?class, tries, "retrying: {e}");
            p.count_retry(op, class);
            tries += 1;
            let why = if class == Class::Throttled {
                "backing off: AWS throttled"
            } else {
                "backing off before trying again"
            };
            if let Err(stop) = crate::interrupt::pause(backoff(p.backoff, class, tries), why).await
            {
                return (Err(stop), unknown > 0 || class == Class::Unknown);
            }
        }
    }
}

/// The delay before try `n` (1-based): doubling, capped by class, with jitter.
fn backoff(base: Duration, class: Class, n: u32) -> Duration {
    let cap = match class {
        Class::Throttled => Duration::from_secs(20),
        _ => Duration::from_secs(5),
    };
    let d = base.saturating_mul(1 << n.min(16)).min(cap);
    d.mul_f64(0.5 + fastrand::f64() / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttled_gate_slows_down_then_opens_again() {
        let g = Gate::default();
        {
            let mut st = g.st.lock().unwrap();
            let now = Instant::now();
            for i in 0..20 {
                st.recent.push_back(now + Duration::from_millis(i * 10));
            }
        }
        g.throttled();
        let r = g.st.lock().unwrap().rate.unwrap();
        assert!((MIN_RATE..60.0).contains(&r), "{r}");
        g.throttled();
        assert!(g.st.lock().unwrap().rate.unwrap() < r);
        for _ in 0..1000 {
            g.succeeded();
        }
        assert_eq!(g.st.lock().unwrap().rate, None);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let b = Duration::from_millis(100);
        assert!(backoff(b, Class::Unknown, 1) <= Duration::from_millis(200));
        assert!(backoff(b, Class::Unknown, 30) <= Duration::from_secs(5));
        assert!(backoff(b, Class::Throttled, 30) >= Duration::from_secs(10));
    }
}
