//! The executor: carries out a plan, in dependency order, concurrently where
//! possible, writing state after every completed operation.
//!
//! Concurrency is bounded in one place (`parallelism`): an operation starts
//! when a slot is free, and among the ready ones the one with the longest
//! expected chain behind it goes first (the kinds' `takes`), so that an
//! Aurora cluster does not wait behind a row of security groups. An
//! operation waiting for AWS's request rate gives its slot back while it
//! waits (`provider::pace`). When an
//! operation fails, everything after it in the graph is skipped, the rest goes
//! on, and the report says what succeeded, failed and was skipped. The
//! executor knows the [`Cloud`] trait, never a kind.
//!
//! `order.rs` turns a plan into operations and their order, `sched.rs`
//! keeps one run's bookkeeping, `op.rs` carries out one operation.

mod op;
pub mod order;
mod sched;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// tokio's clock: the same as std's, except that a test can run it virtually.
use tokio::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::diag::{Error, Result};
use crate::model::{Action, Plan};
use crate::provider::{Cloud, Slot, in_slot};
use crate::stack::Stack;
use crate::state::{State, StateStore};
use op::{Shared, run_op};
pub use op::{conforms, settle_doubts};
pub use order::{Op, OpKind, operations};
pub use sched::estimate;
use sched::{Sched, expected};

/// What the executor tells whoever listens (the terminal UI, tests).
pub trait Reporter: Send + Sync {
    /// The run starts with this many operations.
    fn begin(&self, _total: usize) {}
    /// The run is over (before its report is printed).
    fn end(&self) {}
    fn started(&self, _op: &Op) {}
    /// Called every ten seconds while an operation runs (waits for slow resources).
    /// `waiting_on`: what AWS last said stops it (an in-use refusal).
    fn still(&self, _op: &Op, _elapsed: Duration, _waiting_on: Option<&str>) {}
    fn finished(&self, _op: &Op, _elapsed: Duration, _id: Option<&str>) {}
    fn failed(&self, _op: &Op, _err: &Error) {}
}

/// How often a running operation reports that it is still running.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

pub struct Silent;
impl Reporter for Silent {}

#[derive(Debug, Default)]
pub struct Report {
    pub succeeded: Vec<String>,
    pub failed: Vec<(String, String)>,
    /// (operation, the failed operation that caused the skip)
    pub skipped: Vec<(String, String)>,
    pub not_started: Vec<String>,
    /// Operations a signal stopped while they waited (state records where
    /// each stood: a begun create as begun, an unfinished delete as there).
    pub interrupted: Vec<String>,
    /// (address, reason) of creates the plan said would not be attempted.
    pub not_attempted: Vec<(String, String)>,
    /// How long the run took.
    pub took: Duration,
    /// The operations' times added up.
    pub work: Duration,
    /// The longest chain of operations that waited for each other, with what
    /// each took: no schedule finishes sooner than its sum.
    pub critical_path: Vec<(String, Duration)>,
}

impl Report {
    pub fn critical_path_time(&self) -> Duration {
        self.critical_path.iter().map(|(_, d)| *d).sum()
    }
}

impl Report {
    pub fn ok(&self) -> bool {
        self.failed.is_empty()
            && self.skipped.is_empty()
            && self.not_started.is_empty()
            && self.interrupted.is_empty()
    }
}

pub struct Executor {
    pub cloud: Arc<dyn Cloud>,
    pub stack: Option<Arc<Stack>>,
    pub parallelism: usize,
    pub reporter: Arc<dyn Reporter>,
    pub cancel: Arc<AtomicBool>,
}

/// How a spawned operation ended.
enum Outcome {
    /// Finished (or failed) after this long.
    Done(Result<()>, Duration),
    /// The run was interrupted before the operation started.
    NotStarted,
}

impl Executor {
    /// Runs the plan against `state`, saving to `store` after every operation.
    pub async fn run(
        &self,
        plan: &Plan,
        state: State,
        store: Option<Arc<dyn StateStore>>,
    ) -> (Report, State) {
        let (ops, after) = operations(plan);
        let mut state = state;
        settle_doubts(plan, &mut state);
        let noop_props = plan
            .changes
            .iter()
            .filter(|c| matches!(c.action, Action::NoOp | Action::Adopt))
            .filter_map(|c| Some((c.address.clone(), c.after.clone()?)))
            .collect();
        let shared = Arc::new(Shared {
            state: tokio::sync::Mutex::new(state),
            store,
            props: Mutex::new(noop_props),
        });
        let plan = Arc::new(plan.clone());
        let cost: Vec<u64> = ops.iter().map(|o| expected(o, &plan)).collect();
        let mut sched = Sched::new(ops, after, &cost);
        let mut set: JoinSet<(usize, Outcome)> = JoinSet::new();
        let began = Instant::now();
        self.reporter.begin(sched.ops.len());
        // Operations start only when a slot is free, so that the next one is
        // chosen (longest chain first) among all that are ready by then. An
        // operation waiting for AWS's request rate gives its slot back
        // (`provider::pace`): another starts, and it takes one again, in
        // turn, when its call may go.
        let slots = Arc::new(Semaphore::new(self.parallelism.max(1)));
        let mut spare: Option<OwnedSemaphorePermit> = None;
        loop {
            while !self.cancel.load(Ordering::SeqCst) && sched.has_ready() {
                let Some(permit) = spare
                    .take()
                    .or_else(|| slots.clone().try_acquire_owned().ok())
                else {
                    break;
                };
                let Some(i) = sched.next() else { break };
                let op = sched.ops[i].clone();
                let slot = Slot::new(slots.clone(), permit);
                set.spawn(self.task(i, op, plan.clone(), shared.clone(), slot));
            }
            let may_start = !self.cancel.load(Ordering::SeqCst) && sched.has_ready();
            let joined = tokio::select! {
                joined = set.join_next() => joined,
                p = slots.clone().acquire_owned(), if may_start => {
                    spare = p.ok();
                    continue;
                }
            };
            let Some(joined) = joined else {
                break;
            };
            match joined {
                Ok((i, Outcome::Done(r, took))) => {
                    sched.took.insert(i, took);
                    match r {
                        Ok(()) => sched.succeeded(i),
                        // Stopped by SIGINT/SIGTERM in a wait: not a failure
                        // of the operation, and nothing after it is blamed.
                        Err(Error::Interrupted(_)) => sched.interrupted(i),
                        Err(e) => sched.failed(i, &e),
                    }
                }
                Ok((i, Outcome::NotStarted)) => sched.not_started(i),
                Err(e) => {
                    // A panic in an operation: report it, stop scheduling.
                    sched.report.failed.push(("(task)".into(), e.to_string()));
                    self.cancel.store(true, Ordering::SeqCst);
                }
            }
        }
        self.reporter.end();
        let mut report = sched.finish(&plan);
        report.took = began.elapsed();
        let mut state = shared.state.lock().await.clone();
        // The run's records, folded into the whole state.
        if let Some(store) = &shared.store
            && let Err(e) = store.fold(&mut state).await
        {
            report.failed.push(("(state)".into(), e.to_string()));
        }
        (report, state)
    }

    /// One operation as a task: checks that the run was not interrupted since
    /// it was chosen, runs it, reports progress.
    fn task(
        &self,
        i: usize,
        op: Op,
        plan: Arc<Plan>,
        shared: Arc<Shared>,
        slot: Arc<Slot>,
    ) -> impl Future<Output = (usize, Outcome)> + use<> {
        let (cloud, stack, rep, cancel) = (
            self.cloud.clone(),
            self.stack.clone(),
            self.reporter.clone(),
            self.cancel.clone(),
        );
        async move {
            if cancel.load(Ordering::SeqCst) {
                return (i, Outcome::NotStarted);
            }
            rep.started(&op);
            let t = Instant::now();
            let why = Arc::new(Mutex::new(None::<String>));
            let work = crate::provider::noting_waits(
                why.clone(),
                in_slot(
                    slot.clone(),
                    run_op(&op, &plan, stack.as_deref(), cloud.as_ref(), &shared),
                ),
            );
            tokio::pin!(work);
            let mut tick =
                tokio::time::interval_at(Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
            let r = loop {
                tokio::select! {
                    r = &mut work => break r,
                    // Waiting for AWS's request rate is not news.
                    _ = tick.tick(), if slot.held() => {
                        let why = why.lock().unwrap_or_else(|p| p.into_inner()).clone();
                        rep.still(&op, t.elapsed(), why.as_deref());
                    }
                }
            };
            match &r {
                Ok(id) => rep.finished(&op, t.elapsed(), id.as_deref()),
                Err(e) => rep.failed(&op, e),
            }
            (i, Outcome::Done(r.map(|_| ()), t.elapsed()))
        }
    }
}
