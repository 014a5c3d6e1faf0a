//! Figures, not assertions: these machines are shared and noisy, so speed is
//! measured here and printed (lines starting `BENCH`), never asserted. The
//! tests are ignored in the suite; `scripts/bench.sh` runs them and prints one
//! table. `PROVISION_BIN` (see the harness) points them at a release build.

use std::time::{Duration, Instant};

use crate::harness::{REFERENCE_OFF as VARS, Run, World};
use crate::strict::Strict;

fn with_vars<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend(VARS);
    v
}

fn calls(r: &Run) -> u64 {
    r.stderr
        .lines()
        .chain(r.stdout.lines())
        .find_map(|l| l.strip_prefix("API calls: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// A no-change plan of the reference stack: calls and wall time, with every
/// call delayed as a far region would delay it.
#[tokio::test]
#[ignore = "a benchmark: scripts/bench.sh"]
async fn bench_noop_plan_of_the_reference_stack() {
    for latency in [0, 50] {
        let w = World::strict(Strict {
            latency: Duration::from_millis(latency),
            ..Strict::default()
        });
        // PROVISION_BENCH_STACK: another stack (an older version's, to
        // compare builds of an older provision through PROVISION_BIN).
        let stack = std::env::var("PROVISION_BENCH_STACK");
        let s = w.stack_from(stack.as_deref().unwrap_or("stacks/three-az.yaml"));
        let s = s.to_str().unwrap();
        w.run(&with_vars(&[
            "apply",
            "-s",
            s,
            "--auto-approve",
            "--parallelism",
            "10",
        ]))
        .ok();
        let mut best = Duration::MAX;
        let mut n = 0;
        for _ in 0..3 {
            let t = Instant::now();
            let r = w.run(&with_vars(&[
                "--stats",
                "plan",
                "-s",
                s,
                "--detailed-exitcode",
            ]));
            best = best.min(t.elapsed());
            r.code(0);
            n = calls(&r);
        }
        println!(
            "BENCH noop-plan latency={latency}ms calls={n} wall={:.2}s",
            best.as_secs_f64()
        );
    }
}

/// AWS's typical times, scaled down: an Aurora instance's ten minutes are six
/// seconds here.
const PENDING_SCALE: f64 = 0.01;

/// The reference stack applied through the strict layer (objects pending for
/// the time AWS typically takes, ids invisible for a while, throttling; all
/// scaled down), at parallelism 4 and 10: how long the apply took against its
/// critical path.
#[tokio::test]
#[ignore = "a benchmark: scripts/bench.sh"]
async fn bench_apply_against_its_critical_path() {
    for parallelism in ["4", "10"] {
        let w = World::strict(Strict {
            latency: Duration::from_millis(20),
            pending_scale: PENDING_SCALE,
            ..Strict::all()
        });
        let s = w.stack_from("stacks/three-az.yaml");
        let s = s.to_str().unwrap();
        let args = [
            "--stats",
            "apply",
            "-s",
            s,
            "--auto-approve",
            "--parallelism",
            parallelism,
        ];
        let r = w.run(&with_vars(&args));
        r.ok();
        let line = r
            .stdout
            .lines()
            .find(|l| l.starts_with("Took "))
            .unwrap_or("Took ?")
            .to_string();
        let secs = |after: &str| -> f64 {
            line.split(after)
                .nth(1)
                .and_then(|x| x.split('s').next())
                .and_then(|x| x.parse().ok())
                .unwrap_or(f64::NAN)
        };
        let (took, work, path) = (secs("Took "), secs(" for "), secs("critical path "));
        // No schedule beats the critical path, nor the work spread over every slot.
        let p: f64 = parallelism.parse().unwrap_or(1.0);
        let floor = path.max(work / p);
        println!(
            "BENCH apply parallelism={parallelism} took={took:.1}s critical_path={path:.1}s \
             work={work:.1}s floor={floor:.1}s ratio={:.2} ratio_to_floor={:.2}",
            took / path,
            took / floor
        );
        println!("  {line}");
        let retries = r.stderr.lines().skip_while(|l| !l.starts_with("Retries:"));
        retries
            .take_while(|l| !l.starts_with("State"))
            .for_each(|l| println!("  {l}"));
    }
}

/// The scale stack at N = 1,000 (2,001 objects) through AWS's published
/// buckets: the apply's time beside the time the buckets alone set, its
/// calls per object, and the throttles met (none, when provision paces to
/// the same buckets).
#[tokio::test]
#[ignore = "a benchmark: scripts/bench.sh"]
async fn bench_scale_apply_at_the_published_rates() {
    let n: usize = std::env::var("PROVISION_BENCH_SCALE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let w = World::strict(Strict {
        published: true,
        ..Strict::default()
    });
    let s = w.write_stack("scale.yaml", &crate::scale::scale_stack(n));
    let sp = s.to_str().unwrap();
    let t = Instant::now();
    let r = w.run(&["--stats", "apply", "-s", sp, "--auto-approve"]);
    r.ok();
    let took = t.elapsed().as_secs_f64();
    let floor = crate::scale::ec2_write_floor(n);
    let objects = 2 * n + 1;
    let l = w.layer();
    println!(
        "BENCH scale_apply_published objects={objects} took={took:.1}s bucket_floor={floor:.1}s \
         ratio={:.2} calls_per_object={:.2} throttled={}",
        took / floor.max(1.0),
        calls(&r) as f64 / objects as f64,
        l.count("throttled ec2")
    );
}

/// The reference stack with 100 instances in each of its three zones (the
/// court launched 100 VMs from its images) through AWS's published
/// buckets: the apply's time beside what RunInstances' bucket alone sets
/// (300 launches: 200 at once, then 5 a second), and the throttles met.
#[tokio::test]
#[ignore = "a benchmark: scripts/bench.sh"]
async fn bench_scale_reference_with_100_instances_per_az() {
    // The same apply with one instance a zone first: what the stack takes
    // before and beside its launches (the template and the network before
    // the first RunInstances), so the 300-instance apply's floor is that
    // plus what the bucket adds for the other 297 launches.
    let one = |per_az: &'static str| async move {
        let w = World::strict(Strict {
            published: true,
            ..Strict::default()
        });
        let s = w.stack_from("stacks/three-az.yaml");
        let s = s.to_str().unwrap().to_string();
        let per = format!("instances_per_az={per_az}");
        let args = [
            "--stats",
            "apply",
            "-s",
            &s,
            "--auto-approve",
            "--var",
            &per,
        ];
        let t = Instant::now();
        let r = w.run(&with_vars(&args));
        r.ok();
        let took = t.elapsed().as_secs_f64();
        let throttled = w
            .layer()
            .stats()
            .iter()
            .filter(|(k, _)| k.starts_with("throttled ") && k.split(' ').count() == 2)
            .map(|(_, v)| *v)
            .sum::<u64>();
        (took, calls(&r), throttled)
    };
    let (base, _, _) = one("1").await;
    let (took, calls, throttled) = one("100").await;
    let launches = crate::scale::ec2_write_floor(300) - crate::scale::ec2_write_floor(3);
    let floor = base + launches;
    println!(
        "BENCH scale_reference_300_instances took={took:.1}s with_3_instances={base:.1}s \
         floor={floor:.1}s ratio={:.2} calls={calls} throttled={throttled}",
        took / floor
    );
}
