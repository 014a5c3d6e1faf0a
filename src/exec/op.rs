//! One operation, as evaluate -> call -> record: what the stack wants now
//! (checked against what the plan showed), the cloud's call, and the state
//! written after it. Creates are written as begun before the call.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::order::{Op, OpKind};
use crate::diag::{Error, Result};
use crate::expr::contains_unknown;
use crate::model::{Action, Change, Plan};
use crate::provider::{Cloud, Intent, Live};
use crate::stack::{Instance, Known, Stack};
use crate::state::{Creating, Deposed, Recorded, State, StateStore};

pub(super) struct Shared {
    /// Held across the write of state, so writes never interleave.
    pub(super) state: tokio::sync::Mutex<State>,
    pub(super) store: Option<Arc<dyn StateStore>>,
    pub(super) props: Mutex<HashMap<String, Value>>,
}

impl Shared {
    /// Writes what the operation on `address` changed in `st` (and the id
    /// it made), durably, before the operation counts as done.
    async fn save(&self, st: &mut State, address: &str, made: Option<&str>) -> Result<()> {
        match &self.store {
            Some(s) => s.append(st, address, made).await,
            None => {
                st.serial += 1;
                Ok(())
            }
        }
    }
}

/// What an operation's references read: the state as recorded so far and
/// the properties applied, looked up where they are (never copied: an
/// operation reads a few of them, and there may be thousands).
struct ApplyKnown<'a> {
    st: &'a State,
    props: &'a HashMap<String, Value>,
}

impl Known for ApplyKnown<'_> {
    fn output(&self, address: &str, attr: &str) -> Option<Value> {
        self.st.resources.get(address)?.outputs.get(attr).cloned()
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

/// One operation: for a create, update or adopt, evaluate what the stack
/// wants now, call the cloud, record the result; for a delete, call and record.
pub(super) async fn run_op(
    op: &Op,
    plan: &Plan,
    stack: Option<&Stack>,
    cloud: &dyn Cloud,
    sh: &Shared,
) -> Result<Option<String>> {
    let c = &plan.changes[op.change];
    match op.kind {
        OpKind::Accept => accept(c, sh).await.map(Some),
        OpKind::Create | OpKind::Update | OpKind::Adopt | OpKind::Import => {
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
        OpKind::Delete | OpKind::DeleteDeposed | OpKind::DeleteOrphan | OpKind::Forget => {
            remove(op, c, stack, cloud, sh).await.map(Some)
        }
    }
}

/// The properties the stack wants now that the outputs it refers to are
/// known; refused when they differ from what the plan showed (a bug).
async fn evaluate(c: &Change, stack: &Stack, inst: &Instance, sh: &Shared) -> Result<Value> {
    let mut desired = {
        let st = sh.state.lock().await;
        let props = sh.props.lock().unwrap_or_else(|p| p.into_inner());
        let known = ApplyKnown {
            st: &st,
            props: &props,
        };
        stack.desired(inst, &known)
    }
    .map_err(|e| Error::stack(vec![e]))?;
    if let Some(before) = &c.before {
        crate::compare::ignore(&mut desired, before, &inst.lifecycle.ignore_changes);
        crate::compare::keep_suffixed_name(inst.kind, &mut desired, before);
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
        sh.save(&mut st, addr, None).await?;
        Intent {
            stack: stack.owner(),
            lineage: st.lineage.clone(),
            address: addr.to_string(),
            token,
            resumed,
            ..Intent::default()
        }
    };
    let r = match cloud.at(c.region.as_deref()) {
        Ok(cloud) => cloud
            .create(&c.kind, desired, inst.timeouts.create, &intent)
            .await
            .map_err(|e| e.at_address(addr)),
        Err(e) => Err(e.at_address(addr)),
    };
    let mut st = sh.state.lock().await;
    if intent.in_doubt() {
        st.unsure.insert(c.kind.clone());
    }
    // Recording the object ends the create; a failure does too, unless AWS
    // may have carried it out.
    // An interrupt may have come after AWS made it (while waiting for it
    // to be ready): the next run looks for it before creating.
    let stopped = matches!(r, Err(Error::Interrupted(_)));
    if r.is_err() && !intent.in_doubt() && !stopped {
        st.creating.remove(addr);
    }
    if r.is_err() {
        sh.save(&mut st, addr, None).await?;
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
    let cloud = cloud.at(c.existing_region()).map_err(at)?;
    let id = || {
        c.id.clone()
            .ok_or_else(|| Error::other(format!("internal: {} has no id", c.address)))
    };
    match kind {
        OpKind::Update => cloud
            .update(&c.kind, &id()?, before, desired, inst.timeouts.update)
            .await
            .map_err(at),
        OpKind::Import if !c.changed.is_empty() => cloud
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
    if matches!(kind, OpKind::Adopt | OpKind::Import) {
        // Outputs of an adopted or imported resource were read at refresh.
        let read = c.outputs.clone().into_iter();
        outputs.extend(
            read.filter(|(k, _)| !outputs.contains_key(k))
                .collect::<Vec<_>>(),
        );
    }
    let mut st = sh.state.lock().await;
    if c.action == Action::CreateThenDelete
        && let Some(old) = st.resources.get(addr).cloned()
    {
        st.deposed.push(Deposed {
            address: addr.to_string(),
            kind: old.kind,
            id: old.id,
            region: old.region,
            properties: old.properties,
        });
    }
    let properties = if kind == OpKind::Adopt {
        live.props
    } else {
        desired.clone()
    };
    st.creating.remove(addr);
    if kind == OpKind::Create {
        st.note_made(&live.id);
    }
    let imported = kind == OpKind::Import
        || (kind != OpKind::Create && st.resources.get(addr).is_some_and(|r| r.imported));
    st.resources.insert(
        addr.to_string(),
        Recorded {
            kind: c.kind.clone(),
            id: live.id.clone(),
            region: c.region.clone(),
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
    let made = (kind == OpKind::Create).then_some(live.id.as_str());
    sh.save(&mut st, addr, made).await?;
    Ok(live.id)
}

/// Records what is live as last applied (`--refresh-only`): the live
/// properties and outputs the plan read, nothing called.
async fn accept(c: &Change, sh: &Shared) -> Result<String> {
    let addr = c.address.as_str();
    let mut st = sh.state.lock().await;
    let r = st
        .resources
        .get_mut(addr)
        .ok_or_else(|| Error::other(format!("internal: {addr} is not in state")))?;
    if let Some(live) = &c.after {
        r.properties = live.clone();
    }
    r.outputs.extend(c.outputs.clone());
    let id = r.id.clone();
    sh.save(&mut st, addr, None).await?;
    Ok(id)
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
    let (id, kind, region) = {
        let st = sh.state.lock().await;
        let (id, region) = match op.kind {
            OpKind::DeleteDeposed if c.action == Action::CreateThenDelete => st
                .deposed
                .iter()
                .find(|d| d.address == addr)
                .map(|d| (d.id.clone(), d.region.clone()))
                .ok_or_else(|| Error::other(format!("{addr}: no deposed object to delete")))?,
            _ => {
                let id =
                    c.id.clone()
                        .ok_or_else(|| Error::other(format!("internal: {addr} has no id")))?;
                (id, c.old_region.clone())
            }
        };
        // A replacement across kinds deletes the old object as its own kind.
        let kind = match op.kind {
            OpKind::Delete => st.resources.get(addr).map(|r| r.kind.clone()),
            _ => None,
        };
        (id, kind.unwrap_or_else(|| c.kind.clone()), region)
    };
    if op.kind == OpKind::Delete
        && let Some(why) = &c.blocked
    {
        return Err(Error::other(format!("cannot be deleted: {why}")));
    }
    if op.kind != OpKind::Forget {
        let t = stack
            .and_then(|s| s.instance(addr))
            .map(|i| i.timeouts)
            .unwrap_or_default();
        let before = c.before.as_ref().unwrap_or(&Value::Null);
        let r = match cloud.at(region.as_deref()) {
            Ok(cloud) => cloud.delete(&kind, &id, before, t.delete, t.in_use).await,
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            if op.kind == OpKind::DeleteOrphan {
                // Still there: the next plan looks for it again.
                let mut st = sh.state.lock().await;
                st.unsure.insert(kind.clone());
                sh.save(&mut st, addr, None).await?;
            }
            return Err(e.at_address(addr));
        }
    }
    // The object is no longer state's, wherever it recorded it (ids are
    // distinct: the recorded object of a create-then-delete is the new one).
    let mut st = sh.state.lock().await;
    st.deposed.retain(|d| d.id != id);
    if st.resources.get(addr).is_some_and(|r| r.id == id) {
        st.resources.remove(addr);
    }
    sh.save(&mut st, addr, None).await?;
    Ok(id)
}
