//! The commands, one module each, each a short story over a
//! [`Session`](crate::session::Session). `main.rs` only parses arguments.

pub mod apply;
pub mod destroy;
pub mod drift;
pub mod graph;
pub mod import;
pub mod output;
pub mod plan;
pub mod state;

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::aws::AwsCloud;
use crate::diag::{Error, Result};
use crate::exec::{Executor, Op, OpKind, Report, Reporter};
use crate::model::Plan;
use crate::provider::Cloud;
use crate::session::Session;
use crate::stack::Stack;
use crate::state::State;

pub use crate::session::Common;

/// The API calls made, per service and operation, on standard error; then
/// the S3 state store's own, when it made any.
/// Set by `main`: the process ends when the command returns.
static PROCESS_ENDS: AtomicBool = AtomicBool::new(false);

/// Says that the process ends when the command returns, so what a command
/// holds need not be freed piece by piece (`let_go`).
pub fn process_ends_after_the_command() {
    PROCESS_ENDS.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Lets go of a large structure: freed, or, when the process ends right
/// after the command, left to the operating system to take back at once.
/// At 10,000 objects, freeing the plan, the refreshed objects and the
/// state one allocation at a time was a sixth of a no-op plan's CPU.
/// Only plain data goes here: nothing that holds a lock or a file to flush.
pub(crate) fn let_go<T>(x: T) {
    if PROCESS_ENDS.load(std::sync::atomic::Ordering::Relaxed) {
        std::mem::forget(x);
    } else {
        drop(x);
    }
}

pub fn print_stats(cloud: &AwsCloud) {
    let others = cloud.other_regions();
    if others.is_empty() {
        eprint!("{}", counts_text("API calls", cloud.counter.snapshot()));
    } else {
        // Calls by region: each region has its own request buckets.
        let total = |c: &AwsCloud| c.counter.snapshot().values().map(|v| v.0).sum::<u64>();
        let by: Vec<String> = std::iter::once((&cloud.region, cloud))
            .chain(others.iter().map(|(r, c)| (r, *c)))
            .map(|(r, c)| format!("{r} {}", total(c)))
            .collect();
        let all = total(cloud) + others.iter().map(|(_, c)| total(c)).sum::<u64>();
        eprintln!("API calls: {all} ({})", by.join(", "));
        let home = format!("API calls in {}", cloud.region);
        eprint!("{}", counts_text(&home, cloud.counter.snapshot()));
        for (r, c) in &others {
            eprint!(
                "{}",
                counts_text(&format!("API calls in {r}"), c.counter.snapshot())
            );
        }
    }
    for (region, c) in
        std::iter::once((None, cloud)).chain(others.iter().map(|(r, c)| (Some(r), *c)))
    {
        let retries = c.retries();
        if retries.is_empty() {
            continue;
        }
        let in_region = region.map(|r| format!(" in {r}")).unwrap_or_default();
        eprintln!("Retries{in_region}: {}", retries.values().sum::<u64>());
        for ((op, why), n) in retries {
            eprintln!("  {op:<36} {why:<10} {n}");
        }
    }
    print_state_calls();
}

/// The S3 state store's calls (lock, reads, writes), when it made any.
pub fn print_state_calls() {
    let calls = crate::aws::state_s3::state_calls();
    if !calls.is_empty() {
        eprint!("{}", counts_text("State store calls", calls));
    }
}

fn counts_text(title: &str, snap: crate::aws::CallCounts) -> String {
    let total: u64 = snap.values().map(|v| v.0).sum();
    let mut out = format!("{title}: {total}\n");
    let w = snap.keys().map(|(s, _)| s.len()).max().unwrap_or(0);
    for ((svc, op), (calls, attempts)) in snap {
        let retries = attempts.saturating_sub(calls);
        let r = if retries > 0 {
            format!(" ({retries} retries)")
        } else {
            String::new()
        };
        out.push_str(&format!("  {svc:<w$} {op:<36} {calls}{r}\n"));
    }
    out
}

/// What an operator asks of `plan` and `apply` beyond the stack.
#[derive(Debug, Clone, Default)]
pub struct Controls {
    /// `--target`: only these and what they depend on.
    pub targets: Vec<String>,
    /// `--replace`: these, though unchanged.
    pub replace: Vec<String>,
    /// `--refresh-only`: accept what changed outside into state.
    pub refresh_only: bool,
    /// `--policy FILE|baseline`: rules the plan is checked against, beside
    /// the stack's own `policy:`.
    pub policies: Vec<String>,
}

/// The policy entries of the stack and of `--policy`.
fn policies(s: &Session, ctl: &Controls) -> Result<Vec<crate::stack::PolicyEntry>> {
    let mut all = s.stack.policy.clone();
    for p in &ctl.policies {
        if p == "baseline" {
            all.push(crate::stack::PolicyEntry::Baseline);
            continue;
        }
        let text = std::fs::read_to_string(p)
            .map_err(|e| Error::other(format!("cannot read policy file {p}: {e}")))?;
        all.extend(crate::stack::policy_file(p, &text)?);
    }
    Ok(all)
}

/// Reads what is live and plans, with the stack's `moved:` and `import:`
/// applied to the state first. Gives the plan and the state apply starts
/// from (the moves done; the imports are the plan's to record).
async fn make_plan(
    s: &Session,
    cloud: &AwsCloud,
    st: Option<State>,
    ctl: &Controls,
) -> Result<(Plan, Option<State>)> {
    let owner = s.stack.owner();
    let needs = !s.stack.moves.is_empty() || !s.stack.imports.is_empty();
    // The prepared states are taken, not copied: at 10,000 objects a copy
    // of the state is a tenth of a plan's CPU.
    let (base, planning, prep) = match st {
        Some(st) => {
            let p = crate::moves::prepare(&s.stack, st)?;
            (Some(p.moved), p.planning, Some((p.moves, p.imports)))
        }
        None if needs => {
            let p = crate::moves::prepare(&s.stack, State::new(&owner))?;
            let planning = p.planning.unwrap_or(p.moved);
            (None, Some(planning), Some((p.moves, p.imports)))
        }
        None => (None, None, None),
    };
    // Without imports the plan reads the moved state itself.
    let planning = planning.as_ref().or(base.as_ref());
    let live = reading(crate::refresh::refresh(
        cloud,
        Some(&s.stack),
        &owner,
        planning,
        crate::refresh::Search::Cheap,
    ))
    .await?;
    let mut p = if ctl.refresh_only {
        crate::plan::plan_refresh_only(&owner, base.as_ref(), &live)
    } else {
        let opts = crate::plan::Options {
            targets: ctl.targets.clone(),
            replace: ctl.replace.clone(),
            imports: prep.as_ref().map(|p| p.1.clone()).unwrap_or_default(),
        };
        crate::plan::plan_with(&s.stack, planning, &live, &opts)?
    };
    if let Some((moves, _)) = prep {
        p.moved = moves;
    }
    let rules = policies(s, ctl)?;
    p.violations = crate::policy::check(&rules, &p, s.stack.env.as_deref().unwrap_or(""));
    if !p.refresh_only {
        crate::refresh::find_blockers(cloud, &mut p).await?;
    }
    if !p.targets.is_empty() {
        eprintln!(
            "Warning: --target {}: this plan covers only those and what they depend on; the rest of the \
             stack was not looked at, so the result may be incomplete. Plan without --target before long.",
            p.targets.join(", ")
        );
    }
    let_go(live);
    Ok((p, base))
}

/// `provision validate`: loads and checks the stack; silent on success.
pub fn validate(c: &Common) -> Result<i32> {
    crate::session::load_stack(c)?;
    Ok(0)
}

/// `provision schema`: the stack format (or a module file's) as JSON Schema.
pub fn schema(module: bool) -> Result<i32> {
    let (k, d) = (crate::aws::KINDS, crate::aws::DATA);
    let s = if module {
        crate::schema::module(k, d)
    } else {
        crate::schema::stack(k, d)
    };
    println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
    Ok(0)
}

/// How apply and destroy run.
pub struct ApplyOpts {
    pub controls: Controls,
    pub auto_approve: bool,
    pub parallelism: usize,
    pub cancel: Arc<AtomicBool>,
}

/// Asks for `yes` on a terminal; refuses without one.
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

/// Carries out a plan against the session's state, printing progress and the
/// report; the exit status.
async fn execute(
    s: &Session,
    cloud: &Arc<AwsCloud>,
    stack: Option<Stack>,
    p: &Plan,
    st: State,
    o: &ApplyOpts,
    verb: &str,
) -> (i32, State) {
    let ex = Executor {
        cloud: cloud.clone() as Arc<dyn Cloud>,
        stack: stack.map(Arc::new),
        parallelism: o.parallelism,
        reporter: Arc::new(Ui::new()),
        cancel: o.cancel.clone(),
    };
    let (report, st) = ex.run(p, st, Some(s.store.clone())).await;
    print_report(&report, verb);
    s.stats(cloud);
    let code = if o.cancel.load(std::sync::atomic::Ordering::SeqCst) {
        130
    } else if report.ok() {
        0
    } else {
        1
    };
    (code, st)
}

/// Prints the stack's outputs as recorded, sensitive ones masked.
pub fn print_outputs(st: &State) {
    if st.outputs.is_empty() {
        return;
    }
    println!("\nOutputs:");
    let w = st.outputs.keys().map(String::len).max().unwrap_or(0);
    for (name, o) in &st.outputs {
        println!(
            "  {name:w$} = {}",
            crate::render::output_text(&o.value, o.sensitive)
        );
    }
}

/// Progress on standard output. On a terminal, a bar: done/total, time,
/// and what is in flight for how long (slowest first), with a line for each
/// operation that ends; elsewhere (logs, CI), plain lines only.
struct Ui {
    bar: Option<indicatif::ProgressBar>,
    running: std::sync::Mutex<std::collections::BTreeMap<String, std::time::Instant>>,
}

impl Ui {
    fn new() -> Ui {
        use std::io::IsTerminal;
        let bar = std::io::stdout().is_terminal().then(|| {
            let b = indicatif::ProgressBar::with_draw_target(
                Some(0),
                indicatif::ProgressDrawTarget::stdout(),
            );
            let style = indicatif::ProgressStyle::with_template(
                "{bar:24} {pos}/{len} [{elapsed}] {wide_msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            b.set_style(style);
            b
        });
        Ui {
            bar,
            running: Default::default(),
        }
    }

    fn line(&self, text: String) {
        match &self.bar {
            Some(b) => b.println(text),
            None => println!("{text}"),
        }
    }

    /// The bar's message: what runs, the longest first.
    fn in_flight(&self) {
        let Some(b) = &self.bar else { return };
        let Ok(running) = self.running.lock() else {
            return;
        };
        let mut now: Vec<(Duration, &String)> =
            running.iter().map(|(a, t)| (t.elapsed(), a)).collect();
        now.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        let shown: Vec<String> = now
            .iter()
            .take(3)
            .map(|(d, a)| format!("{a} {}s", d.as_secs()))
            .collect();
        let more = now.len().saturating_sub(3);
        let more = if more > 0 {
            format!(" +{more}")
        } else {
            String::new()
        };
        b.set_message(format!("in flight: {}{more}", shown.join(", ")));
    }

    fn track(&self, op: &Op, running: bool) {
        if let Ok(mut r) = self.running.lock() {
            if running {
                r.insert(op.address.clone(), std::time::Instant::now());
            } else {
                r.remove(&op.address);
            }
        }
        if !running && let Some(b) = &self.bar {
            b.inc(1);
        }
        self.in_flight();
    }
}

fn verb_ing(op: &Op) -> &'static str {
    match op.kind {
        OpKind::Create => "creating",
        OpKind::Update => "updating",
        OpKind::Adopt => "adopting",
        OpKind::Accept => "accepting",
        OpKind::Import => "importing",
        OpKind::Delete | OpKind::DeleteDeposed | OpKind::DeleteOrphan => "deleting",
        OpKind::Forget => "forgetting",
    }
}

impl Reporter for Ui {
    fn begin(&self, total: usize) {
        if let Some(b) = &self.bar {
            b.set_length(total as u64);
            b.enable_steady_tick(Duration::from_millis(250));
        }
    }
    fn end(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
    fn started(&self, op: &Op) {
        if self.bar.is_none() {
            println!("{}: {}...", op.address, verb_ing(op));
        }
        self.track(op, true);
    }
    fn still(&self, op: &Op, elapsed: Duration, waiting_on: Option<&str>) {
        if self.bar.is_none() {
            let why = waiting_on.map(|w| format!(": {w}")).unwrap_or_default();
            println!(
                "{}: still {}... [{}s elapsed]{why}",
                op.address,
                verb_ing(op),
                elapsed.as_secs()
            );
        }
        self.in_flight();
    }
    fn finished(&self, op: &Op, elapsed: Duration, id: Option<&str>) {
        let id = id.map(|i| format!(" [{i}]")).unwrap_or_default();
        let done = match op.kind {
            OpKind::Create => "created",
            OpKind::Update => "updated",
            OpKind::Adopt => "adopted",
            OpKind::Accept => "accepted",
            OpKind::Import => "imported",
            OpKind::Delete | OpKind::DeleteDeposed | OpKind::DeleteOrphan => "deleted",
            OpKind::Forget => "forgotten",
        };
        self.line(format!(
            "{}: {done} after {:.1}s{id}",
            op.address,
            elapsed.as_secs_f64()
        ));
        self.track(op, false);
    }
    fn failed(&self, op: &Op, err: &Error) {
        // Why is said once, in the summary at the end.
        let what = if matches!(err, Error::Interrupted(_)) {
            "stopped (interrupted)"
        } else {
            "FAILED (why: in the summary below)"
        };
        self.line(format!("{}: {} {what}", op.address, verb_ing(op)));
        self.track(op, false);
    }
}

/// Awaits a refresh with a spinner on a terminal (what it does, for how
/// long), cleared when it ends; nothing when standard output is not a terminal.
pub(crate) async fn reading<T>(refresh: impl std::future::Future<Output = T>) -> T {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return refresh.await;
    }
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stdout());
    let style = indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.set_message("reading what is live");
    bar.enable_steady_tick(Duration::from_millis(120));
    let r = refresh.await;
    bar.finish_and_clear();
    r
}

/// Prints text for people, its lines coloured by their marks when standard
/// output is a terminal (see `render::paint`).
pub fn show(text: &str) {
    use std::io::Write;
    let mut out = anstream::stdout();
    let _ = write!(out, "{}", crate::render::paint(text));
}

/// The run's time beside its critical path (no schedule can beat the path).
fn print_timing(r: &Report) {
    if r.critical_path.is_empty() {
        return;
    }
    const SHOWN: usize = 6;
    let mut chain: Vec<String> = r
        .critical_path
        .iter()
        .take(SHOWN)
        .map(|(op, d)| format!("{op} ({:.1}s)", d.as_secs_f64()))
        .collect();
    if r.critical_path.len() > SHOWN {
        chain.push(format!("{} more", r.critical_path.len() - SHOWN));
    }
    println!(
        "Took {:.1}s for {:.1}s of operations; critical path {:.1}s: {}",
        r.took.as_secs_f64(),
        r.work.as_secs_f64(),
        r.critical_path_time().as_secs_f64(),
        chain.join(" -> ")
    );
}

fn print_report(r: &Report, verb: &str) {
    println!();
    for (addr, why) in &r.not_attempted {
        println!("{addr}: not attempted: {why}");
    }
    if r.ok() {
        let n = r.succeeded.len();
        println!(
            "{verb} complete: {n} operation{} succeeded.",
            if n == 1 { "" } else { "s" }
        );
        print_timing(r);
        return;
    }
    println!(
        "{verb} incomplete. State records everything that succeeded; run it again to continue."
    );
    // Succeeded and failed always, the others when there are some.
    let section = |title: &str, always: bool, lines: Vec<String>| {
        if always || !lines.is_empty() {
            println!("  {title}: {}", lines.len());
            lines.iter().for_each(|l| println!("    {l}"));
        }
    };
    section("succeeded", true, r.succeeded.clone());
    section(
        "failed",
        true,
        r.failed
            .iter()
            .map(|(op, e)| format!("{op}: {e}"))
            .collect(),
    );
    let skipped = r
        .skipped
        .iter()
        .map(|(op, c)| format!("{op} (because {c} failed)"));
    section("skipped", false, skipped.collect());
    section(
        "stopped while waiting (interrupted)",
        false,
        r.interrupted.clone(),
    );
    section("not started (interrupted)", false, r.not_started.clone());
}
