//! The planner: `plan(stack, state, live) -> Plan`. Pure: no IO, no async,
//! no randomness (the same inputs give the same plan).
//!
//! `before` is always what is live (refreshed), `after` what the stack wants.
//! Differences between the last applied state and live are reported apart,
//! as drift, so an operator sees which changes come from the YAML and which
//! were made outside provision. The plan is a [`crate::model::Plan`]: each
//! change's [`Action`] is the whole decision.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::Value;

use crate::compare::{changed_props, ignore, keep_suffixed_name, managed};
use crate::diag::{Error, Result, StackError};
use crate::kind::{KindSpec, ReplaceOrder};
use crate::model::{Action, Change, OutputChange, Plan, Reason, Refreshed, UpstreamChange};
use crate::provider::Live;
use crate::stack::{Instance, Known, Stack};
use crate::state::{Recorded, State};

struct PlanKnown {
    outputs: HashMap<String, serde_json::Map<String, Value>>,
    props: HashMap<String, Value>,
}

impl Known for PlanKnown {
    fn output(&self, address: &str, attr: &str) -> Option<Value> {
        self.outputs.get(address)?.get(attr).cloned()
    }
    fn props(&self, address: &str) -> Option<&Value> {
        self.props.get(address)
    }
}

/// What an operator asks of a plan beyond the stack.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--target`: only these addresses (a module's address: all of it)
    /// and what they depend on.
    pub targets: Vec<String>,
    /// `--replace`: replace these objects though nothing of theirs changed.
    pub replace: Vec<String>,
    /// Addresses whose state record was put there for an `import:` block:
    /// their change is an import.
    pub imports: BTreeSet<String>,
}

/// Plans the changes that make the cloud match the stack.
pub fn plan(stack: &Stack, state: Option<&State>, live: &Refreshed) -> Result<Plan> {
    plan_with(stack, state, live, &Options::default())
}

/// Plans with an operator's options: `--replace` forces replacements,
/// import blocks become imports, `--target` narrows the plan to what the
/// targets need.
pub fn plan_with(
    stack: &Stack,
    state: Option<&State>,
    live: &Refreshed,
    opts: &Options,
) -> Result<Plan> {
    for r in &opts.replace {
        let recorded = state.is_some_and(|s| s.resources.contains_key(r));
        if stack.instance(r).is_none() || !recorded {
            return Err(Error::other(format!(
                "--replace {r}: no object of the stack is recorded at that address (`provision state list` shows them)"
            )));
        }
    }
    let mut p = plan_all(stack, state, live, opts)?;
    for c in p
        .changes
        .iter_mut()
        .filter(|c| opts.imports.contains(&c.address))
    {
        c.action = match c.action {
            Action::NoOp | Action::Update => Action::Import,
            Action::Create => {
                return Err(Error::other(format!(
                    "import {}: there is no {} with id {} (or it is of another kind)",
                    c.address,
                    c.kind,
                    state
                        .and_then(|s| s.resources.get(&c.address))
                        .map_or("?", |r| r.id.as_str())
                )));
            }
            _ => {
                return Err(Error::other(format!(
                    "import {}: the object differs from the stack in {} which replaces it; provision deletes only what it created: change the stack to match it first",
                    c.address,
                    c.replace_because.join(", ")
                )));
            }
        };
        c.reason = Some(Reason::Imported);
    }
    if !opts.targets.is_empty() {
        narrow(&mut p, stack, state, &opts.targets)?;
    }
    Ok(p)
}

/// Keeps the changes of the targets and of what they depend on.
fn narrow(p: &mut Plan, stack: &Stack, state: Option<&State>, targets: &[String]) -> Result<()> {
    let hits = |t: &str, a: &str| {
        a == t || a.starts_with(&format!("{t}[")) || a.starts_with(&format!("{t}."))
    };
    let mut keep: BTreeSet<String> = BTreeSet::new();
    for t in targets {
        let mut found = false;
        let recorded = state.into_iter().flat_map(|s| s.resources.keys());
        for a in stack.instances.iter().map(|i| &i.address).chain(recorded) {
            if hits(t, a) {
                keep.insert(a.clone());
                found = true;
            }
        }
        if !found {
            return Err(Error::other(format!(
                "--target {t}: no resource of the stack or its state has that address"
            )));
        }
    }
    // What the targets depend on, transitively.
    let mut todo: Vec<String> = keep.iter().cloned().collect();
    while let Some(a) = todo.pop() {
        for d in stack
            .instance(&a)
            .map(|i| i.deps.as_slice())
            .unwrap_or_default()
        {
            if keep.insert(d.clone()) {
                todo.push(d.clone());
            }
        }
    }
    p.changes.retain(|c| keep.contains(&c.address));
    p.targets = targets.to_vec();
    Ok(())
}

/// The whole plan, before an operator's narrowing.
fn plan_all(
    stack: &Stack,
    state: Option<&State>,
    live: &Refreshed,
    opts: &Options,
) -> Result<Plan> {
    let empty = BTreeMap::new();
    let recorded = state.map(|s| &s.resources).unwrap_or(&empty);
    let mut known = PlanKnown {
        outputs: HashMap::new(),
        props: HashMap::new(),
    };
    let mut changes = Vec::new();
    let mut errors = Vec::new();
    let depended: HashSet<&str> = stack
        .instances
        .iter()
        .flat_map(|i| i.deps.iter().map(String::as_str))
        .collect();
    for inst in stack.ordered() {
        let has_dependents = depended.contains(inst.address.as_str());
        let rec = recorded.get(&inst.address);
        let at = At {
            has_dependents,
            forced: opts.replace.contains(&inst.address),
        };
        match change_of(stack, inst, rec, live, at, &mut known) {
            Ok(c) => changes.push(c),
            Err(e) => errors.push(e),
        }
    }
    let outputs = output_changes(stack, state, &known, &mut errors);
    if !errors.is_empty() {
        return Err(Error::stack(errors).with_sources(stack.sources.clone()));
    }
    // What state has and the stack no longer wants.
    for (addr, rec) in recorded {
        if stack.instance(addr).is_some() {
            continue;
        }
        let l = live.recorded.get(addr).cloned().flatten();
        if rec.prevent_destroy && l.is_some() {
            return Err(Error::other(format!(
                "{addr} was removed from the stack but has lifecycle.prevent_destroy in state; \
                 put it back, set prevent_destroy: false and apply, then remove it"
            )));
        }
        changes.push(delete_change(addr, rec, l));
    }
    if let Some(st) = state {
        changes.extend(st.deposed.iter().map(|d| deposed_change(d, live)));
    }
    let deps_of = |a: &str| stack.instance(a).map(|i| i.deps.clone());
    changes.extend(orphan_changes(deps_of, live));
    Ok(Plan {
        stack: stack.owner(),
        destroy: false,
        changes,
        drift: crate::drift::detect(state, live, &lifecycle_rules(stack)),
        unclaimed: live.unclaimed.clone(),
        searched: live.searched.clone(),
        outputs,
        upstream: upstream_changes(stack, state),
        ..Plan::default()
    })
}

/// The stack's outputs that apply would record differently from state:
/// each evaluated with what the plan knows (unknown parts are known after
/// apply).
fn output_changes(
    stack: &Stack,
    state: Option<&State>,
    known: &dyn Known,
    errors: &mut Vec<StackError>,
) -> Vec<OutputChange> {
    let empty = BTreeMap::new();
    let recorded = state.map(|s| &s.outputs).unwrap_or(&empty);
    let mut out = Vec::new();
    for (name, o) in stack.outputs() {
        let after = match stack.output_value(o, known) {
            Ok(v) => v,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let before = recorded.get(name);
        if before.is_some_and(|b| b.value == after && b.sensitive == o.sensitive) {
            continue;
        }
        out.push(OutputChange {
            name: name.clone(),
            before: before.map(|b| b.value.clone()),
            after: Some(after),
            sensitive: o.sensitive,
        });
    }
    for (name, r) in recorded {
        if !stack.outputs().contains_key(name) {
            out.push(OutputChange {
                name: name.clone(),
                before: Some(r.value.clone()),
                after: None,
                sensitive: r.sensitive,
            });
        }
    }
    out
}

/// Outputs of the stacks this one reads that are not what they were at
/// its last apply.
pub fn upstream_changes(stack: &Stack, state: Option<&State>) -> Vec<UpstreamChange> {
    let Some(st) = state else { return vec![] };
    let mut out = Vec::new();
    for (name, now) in &stack.upstream {
        let (Some(now), Some(Value::Object(then))) = (now.as_object(), st.upstream.get(name))
        else {
            continue;
        };
        let keys: std::collections::BTreeSet<&String> = now.keys().chain(then.keys()).collect();
        for k in keys {
            let (b, a) = (then.get(k), now.get(k));
            if b != a {
                out.push(UpstreamChange {
                    stack: name.clone(),
                    output: k.clone(),
                    before: b.cloned(),
                    after: a.cloned(),
                });
            }
        }
    }
    out
}

/// Deletes of the orphans refresh found: each after what its address's
/// dependents made (an orphan subnet before an orphan VPC).
fn orphan_changes(deps_of: impl Fn(&str) -> Option<Vec<String>>, live: &Refreshed) -> Vec<Change> {
    live.orphans
        .iter()
        .map(|o| {
            let (kind, l) = (&o.kind, &o.live);
            let address = l.address().unwrap_or_else(|| format!("({kind})"));
            let deps = deps_of(&address).unwrap_or_default();
            Change {
                id: Some(l.id.clone()),
                region: o.region.clone(),
                old_region: o.region.clone(),
                before: Some(l.props.clone()),
                old_deps: deps,
                ..Change::new(&address, kind, Action::DeleteOrphan)
            }
        })
        .collect()
}

/// The existing object an instance's change starts from: recorded in state
/// (and alive), or found by its ownership and adopted.
struct Base {
    id: String,
    live: Live,
    kind: String,
}

/// One instance's change; what becomes known of it goes into `known`.
fn change_of(
    stack: &Stack,
    inst: &Instance,
    rec: Option<&Recorded>,
    live: &Refreshed,
    at: At,
    known: &mut PlanKnown,
) -> std::result::Result<Change, StackError> {
    let mut desired = stack.desired(inst, known)?;
    let (base, reason) = match rec {
        Some(r) => match live.recorded.get(&inst.address) {
            Some(Some(l)) => {
                let base = Base {
                    id: r.id.clone(),
                    live: l.clone(),
                    kind: r.kind.clone(),
                };
                (Some(base), None)
            }
            _ => (None, Some(Reason::DeletedOutside)),
        },
        None => match live.owned.get(&inst.address) {
            Some(l) => {
                let base = Base {
                    id: l.id.clone(),
                    live: l.clone(),
                    kind: inst.kind.name.to_string(),
                };
                (Some(base), Some(Reason::Adopted))
            }
            None => (None, None),
        },
    };
    let mut change = Change {
        reason,
        region: inst.region.clone(),
        // An adopted object was found in the instance's region.
        old_region: rec.map_or(inst.region.clone(), |r| r.region.clone()),
        deps: inst.deps.clone(),
        old_deps: rec.map(|r| r.dependencies.clone()).unwrap_or_default(),
        ..Change::new(&inst.address, inst.kind.name, Action::Create)
    };
    match base {
        None => {
            known.outputs.remove(&inst.address);
        }
        Some(base) => {
            let at = Existing {
                stack,
                inst,
                rec,
                has_dependents: at.has_dependents,
                forced: at.forced,
            };
            from_existing(&mut change, &mut desired, base, &at, known)?
        }
    }
    known.props.insert(inst.address.clone(), desired.clone());
    change.after = Some(desired);
    Ok(change)
}

/// What deciding about an existing object needs to know.
struct Existing<'a> {
    stack: &'a Stack,
    inst: &'a Instance,
    rec: Option<&'a Recorded>,
    /// Other resources of the stack refer to it.
    has_dependents: bool,
    /// `--replace` asks for its replacement.
    forced: bool,
}

/// What the plan knows of an instance beside its own values.
#[derive(Clone, Copy)]
struct At {
    has_dependents: bool,
    forced: bool,
}

/// The order a replacement takes: the stack's word, else the kind's, else
/// create first when others refer to it and two can exist at once (so that
/// they move to the new one before the old is deleted, as AWS requires).
fn replace_order(at: &Existing) -> ReplaceOrder {
    let kind = at.inst.kind;
    match at.inst.lifecycle.create_before_destroy {
        Some(true) => ReplaceOrder::CreateThenDelete,
        Some(false) => ReplaceOrder::DeleteThenCreate,
        None if kind.replace == ReplaceOrder::CreateThenDelete => ReplaceOrder::CreateThenDelete,
        None if kind.coexist && at.has_dependents => ReplaceOrder::CreateThenDelete,
        None => ReplaceOrder::DeleteThenCreate,
    }
}

/// The unique name a replacement created before its old object is deleted
/// takes: the stack's, with a suffix (drawn from the old object's id) while
/// the old one holds it.
fn replacement_name(
    kind: &KindSpec,
    base: Option<&str>,
    old_id: &str,
    desired: &mut Value,
    live: &Value,
) {
    let (Some((p, max)), Some(base)) = (kind.unique, base) else {
        return;
    };
    if desired[p] == live[p] {
        let name = match live[p].as_str() {
            Some(l) if crate::kind::is_suffixed(l, base, max) => base.to_string(),
            _ => crate::kind::suffixed(base, max, old_id),
        };
        desired[p] = Value::String(name);
    }
}

/// Decides between no-op, update and replacement of an existing object.
fn from_existing(
    change: &mut Change,
    desired: &mut Value,
    base: Base,
    at: &Existing,
    known: &mut PlanKnown,
) -> std::result::Result<(), StackError> {
    let (stack, inst, rec) = (at.stack, at.inst, at.rec);
    let mut l = base.live;
    let name = inst
        .kind
        .unique
        .and_then(|(p, _)| desired[p].as_str().map(str::to_string));
    keep_suffixed_name(inst.kind, desired, &l.props);
    // An adopted object's unobservable properties are taken as desired.
    for p in std::mem::take(&mut l.unobserved) {
        if let Some(v) = desired.get(p) {
            l.props[p] = v.clone();
        }
    }
    ignore(desired, &l.props, &inst.lifecycle.ignore_changes);
    change.id = Some(base.id.clone());
    change.changed = changed_props(&managed(&l.props, desired), desired);
    change.replace_because = if base.kind != inst.kind.name {
        vec!["kind".into()]
    } else if change.old_region != change.region {
        vec!["region".into()]
    } else if at.forced {
        vec!["--replace".into()]
    } else {
        let forces = |p: &&String| inst.kind.prop(p).is_some_and(|p| p.force_new);
        change.changed.iter().filter(forces).cloned().collect()
    };
    change.action = if !change.replace_because.is_empty() {
        match replace_order(at) {
            ReplaceOrder::DeleteThenCreate => Action::DeleteThenCreate,
            ReplaceOrder::CreateThenDelete => {
                replacement_name(inst.kind, name.as_deref(), &base.id, desired, &l.props);
                change.changed = changed_props(&managed(&l.props, desired), desired);
                Action::CreateThenDelete
            }
        }
    } else if change.changed.is_empty() && change.reason == Some(Reason::Adopted) {
        Action::Adopt
    } else if change.changed.is_empty() {
        Action::NoOp
    } else {
        Action::Update
    };
    if change.action.is_replace() {
        known.outputs.remove(&inst.address);
        if rec.is_some_and(|r| r.imported) {
            return Err(StackError::at(
                &stack.file,
                inst.loc,
                format!(
                    "{} was imported, and changing {} replaces it: provision deletes only what it created; \
                     change it by hand, or `provision state rm {}` and let provision create a new one",
                    inst.address,
                    change.replace_because.join(", "),
                    inst.address
                ),
            ));
        }
        if inst.lifecycle.prevent_destroy || rec.is_some_and(|r| r.prevent_destroy) {
            return Err(StackError::at(
                &stack.file,
                inst.loc,
                format!(
                    "{} has lifecycle.prevent_destroy, but changing {} replaces it",
                    inst.address,
                    change.replace_because.join(", ")
                ),
            ));
        }
    } else {
        if change.action == Action::Update
            && let Some(why) = inst.kind.refuse_update.and_then(|f| f(&l.props, desired))
        {
            return Err(StackError::at(
                &stack.file,
                inst.loc,
                format!("{}: {why}", inst.address),
            ));
        }
        if change.action == Action::Update {
            change.note = inst.kind.explain_update.and_then(|f| f(&l.props, desired));
        }
        let mut outs = l.outputs.clone();
        if change.action == Action::Update {
            for v in inst.kind.volatile {
                outs.remove(*v);
            }
        }
        known.outputs.insert(inst.address.clone(), outs);
    }
    change.outputs = l.outputs.clone();
    change.before = Some(l.props);
    Ok(())
}

/// Deletes the old object of an interrupted create-then-delete replacement.
fn deposed_change(d: &crate::state::Deposed, live: &Refreshed) -> Change {
    let l = live.deposed.get(&d.id).cloned().flatten();
    let (action, reason) = match l {
        Some(_) => (Action::DeleteDeposed, Reason::Deposed),
        None => (Action::Forget, Reason::DeposedGone),
    };
    Change {
        reason: Some(reason),
        id: Some(d.id.clone()),
        region: d.region.clone(),
        old_region: d.region.clone(),
        before: Some(l.map(|l| l.props).unwrap_or_else(|| d.properties.clone())),
        ..Change::new(&d.address, &d.kind, action)
    }
}

/// `lifecycle.ignore_changes` as drift rules.
pub fn lifecycle_rules(stack: &Stack) -> Vec<crate::drift::Rule> {
    stack
        .instances
        .iter()
        .flat_map(|i| {
            i.lifecycle
                .ignore_changes
                .iter()
                .map(|p| crate::drift::Rule {
                    address: i.address.clone(),
                    path: p.split('.').map(str::to_string).collect(),
                })
        })
        .collect()
}

fn delete_change(addr: &str, rec: &crate::state::Recorded, l: Option<Live>) -> Change {
    let (action, reason) = match (&l, rec.imported) {
        (None, _) => (Action::Forget, Some(Reason::DeletedOutside)),
        (Some(_), true) => (Action::Forget, Some(Reason::Imported)),
        (Some(_), false) => (Action::Delete, None),
    };
    Change {
        reason,
        id: Some(rec.id.clone()),
        region: rec.region.clone(),
        old_region: rec.region.clone(),
        before: Some(l.map(|l| l.props).unwrap_or_else(|| rec.properties.clone())),
        old_deps: rec.dependencies.clone(),
        ..Change::new(addr, &rec.kind, action)
    }
}

/// `--refresh-only`: what changed outside provision, accepted into state
/// as it is (a property changed: the live values recorded; an object
/// deleted: forgotten). Nothing in AWS is written; the stack is not read.
pub fn plan_refresh_only(stack_name: &str, state: Option<&State>, live: &Refreshed) -> Plan {
    let drift = crate::drift::detect(state, live, &[]);
    let mut changes = Vec::new();
    if let Some(st) = state {
        for (addr, rec) in &st.resources {
            let Some(l) = live.recorded.get(addr) else {
                continue;
            };
            let mut c = Change {
                id: Some(rec.id.clone()),
                region: rec.region.clone(),
                old_region: rec.region.clone(),
                old_deps: rec.dependencies.clone(),
                ..Change::new(addr, &rec.kind, Action::NoOp)
            };
            match l {
                None => {
                    c.action = Action::Forget;
                    c.reason = Some(Reason::DeletedOutside);
                    c.before = Some(rec.properties.clone());
                }
                Some(l) => {
                    let now = managed(&l.props, &rec.properties);
                    c.changed = drift
                        .iter()
                        .filter(|d| d.address == *addr)
                        .filter_map(|d| match &d.finding {
                            crate::model::Finding::Modified { property, .. } => {
                                Some(property.clone())
                            }
                            _ => None,
                        })
                        .collect();
                    if c.changed.is_empty() {
                        continue;
                    }
                    // What is recorded (before) becomes what is live (after).
                    c.action = Action::Accept;
                    c.before = Some(rec.properties.clone());
                    c.after = Some(now);
                    c.outputs = l.outputs.clone();
                }
            }
            changes.push(c);
        }
    }
    Plan {
        stack: stack_name.to_string(),
        changes,
        drift,
        refresh_only: true,
        ..Plan::default()
    }
}

/// Plans the deletion of everything in state, dependents first.
pub fn plan_destroy(stack_name: &str, state: Option<&State>, live: &Refreshed) -> Result<Plan> {
    let mut changes = Vec::new();
    if let Some(st) = state {
        for (addr, rec) in &st.resources {
            let l = live.recorded.get(addr).cloned().flatten();
            if rec.prevent_destroy && l.is_some() {
                return Err(Error::other(format!(
                    "{addr} has lifecycle.prevent_destroy: set it to false and apply before destroying"
                )));
            }
            changes.push(delete_change(addr, rec, l));
        }
        for d in &st.deposed {
            changes.push(deposed_change(d, live));
        }
    }
    let deps_of = |a: &str| Some(state?.resources.get(a)?.dependencies.clone());
    changes.extend(orphan_changes(deps_of, live));
    let outputs = state
        .map(|s| {
            s.outputs
                .iter()
                .map(|(name, r)| OutputChange {
                    name: name.clone(),
                    before: Some(r.value.clone()),
                    after: None,
                    sensitive: r.sensitive,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Plan {
        stack: stack_name.to_string(),
        destroy: true,
        changes,
        unclaimed: live.unclaimed.clone(),
        searched: live.searched.clone(),
        outputs,
        ..Plan::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::contains_unknown;
    use crate::state::Recorded;
    use serde_json::json;

    const STACK: &str = r#"
stack: t
region: us-east-1
resources:
  vpc:
    kind: ec2.vpc
    properties:
      cidr_block: 10.0.0.0/16
  subnet:
    kind: ec2.subnet
    for_each: [us-east-1a, us-east-1b]
    properties:
      vpc_id: ${vpc.id}
      availability_zone: ${each.key}
      cidr_block: ${cidrsubnet(vpc.cidr_block, 8, each.index)}
"#;

    fn live_of(stack: &Stack, addr: &str, id: &str) -> Live {
        struct K;
        impl Known for K {
            fn output(&self, _: &str, _: &str) -> Option<Value> {
                Some(json!("vpc-1"))
            }
            fn props(&self, _: &str) -> Option<&Value> {
                None
            }
        }
        let inst = stack.instance(addr).unwrap();
        let mut props = stack.desired(inst, &K).unwrap();
        if addr.starts_with("subnet") {
            let i = inst.each.as_ref().unwrap().index;
            props["cidr_block"] = json!(format!("10.0.{i}.0/24"));
        }
        Live {
            id: id.into(),
            props,
            outputs: [("id".to_string(), json!(id))].into_iter().collect(),
            unobserved: vec![],
            claimed_by: None,
        }
    }

    fn state_with(stack: &Stack, live: &Refreshed) -> State {
        let mut st = State::new("t");
        for (addr, l) in &live.recorded {
            let l = l.as_ref().unwrap();
            st.resources.insert(
                addr.clone(),
                Recorded {
                    kind: stack.instance(addr).unwrap().kind.name.into(),
                    id: l.id.clone(),
                    region: None,
                    properties: l.props.clone(),
                    outputs: l.outputs.clone(),
                    dependencies: stack.instance(addr).unwrap().deps.clone(),
                    prevent_destroy: false,
                    imported: false,
                },
            );
        }
        st
    }

    fn all_live(stack: &Stack) -> Refreshed {
        let mut r = Refreshed::default();
        for (a, id) in [
            ("vpc", "vpc-1"),
            ("subnet[us-east-1a]", "subnet-a"),
            ("subnet[us-east-1b]", "subnet-b"),
        ] {
            r.recorded.insert(a.into(), Some(live_of(stack, a, id)));
        }
        r
    }

    #[test]
    fn from_nothing_everything_is_created_with_unknown_ids() {
        let s = crate::stack::load("t.yaml", STACK, &[]).unwrap();
        let p = plan(&s, None, &Refreshed::default()).unwrap();
        assert_eq!((p.counts().add, p.counts().destroy), (3, 0));
        let sub = &p.changes[1];
        assert_eq!(sub.address, "subnet[us-east-1a]");
        assert!(contains_unknown(&sub.after.as_ref().unwrap()["vpc_id"]));
        assert_eq!(sub.after.as_ref().unwrap()["cidr_block"], "10.0.0.0/24");
    }

    #[test]
    fn same_as_live_is_no_change_and_cidr_change_replaces() {
        let s = crate::stack::load("t.yaml", STACK, &[]).unwrap();
        let live = all_live(&s);
        let st = state_with(&s, &live);
        let p = plan(&s, Some(&st), &live).unwrap();
        assert!(!p.has_changes(), "{p:#?}");
        let changed = STACK.replace("each.index)", "each.index + 10)");
        let s2 = crate::stack::load("t.yaml", &changed, &[]).unwrap();
        let p = plan(&s2, Some(&st), &live).unwrap();
        assert_eq!((p.counts().add, p.counts().destroy), (2, 2));
        assert_eq!(p.changes[1].action, Action::DeleteThenCreate);
        assert_eq!(p.changes[1].replace_because, vec!["cidr_block"]);
    }

    #[test]
    fn deleted_outside_is_created_again_and_drift_says_so() {
        let s = crate::stack::load("t.yaml", STACK, &[]).unwrap();
        let mut live = all_live(&s);
        let st = state_with(&s, &live);
        live.recorded.insert("subnet[us-east-1b]".into(), None);
        let p = plan(&s, Some(&st), &live).unwrap();
        assert_eq!((p.counts().add, p.counts().change), (1, 0));
        assert_eq!(p.drift.len(), 1);
        assert_eq!(p.drift[0].finding, crate::model::Finding::Deleted);
    }

    #[test]
    fn owned_but_unrecorded_is_adopted() {
        let s = crate::stack::load("t.yaml", STACK, &[]).unwrap();
        let mut live = all_live(&s);
        let mut st = state_with(&s, &live);
        st.resources.remove("vpc");
        let v = live.recorded.remove("vpc").unwrap().unwrap();
        live.owned.insert("vpc".into(), v);
        let p = plan(&s, Some(&st), &live).unwrap();
        assert_eq!(p.counts().adopt, 1);
        assert_eq!(p.changes[0].action, Action::Adopt);
    }

    #[test]
    fn tag_change_updates_in_place_and_ignore_changes_silences_it() {
        let s = crate::stack::load("t.yaml", STACK, &[]).unwrap();
        let mut live = all_live(&s);
        let st = state_with(&s, &live);
        if let Some(Some(l)) = live.recorded.get_mut("vpc") {
            l.props["tags"]["Owner"] = json!("someone");
        }
        let p = plan(&s, Some(&st), &live).unwrap();
        assert_eq!(p.counts().change, 1);
        assert!(
            matches!(&p.drift[0].finding, crate::model::Finding::Modified { property, .. } if property == "tags")
        );
        let ign = STACK.replace(
            "    kind: ec2.vpc\n",
            "    kind: ec2.vpc\n    lifecycle: {ignore_changes: [tags.Owner]}\n",
        );
        let s2 = crate::stack::load("t.yaml", &ign, &[]).unwrap();
        let p = plan(&s2, Some(&st), &live).unwrap();
        assert!(!p.has_changes());
    }

    /// A state written by an earlier release (tests/fixtures) still loads,
    /// and plans to nothing against the stack that made it when AWS still
    /// has what it records.
    #[test]
    fn a_state_of_an_earlier_release_loads_and_plans_to_nothing() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let store =
            crate::state::LocalStore::new(root.join("tests/fixtures/network-v1.state.json"));
        let st = store.load().unwrap().expect("the fixture exists");
        assert_eq!((st.stack.as_str(), st.resources.len()), ("network", 25));
        let src = std::fs::read_to_string(root.join("examples/network.yaml")).unwrap();
        let stack = crate::stack::load("examples/network.yaml", &src, &[]).unwrap();
        let mut live = Refreshed::default();
        for (addr, r) in &st.resources {
            let l = Live {
                id: r.id.clone(),
                props: r.properties.clone(),
                outputs: r.outputs.clone(),
                unobserved: vec![],
                claimed_by: None,
            };
            live.recorded.insert(addr.clone(), Some(l));
        }
        let p = plan(&stack, Some(&st), &live).unwrap();
        let busy: Vec<_> = p.changes.iter().filter(|c| c.does_something()).collect();
        assert!(busy.is_empty(), "{busy:#?}");
        assert!(p.drift.is_empty(), "{:#?}", p.drift);
    }
}
