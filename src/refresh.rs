//! Reading what is live for a plan: what state records, and owned objects
//! state does not know. Batched: one read per kind and page of ids, one query
//! per kind with desired resources missing from state.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::diag::{Error, Result};
use crate::plan::{Action, Plan, Refreshed};
use crate::provider::{Cloud, Live, Wanted};
use crate::stack::Stack;
use crate::state::{Recorded, State};

/// Reads what state records and, with a stack, looks for owned but
/// unrecorded resources of the addresses state lacks.
pub async fn refresh(
    cloud: &dyn Cloud,
    stack: Option<&Stack>,
    stack_name: &str,
    state: Option<&State>,
) -> Result<Refreshed> {
    let live = read_recorded(cloud, state).await?;
    let mut out = Refreshed::default();
    if let Some(st) = state {
        for (addr, r) in &st.resources {
            let l = live.get(&(r.kind.clone(), r.id.clone())).cloned();
            out.recorded
                .insert(addr.clone(), l.map(|l| as_recorded(l, r)));
        }
        for d in &st.deposed {
            out.deposed.insert(
                d.id.clone(),
                live.get(&(d.kind.clone(), d.id.clone())).cloned(),
            );
        }
    }
    if let Some(stack) = stack {
        out.owned = find_owned(cloud, stack, stack_name, state).await?;
    }
    Ok(out)
}

/// Every recorded and deposed object, one batched read per kind.
async fn read_recorded(
    cloud: &dyn Cloud,
    state: Option<&State>,
) -> Result<HashMap<(String, String), Live>> {
    let mut by_kind: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    if let Some(st) = state {
        for r in st.resources.values() {
            by_kind.entry(&r.kind).or_default().push(r.id.clone());
        }
        for d in &st.deposed {
            by_kind.entry(&d.kind).or_default().push(d.id.clone());
        }
    }
    let reads = by_kind.iter().map(|(k, ids)| async move {
        let found = cloud.read(k, ids).await?;
        Ok::<_, Error>((k.to_string(), found))
    });
    let mut out = HashMap::new();
    for r in futures::future::join_all(reads).await {
        let (k, found) = r?;
        for l in found {
            out.insert((k.clone(), l.id.clone()), l);
        }
    }
    Ok(out)
}

/// A live object as state knows it: provision's own settings (kept in state)
/// and what the read could not see are taken as last applied.
fn as_recorded(mut l: Live, r: &Recorded) -> Live {
    let Some(spec) = crate::kind::lookup(&r.kind) else {
        return l;
    };
    for p in spec.props.iter().filter(|p| p.local) {
        if let Some(v) = r.properties.get(p.name) {
            l.props[p.name] = v.clone();
        }
    }
    for p in std::mem::take(&mut l.unobserved) {
        match r.properties.get(p) {
            Some(v) => l.props[p] = v.clone(),
            None => {
                if let Some(o) = l.props.as_object_mut() {
                    o.remove(p);
                }
            }
        }
    }
    l
}

/// Owned objects of the stack's addresses that state does not record.
async fn find_owned(
    cloud: &dyn Cloud,
    stack: &Stack,
    stack_name: &str,
    state: Option<&State>,
) -> Result<HashMap<String, Live>> {
    let statics = stack.static_props();
    let mut missing: BTreeMap<&str, Vec<Wanted>> = BTreeMap::new();
    for i in &stack.instances {
        if state.is_none_or(|s| !s.resources.contains_key(&i.address)) {
            missing.entry(i.kind.name).or_default().push(Wanted {
                address: i.address.clone(),
                props: statics.get(&i.address).cloned().unwrap_or(Value::Null),
            });
        }
    }
    let finds = missing.iter().map(|(k, wanted)| async move {
        let found = cloud.find_owned(k, stack_name, wanted).await?;
        Ok::<_, Error>((wanted, found))
    });
    let mut out = HashMap::new();
    for r in futures::future::join_all(finds).await {
        let (wanted, found) = r?;
        for l in found {
            let Some(addr) = l.address() else { continue };
            if wanted.iter().any(|w| w.address == addr) {
                out.insert(addr, l);
            }
        }
    }
    Ok(out)
}

/// Asks the cloud, for every object the plan creates or deletes, whether
/// something stops it.
pub async fn find_blockers(cloud: &dyn Cloud, p: &mut Plan) -> Result<()> {
    for c in p.changes.iter_mut() {
        if c.action == Action::Create
            && let Some(after) = &c.after
        {
            c.blocked = cloud
                .create_blocker(&c.kind, after)
                .await
                .map_err(|e| e.at_address(&c.address))?;
            continue;
        }
        let deletes = matches!(
            c.action,
            Action::Delete | Action::DeleteThenCreate | Action::CreateThenDelete
        );
        if !deletes || c.gone {
            continue;
        }
        if let (Some(id), Some(before)) = (&c.id, &c.before) {
            c.blocked = cloud
                .delete_blocker(&c.kind, id, before)
                .await
                .map_err(|e| e.at_address(&c.address))?;
        }
    }
    Ok(())
}
