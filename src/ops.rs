//! The commands' work, one function each; `main.rs` only parses arguments.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::aws::{AwsCloud, Connect};
use crate::diag::{Error, Result};
use crate::exec::{Executor, Op, Report, Reporter};
use crate::plan::{self, Plan, Refreshed};
use crate::provider::Cloud;
use crate::render;
use crate::stack::{self, Stack};
use crate::state::{self, LocalStore, State, StateStore};

/// What every command that reads a stack is given.
#[derive(Debug, Clone, Default)]
pub struct Common {
    pub stack: PathBuf,
    pub state: Option<PathBuf>,
    pub vars: Vec<(String, String)>,
    pub endpoint_url: Option<String>,
    pub stats: bool,
    /// How long to wait for a lock another run holds (zero: fail at once).
    pub lock_timeout: Duration,
}

pub fn load_stack(path: &Path, vars: &[(String, String)]) -> Result<Stack> {
    let src = std::fs::read_to_string(path)
        .map_err(|e| Error::other(format!("cannot read stack {}: {e}", path.display())))?;
    stack::load(&path.display().to_string(), &src, vars)
}

/// Where the state is: `--state` (a path or `s3://bucket/key`), else the
/// stack's `backend:`, else `.provision/NAME.state.json` beside the stack file.
pub async fn open_store(c: &Common, stack: &Stack) -> Result<Arc<dyn StateStore>> {
    let remote = |bucket: &str, key: &str, region: Option<&str>, kms: Option<&str>| {
        let (bucket, key) = (bucket.to_string(), key.to_string());
        let region = region.or(stack.region.as_deref()).map(str::to_string);
        let kms = kms.map(str::to_string);
        let endpoint = c.endpoint_url.clone();
        async move {
            let s = crate::aws::state_s3::open(
                (&bucket, &key),
                region.as_deref(),
                endpoint.as_deref(),
                kms.as_deref(),
            )
            .await?;
            Ok::<Arc<dyn StateStore>, Error>(Arc::new(s))
        }
    };
    match &c.state {
        Some(p) if p.to_string_lossy().starts_with("s3://") => {
            let url = p.to_string_lossy().to_string();
            let (bucket, key) = crate::aws::state_s3::parse_url(&url)
                .ok_or_else(|| Error::other(format!("--state {url}: expected s3://BUCKET/KEY")))?;
            remote(&bucket, &key, None, None).await
        }
        Some(_) => Ok(Arc::new(LocalStore::new(state_path(c, &stack.name)))),
        None => match &stack.backend {
            Some(b) => {
                remote(
                    &b.bucket,
                    &b.key,
                    b.region.as_deref(),
                    b.kms_key_id.as_deref(),
                )
                .await
            }
            None => Ok(Arc::new(LocalStore::new(state_path(c, &stack.name)))),
        },
    }
}

/// Runs `work` holding the state's lock, and releases it whatever happens.
pub async fn with_lock<T>(
    store: &Arc<dyn StateStore>,
    operation: &str,
    wait: Duration,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let held = store.lock(operation, wait).await?;
    let r = work.await;
    if let Err(e) = store.unlock(&held).await {
        eprintln!(
            "warning: could not release the lock of {}: {e}\n  release it with: provision force-unlock {}",
            store.describe(),
            held.id
        );
    }
    r
}

/// `.provision/NAME.state.json` beside the stack file, unless `--state` says otherwise.
pub fn state_path(c: &Common, stack_name: &str) -> PathBuf {
    c.state.clone().unwrap_or_else(|| {
        c.stack
            .parent()
            .unwrap_or(Path::new("."))
            .join(".provision")
            .join(format!("{stack_name}.state.json"))
    })
}

/// Reads what state records and looks for owned but unrecorded resources:
/// one batched read per kind, plus one tag query per kind that has desired
/// resources missing from state.
pub async fn refresh(
    cloud: &dyn Cloud,
    stack: Option<&Stack>,
    stack_name: &str,
    state: Option<&State>,
) -> Result<Refreshed> {
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
    let mut live_by_id: HashMap<(String, String), crate::provider::Live> = HashMap::new();
    for r in futures::future::join_all(reads).await {
        let (k, found) = r?;
        for l in found {
            live_by_id.insert((k.clone(), l.id.clone()), l);
        }
    }
    let mut out = Refreshed::default();
    if let Some(st) = state {
        for (addr, r) in &st.resources {
            let mut l = live_by_id.get(&(r.kind.clone(), r.id.clone())).cloned();
            // Settings of provision's own (skip_final_snapshot, force_destroy) live in state.
            if let (Some(l), Some(spec)) = (l.as_mut(), crate::kind::lookup(&r.kind)) {
                for p in spec.props.iter().filter(|p| p.local) {
                    if let Some(v) = r.properties.get(p.name) {
                        l.props[p.name] = v.clone();
                    }
                }
                // What the read could not see is taken as last applied.
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
            }
            out.recorded.insert(addr.clone(), l);
        }
        for d in &st.deposed {
            out.deposed.insert(
                d.id.clone(),
                live_by_id.get(&(d.kind.clone(), d.id.clone())).cloned(),
            );
        }
    }
    if let Some(stack) = stack {
        let statics = stack.static_props();
        let mut missing: BTreeMap<&str, Vec<crate::provider::Wanted>> = BTreeMap::new();
        for i in &stack.instances {
            if state.is_none_or(|s| !s.resources.contains_key(&i.address)) {
                missing
                    .entry(i.kind.name)
                    .or_default()
                    .push(crate::provider::Wanted {
                        address: i.address.clone(),
                        props: statics.get(&i.address).cloned().unwrap_or(Value::Null),
                    });
            }
        }
        let finds = missing.iter().map(|(k, wanted)| async move {
            let found = cloud.find_owned(k, stack_name, wanted).await?;
            Ok::<_, Error>((wanted, found))
        });
        for r in futures::future::join_all(finds).await {
            let (wanted, found) = r?;
            for l in found {
                let Some(addr) = l.address() else { continue };
                if wanted.iter().any(|w| w.address == addr) {
                    out.owned.insert(addr, l);
                }
            }
        }
    }
    Ok(out)
}

/// Asks the cloud, for every object the plan deletes, whether something stops it.
pub async fn find_blockers(cloud: &dyn Cloud, p: &mut Plan) -> Result<()> {
    use crate::plan::Action;
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
        if let (Some(id), Some(before)) = (c.id.clone(), c.before.clone()) {
            c.blocked = cloud
                .delete_blocker(&c.kind, &id, &before)
                .await
                .map_err(|e| e.at_address(&c.address))?;
        }
    }
    Ok(())
}

pub async fn connect(c: &Common, region: Option<&str>) -> Result<Arc<AwsCloud>> {
    let cloud = AwsCloud::connect(&Connect {
        endpoint_url: c.endpoint_url.clone(),
        region: region.map(str::to_string),
    })
    .await?;
    Ok(Arc::new(cloud))
}

pub fn print_stats(cloud: &AwsCloud) {
    let snap = cloud.counter.snapshot();
    let total: u64 = snap.values().map(|v| v.0).sum();
    eprintln!("API calls: {total}");
    let w = snap.keys().map(|(s, _)| s.len()).max().unwrap_or(0);
    for ((svc, op), (calls, attempts)) in snap {
        let retries = attempts.saturating_sub(calls);
        let r = if retries > 0 {
            format!(" ({retries} retries)")
        } else {
            String::new()
        };
        eprintln!("  {svc:<w$} {op:<36} {calls}{r}");
    }
}

/// A saved plan: the plan, the stack it was made from, and the state it was made against.
#[derive(Debug, Serialize, Deserialize)]
pub struct PlanFile {
    pub format: u32,
    pub stack_file: String,
    pub stack_source: String,
    pub vars: Vec<(String, String)>,
    pub lineage: Option<String>,
    pub serial: u64,
    pub plan: Plan,
}

/// The plan as JSON for machines: unknown values read "(known after apply)".
pub fn plan_json(p: &Plan) -> Value {
    fn fix(v: &mut Value) {
        match v {
            Value::String(s) if s == crate::expr::UNKNOWN => *s = "(known after apply)".into(),
            Value::Array(a) => a.iter_mut().for_each(fix),
            Value::Object(o) => o.values_mut().for_each(fix),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(p).expect("plan serializes");
    fix(&mut v);
    let (add, change, destroy, adopt) = p.counts();
    v["summary"] =
        serde_json::json!({"add": add, "change": change, "destroy": destroy, "adopt": adopt});
    v["format_version"] = serde_json::json!(1);
    v
}

pub struct PlanOpts {
    pub detailed_exitcode: bool,
    pub json: bool,
    pub out: Option<PathBuf>,
}

/// `provision plan`. Returns the exit status.
pub async fn plan_cmd(c: &Common, o: &PlanOpts) -> Result<i32> {
    let stack = load_stack(&c.stack, &c.vars)?;
    let store = open_store(c, &stack).await?;
    with_lock(
        &store,
        "plan",
        c.lock_timeout,
        plan_locked(c, o, &stack, &store),
    )
    .await
}

async fn plan_locked(
    c: &Common,
    o: &PlanOpts,
    stack: &Stack,
    store: &Arc<dyn StateStore>,
) -> Result<i32> {
    let st = store.load().await?;
    check_stack_name(st.as_ref(), stack)?;
    let cloud = connect(c, stack.region.as_deref()).await?;
    let live = refresh(cloud.as_ref(), Some(stack), &stack.name, st.as_ref()).await;
    if c.stats {
        print_stats(&cloud);
    }
    let mut p = plan::plan(stack, st.as_ref(), &live?)?;
    find_blockers(cloud.as_ref(), &mut p).await?;
    if o.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&plan_json(&p)).expect("json")
        );
    } else {
        print!("{}", render::plan(&p));
    }
    if let Some(path) = &o.out {
        let f = PlanFile {
            format: 1,
            stack_file: stack.file.clone(),
            stack_source: stack.source.clone(),
            vars: c.vars.clone(),
            lineage: st.as_ref().map(|s| s.lineage.clone()),
            serial: st.as_ref().map(|s| s.serial).unwrap_or(0),
            plan: p.clone(),
        };
        state::write_atomic(
            path,
            serde_json::to_string_pretty(&f).expect("json").as_bytes(),
        )?;
        if !o.json {
            println!(
                "\nSaved the plan to {}. Apply exactly this plan with: provision apply {}",
                path.display(),
                path.display()
            );
        }
    }
    Ok(if o.detailed_exitcode && p.has_changes() {
        2
    } else {
        0
    })
}

fn check_stack_name(st: Option<&State>, stack: &Stack) -> Result<()> {
    match st {
        Some(s) if s.stack != stack.name => Err(Error::State(format!(
            "the state belongs to stack {:?}, not {:?}: pass the right --state",
            s.stack, stack.name
        ))),
        _ => Ok(()),
    }
}

struct Ui;

impl Reporter for Ui {
    fn started(&self, op: &Op) {
        println!("{}: {}...", op.address, verb_ing(op));
    }
    fn still(&self, op: &Op, elapsed: Duration) {
        println!(
            "{}: still {}... [{}s elapsed]",
            op.address,
            verb_ing(op),
            elapsed.as_secs()
        );
    }
    fn finished(&self, op: &Op, elapsed: Duration, id: Option<&str>) {
        let id = id.map(|i| format!(" [{i}]")).unwrap_or_default();
        let done = match verb_ing(op) {
            "creating" => "created",
            "updating" => "updated",
            "adopting" => "adopted",
            "deleting" => "deleted",
            _ => "forgotten",
        };
        println!(
            "{}: {done} after {:.1}s{id}",
            op.address,
            elapsed.as_secs_f64()
        );
    }
    fn failed(&self, op: &Op, err: &Error) {
        println!("{}: {} FAILED: {err}", op.address, verb_ing(op));
    }
}

fn verb_ing(op: &Op) -> &'static str {
    use crate::exec::OpKind::*;
    match op.kind {
        Create => "creating",
        Update => "updating",
        Adopt => "adopting",
        Delete | DeleteDeposed => "deleting",
        Forget => "forgetting",
    }
}

pub struct ApplyOpts {
    pub auto_approve: bool,
    pub parallelism: usize,
    pub plan_file: Option<PathBuf>,
    pub cancel: Arc<AtomicBool>,
}

fn approve(what: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::other(format!(
            "refusing to {what} without --auto-approve: standard input is not a terminal"
        )));
    }
    print!("\nDo you want to {what}? Only 'yes' is accepted: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}

fn print_report(r: &Report, verb: &str) {
    println!();
    for (addr, why) in &r.not_attempted {
        println!("{addr}: not attempted: {why}");
    }
    if r.ok() {
        println!(
            "{} complete: {} operations succeeded.",
            verb,
            r.succeeded.len()
        );
        return;
    }
    println!(
        "{verb} incomplete. State records everything that succeeded; run it again to continue."
    );
    println!("  succeeded: {}", r.succeeded.len());
    for s in &r.succeeded {
        println!("    {s}");
    }
    println!("  failed: {}", r.failed.len());
    for (op, e) in &r.failed {
        println!("    {op}: {e}");
    }
    if !r.skipped.is_empty() {
        println!("  skipped: {}", r.skipped.len());
        for (op, cause) in &r.skipped {
            println!("    {op} (because {cause} failed)");
        }
    }
    if !r.not_started.is_empty() {
        println!("  not started (interrupted): {}", r.not_started.len());
        for op in &r.not_started {
            println!("    {op}");
        }
    }
}

/// `provision apply`, with or without a saved plan.
pub async fn apply_cmd(c: &Common, o: &ApplyOpts) -> Result<i32> {
    let (stack, saved) = match &o.plan_file {
        Some(pf) => {
            let text = std::fs::read_to_string(pf)
                .map_err(|e| Error::other(format!("cannot read plan {}: {e}", pf.display())))?;
            let f: PlanFile = serde_json::from_str(&text).map_err(|e| {
                Error::other(format!("{} is not a provision plan: {e}", pf.display()))
            })?;
            let stack = stack::load(&f.stack_file, &f.stack_source, &f.vars)?;
            (stack, Some(f))
        }
        None => (load_stack(&c.stack, &c.vars)?, None),
    };
    let c = &Common {
        stack: saved
            .as_ref()
            .map(|f| PathBuf::from(&f.stack_file))
            .unwrap_or_else(|| c.stack.clone()),
        ..c.clone()
    };
    let store = open_store(c, &stack).await?;
    with_lock(
        &store,
        "apply",
        c.lock_timeout,
        apply_locked(c, o, stack, saved, store.clone()),
    )
    .await
}

async fn apply_locked(
    c: &Common,
    o: &ApplyOpts,
    stack: Stack,
    saved: Option<PlanFile>,
    store: Arc<dyn StateStore>,
) -> Result<i32> {
    let st = store.load().await?;
    check_stack_name(st.as_ref(), &stack)?;
    let cloud = connect(c, stack.region.as_deref()).await?;
    let p = match saved {
        Some(f) => {
            let (lineage, serial) = (
                st.as_ref().map(|s| s.lineage.clone()),
                st.as_ref().map(|s| s.serial).unwrap_or(0),
            );
            if lineage != f.lineage || serial != f.serial {
                return Err(Error::State(format!(
                    "the saved plan is stale: it was made against state serial {} but the state is now at serial {serial}{}; make a new plan",
                    f.serial,
                    if lineage != f.lineage {
                        " of another lineage"
                    } else {
                        ""
                    }
                )));
            }
            f.plan
        }
        None => {
            let live = refresh(cloud.as_ref(), Some(&stack), &stack.name, st.as_ref()).await?;
            let mut p = plan::plan(&stack, st.as_ref(), &live)?;
            find_blockers(cloud.as_ref(), &mut p).await?;
            print!("{}", render::plan(&p));
            if p.has_changes() && !o.auto_approve && !approve("apply these changes")? {
                println!("Apply cancelled.");
                return Ok(1);
            }
            p
        }
    };
    if !p.has_changes() {
        if c.stats {
            print_stats(&cloud);
        }
        return Ok(0);
    }
    let st = st.unwrap_or_else(|| State::new(&stack.name));
    let report = execute(&cloud, Some(stack), &p, st, store, o).await;
    print_report(&report, "Apply");
    if c.stats {
        print_stats(&cloud);
    }
    Ok(if report.ok() { 0 } else { 1 })
}

async fn execute(
    cloud: &Arc<AwsCloud>,
    stack: Option<Stack>,
    p: &Plan,
    st: State,
    store: Arc<dyn StateStore>,
    o: &ApplyOpts,
) -> Report {
    let ex = Executor {
        cloud: cloud.clone() as Arc<dyn Cloud>,
        stack: stack.map(Arc::new),
        parallelism: o.parallelism,
        reporter: Arc::new(Ui),
        cancel: o.cancel.clone(),
    };
    let (report, _) = ex.run(p, st, Some(store)).await;
    report
}

/// `provision destroy`.
pub async fn destroy_cmd(c: &Common, o: &ApplyOpts) -> Result<i32> {
    let stack = load_stack(&c.stack, &c.vars)?;
    let store = open_store(c, &stack).await?;
    with_lock(
        &store,
        "destroy",
        c.lock_timeout,
        destroy_locked(c, o, stack, store.clone()),
    )
    .await
}

async fn destroy_locked(
    c: &Common,
    o: &ApplyOpts,
    stack: Stack,
    store: Arc<dyn StateStore>,
) -> Result<i32> {
    let Some(st) = store.load().await? else {
        println!(
            "Nothing to destroy: there is no state for stack {:?}.",
            stack.name
        );
        return Ok(0);
    };
    check_stack_name(Some(&st), &stack)?;
    let cloud = connect(c, stack.region.as_deref()).await?;
    let live = refresh(cloud.as_ref(), None, &stack.name, Some(&st)).await?;
    let mut p = plan::plan_destroy(&stack.name, Some(&st), &live)?;
    find_blockers(cloud.as_ref(), &mut p).await?;
    print!("{}", render::plan(&p));
    if !p.has_changes() {
        return Ok(0);
    }
    if !o.auto_approve && !approve("destroy everything listed")? {
        println!("Destroy cancelled.");
        return Ok(1);
    }
    let report = execute(&cloud, Some(stack), &p, st, store, o).await;
    print_report(&report, "Destroy");
    if c.stats {
        print_stats(&cloud);
    }
    Ok(if report.ok() { 0 } else { 1 })
}

/// Renders DOT to SVG with Graphviz's `dot`, when it is installed.
pub fn dot_to_svg(dot: &str) -> Result<String> {
    let mut child = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::other(format!("cannot run Graphviz `dot` ({e}); install it (apt-get install graphviz) or use --format dot")))?;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(dot.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(Error::other(format!(
            "dot failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

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
    pub items: Vec<plan::Drift>,
    /// The AWS operations the check called: all reads.
    pub api_calls: Vec<ApiCall>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiCall {
    pub service: String,
    pub operation: String,
    pub calls: u64,
}

/// Reads live state and compares it with the last applied state. Read-only:
/// takes no lock, writes no state, calls only Describe/List/Get operations.
pub async fn drift_check(
    c: &Common,
    cloud: &AwsCloud,
    extra: &[crate::drift::Rule],
) -> Result<DriftReport> {
    let started = std::time::SystemTime::now();
    let before = cloud.counter.snapshot();
    let stack = load_stack(&c.stack, &c.vars)?;
    let store = open_store(c, &stack).await?;
    let st = store.load().await?;
    check_stack_name(st.as_ref(), &stack)?;
    let live = refresh(cloud, None, &stack.name, st.as_ref()).await?;
    let mut unmanaged = Vec::new();
    let name = stack.name.as_str();
    let finds = crate::aws::KINDS.iter().map(|k| async move {
        let found = cloud.find_owned(k.name, name, &[]).await?;
        Ok::<_, Error>((k.name, found))
    });
    for r in futures::future::join_all(finds).await {
        let (kind, found) = r?;
        for l in found {
            let known = st.as_ref().is_some_and(|s| {
                s.resources.values().any(|r| r.id == l.id) || s.deposed.iter().any(|d| d.id == l.id)
            });
            if !known {
                unmanaged.push(crate::drift::Unmanaged {
                    kind: kind.to_string(),
                    live: l,
                });
            }
        }
    }
    let mut rules = plan::lifecycle_rules(&stack);
    rules.extend(extra.iter().cloned());
    let items = crate::drift::detect(st.as_ref(), &live, &unmanaged, &rules);
    let mut counts: BTreeMap<String, usize> = ["modified", "deleted", "unmanaged"]
        .iter()
        .map(|k| (k.to_string(), 0))
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for d in &items {
        if seen.insert((d.class.clone(), d.address.clone())) {
            *counts.entry(d.class.clone()).or_default() += 1;
        }
    }
    let after = cloud.counter.snapshot();
    let api_calls = after
        .iter()
        .filter_map(|((svc, op), (n, _))| {
            let prev = before
                .get(&(svc.clone(), op.clone()))
                .map(|x| x.0)
                .unwrap_or(0);
            (n > &prev).then(|| ApiCall {
                service: svc.clone(),
                operation: op.clone(),
                calls: n - prev,
            })
        })
        .collect();
    Ok(DriftReport {
        format_version: 1,
        stack: stack.name.clone(),
        time: humantime::format_rfc3339_millis(started).to_string(),
        duration_ms: started.elapsed().map(|d| d.as_millis() as u64).unwrap_or(0),
        drifted: !items.is_empty(),
        counts,
        items,
        api_calls,
    })
}

pub fn drift_summary(r: &DriftReport) -> String {
    if !r.drifted {
        return "No drift: the live infrastructure matches the last apply.".into();
    }
    format!(
        "Drift: {} modified, {} deleted, {} unmanaged.",
        r.counts.get("modified").unwrap_or(&0),
        r.counts.get("deleted").unwrap_or(&0),
        r.counts.get("unmanaged").unwrap_or(&0)
    )
}

/// `provision drift` once. Exit 0 no drift, 2 drift, 1 error.
pub async fn drift_cmd(c: &Common, rules: &[crate::drift::Rule], json: bool) -> Result<i32> {
    let stack = load_stack(&c.stack, &c.vars)?;
    let cloud = connect(c, stack.region.as_deref()).await?;
    let r = drift_check(c, &cloud, rules).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r).expect("json"));
    } else {
        let mut out = String::new();
        render::drift(&mut out, &r.items);
        print!("{out}");
        println!("{}", drift_summary(&r));
    }
    if c.stats {
        print_stats(&cloud);
    }
    Ok(if r.drifted { 2 } else { 0 })
}

/// `provision force-unlock LOCK_ID`: releases a stale lock whose id matches.
pub async fn force_unlock_cmd(c: &Common, id: &str) -> Result<i32> {
    let stack = load_stack(&c.stack, &c.vars)?;
    let store = open_store(c, &stack).await?;
    let h = store.force_unlock(id).await?;
    println!(
        "Released the lock of {} held by {}@{} (pid {}, {}) since {}.",
        store.describe(),
        h.user,
        h.host,
        h.pid,
        h.operation,
        h.created
    );
    Ok(0)
}

/// What `provision state` does.
pub enum StateOp {
    List,
    Show(String),
    Rm(Vec<String>),
    Mv(String, String),
    History,
    Pull(Option<String>),
    Migrate { to: PathBuf, force: bool },
}

/// `provision state ...`.
pub async fn state_cmd(c: &Common, op: StateOp) -> Result<i32> {
    let stack = load_stack(&c.stack, &c.vars)?;
    let store = open_store(c, &stack).await?;
    match op {
        StateOp::List => {
            let st = store
                .load()
                .await?
                .unwrap_or_else(|| State::new(&stack.name));
            for (addr, r) in &st.resources {
                println!("{addr:<40} {:<32} {}", r.kind, r.id);
            }
            for d in &st.deposed {
                println!("{:<40} {:<32} {} (deposed)", d.address, d.kind, d.id);
            }
            Ok(0)
        }
        StateOp::Show(addr) => {
            let st = store
                .load()
                .await?
                .unwrap_or_else(|| State::new(&stack.name));
            let r = st.resources.get(&addr).ok_or_else(|| {
                Error::State(format!(
                    "{addr} is not in the state of {}",
                    store.describe()
                ))
            })?;
            println!("{}", serde_json::to_string_pretty(r).expect("json"));
            Ok(0)
        }
        StateOp::Rm(addrs) => {
            with_lock(&store, "state rm", c.lock_timeout, async {
                let mut st = store
                    .load()
                    .await?
                    .ok_or_else(|| Error::State("there is no state".into()))?;
                for a in &addrs {
                    let r = st
                        .resources
                        .remove(a)
                        .ok_or_else(|| Error::State(format!("{a} is not in the state")))?;
                    println!("Forgot {a} ({} {}); it still exists in AWS.", r.kind, r.id);
                }
                store.save(&mut st).await?;
                Ok(0)
            })
            .await
        }
        StateOp::Mv(from, to) => {
            with_lock(&store, "state mv", c.lock_timeout, async {
                let mut st = store
                    .load()
                    .await?
                    .ok_or_else(|| Error::State("there is no state".into()))?;
                if st.resources.contains_key(&to) {
                    return Err(Error::State(format!("{to} is already in the state")));
                }
                let mut r = st
                    .resources
                    .remove(&from)
                    .ok_or_else(|| Error::State(format!("{from} is not in the state")))?;
                if let Some(Value::Object(tags)) = r.properties.get_mut("tags") {
                    tags.insert(
                        stack::TAG_ADDRESS.into(),
                        Value::String(stack::address_tag(&to)),
                    );
                }
                for other in st.resources.values_mut() {
                    for d in other.dependencies.iter_mut().filter(|d| **d == from) {
                        *d = to.clone();
                    }
                }
                st.resources.insert(to.clone(), r);
                store.save(&mut st).await?;
                println!("Moved {from} to {to}.");
                Ok(0)
            })
            .await
        }
        StateOp::History => {
            for v in store.history().await? {
                println!(
                    "{}  {}  {:>8} bytes{}",
                    v.id,
                    v.modified,
                    v.size,
                    if v.latest { "  (latest)" } else { "" }
                );
            }
            Ok(0)
        }
        StateOp::Pull(version) => {
            let st = match version {
                Some(v) => store.pull(&v).await?,
                None => store
                    .load()
                    .await?
                    .ok_or_else(|| Error::State("there is no state".into()))?,
            };
            println!("{}", serde_json::to_string_pretty(&st).expect("json"));
            Ok(0)
        }
        StateOp::Migrate { to, force } => {
            let target = open_store(
                &Common {
                    state: Some(to),
                    ..c.clone()
                },
                &stack,
            )
            .await?;
            with_lock(&store, "state migrate", c.lock_timeout, async {
                let st = store.load().await?.ok_or_else(|| Error::State(format!("{} holds no state", store.describe())))?;
                with_lock(&target, "state migrate", c.lock_timeout, target.put_new(&st, force)).await?;
                println!(
                    "Copied the state (serial {}, {} resources) from {} to {}. Point --state or the stack's backend at the new place; the old copy is left as it was.",
                    st.serial,
                    st.resources.len(),
                    store.describe(),
                    target.describe()
                );
                Ok(0)
            })
            .await
        }
    }
}

/// `provision import ADDRESS ID`: records an existing resource under an address of the stack.
pub async fn import_cmd(c: &Common, address: &str, id: &str) -> Result<i32> {
    let stack = load_stack(&c.stack, &c.vars)?;
    let inst = stack.instance(address).ok_or_else(|| {
        Error::other(format!(
            "{address} is not a resource of the stack; write it in {} first",
            stack.file
        ))
    })?;
    let store = open_store(c, &stack).await?;
    let cloud = connect(c, stack.region.as_deref()).await?;
    with_lock(&store, "import", c.lock_timeout, async {
        let mut st = store
            .load()
            .await?
            .unwrap_or_else(|| State::new(&stack.name));
        check_stack_name(Some(&st), &stack)?;
        if let Some(r) = st.resources.get(address) {
            return Err(Error::State(format!(
                "{address} is already in the state, as {}",
                r.id
            )));
        }
        let live = cloud
            .read(inst.kind.name, &[id.to_string()])
            .await?
            .pop()
            .ok_or_else(|| {
                Error::other(format!(
                    "no {} with id {id} in this account and region",
                    inst.kind.name
                ))
            })?;
        let mut outputs = live.outputs.clone();
        outputs.insert("id".into(), Value::String(live.id.clone()));
        st.resources.insert(
            address.to_string(),
            state::Recorded {
                kind: inst.kind.name.to_string(),
                id: live.id.clone(),
                properties: live.props.clone(),
                outputs,
                dependencies: inst.deps.clone(),
                prevent_destroy: inst.lifecycle.prevent_destroy,
            },
        );
        store.save(&mut st).await?;
        println!(
            "Imported {} {id} as {address}. `provision plan` shows how it differs from the stack.",
            inst.kind.name
        );
        Ok(0)
    })
    .await
}

/// `provision import --discover`: what exists in the account and region
/// that no stack owns, as YAML to start a stack from.
pub async fn discover_cmd(c: &Common) -> Result<i32> {
    let region = load_stack(&c.stack, &c.vars).ok().and_then(|s| s.region);
    let cloud = connect(c, region.as_deref()).await?;
    let found = cloud.discover().await?;
    if found.is_empty() {
        println!("# Nothing found that no stack owns.");
        return Ok(0);
    }
    println!(
        "# Resources in {} that carry no provision ownership tags.",
        cloud.region
    );
    println!("# Paste what you keep into a stack, then: provision import ADDRESS ID\nresources:");
    let mut n: BTreeMap<String, usize> = BTreeMap::new();
    for (kind, live) in found {
        let base = kind.split('.').nth(1).unwrap_or("r").to_string();
        let i = n.entry(base.clone()).or_default();
        *i += 1;
        let mut props = live.props.clone();
        if let Some(Value::Object(t)) = props.get_mut("tags") {
            t.retain(|k, _| !k.starts_with("provision:"));
            if t.is_empty() {
                props.as_object_mut().map(|o| o.remove("tags"));
            }
        }
        let yaml = serde_saphyr::to_string(&props).unwrap_or_default();
        println!(
            "  {base}_{i}:  # import with: provision import {base}_{i} {}",
            live.id
        );
        println!("    kind: {kind}");
        println!("    properties:");
        for line in yaml.lines() {
            println!("      {line}");
        }
    }
    Ok(0)
}
