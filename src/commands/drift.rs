//! `provision drift`: compare what is live with the last apply: modified,
//! deleted, unmanaged. Read-only: takes no lock, writes no state, calls only
//! Describe/List/Get operations. Exit 0 no drift, 2 drift, 1 error.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::Common;
use crate::aws::AwsCloud;
use crate::diag::Result;
use crate::drift::Rule;
use crate::model::{Drift, DriftClass};
use crate::plan;
use crate::refresh::{Search, refresh};
use crate::render;
use crate::render::json::DriftItem;
use crate::session::{Session, connect, load_stack};

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
    pub items: Vec<DriftItem>,
    /// The AWS operations the check called: all reads.
    pub api_calls: Vec<ApiCall>,
    /// The findings themselves (`items` is their format 1 text).
    #[serde(skip)]
    pub found: Vec<Drift>,
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
    // Drift is recorded against live: it reads no data source.
    let s = Session::open_offline(c).await?;
    let st = s.state().await?;
    let live = super::reading(refresh(
        cloud,
        None,
        &s.stack.owner(),
        st.as_ref(),
        Search::Everywhere,
    ))
    .await?;
    let mut rules = plan::lifecycle_rules(&s.stack);
    rules.extend(extra.iter().cloned());
    let mut items = crate::drift::detect(st.as_ref(), &live, &rules);
    items.extend(crate::drift::strays(&live, &rules));
    if let Some(st) = st.as_ref() {
        items.extend(handmade(cloud, st, &live, &rules).await?);
        items.extend(upstream(c, &s.stack, st).await);
    }
    let mut counts: BTreeMap<String, usize> = DriftClass::ALL
        .iter()
        .map(|k| (k.name().to_string(), 0))
        .collect();
    let mut seen = BTreeSet::new();
    for d in &items {
        let class = d.finding.class();
        if seen.insert((class, d.address.clone())) {
            *counts.entry(class.name().to_string()).or_default() += 1;
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
        items: items.iter().map(render::json::drift_item).collect(),
        found: items,
        api_calls,
    })
}

/// What someone made by hand inside what the state manages (a subnet or a
/// security group in the stack's VPC, a record in its zone, a listener on
/// its load balancer, a network interface): one read per kind and kind of
/// container it lives in, none for the others, and one read of interfaces.
async fn handmade(
    cloud: &AwsCloud,
    st: &crate::state::State,
    live: &crate::model::Refreshed,
    rules: &[Rule],
) -> Result<Vec<Drift>> {
    let mut out = Vec::new();
    for region in st.regions() {
        let region = region.as_deref();
        let containers = crate::drift::managed_containers(st, region);
        let found = inside_managed(cloud, st, live, region).await?;
        out.extend(crate::drift::handmade(
            st,
            &containers,
            &found,
            region,
            rules,
        ));
    }
    Ok(out)
}

/// Everything inside the containers the state manages in `region`
/// (`None`: the stack's), (kind, object), whoever made it.
pub(super) async fn inside_managed(
    cloud: &AwsCloud,
    st: &crate::state::State,
    live: &crate::model::Refreshed,
    region: Option<&str>,
) -> Result<Vec<(String, crate::provider::Live)>> {
    use crate::kind::Inside;
    use crate::provider::{Cloud, Container};
    let cloud = match region {
        Some(r) => cloud.region(r)?,
        None => cloud,
    };
    let containers = crate::drift::managed_containers(st, region);
    if containers.is_empty() {
        return Ok(vec![]);
    }
    // Each kind that says it is searched in a kind of container, in the
    // managed containers of that kind.
    let reads = crate::aws::KINDS.iter().filter_map(|k| {
        let Inside::Searched(c) = k.inside else {
            return None;
        };
        let ids: Vec<String> = containers.get(&c)?.keys().cloned().collect();
        Some(async move { (k.name, cloud.inside(k.name, c, &ids).await) })
    });
    let mut found = Vec::new();
    for (kind, r) in futures::future::join_all(reads).await {
        found.extend(r?.into_iter().map(|l| (kind.to_string(), l)));
    }
    // Interfaces are no kind of ours: those AWS makes for our NAT gateways
    // and mount targets are named in their reads.
    let vpcs: Vec<String> = containers
        .get(&Container::Vpc)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let known: BTreeSet<String> = live
        .recorded
        .values()
        .flatten()
        .filter_map(|l| {
            l.outputs
                .get("network_interface_id")?
                .as_str()
                .map(str::to_string)
        })
        .collect();
    found.extend(cloud.loose_interfaces(&vpcs, &known).await?);
    Ok(found)
}

/// Outputs of the stacks this one reads that are not what they were at its
/// last apply (their states are read without their locks).
async fn upstream(c: &Common, stack: &crate::stack::Stack, st: &crate::state::State) -> Vec<Drift> {
    let mut now = stack.clone();
    for s in &stack.stacks {
        if let Ok(v) = crate::session::read_upstream(c, s).await {
            now.upstream.insert(s.name.clone(), v);
        }
    }
    plan::upstream_changes(&now, Some(st))
        .into_iter()
        .map(|u| Drift {
            address: format!("stack.{}.{}", u.stack, u.output),
            kind: "stack".into(),
            id: u.stack.clone(),
            region: None,
            finding: crate::model::Finding::Upstream {
                output: u.output,
                before: u.before,
                after: u.after,
            },
        })
        .collect()
}

pub fn summary(r: &DriftReport) -> String {
    if !r.drifted {
        return "No drift: the live infrastructure matches the last apply.".into();
    }
    let n = |k: &str| r.counts.get(k).copied().unwrap_or(0);
    let upstream = match n("upstream") {
        0 => String::new(),
        u => format!(", {u} upstream outputs changed"),
    };
    format!(
        "Drift: {} modified, {} deleted, {} orphaned, {} unmanaged{upstream}.",
        n("modified"),
        n("deleted"),
        n("orphan"),
        n("unmanaged")
    )
}

/// What `provision drift` is asked.
pub struct DriftOpts {
    pub json: bool,
    /// `--ignore` rules, as written.
    pub ignore: Vec<String>,
    /// `--every`: check on a schedule instead of once.
    pub every: Option<crate::watch::WatchOpts>,
}

/// `provision drift`: once (exit 0 no drift, 2 drift, 1 error), or on a
/// schedule with `--every` until SIGINT or SIGTERM.
pub async fn run(c: &Common, o: &DriftOpts) -> Result<i32> {
    let rules = o
        .ignore
        .iter()
        .map(|i| Rule::parse(i))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(crate::diag::Error::Other)?;
    match &o.every {
        Some(w) => crate::watch::watch(c, &rules, w, c.interrupt.clone()).await,
        None => once(c, &rules, o.json).await,
    }
}

async fn once(c: &Common, rules: &[Rule], json: bool) -> Result<i32> {
    let stack = load_stack(c)?;
    let cloud = connect(c, stack.region.as_deref()).await?;
    let r = check(c, &cloud, rules).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
    } else {
        let mut out = String::new();
        render::drift(&mut out, &r.found);
        super::show(&out);
        println!("{}", summary(&r));
    }
    if c.stats {
        super::print_stats(&cloud);
    }
    Ok(if r.drifted { 2 } else { 0 })
}
