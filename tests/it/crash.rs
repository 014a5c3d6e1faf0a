//! Runs that end badly: killed (-9) mid-apply, interrupted once (finish what
//! is in flight, record it, release the lock) or twice (stop at once). What
//! must hold after each: no lock left behind, nothing made twice, and the
//! next apply converges.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Run, World};
use crate::strict::Strict;

/// The network, slowed down by the strict layer so that a run is caught
/// in the middle: every call takes `latency`.
fn slow_world(latency_ms: u64) -> World {
    World::strict(Strict {
        latency: Duration::from_millis(latency_ms),
        ..Strict::all()
    })
}

pub(crate) fn spawn(w: &World, args: &[&str]) -> Child {
    w.command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

pub(crate) fn signal(child: &Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

/// Resources the stack's state records now (its file and its journal).
fn recorded(w: &World, stack: &str) -> usize {
    let path = w.dir.path().join(format!(".provision/{stack}.state.json"));
    provision::state::LocalStore::new(path)
        .load()
        .ok()
        .flatten()
        .map_or(0, |st| st.resources.len())
}

/// Waits until the state file records at least `n` resources, and at least
/// one more than `before` (this run is under way: it holds the lock and has
/// recorded something, whatever earlier runs left), at most 60 s.
fn wait_for_progress(w: &World, stack: &str, n: usize, before: usize) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if recorded(w, stack) >= n.max(before + 1) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the run made no progress");
}

pub(crate) fn finish(child: Child) -> Run {
    Run::from(child.wait_with_output().unwrap())
}

#[tokio::test]
async fn a_run_killed_at_any_point_leaves_no_lock_and_the_next_converges_without_duplicates() {
    let w = slow_world(40);
    let s = w.stack_from("examples/network.yaml");
    let sp = s.to_str().unwrap();
    for (round, progress) in [1, 4, 9, 14].into_iter().enumerate() {
        let before = recorded(&w, "network");
        let mut child = spawn(&w, &["apply", "-s", sp, "--auto-approve"]);
        wait_for_progress(&w, "network", progress, before);
        child.kill().unwrap(); // SIGKILL: no handler runs
        let r = finish(child);
        assert_ne!(r.code, 0, "round {round}: killed");
        // The next run starts at once: the kernel freed the lock.
        w.run(&["plan", "-s", sp])
            .ok()
            .has("ended without releasing the lock; the operating system freed it");
    }
    w.run(&["apply", "-s", sp, "--auto-approve"]).ok();
    let (live, recorded) = crate::once::census(&w, "network").await;
    assert_eq!(live, recorded, "objects in the emulator vs state");
    w.run(&["plan", "-s", sp, "--detailed-exitcode"]).code(0);
}

#[tokio::test]
async fn an_interrupt_starts_nothing_new_records_what_finished_and_releases_the_lock() {
    let w = slow_world(40);
    let s = w.stack_from("examples/network.yaml");
    let sp = s.to_str().unwrap();
    // More operations ready than the parallelism allows: the queued ones
    // must not start after the interrupt.
    let child = spawn(
        &w,
        &["apply", "-s", sp, "--auto-approve", "--parallelism", "2"],
    );
    wait_for_progress(&w, "network", 2, 0);
    signal(&child, "-INT");
    let r = finish(child);
    assert_eq!(r.code, 130, "{}\n{}", r.stdout, r.stderr);
    let r_stdout = r.stdout.clone();
    let not_started = r_stdout
        .lines()
        .skip_while(|l| !l.contains("not started (interrupted):"))
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .count();
    assert!(not_started > 0, "{r_stdout}");
    assert!(r.stderr.contains("Interrupted: nothing new starts"));
    // Every operation that reported success is in state.
    let st = w.state("network");
    let created: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.contains(": created after"))
        .collect();
    assert!(
        !created.is_empty(),
        "something finished before the interrupt"
    );
    for line in created {
        let addr = line.split(": created").next().unwrap();
        assert!(st["resources"].get(addr).is_some(), "{addr} not recorded");
    }
    // The lock was released, not left for the kernel to free.
    w.run(&["plan", "-s", sp])
        .ok()
        .lacks("ended without releasing the lock");
    w.run(&["apply", "-s", sp, "--auto-approve"]).ok();
    let (live, recorded) = crate::once::census(&w, "network").await;
    assert_eq!(live, recorded);
}

#[tokio::test]
async fn a_second_interrupt_stops_at_once_and_leaves_state_whole() {
    // Calls slow enough that the first signal's run is still in a call (not
    // a wait, which the first signal ends) at the second.
    let w = World::strict(Strict {
        latency: Duration::from_millis(1500),
        invisible_calls: 0,
        throttle: None,
        ..Strict::all()
    });
    let s = w.stack_from("examples/network.yaml");
    let sp = s.to_str().unwrap();
    let child = spawn(&w, &["apply", "-s", sp, "--auto-approve"]);
    wait_for_progress(&w, "network", 1, 0);
    signal(&child, "-INT");
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    signal(&child, "-TERM");
    let r = finish(child);
    assert_eq!(r.code, 130);
    // The second signal frees the lock before it exits.
    assert!(
        r.stderr.contains("Stopped at once (lock released)."),
        "{}",
        r.stderr
    );
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let lock = w.dir.path().join(".provision/network.state.json.lock");
    assert_eq!(std::fs::read_to_string(lock).unwrap(), "", "lock released");
    // State is whole (written atomically) and the next run converges.
    let _ = w.state("network");

    w.run(&["apply", "-s", sp, "--auto-approve"]).ok();
}

#[tokio::test]
async fn an_interrupted_plan_stops_and_releases_the_lock() {
    // Every call takes 1.5 s: the interrupt comes while the plan reads.
    let w = slow_world(1500);
    let s = w.stack_from("examples/network.yaml");
    let sp = s.to_str().unwrap();
    let child = spawn(&w, &["plan", "-s", sp]);
    std::thread::sleep(Duration::from_millis(700));
    signal(&child, "-INT");
    let r = finish(child);
    assert_eq!(r.code, 130, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("interrupted: plan stopped"),
        "{}",
        r.stderr
    );
    let lock = w.dir.path().join(".provision/network.state.json.lock");
    assert_eq!(
        std::fs::read_to_string(lock).unwrap(),
        "",
        "the lock was released"
    );
}
