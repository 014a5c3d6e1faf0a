//! Scheduling one run: which operations may start, which wait, which a
//! failure blocks; the next to start is the one with the longest expected
//! chain behind it (the kinds' `takes`). Bookkeeping only: nothing here runs.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::time::Duration;

use super::Report;
use super::order::{Op, OpKind};
use crate::diag::Error;
use crate::model::Plan;

/// Which operations may start, which wait, which are blocked by a failure:
/// the bookkeeping of one run, apart from running anything.
pub(super) struct Sched {
    pub(super) ops: Vec<Op>,
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
    pub(super) took: HashMap<usize, Duration>,
    pub(super) report: Report,
}

/// Seconds AWS typically takes for an operation (its kind's `takes`).
pub(super) fn expected(op: &Op, plan: &Plan) -> u64 {
    let Some((change, spec)) = plan
        .changes
        .get(op.change)
        .and_then(|c| Some((c, crate::kind::lookup(&c.kind)?)))
    else {
        return 1;
    };
    u64::from(match op.kind {
        OpKind::Create => spec.takes.create,
        OpKind::Update => spec.takes.update_of(&change.changed),
        OpKind::Delete | OpKind::DeleteDeposed | OpKind::DeleteOrphan => spec.takes.delete,
        OpKind::Import => spec.takes.update,
        OpKind::Adopt | OpKind::Forget | OpKind::Accept => 0,
    })
}

/// What a plan's apply would take on AWS's typical times (the kinds'
/// `takes`) with nothing else in its way: the longest chain of operations
/// that wait for each other, each with its seconds. Empty when the plan
/// does nothing. No schedule finishes sooner; one with too few slots
/// (`--parallelism`) or paced by AWS's rates finishes later.
pub fn estimate(plan: &Plan) -> Vec<(String, u64)> {
    let (ops, after) = super::order::operations(plan);
    let mut dependents: Vec<Vec<usize>> = vec![vec![]; ops.len()];
    for (i, a) in after.iter().enumerate() {
        for &j in a {
            dependents[j].push(i);
        }
    }
    let cost: Vec<u64> = ops.iter().map(|o| expected(o, plan)).collect();
    let chain = longest_chains(&dependents, |i| cost[i]);
    let mut path = Vec::new();
    let mut at = (0..ops.len()).max_by_key(|&i| (chain[i], Reverse(i)));
    while let Some(i) = at {
        if cost[i] > 0 {
            path.push((ops[i].describe(), cost[i]));
        }
        at = dependents[i]
            .iter()
            .copied()
            .max_by_key(|&d| (chain[d], Reverse(d)));
    }
    path
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
    pub(super) fn new(ops: Vec<Op>, after: Vec<Vec<usize>>, cost: &[u64]) -> Sched {
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
    pub(super) fn next(&mut self) -> Option<usize> {
        let (_, Reverse(i)) = self.ready.pop()?;
        self.started.insert(i);
        Some(i)
    }

    pub(super) fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Did not start after all (interrupted while waiting for a slot).
    /// Stopped by the interrupt while it waited: what needs it never starts.
    pub(super) fn interrupted(&mut self, i: usize) {
        self.report.interrupted.push(self.ops[i].describe());
    }

    pub(super) fn not_started(&mut self, i: usize) {
        self.started.remove(&i);
    }

    pub(super) fn succeeded(&mut self, i: usize) {
        self.report.succeeded.push(self.ops[i].describe());
        for &d in &self.dependents[i] {
            self.waiting[d] -= 1;
            if self.waiting[d] == 0 && !self.blocked.contains_key(&d) {
                self.ready.push((self.chain[d], Reverse(d)));
            }
        }
    }

    /// A failure blocks everything after it in the graph.
    pub(super) fn failed(&mut self, i: usize, e: &Error) {
        let cause = self.ops[i].describe();
        // The operation names the address: the error need not say it again.
        self.report
            .failed
            .push((cause.clone(), e.without_address()));
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

    pub(super) fn finish(mut self, plan: &Plan) -> Report {
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
