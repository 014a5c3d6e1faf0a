//! `provision drift`: compare what is live with the last apply: modified,
//! deleted, unmanaged. Read-only: takes no lock, writes no state, calls only
//! Describe/List/Get operations. Exit 0 no drift, 2 drift, 1 error.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::Common;
use crate::aws::AwsCloud;
use crate::diag::{Error, Result};
use crate::drift::{Rule, Unmanaged};
use crate::plan::{self, Drift};
use crate::provider::Cloud;
use crate::refresh::refresh;
use crate::render;
use crate::session::{Session, connect, load_stack};
use crate::state::State;

/// One drift check's result, as written to reports and printed with `--json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DriftReport {
    pub format_version: u32,
    pub stack: String,
    /// When the check started (RFC 3339, UTC).
    pub time: String,
    pub duration_ms: u64,
    pub drifted: bool,
    /// Resources drifted, by class: `modified`, `deleted`, `unmanaged`.
    pub counts: BTreeMap<String, usize>,
    pub items: Vec<Drift>,
    /// The AWS operations the check called: all reads.
    pub api_calls: Vec<ApiCall>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiCall {
    pub service: String,
    pub operation: String,
    pub calls: u64,
}

/// Reads live state and compares it with the last applied state.
pub async fn check(c: &Common, cloud: &AwsCloud, extra: &[Rule]) -> Result<DriftReport> {
    let started = std::time::SystemTime::now();
    let before = cloud.counter.snapshot();
    let s = Session::open(c).await?;
    let st = s.state().await?;
    let live = refresh(cloud, None, &s.stack.name, st.as_ref()).await?;
    let unmanaged = unmanaged(cloud, &s.stack.name, st.as_ref()).await?;
    let mut rules = plan::lifecycle_rules(&s.stack);
    rules.extend(extra.iter().cloned());
    let items = crate::drift::detect(st.as_ref(), &live, &unmanaged, &rules);
    let mut counts: BTreeMap<String, usize> = ["modified", "deleted", "unmanaged"]
        .iter()
        .map(|k| (k.to_string(), 0))
        .collect();
    let mut seen = BTreeSet::new();
    for d in &items {
        if seen.insert((d.class.clone(), d.address.clone())) {
            *counts.entry(d.class.clone()).or_default() += 1;
        }
    }
    let after = cloud.counter.snapshot();
    let api_calls = after
        .iter()
        .filter_map(|((svc, op), (n, _))| {
            let prev = before.get(&(svc.clone(), op.clone())).map_or(0, |x| x.0);
            (*n > prev).then(|| ApiCall {
                service: svc.clone(),
                operation: op.clone(),
                calls: n - prev,
            })
        })
        .collect();
    Ok(DriftReport {
        format_version: 1,
        stack: s.stack.name.clone(),
        time: humantime::format_rfc3339_millis(started).to_string(),
        duration_ms: started.elapsed().map_or(0, |d| d.as_millis() as u64),
        drifted: !items.is_empty(),
        counts,
        items,
        api_calls,
    })
}

/// Objects that carry the stack's ownership tags but that state does not know.
async fn unmanaged(cloud: &AwsCloud, stack: &str, st: Option<&State>) -> Result<Vec<Unmanaged>> {
    let finds = crate::aws::KINDS.iter().map(|k| async move {
        let found = cloud.find_owned(k.name, stack, &[]).await?;
        Ok::<_, Error>((k.name, found))
    });
    let known = |id: &str| {
        st.is_some_and(|s| {
            s.resources.values().any(|r| r.id == id) || s.deposed.iter().any(|d| d.id == id)
        })
    };
    let mut out = Vec::new();
    for r in futures::future::join_all(finds).await {
        let (kind, found) = r?;
        for l in found.into_iter().filter(|l| !known(&l.id)) {
            out.push(Unmanaged {
                kind: kind.to_string(),
                live: l,
            });
        }
    }
    Ok(out)
}

pub fn summary(r: &DriftReport) -> String {
    if !r.drifted {
        return "No drift: the live infrastructure matches the last apply.".into();
    }
    let n = |k: &str| r.counts.get(k).copied().unwrap_or(0);
    format!(
        "Drift: {} modified, {} deleted, {} unmanaged.",
        n("modified"),
        n("deleted"),
        n("unmanaged")
    )
}

/// `provision drift` once. Exit 0 no drift, 2 drift, 1 error.
pub async fn run(c: &Common, rules: &[Rule], json: bool) -> Result<i32> {
    let stack = load_stack(&c.stack, &c.vars)?;
    let cloud = connect(c, stack.region.as_deref()).await?;
    let r = check(c, &cloud, rules).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
    } else {
        let mut out = String::new();
        render::drift(&mut out, &r.items);
        print!("{out}");
        println!("{}", summary(&r));
    }
    if c.stats {
        super::print_stats(&cloud);
    }
    Ok(if r.drifted { 2 } else { 0 })
}
