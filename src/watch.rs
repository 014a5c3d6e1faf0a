//! `provision drift --every`: the drift check on a schedule.
//!
//! Each round writes a timestamped JSON report (keeping the newest N), logs
//! one summary line, runs `--on-drift` when drift is found, and updates the
//! Prometheus metrics served on `--metrics-addr`. AWS errors back off and
//! retry; SIGINT or SIGTERM lets the round in flight finish, then exits 0.

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
}

/// What /metrics shows.
#[derive(Debug, Default, Clone)]
pub struct Metrics {
    pub stack: String,
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

/// Prometheus text exposition format 0.0.4.
pub fn render_metrics(m: &Metrics) -> String {
    let s = esc(&m.stack);
    let mut out = String::new();
    let mut metric = |name: &str, ty: &str, help: &str, lines: Vec<(String, String)>| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {ty}\n"));
        for (labels, v) in lines {
            out.push_str(&format!("{name}{{{labels}}} {v}\n"));
        }
    };
    let stack = format!("stack=\"{s}\"");
    metric(
        "provision_drift_resources",
        "gauge",
        "Resources drifted at the last successful check, by class.",
        m.counts
            .iter()
            .map(|(c, n)| (format!("{stack},class=\"{}\"", esc(c)), n.to_string()))
            .collect(),
    );
    metric(
        "provision_drift_runs_total",
        "counter",
        "Drift checks run.",
        vec![(stack.clone(), m.runs.to_string())],
    );
    metric(
        "provision_drift_errors_total",
        "counter",
        "Drift checks that failed.",
        vec![(stack.clone(), m.errors.to_string())],
    );
    metric(
        "provision_drift_last_run_timestamp_seconds",
        "gauge",
        "When the last check finished (Unix time).",
        vec![(stack.clone(), format!("{:.3}", m.last_run))],
    );
    metric(
        "provision_drift_last_success_timestamp_seconds",
        "gauge",
        "When the last successful check finished (Unix time).",
        vec![(stack.clone(), format!("{:.3}", m.last_success))],
    );
    metric(
        "provision_drift_last_run_duration_seconds",
        "gauge",
        "How long the last check took.",
        vec![(stack.clone(), format!("{:.3}", m.last_duration))],
    );
    metric(
        "provision_drift_last_run_success",
        "gauge",
        "1 if the last check succeeded, 0 if it failed.",
        vec![(stack, if m.last_ok { "1" } else { "0" }.into())],
    );
    out
}

async fn serve(addr: SocketAddr, metrics: Arc<Mutex<Metrics>>, stop: Arc<Notify>) -> Result<()> {
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

fn now() -> f64 {
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

/// Runs checks until `stop` is raised (the check in flight finishes).
/// Returns the exit status (0).
pub async fn watch(
    c: &Common,
    rules: &[crate::drift::Rule],
    o: &WatchOpts,
    stop: crate::session::Interrupt,
) -> Result<i32> {
    let stack = crate::session::load_stack(c)?;
    let metrics = Arc::new(Mutex::new(Metrics {
        stack: stack.name.clone(),
        ..Metrics::default()
    }));
    let server_stop = Arc::new(Notify::new());
    if let Some(addr) = o.metrics_addr {
        serve(addr, metrics.clone(), server_stop.clone()).await?;
    }
    let mut cloud = None;
    let mut failures: u32 = 0;
    loop {
        let t = std::time::Instant::now();
        let result = async {
            let aws = match &cloud {
                Some(aws) => aws,
                None => cloud.insert(crate::session::connect(c, stack.region.as_deref()).await?),
            };
            crate::commands::drift::check(c, aws, rules).await
        }
        .await;
        let elapsed = t.elapsed();
        {
            let mut m = metrics.lock().expect("metrics lock");
            m.runs += 1;
            m.last_run = now();
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
        let delay = match result {
            Ok(r) => {
                failures = 0;
                let path = match &o.reports {
                    Some(dir) => Some(write_report(dir, &r, o.keep)?),
                    None => None,
                };
                println!(
                    "{} {}: {} [{:.1}s{}]",
                    r.time,
                    r.stack,
                    crate::commands::drift::summary(&r),
                    elapsed.as_secs_f64(),
                    path.as_ref()
                        .map(|p| format!(", {}", p.display()))
                        .unwrap_or_default()
                );
                if r.drifted
                    && let (Some(cmd), Some(p)) = (&o.on_drift, &path)
                {
                    on_drift(cmd, p).await;
                }
                o.every
            }
            Err(e) => {
                failures += 1;
                // Back off: twice the interval per failure in a row, at most an hour.
                let delay =
                    (o.every * 2u32.saturating_pow(failures.min(6))).min(Duration::from_secs(3600));
                println!(
                    "{} {}: drift check failed: {e}; retrying in {}",
                    humantime::format_rfc3339_seconds(SystemTime::now()),
                    stack.name,
                    humantime::format_duration(Duration::from_secs(delay.as_secs().max(1)))
                );
                delay
            }
        };
        if stop.raised() {
            break;
        }
        let jitter = delay.as_secs_f64() * f64::from(o.jitter_percent) / 100.0;
        let wait = (delay.as_secs_f64() + (fastrand::f64() * 2.0 - 1.0) * jitter).max(0.0);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs_f64(wait)) => {}
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
