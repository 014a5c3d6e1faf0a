//! The executor: carries out a plan, in dependency order, concurrently where
//! possible, writing state after every completed operation.
//!
//! Concurrency is bounded in one place (`parallelism`): an operation starts
//! when a slot is free, and among the ready ones the one with the longest
//! expected chain behind it goes first (the kinds' `takes`), so that an
//! Aurora cluster does not wait behind a row of security groups. When an
//! operation fails, everything after it in the graph is skipped, the rest goes
//! on, and the report says what succeeded, failed and was skipped. The
//! executor knows the [`Cloud`] trait, never a kind.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// tokio's clock: the same as std's, except that a test can run it virtually.
use tokio::time::Instant;

use serde_json::Value;
use tokio::task::JoinSet;

use crate::diag::{Error, Result};
use crate::expr::contains_unknown;
use crate::plan::{Action, Change, Plan};
use crate::provider::{Cloud, Intent, Live};
use crate::stack::{Instance, Known, Stack};
use crate::state::{Creating, Deposed, Recorded, State, StateStore};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    Create,
    Update,
    /// Write state only: an adopted resource with nothing to change.
    Adopt,
    /// Delete the object in state (also the first half of delete-then-create).
    Delete,
    /// Delete the old object of a create-then-delete, or a deposed one.
    DeleteDeposed,
    /// Drop from state something already deleted outside.
    Forget,
}

#[derive(Debug, Clone)]
pub struct Op {
    pub kind: OpKind,
    /// Index of the change in the plan.
    pub change: usize,
    pub address: String,
}

impl Op {
    pub fn describe(&self) -> String {
        let verb = match self.kind {
            OpKind::Create => "create",
            OpKind::Update => "update",
            OpKind::Adopt => "adopt",
            OpKind::Delete | OpKind::DeleteDeposed => "delete",
            OpKind::Forget => "forget",
        };
        format!("{verb} {}", self.address)
    }
}

/// What the executor tells whoever listens (the terminal UI, tests).
pub trait Reporter: Send + Sync {
    /// The run starts with this many operations.
    fn begin(&self, _total: usize) {}
    /// The run is over (before its report is printed).
    fn end(&self) {}
    fn started(&self, _op: &Op) {}
    /// Called every ten seconds while an operation runs (waits for slow resources).
    fn still(&self, _op: &Op, _elapsed: Duration) {}
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
        self.failed.is_empty() && self.skipped.is_empty() && self.not_started.is_empty()
    }
}

/// Builds the operations and their order from a plan.
pub fn operations(plan: &Plan) -> (Vec<Op>, Vec<Vec<usize>>) {
    let mut ops = Vec::new();
    // (address, role) -> op index; role: "new" (create/update/adopt) or "old" (delete).
    let mut new_of: HashMap<&str, usize> = HashMap::new();
    let mut old_of: HashMap<&str, usize> = HashMap::new();
    let mut deposed_of: HashMap<&str, usize> = HashMap::new();
    let push = |ops: &mut Vec<Op>, kind, i: usize, c: &Change| {
        ops.push(Op {
            kind,
            change: i,
            address: c.address.clone(),
        });
        ops.len() - 1
    };
    for (i, c) in plan.changes.iter().enumerate() {
        let a = c.address.as_str();
        match c.action {
            Action::NoOp if c.adopt => {
                new_of.insert(a, push(&mut ops, OpKind::Adopt, i, c));
            }
            Action::NoOp => {}
            Action::Create if c.blocked.is_some() => {}
            Action::Create => {
                new_of.insert(a, push(&mut ops, OpKind::Create, i, c));
            }
            Action::Update => {
                new_of.insert(a, push(&mut ops, OpKind::Update, i, c));
            }
            Action::DeleteThenCreate => {
                let k = if c.gone {
                    OpKind::Forget
                } else {
                    OpKind::Delete
                };
                old_of.insert(a, push(&mut ops, k, i, c));
                new_of.insert(a, push(&mut ops, OpKind::Create, i, c));
            }
            Action::CreateThenDelete => {
                new_of.insert(a, push(&mut ops, OpKind::Create, i, c));
                deposed_of.insert(a, push(&mut ops, OpKind::DeleteDeposed, i, c));
            }
            Action::Delete if c.deposed => {
                let k = if c.gone {
                    OpKind::Forget
                } else {
                    OpKind::DeleteDeposed
                };
                deposed_of.insert(a, push(&mut ops, k, i, c));
            }
            Action::Delete => {
                let k = if c.gone || c.imported {
                    OpKind::Forget
                } else {
                    OpKind::Delete
                };
                old_of.insert(a, push(&mut ops, k, i, c));
            }
        }
    }
    let mut ops_of: Vec<Vec<usize>> = vec![vec![]; plan.changes.len()];
    for (i, op) in ops.iter().enumerate() {
        ops_of[op.change].push(i);
    }
    // Who recorded a dependency on an address (delete order), who wants one now.
    let mut recorded_by: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut wanted_by: HashMap<&str, Vec<usize>> = HashMap::new();
    for (ci, c) in plan.changes.iter().enumerate() {
        for d in &c.old_deps {
            recorded_by.entry(d.as_str()).or_default().push(ci);
        }
        for d in &c.deps {
            wanted_by.entry(d.as_str()).or_default().push(ci);
        }
    }
    let of = |map: &HashMap<&str, Vec<usize>>, a: &str, kinds: &[OpKind]| -> Vec<usize> {
        let changes = map.get(a).map(Vec::as_slice).unwrap_or_default();
        changes
            .iter()
            .flat_map(|&ci| ops_of[ci].iter().copied())
            .filter(|&j| kinds.contains(&ops[j].kind))
            .collect()
    };
    let mut after: Vec<Vec<usize>> = vec![vec![]; ops.len()];
    for (oi, op) in ops.iter().enumerate() {
        let c = &plan.changes[op.change];
        let a = c.address.as_str();
        match op.kind {
            OpKind::Create | OpKind::Update | OpKind::Adopt => {
                after[oi].extend(
                    c.deps
                        .iter()
                        .filter_map(|d| new_of.get(d.as_str()).copied()),
                );
                if op.kind == OpKind::Create
                    && let Some(&j) = old_of.get(a)
                {
                    after[oi].push(j);
                }
            }
            OpKind::Delete | OpKind::Forget | OpKind::DeleteDeposed => {
                // Dependents go first: whatever recorded a dependency on us
                // and is deleted (orphans among them: an orphan subnet
                // before the VPC).
                let deletes = [OpKind::Delete, OpKind::Forget, OpKind::DeleteDeposed];
                after[oi].extend(of(&recorded_by, a, &deletes));
                if op.kind == OpKind::DeleteDeposed && c.action == Action::CreateThenDelete {
                    after[oi].extend(new_of.get(a).copied());
                    // Those that now point at the new object move first.
                    after[oi].extend(of(&wanted_by, a, &[OpKind::Create, OpKind::Update]));
                }
            }
        }
        after[oi].retain(|&j| j != oi);
    }
    let_go_first(&ops, &ops_of, &recorded_by, plan, &mut after);
    for a in after.iter_mut() {
        a.sort();
        a.dedup();
    }
    (ops, after)
}

/// Deletes wait for every dependent that lets go of them, updates included,
/// through everything that recorded a dependency on them (a launch template
/// whose new version drops a security group, then the instances replaced
/// from it): AWS refuses to delete what is still in use. An edge that would
/// close a cycle (a dependent that needs the new object before the old one
/// goes) is left out; the delete then retries while AWS says in use.
fn let_go_first(
    ops: &[Op],
    ops_of: &[Vec<usize>],
    recorded_by: &HashMap<&str, Vec<usize>>,
    plan: &Plan,
    after: &mut [Vec<usize>],
) {
    let moves = |k: OpKind| {
        matches!(
            k,
            OpKind::Create | OpKind::Update | OpKind::Adopt | OpKind::DeleteDeposed
        )
    };
    if !ops
        .iter()
        .any(|o| moves(o.kind) && o.kind != OpKind::DeleteDeposed)
    {
        return;
    }
    for (oi, op) in ops.iter().enumerate() {
        if !matches!(op.kind, OpKind::Delete | OpKind::DeleteDeposed) {
            continue;
        }
        let own = op.change;
        let mut seen: HashSet<usize> = HashSet::new();
        let mut todo = vec![plan.changes[own].address.as_str()];
        while let Some(a) = todo.pop() {
            for &ci in recorded_by.get(a).map(Vec::as_slice).unwrap_or_default() {
                if ci == own || !seen.insert(ci) {
                    continue;
                }
                todo.push(plan.changes[ci].address.as_str());
                for &j in ops_of[ci].iter().filter(|&&j| moves(ops[j].kind)) {
                    if !waits_on(after, j, oi) {
                        after[oi].push(j);
                    }
                }
            }
        }
    }
}

/// Whether operation `from` already waits, directly or not, for `target`.
fn waits_on(after: &[Vec<usize>], from: usize, target: usize) -> bool {
    let mut seen = HashSet::new();
    let mut todo = vec![from];
    while let Some(x) = todo.pop() {
        if x == target {
            return true;
        }
        if seen.insert(x) {
            todo.extend(after[x].iter().copied());
        }
    }
    false
}

struct Shared {
    /// Held across the write of state, so writes never interleave.
    state: tokio::sync::Mutex<State>,
    store: Option<Arc<dyn StateStore>>,
    props: Mutex<HashMap<String, Value>>,
}

impl Shared {
    async fn save(&self, st: &mut State) -> Result<()> {
        match &self.store {
            Some(s) => s.save(st).await,
            None => {
                st.serial += 1;
                Ok(())
            }
        }
    }
}

struct ApplyKnown {
    outputs: HashMap<String, serde_json::Map<String, Value>>,
    props: HashMap<String, Value>,
}

impl Known for ApplyKnown {
    fn output(&self, address: &str, attr: &str) -> Option<Value> {
        self.outputs.get(address)?.get(attr).cloned()
    }
    fn props(&self, address: &str) -> Option<&Value> {
        self.props.get(address)
    }
}

/// True when `actual` agrees with `planned` wherever `planned` was known.
pub fn conforms(planned: &Value, actual: &Value) -> bool {
    match (planned, actual) {
        (p, _) if contains_unknown(p) && !p.is_array() && !p.is_object() => true,
        (Value::Array(p), Value::Array(a)) => {
            if p.iter().any(contains_unknown) {
                // Sets are re-sorted once unknowns become known: compare sizes.
                p.len() == a.len()
            } else {
                p == a
            }
        }
        (Value::Object(p), Value::Object(a)) => {
            p.len() == a.len()
                && p.iter()
                    .all(|(k, v)| a.get(k).is_some_and(|x| conforms(v, x)))
        }
        (p, a) => p == a,
    }
}

pub struct Executor {
    pub cloud: Arc<dyn Cloud>,
    pub stack: Option<Arc<Stack>>,
    pub parallelism: usize,
    pub reporter: Arc<dyn Reporter>,
    pub cancel: Arc<AtomicBool>,
}

/// Which operations may start, which wait, which are blocked by a failure:
/// the bookkeeping of one run, apart from running anything.
struct Sched {
    ops: Vec<Op>,
    /// Per operation: how many operations it still waits for.
    waiting: Vec<usize>,
    dependents: Vec<Vec<usize>>,
    /// Per operation: the expected seconds of the longest chain that starts
    /// with it (its own time and what waits for it), from the kinds' `takes`.
    chain: Vec<u64>,
    /// Ready operations, the longest chain first, then plan order.
    ready: BinaryHeap<(u64, Reverse<usize>)>,
    /// Operation -> the failed operation that blocks it.
    blocked: HashMap<usize, String>,
    started: HashSet<usize>,
    /// How long each finished operation took.
    took: HashMap<usize, Duration>,
    report: Report,
}

/// Seconds AWS typically takes for an operation (its kind's `takes`).
fn expected(op: &Op, plan: &Plan) -> u64 {
    let Some(spec) = plan
        .changes
        .get(op.change)
        .and_then(|c| crate::kind::lookup(&c.kind))
    else {
        return 1;
    };
    u64::from(match op.kind {
        OpKind::Create => spec.takes.create,
        OpKind::Update => spec.takes.update,
        OpKind::Delete | OpKind::DeleteDeposed => spec.takes.delete,
        OpKind::Adopt | OpKind::Forget => 0,
    })
}

/// The longest weighted chain starting at each node of a DAG (`dependents`
/// are the edges; `weight` a node's own cost), without recursion.
fn longest_chains(dependents: &[Vec<usize>], weight: impl Fn(usize) -> u64) -> Vec<u64> {
    let n = dependents.len();
    // Kahn's order by dependents: a node is done once all it leads to are.
    let mut pending: Vec<usize> = dependents.iter().map(Vec::len).collect();
    let mut leads_from: Vec<Vec<usize>> = vec![vec![]; n];
    for (i, ds) in dependents.iter().enumerate() {
        for &d in ds {
            leads_from[d].push(i);
        }
    }
    let mut chain = vec![0u64; n];
    let mut todo: Vec<usize> = (0..n).filter(|&i| pending[i] == 0).collect();
    while let Some(i) = todo.pop() {
        let after = dependents[i].iter().map(|&d| chain[d]).max().unwrap_or(0);
        chain[i] = weight(i).saturating_add(after);
        for &j in &leads_from[i] {
            pending[j] -= 1;
            if pending[j] == 0 {
                todo.push(j);
            }
        }
    }
    chain
}

impl Sched {
    fn new(ops: Vec<Op>, after: Vec<Vec<usize>>, cost: &[u64]) -> Sched {
        let waiting: Vec<usize> = after.iter().map(|a| a.len()).collect();
        let mut dependents: Vec<Vec<usize>> = vec![vec![]; ops.len()];
        for (i, a) in after.iter().enumerate() {
            for &j in a {
                dependents[j].push(i);
            }
        }
        let chain = longest_chains(&dependents, |i| cost.get(i).copied().unwrap_or(1));
        let ready = (0..ops.len())
            .filter(|&i| waiting[i] == 0)
            .map(|i| (chain[i], Reverse(i)))
            .collect();
        Sched {
            ops,
            waiting,
            dependents,
            chain,
            ready,
            blocked: HashMap::new(),
            started: HashSet::new(),
            took: HashMap::new(),
            report: Report::default(),
        }
    }

    /// The next operation to start: the one with the longest expected chain
    /// behind it (an Aurora cluster before a security group), then plan order.
    fn next(&mut self) -> Option<usize> {
        let (_, Reverse(i)) = self.ready.pop()?;
        self.started.insert(i);
        Some(i)
    }

    /// Did not start after all (interrupted while waiting for a slot).
    fn not_started(&mut self, i: usize) {
        self.started.remove(&i);
    }

    fn succeeded(&mut self, i: usize) {
        self.report.succeeded.push(self.ops[i].describe());
        for &d in &self.dependents[i] {
            self.waiting[d] -= 1;
            if self.waiting[d] == 0 && !self.blocked.contains_key(&d) {
                self.ready.push((self.chain[d], Reverse(d)));
            }
        }
    }

    /// A failure blocks everything after it in the graph.
    fn failed(&mut self, i: usize, e: &Error) {
        let cause = self.ops[i].describe();
        self.report.failed.push((cause.clone(), e.to_string()));
        let mut stack: Vec<usize> = self.dependents[i].clone();
        while let Some(d) = stack.pop() {
            if self.blocked.insert(d, cause.clone()).is_none() {
                stack.extend(self.dependents[d].iter().copied());
            }
        }
    }

    /// The chain of operations, each waiting for the one before, whose
    /// measured times add up to the most.
    fn critical_path(&self) -> Vec<(String, Duration)> {
        let ms = |i: usize| self.took.get(&i).map_or(0, |d| d.as_millis() as u64);
        let chain = longest_chains(&self.dependents, ms);
        let Some(mut i) = (0..self.ops.len()).max_by_key(|&i| (chain[i], Reverse(i))) else {
            return vec![];
        };
        let mut out = Vec::new();
        loop {
            if let Some(d) = self.took.get(&i) {
                out.push((self.ops[i].describe(), *d));
            }
            match self.dependents[i].iter().copied().max_by_key(|&d| chain[d]) {
                Some(d) if chain[d] > 0 => i = d,
                _ => break,
            }
        }
        out
    }

    fn finish(mut self, plan: &Plan) -> Report {
        self.report.critical_path = self.critical_path();
        self.report.work = self.took.values().sum();
        for (i, op) in self.ops.iter().enumerate() {
            if let Some(cause) = self.blocked.get(&i) {
                self.report.skipped.push((op.describe(), cause.clone()));
            } else if !self.started.contains(&i) {
                self.report.not_started.push(op.describe());
            }
        }
        for c in plan.changes.iter().filter(|c| c.not_attempted()) {
            let why = c.blocked.clone().unwrap_or_default();
            self.report.not_attempted.push((c.address.clone(), why));
        }
        self.report
    }
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
            .filter(|c| c.action == Action::NoOp)
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
        // chosen (longest chain first) among all that are ready by then.
        let slots = self.parallelism.max(1);
        loop {
            while !self.cancel.load(Ordering::SeqCst)
                && set.len() < slots
                && let Some(i) = sched.next()
            {
                let op = sched.ops[i].clone();
                set.spawn(self.task(i, op, plan.clone(), shared.clone()));
            }
            let Some(joined) = set.join_next().await else {
                break;
            };
            match joined {
                Ok((i, Outcome::Done(r, took))) => {
                    sched.took.insert(i, took);
                    match r {
                        Ok(()) => sched.succeeded(i),
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
        let state = shared.state.lock().await.clone();
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
            let work = run_op(&op, &plan, stack.as_deref(), cloud.as_ref(), &shared);
            tokio::pin!(work);
            let mut tick =
                tokio::time::interval_at(Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
            let r = loop {
                tokio::select! {
                    r = &mut work => break r,
                    _ = tick.tick() => rep.still(&op, t.elapsed()),
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

/// One operation: for a create, update or adopt, evaluate what the stack
/// wants now, call the cloud, record the result; for a delete, call and record.
async fn run_op(
    op: &Op,
    plan: &Plan,
    stack: Option<&Stack>,
    cloud: &dyn Cloud,
    sh: &Shared,
) -> Result<Option<String>> {
    let c = &plan.changes[op.change];
    match op.kind {
        OpKind::Create | OpKind::Update | OpKind::Adopt => {
            let stack = stack.ok_or_else(|| Error::other("internal: apply without a stack"))?;
            let inst = stack
                .instance(&c.address)
                .ok_or_else(|| Error::other(format!("internal: {} not in the stack", c.address)))?;
            let desired = evaluate(c, stack, inst, sh).await?;
            let live = match op.kind {
                OpKind::Create => create(c, stack, inst, cloud, &desired, sh).await?,
                _ => {
                    let before = c.before.as_ref().unwrap_or(&Value::Null);
                    call(op.kind, c, before, inst, cloud, &desired).await?
                }
            };
            record(op.kind, c, inst, live, desired, sh).await.map(Some)
        }
        OpKind::Delete | OpKind::DeleteDeposed | OpKind::Forget => {
            remove(op, c, stack, cloud, sh).await.map(Some)
        }
    }
}

/// The properties the stack wants now that the outputs it refers to are
/// known; refused when they differ from what the plan showed (a bug).
async fn evaluate(c: &Change, stack: &Stack, inst: &Instance, sh: &Shared) -> Result<Value> {
    let known = {
        let st = sh.state.lock().await;
        ApplyKnown {
            outputs: st
                .resources
                .iter()
                .map(|(k, r)| (k.clone(), r.outputs.clone()))
                .collect(),
            props: sh.props.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    };
    let mut desired = stack
        .desired(inst, &known)
        .map_err(|e| Error::stack(vec![e]))?;
    if let Some(before) = &c.before {
        crate::plan::ignore(&mut desired, before, &inst.lifecycle.ignore_changes);
        crate::plan::keep_suffixed_name(inst.kind, &mut desired, before);
    }
    // A replacement created first takes the name the plan gave it.
    if c.action == Action::CreateThenDelete
        && let (Some((p, _)), Some(planned)) = (inst.kind.unique, &c.after)
        && planned[p].is_string()
    {
        desired[p] = planned[p].clone();
    }
    let addr = &c.address;
    if contains_unknown(&desired) {
        return Err(Error::other(format!(
            "{addr}: internal error: a value is still unknown at apply time"
        )));
    }
    if let Some(planned) = &c.after
        && !conforms(planned, &desired)
    {
        return Err(Error::other(format!(
            "{addr}: the plan said {planned}, but apply computed {desired}; this is a bug in provision"
        )));
    }
    stamp_lineage(&mut desired, &sh.state.lock().await.lineage);
    Ok(desired)
}

/// Sets the lineage tag on properties with tags: what apply creates or
/// changes carries the lineage of the state that records it.
fn stamp_lineage(props: &mut Value, lineage: &str) {
    if let Some(Value::Object(tags)) = props.get_mut("tags") {
        let v = Value::String(lineage.to_string());
        tags.insert(crate::stack::TAG_LINEAGE.into(), v);
    }
}

/// A create, written to state as begun before the call (with the token that
/// makes a repeat of it the same create, reused from an earlier run's
/// attempt) and as in doubt when an answer was lost.
async fn create(
    c: &Change,
    stack: &Stack,
    inst: &Instance,
    cloud: &dyn Cloud,
    desired: &Value,
    sh: &Shared,
) -> Result<Live> {
    let addr = c.address.as_str();
    let intent = {
        let mut st = sh.state.lock().await;
        let earlier = st.creating.get(addr).filter(|b| b.kind == c.kind);
        let resumed = earlier.is_some();
        let token = earlier.map_or_else(|| uuid::Uuid::new_v4().to_string(), |b| b.token.clone());
        st.creating.insert(
            addr.to_string(),
            Creating {
                kind: c.kind.clone(),
                token: token.clone(),
            },
        );
        sh.save(&mut st).await?;
        Intent {
            stack: stack.name.clone(),
            lineage: st.lineage.clone(),
            address: addr.to_string(),
            token,
            resumed,
            ..Intent::default()
        }
    };
    let r = cloud
        .create(&c.kind, desired, inst.timeouts.create, &intent)
        .await
        .map_err(|e| e.at_address(addr));
    let mut st = sh.state.lock().await;
    if intent.in_doubt() {
        st.unsure.insert(c.kind.clone());
    }
    // Recording the object ends the create; a failure does too, unless AWS
    // may have carried it out.
    if r.is_err() && !intent.in_doubt() {
        st.creating.remove(addr);
    }
    if r.is_err() {
        sh.save(&mut st).await?;
    }
    r
}

/// The cloud call of an update; an adoption calls nothing.
async fn call(
    kind: OpKind,
    c: &Change,
    before: &Value,
    inst: &Instance,
    cloud: &dyn Cloud,
    desired: &Value,
) -> Result<Live> {
    let at = |e: Error| e.at_address(&c.address);
    let id = || {
        c.id.clone()
            .ok_or_else(|| Error::other(format!("internal: {} has no id", c.address)))
    };
    match kind {
        OpKind::Update => cloud
            .update(&c.kind, &id()?, before, desired, inst.timeouts.update)
            .await
            .map_err(at),
        _ => Ok(Live {
            id: id()?,
            props: c.before.clone().unwrap_or(Value::Null),
            outputs: Default::default(),
            unobserved: vec![],
            claimed_by: None,
        }),
    }
}

/// Records a created, updated or adopted object in state and saves it; the
/// replaced object of a create-then-delete is kept as deposed until deleted.
async fn record(
    kind: OpKind,
    c: &Change,
    inst: &Instance,
    live: Live,
    desired: Value,
    sh: &Shared,
) -> Result<String> {
    let addr = c.address.as_str();
    let mut outputs = live.outputs.clone();
    outputs.insert("id".into(), Value::String(live.id.clone()));
    if kind == OpKind::Adopt {
        // Outputs of an adopted resource were read at refresh.
        outputs.extend(c.outputs.clone());
    }
    let mut st = sh.state.lock().await;
    if c.action == Action::CreateThenDelete
        && let Some(old) = st.resources.get(addr).cloned()
    {
        st.deposed.push(Deposed {
            address: addr.to_string(),
            kind: old.kind,
            id: old.id,
            properties: old.properties,
        });
    }
    let properties = if kind == OpKind::Adopt {
        live.props
    } else {
        desired.clone()
    };
    st.creating.remove(addr);
    let imported = kind != OpKind::Create && st.resources.get(addr).is_some_and(|r| r.imported);
    st.resources.insert(
        addr.to_string(),
        Recorded {
            kind: c.kind.clone(),
            id: live.id.clone(),
            properties,
            outputs,
            dependencies: inst.deps.clone(),
            prevent_destroy: inst.lifecycle.prevent_destroy,
            imported,
        },
    );
    sh.props
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(addr.to_string(), desired);
    sh.save(&mut st).await?;
    Ok(live.id)
}

/// What the plan's search for orphans settled: the kinds it listed are no
/// longer in doubt (the orphans it found are in the plan), and a begun
/// create of an address the plan no longer creates is over. True when
/// state changed.
pub fn settle_doubts(plan: &Plan, st: &mut State) -> bool {
    let before = (st.unsure.len(), st.creating.len());
    st.unsure.retain(|k| !plan.searched.contains(k));
    let creates: HashSet<&str> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Create || c.action.is_replace())
        .map(|c| c.address.as_str())
        .collect();
    st.creating
        .retain(|a, c| !plan.searched.contains(&c.kind) || creates.contains(a.as_str()));
    before != (st.unsure.len(), st.creating.len())
}

/// Deletes the object a delete means (the recorded one, or the deposed one
/// of a replacement) and drops it from state; a forget only drops it.
async fn remove(
    op: &Op,
    c: &Change,
    stack: Option<&Stack>,
    cloud: &dyn Cloud,
    sh: &Shared,
) -> Result<String> {
    let addr = c.address.as_str();
    let (id, kind) = {
        let st = sh.state.lock().await;
        let id = match op.kind {
            OpKind::DeleteDeposed if c.action == Action::CreateThenDelete => st
                .deposed
                .iter()
                .find(|d| d.address == addr)
                .map(|d| d.id.clone())
                .ok_or_else(|| Error::other(format!("{addr}: no deposed object to delete")))?,
            _ => {
                c.id.clone()
                    .ok_or_else(|| Error::other(format!("internal: {addr} has no id")))?
            }
        };
        // A replacement across kinds deletes the old object as its own kind.
        let kind = match op.kind {
            OpKind::Delete => st.resources.get(addr).map(|r| r.kind.clone()),
            _ => None,
        };
        (id, kind.unwrap_or_else(|| c.kind.clone()))
    };
    if op.kind == OpKind::Delete
        && let Some(why) = &c.blocked
    {
        return Err(Error::other(format!("{addr} cannot be deleted: {why}")));
    }
    if op.kind != OpKind::Forget {
        let t = stack
            .and_then(|s| s.instance(addr))
            .map(|i| i.timeouts)
            .unwrap_or_default();
        let before = c.before.as_ref().unwrap_or(&Value::Null);
        let r = cloud.delete(&kind, &id, before, t.delete, t.in_use).await;
        if let Err(e) = r {
            if c.orphan {
                // Still there: the next plan looks for it again.
                let mut st = sh.state.lock().await;
                st.unsure.insert(kind.clone());
                sh.save(&mut st).await?;
            }
            return Err(e.at_address(addr));
        }
    }
    let mut st = sh.state.lock().await;
    if op.kind == OpKind::DeleteDeposed || c.deposed {
        st.deposed.retain(|d| d.id != id);
    } else if st.resources.get(addr).is_some_and(|r| r.id == id) {
        st.resources.remove(addr);
    }
    sh.save(&mut st).await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(i: usize) -> Op {
        Op {
            kind: OpKind::Create,
            change: i,
            address: format!("r{i}"),
        }
    }

    #[test]
    fn the_longest_expected_chain_starts_first() {
        // r0 alone (1 s); r1 (1 s) before r2 (600 s, an Aurora instance);
        // r3 (2 s); r4 (5 s) before r5 (5 s).
        let ops: Vec<Op> = (0..6).map(op).collect();
        let after = vec![vec![], vec![], vec![1], vec![], vec![], vec![4]];
        let cost = [1, 1, 600, 2, 5, 5];
        let mut s = Sched::new(ops, after, &cost);
        assert_eq!(s.chain, vec![1, 601, 600, 2, 10, 5]);
        let first: Vec<usize> = std::iter::from_fn(|| s.next()).collect();
        assert_eq!(
            first,
            vec![1, 4, 3, 0],
            "longest chain first, then plan order"
        );
        s.succeeded(1);
        assert_eq!(s.next(), Some(2));
    }

    #[test]
    fn the_critical_path_follows_measured_times() {
        let ops: Vec<Op> = (0..4).map(op).collect();
        // r0 -> r1 -> r3 and r0 -> r2 -> r3.
        let after = vec![vec![], vec![0], vec![0], vec![1, 2]];
        let mut s = Sched::new(ops, after, &[1, 1, 1, 1]);
        for (i, ms) in [(0, 100), (1, 50), (2, 900), (3, 10)] {
            s.took.insert(i, Duration::from_millis(ms));
        }
        let path: Vec<String> = s.critical_path().into_iter().map(|(o, _)| o).collect();
        assert_eq!(path, ["create r0", "create r2", "create r3"]);
    }

    #[test]
    fn chains_of_a_long_line_need_no_recursion() {
        let n = 200_000;
        let dependents: Vec<Vec<usize>> = (0..n)
            .map(|i| if i + 1 < n { vec![i + 1] } else { vec![] })
            .collect();
        let chain = longest_chains(&dependents, |_| 1);
        assert_eq!(chain[0], n as u64);
    }
}
