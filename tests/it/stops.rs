//! Every wait ends within moments of the first SIGINT or SIGTERM: a pending
//! object's wait, a delete AWS refuses while something uses the object, a
//! back-off after throttling, a wait for another run's lock. State is left
//! as true as after kill -9 (a begun create recorded as begun, an
//! unfinished delete still recorded), the lock is released, the exit is 130.

use std::time::{Duration, Instant};

use crate::crash::{finish, signal, spawn};
use crate::harness::{Run, World};
use crate::strict::{Strict, Throttle};

/// The longest a run may take from the first signal to its exit.
const PROMPT: Duration = Duration::from_secs(5);

/// Polls the stack's state file until `ready` says so (at most 90 s).
fn wait_for_state(w: &World, stack: &str, what: &str, ready: impl Fn(&serde_json::Value) -> bool) {
    let path = w.dir.path().join(format!(".provision/{stack}.state.json"));
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(90) {
        let st = provision::state::LocalStore::new(&path)
            .load()
            .ok()
            .flatten()
            .map(|st| serde_json::to_value(st).unwrap());
        if st.as_ref().is_some_and(&ready) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the run never got to: {what}");
}

/// Sends SIGINT and waits for the exit: code 130, within `PROMPT`, the lock
/// released (its file emptied, not left for the kernel to free).
fn interrupt(w: &World, child: std::process::Child, stack: &str) -> (Run, Duration) {
    signal(&child, "-INT");
    let t = Instant::now();
    let r = finish(child);
    let took = t.elapsed();
    assert_eq!(r.code, 130, "{}\n{}", r.stdout, r.stderr);
    assert!(took < PROMPT, "took {took:?} to stop\n{}", r.stdout);
    let lock = w
        .dir
        .path()
        .join(format!(".provision/{stack}.state.json.lock"));
    assert_eq!(
        std::fs::read_to_string(lock).unwrap_or_default(),
        "",
        "lock released"
    );
    eprintln!("stopped {took:?} after the signal");
    (r, took)
}

#[test]
fn an_interrupt_ends_the_wait_for_a_pending_nat_gateway_and_keeps_the_create_begun() {
    // NAT gateways stay pending for AWS's typical two minutes.
    let w = World::strict(Strict {
        pending_scale: 1.0,
        ..Strict::all()
    });
    let s = w.stack_from("examples/network.yaml");
    let sp = s.to_str().unwrap();
    let child = spawn(&w, &["apply", "-s", sp, "--auto-approve"]);
    wait_for_state(&w, "network", "a NAT gateway being created", |st| {
        st["creating"]
            .as_object()
            .is_some_and(|c| c.keys().any(|k| k.starts_with("nat[")))
    });
    std::thread::sleep(Duration::from_millis(500));
    let (r, _) = interrupt(&w, child, "network");
    r.has("stopped while waiting (interrupted)")
        .has(": creating stopped (interrupted)");
    // The gateways AWS is making stay recorded as begun: the next run looks
    // for them before it creates anything.
    let st = w.state("network");
    let begun: Vec<&String> = st["creating"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("nat["))
        .collect();
    assert!(!begun.is_empty(), "{st}");
    for a in begun {
        assert!(st["resources"].get(a).is_none(), "{a} recorded as made");
    }
}

#[test]
fn an_interrupt_ends_an_in_use_retry_and_the_delete_stays_recorded() {
    // A deleted NAT gateway's interface keeps its subnet in use for long.
    let w = World::strict(Strict {
        linger: Duration::from_secs(300),
        ..Strict::all()
    });
    let s = w.stack_from("examples/network.yaml");
    let sp = s.to_str().unwrap();
    w.run(&["apply", "-s", sp, "--auto-approve"]).ok();
    let child = spawn(&w, &["destroy", "-s", sp, "--auto-approve"]);
    wait_for_state(&w, "network", "the NAT gateways deleted", |st| {
        st["resources"]
            .as_object()
            .is_some_and(|r| !r.keys().any(|k| k.starts_with("nat[")))
    });
    // Past the first progress line, which says what AWS says stops it.
    std::thread::sleep(Duration::from_secs(11));
    let (r, _) = interrupt(&w, child, "network");
    r.has("still deleting... [10s elapsed]: AWS says it is in use (")
        .has("stopped while waiting (interrupted)");
    let st = w.state("network");
    let subnets = st["resources"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("public["))
        .count();
    assert_eq!(
        subnets, 3,
        "the subnets whose delete did not finish stay recorded"
    );
}

#[test]
fn an_interrupt_ends_a_back_off_after_throttling() {
    // Buckets so small that the apply spends its time backing off.
    let w = World::strict(Strict {
        throttle: Some(Throttle {
            reads: (2.0, 0.2),
            writes: (2.0, 0.2),
        }),
        ..Strict::all()
    });
    let s = w.stack_from("examples/network.yaml");
    let sp = s.to_str().unwrap();
    let child = spawn(&w, &["apply", "-s", sp, "--auto-approve"]);
    wait_for_state(&w, "network", "the first object recorded", |st| {
        st["resources"].as_object().is_some_and(|r| !r.is_empty())
    });
    std::thread::sleep(Duration::from_secs(2));
    interrupt(&w, child, "network");
    assert!(w.layer().count("throttled ec2") > 0, "the layer throttled");
}

#[test]
fn an_interrupt_ends_the_wait_for_another_runs_lock() {
    let w = World::strict(Strict {
        latency: Duration::from_millis(1000),
        ..Strict::all()
    });
    let s = w.stack_from("examples/network.yaml");
    let sp = s.to_str().unwrap();
    let holder = spawn(&w, &["apply", "-s", sp, "--auto-approve"]);
    wait_for_state(&w, "network", "the holder under way", |st| {
        st["creating"].as_object().is_some_and(|c| !c.is_empty())
    });
    let waiter = spawn(&w, &["plan", "-s", sp, "--lock-timeout", "10m"]);
    std::thread::sleep(Duration::from_secs(2));
    signal(&waiter, "-INT");
    let t = Instant::now();
    let r = finish(waiter);
    assert_eq!(r.code, 130, "{}\n{}", r.stdout, r.stderr);
    assert!(t.elapsed() < PROMPT, "{:?}", t.elapsed());
    let mut holder = holder;
    holder.kill().unwrap();
    let _ = holder.wait();
}
