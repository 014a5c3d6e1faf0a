//! `provision drift --every`: the drift check on a schedule, of one stack or
//! (`--also FILE[@ENV]`) several stacks and environments in one loop.
//!
//! Each check writes a timestamped JSON report (keeping the newest N), logs
//! one summary line, runs `--on-drift` when drift is found, and updates the
//! Prometheus metrics served on `--metrics-addr` (one endpoint, labelled by
//! stack and environment). Clients are shared per region. A stack whose check
//! fails backs off on its own; SIGINT or SIGTERM lets the checks in flight
//! finish, then exits 0.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

use crate::commands::Common;
use crate::commands::drift::DriftReport;
use crate::diag::{Error, Result};

#[derive(Debug, Clone)]
pub struct WatchOpts {
    pub every: Duration,
    pub jitter_percent: u8,
    pub reports: Option<PathBuf>,
    pub keep: usize,
    pub metrics_addr: Option<SocketAddr>,
    pub on_drift: Option<String>,
    /// More stacks to watch: `FILE` or `FILE@ENV`.
    pub also: Vec<String>,
}

/// What /metrics shows.
#[derive(Debug, Default, Clone)]
pub struct Metrics {
    pub stack: String,
    /// The environment (`-e`), when there is one: a label of its own.
    pub env: Option<String>,
    pub runs: u64,
    pub errors: u64,
    pub last_run: f64,
    pub last_success: f64,
    pub last_duration: f64,
    pub last_ok: bool,
    pub counts: Vec<(String, usize)>,
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Prometheus text exposition format 0.0.4: each metric once, a line per
/// watched stack (and environment).
pub fn render_metrics(all: &[Metrics]) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, ty: &str, help: &str, lines: Vec<(String, String)>| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {ty}\n"));
        for (labels, v) in lines {
            out.push_str(&format!("{name}{{{labels}}} {v}\n"));
        }
    };
    let label = |m: &Metrics| match &m.env {
        Some(e) => format!("stack=\"{}\",env=\"{}\"", esc(&m.stack), esc(e)),
        None => format!("stack=\"{}\"", esc(&m.stack)),
    };
    let each = |f: &dyn Fn(&Metrics) -> String| -> Vec<(String, String)> {
        all.iter().map(|m| (label(m), f(m))).collect()
    };
    metric(
        "provision_drift_resources",
        "gauge",
        "Resources drifted at the last successful check, by class.",
        all.iter()
            .flat_map(|m| {
                m.counts.iter().map(move |(c, n)| {
                    (format!("{},class=\"{}\"", label(m), esc(c)), n.to_string())
                })
            })
            .collect(),
    );
    metric(
        "provision_drift_runs_total",
        "counter",
        "Drift checks run.",
        each(&|m| m.runs.to_string()),
    );
    metric(
        "provision_drift_errors_total",
        "counter",
        "Drift checks that failed.",
        each(&|m| m.errors.to_string()),
    );
    metric(
        "provision_drift_last_run_timestamp_seconds",
        "gauge",
        "When the last check finished (Unix time).",
        each(&|m| format!("{:.3}", m.last_run)),
    );
    metric(
        "provision_drift_last_success_timestamp_seconds",
        "gauge",
        "When the last successful check finished (Unix time).",
        each(&|m| format!("{:.3}", m.last_success)),
    );
    metric(
        "provision_drift_last_run_duration_seconds",
        "gauge",
        "How long the last check took.",
        each(&|m| format!("{:.3}", m.last_duration)),
    );
    metric(
        "provision_drift_last_run_success",
        "gauge",
        "1 if the last check succeeded, 0 if it failed.",
        each(&|m| if m.last_ok { "1" } else { "0" }.into()),
    );
    out
}

async fn serve(
    addr: SocketAddr,
    metrics: Arc<Mutex<Vec<Metrics>>>,
    stop: Arc<Notify>,
) -> Result<()> {
    use axum::routing::get;
    let m = metrics.clone();
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let text = render_metrics(&m.lock().expect("metrics lock"));
                async move { ([("content-type", "text/plain; version=0.0.4")], text) }
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::other(format!("cannot serve metrics on {addr}: {e}")))?;
    println!(
        "serving metrics on http://{}/metrics",
        listener.local_addr()?
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.notified().await })
            .await;
    });
    Ok(())
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Writes a report as `drift-TIME.json` and removes the oldest beyond `keep`.
fn write_report(dir: &Path, r: &DriftReport, keep: usize) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let name = format!("drift-{}.json", r.time.replace([':', '-'], ""));
    let path = dir.join(name);
    crate::state::write_atomic(
        &path,
        serde_json::to_string_pretty(r).expect("json").as_bytes(),
    )?;
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("drift-") && n.ends_with(".json"))
        })
        .collect();
    all.sort();
    let excess = all.len().saturating_sub(keep.max(1));
    for old in &all[..excess] {
        let _ = std::fs::remove_file(old);
    }
    Ok(path)
}

async fn on_drift(cmd: &str, report: &Path) {
    let r = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .arg("provision-on-drift")
        .arg(report)
        .env("PROVISION_DRIFT_REPORT", report)
        .status()
        .await;
    match r {
        Ok(s) if s.success() => {}
        Ok(s) => eprintln!("--on-drift command failed ({s}); the watch goes on"),
        Err(e) => eprintln!("--on-drift command could not run: {e}; the watch goes on"),
    }
}

/// One stack (and environment) the loop watches.
struct Target {
    common: Common,
    name: String,
    region: Option<String>,
    reports: PathBuf,
    failures: u32,
    next: tokio::time::Instant,
}

/// The stacks to watch: the command's own, then each `--also`. Reports go
/// to `--reports` (or `.provision/drift-reports` beside each stack file); with
/// several stacks, each in a folder of its own (`NAME` or `NAME.ENV`).
fn targets(c: &Common, o: &WatchOpts) -> Result<Vec<Target>> {
    let mut commons = vec![c.clone()];
    for a in &o.also {
        let (file, env) = match a.rsplit_once('@') {
            Some((f, e)) if !e.is_empty() => (f, Some(e.to_string())),
            _ => (a.as_str(), None),
        };
        commons.push(Common {
            stack: PathBuf::from(file),
            env,
            state: None,
            ..c.clone()
        });
    }
    let several = commons.len() > 1;
    let mut out: Vec<Target> = Vec::new();
    for common in commons {
        let stack = crate::session::load_stack(&common)?;
        let key = match &common.env {
            Some(e) => format!("{}.{e}", stack.name),
            None => stack.name.clone(),
        };
        if out
            .iter()
            .any(|t| t.name == stack.name && t.common.env == common.env)
        {
            return Err(Error::other(format!(
                "--also: stack {key} is watched twice"
            )));
        }
        let base = o.reports.clone().unwrap_or_else(|| {
            let dir = common.stack.parent().unwrap_or(Path::new("."));
            dir.join(".provision/drift-reports")
        });
        out.push(Target {
            reports: if several { base.join(&key) } else { base },
            name: stack.name.clone(),
            region: stack.region.clone(),
            common,
            failures: 0,
            next: tokio::time::Instant::now(),
        });
    }
    Ok(out)
}

/// Runs checks until `stop` is raised (the checks in flight finish).
/// Returns the exit status (0).
pub async fn watch(
    c: &Common,
    rules: &[crate::drift::Rule],
    o: &WatchOpts,
    stop: crate::session::Interrupt,
) -> Result<i32> {
    let mut targets = targets(c, o)?;
    let metrics = Arc::new(Mutex::new(
        targets
            .iter()
            .map(|t| Metrics {
                stack: t.name.clone(),
                env: t.common.env.clone(),
                ..Metrics::default()
            })
            .collect::<Vec<_>>(),
    ));
    let server_stop = Arc::new(Notify::new());
    if let Some(addr) = o.metrics_addr {
        serve(addr, metrics.clone(), server_stop.clone()).await?;
    }
    // One set of clients per region, shared by the stacks there.
    let mut clouds: std::collections::HashMap<Option<String>, Arc<crate::aws::AwsCloud>> =
        std::collections::HashMap::new();
    loop {
        let now = tokio::time::Instant::now();
        let due: Vec<usize> = (0..targets.len())
            .filter(|&i| targets[i].next <= now)
            .collect();
        // Each due stack with its region's clients (connected once, shared).
        let mut ready = Vec::new();
        for &i in &due {
            let region = targets[i].region.clone();
            let cloud = match clouds.get(&region) {
                Some(cl) => Ok(cl.clone()),
                None => {
                    let cl = crate::session::connect(&targets[i].common, region.as_deref()).await;
                    if let Ok(cl) = &cl {
                        clouds.insert(region, cl.clone());
                    }
                    cl
                }
            };
            ready.push((i, cloud));
        }
        let checks = ready.into_iter().map(|(i, cloud)| {
            let t = &targets[i];
            async move {
                let start = std::time::Instant::now();
                let r = match cloud {
                    Ok(cloud) => crate::commands::drift::check(&t.common, &cloud, rules).await,
                    Err(e) => Err(e),
                };
                (i, r, start.elapsed())
            }
        });
        let results = futures::future::join_all(checks).await;
        for (i, result, elapsed) in results {
            {
                let mut all = metrics.lock().expect("metrics lock");
                let m = &mut all[i];
                m.runs += 1;
                m.last_run = now_secs();
                m.last_duration = elapsed.as_secs_f64();
                m.last_ok = result.is_ok();
                match &result {
                    Ok(r) => {
                        m.last_success = m.last_run;
                        m.counts = r.counts.iter().map(|(k, v)| (k.clone(), *v)).collect();
                    }
                    Err(_) => m.errors += 1,
                }
            }
            let t = &mut targets[i];
            let delay = match result {
                Ok(r) => {
                    t.failures = 0;
                    let path = write_report(&t.reports, &r, o.keep)?;
                    println!(
                        "{} {}: {} [{:.1}s, {}]",
                        r.time,
                        label_of(t),
                        crate::commands::drift::summary(&r),
                        elapsed.as_secs_f64(),
                        path.display()
                    );
                    if r.drifted
                        && let Some(cmd) = &o.on_drift
                    {
                        on_drift(cmd, &path).await;
                    }
                    o.every
                }
                Err(e) => {
                    t.failures += 1;
                    // Back off: twice the interval per failure in a row, at most an hour.
                    let delay = (o.every * 2u32.saturating_pow(t.failures.min(6)))
                        .min(Duration::from_secs(3600));
                    println!(
                        "{} {}: drift check failed: {e}; retrying in {}",
                        humantime::format_rfc3339_seconds(SystemTime::now()),
                        label_of(t),
                        humantime::format_duration(Duration::from_secs(delay.as_secs().max(1)))
                    );
                    delay
                }
            };
            let jitter = delay.as_secs_f64() * f64::from(o.jitter_percent) / 100.0;
            let wait = (delay.as_secs_f64() + (fastrand::f64() * 2.0 - 1.0) * jitter).max(0.0);
            t.next = tokio::time::Instant::now() + Duration::from_secs_f64(wait);
        }
        if stop.raised() {
            break;
        }
        let next = targets.iter().map(|t| t.next).min().unwrap_or(now);
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = stop.wait() => break,
        }
        if stop.raised() {
            break;
        }
    }
    println!("drift watch stopped");
    server_stop.notify_waiters();
    Ok(0)
}

/// The stack's name, with its environment when it has one.
fn label_of(t: &Target) -> String {
    match &t.common.env {
        Some(e) => format!("{} ({e})", t.name),
        None => t.name.clone(),
    }
}
