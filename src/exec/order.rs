//! The order of a plan's operations: each change becomes one operation
//! (two for a replacement), and each operation waits for those it must
//! follow. Pure: the executor runs this order, the renderer draws it.

use std::collections::{HashMap, HashSet};

use crate::model::{Action, Change, Plan};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    Create,
    Update,
    /// Write state only: an adopted resource with nothing to change.
    Adopt,
    /// Write state only: what is live, as changed outside (`--refresh-only`).
    Accept,
    /// Bring an existing object under the address (and change what differs).
    Import,
    /// Delete the object in state (also the first half of delete-then-create).
    Delete,
    /// Delete the old object of a create-then-delete, or a deposed one.
    DeleteDeposed,
    /// Delete an object this state made and records nowhere.
    DeleteOrphan,
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
            OpKind::Accept => "accept",
            OpKind::Import => "import",
            OpKind::Delete | OpKind::DeleteDeposed | OpKind::DeleteOrphan => "delete",
            OpKind::Forget => "forget",
        };
        format!("{verb} {}", self.address)
    }
}

/// Each change's operations, with, by address, the operation that makes
/// the new object (create, update, adopt) and the one that deletes or
/// forgets the recorded object.
struct Ops<'p> {
    ops: Vec<Op>,
    new_of: HashMap<&'p str, usize>,
    old_of: HashMap<&'p str, usize>,
}

fn ops_of(plan: &Plan) -> Ops<'_> {
    let mut ops = Vec::new();
    let mut new_of: HashMap<&str, usize> = HashMap::new();
    let mut old_of: HashMap<&str, usize> = HashMap::new();
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
            Action::NoOp => {}
            Action::Create if c.blocked.is_some() => {}
            Action::Create => {
                new_of.insert(a, push(&mut ops, OpKind::Create, i, c));
            }
            Action::Update => {
                new_of.insert(a, push(&mut ops, OpKind::Update, i, c));
            }
            Action::Adopt => {
                new_of.insert(a, push(&mut ops, OpKind::Adopt, i, c));
            }
            Action::Import => {
                new_of.insert(a, push(&mut ops, OpKind::Import, i, c));
            }
            Action::Accept => {
                push(&mut ops, OpKind::Accept, i, c);
            }
            Action::DeleteThenCreate => {
                old_of.insert(a, push(&mut ops, OpKind::Delete, i, c));
                new_of.insert(a, push(&mut ops, OpKind::Create, i, c));
            }
            Action::CreateThenDelete => {
                new_of.insert(a, push(&mut ops, OpKind::Create, i, c));
                push(&mut ops, OpKind::DeleteDeposed, i, c);
            }
            Action::DeleteDeposed => {
                push(&mut ops, OpKind::DeleteDeposed, i, c);
            }
            Action::DeleteOrphan => {
                push(&mut ops, OpKind::DeleteOrphan, i, c);
            }
            Action::Forget => {
                old_of.insert(a, push(&mut ops, OpKind::Forget, i, c));
            }
            Action::Delete => {
                old_of.insert(a, push(&mut ops, OpKind::Delete, i, c));
            }
        }
    }
    Ops {
        ops,
        new_of,
        old_of,
    }
}

/// Builds the operations and their order from a plan: `after[i]` lists
/// the operations operation `i` waits for.
pub fn operations(plan: &Plan) -> (Vec<Op>, Vec<Vec<usize>>) {
    let Ops {
        ops,
        new_of,
        old_of,
    } = ops_of(plan);
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
            OpKind::Accept => {}
            OpKind::Create | OpKind::Update | OpKind::Adopt | OpKind::Import => {
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
            OpKind::Delete | OpKind::Forget | OpKind::DeleteDeposed | OpKind::DeleteOrphan => {
                // Dependents go first: whatever recorded a dependency on us
                // and is deleted (orphans among them: an orphan subnet
                // before the VPC).
                let deletes = [
                    OpKind::Delete,
                    OpKind::Forget,
                    OpKind::DeleteDeposed,
                    OpKind::DeleteOrphan,
                ];
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
            OpKind::Create
                | OpKind::Update
                | OpKind::Adopt
                | OpKind::Import
                | OpKind::DeleteDeposed
                | OpKind::DeleteOrphan
        )
    };
    if !ops
        .iter()
        .any(|o| matches!(o.kind, OpKind::Create | OpKind::Update | OpKind::Adopt))
    {
        return;
    }
    for (oi, op) in ops.iter().enumerate() {
        if !matches!(
            op.kind,
            OpKind::Delete | OpKind::DeleteDeposed | OpKind::DeleteOrphan
        ) {
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
