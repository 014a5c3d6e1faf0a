//! State in S3 with locking, state commands, import: against moto's S3.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use provision::state::StateStore;

use crate::harness::World;

const SMALL: &str = "stack: team\nregion: us-east-1\nvariables:\n  cidr: {default: 10.30.1.0/24}\nresources:\n  vpc:\n    kind: ec2.vpc\n    properties: {cidr_block: 10.30.0.0/16}\n  subnet:\n    kind: ec2.subnet\n    properties: {vpc_id: '${vpc.id}', cidr_block: '${var.cidr}', availability_zone: us-east-1a}\n";

async fn bucket(w: &World) -> aws_sdk_s3::Client {
    let s3 = w.s3().await;
    s3.create_bucket()
        .bucket("team-state")
        .send()
        .await
        .unwrap();
    s3.put_bucket_versioning()
        .bucket("team-state")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    s3
}

const REMOTE: &str = "s3://team-state/team/state.json";

/// The library used in this process finds the emulator's dummy credentials
/// in the environment, as the binary does (same values in every test).
fn creds() {
    // SAFETY: every test writes the same two values; nothing reads them torn.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    }
}

#[tokio::test]
async fn remote_state_locks_writers_and_releases_stale_locks_only_with_the_right_id() {
    let w = World::new();
    let s3 = bucket(&w).await;
    let s = w.write_stack("team.yaml", SMALL);
    let s = s.to_str().unwrap();
    w.run(&["apply", "-s", s, "--state", REMOTE, "--auto-approve"])
        .ok();
    let obj = s3
        .get_object()
        .bucket("team-state")
        .key("team/state.json")
        .send()
        .await
        .unwrap();
    let body: serde_json::Value =
        serde_json::from_slice(&obj.body.collect().await.unwrap().to_vec()).unwrap();
    assert_eq!(body["stack"], "team");
    assert_eq!(body["resources"].as_object().unwrap().len(), 2);
    assert!(
        s3.head_object()
            .bucket("team-state")
            .key("team/state.json.lock")
            .send()
            .await
            .is_err(),
        "released"
    );
    w.run(&["plan", "-s", s, "--state", REMOTE, "--detailed-exitcode"])
        .code(0);

    // A lock left by a killed run: the next run names the holder and touches nothing.
    let holder = serde_json::json!({
        "id": "5d1e-stale", "operation": "apply", "user": "maria", "host": "ops-box-7",
        "pid": 4242, "created": "2026-11-24T10:00:00Z"
    });
    s3.put_object()
        .bucket("team-state")
        .key("team/state.json.lock")
        .body(ByteStream::from(holder.to_string().into_bytes()))
        .send()
        .await
        .unwrap();
    w.run(&[
        "apply",
        "-s",
        s,
        "--state",
        REMOTE,
        "--auto-approve",
        "--var",
        "cidr=10.30.2.0/24",
    ])
    .code(1)
    .has("state is locked: apply by maria@ops-box-7 (pid 4242)")
    .has("provision force-unlock 5d1e-stale");
    w.run(&["force-unlock", "-s", s, "--state", REMOTE, "wrong-id"])
        .code(1)
        .has("lock id wrong-id does not match: the lock is held by maria@ops-box-7 (apply) with id 5d1e-stale");
    assert!(
        s3.head_object()
            .bucket("team-state")
            .key("team/state.json.lock")
            .send()
            .await
            .is_ok()
    );
    w.run(&["force-unlock", "-s", s, "--state", REMOTE, "5d1e-stale"])
        .ok()
        .has("Released the lock");
    w.run(&[
        "apply",
        "-s",
        s,
        "--state",
        REMOTE,
        "--auto-approve",
        "--var",
        "cidr=10.30.2.0/24",
    ])
    .ok();

    // Two runs at once: whoever loses the race is refused and names the winner.
    let cmd = |cidr: &str| {
        w.command(&[
            "apply",
            "-s",
            s,
            "--state",
            REMOTE,
            "--auto-approve",
            "--var",
            &format!("cidr={cidr}"),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
    };
    let (a, b) = (cmd("10.30.3.0/24"), cmd("10.30.3.0/24"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let refused: Vec<_> = [&a, &b]
        .into_iter()
        .filter(|o| o.status.code() == Some(1))
        .collect();
    for r in &refused {
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(err.contains("state is locked: apply by"), "{err}");
    }
    assert!(refused.len() < 2, "at least one run goes through");
    // While another holds the lock, a run is refused (always: the lock is
    // held here, not raced for), naming the holder and the way to wait.
    creds();
    let held = provision::aws::state_s3::open(
        ("team-state", "team/state.json"),
        Some("us-east-1"),
        Some(&w.moto.url),
        None,
    )
    .await
    .unwrap();
    let lock = held.lock("test", std::time::Duration::ZERO).await.unwrap();
    w.run(&["apply", "-s", s, "--state", REMOTE, "--auto-approve"])
        .code(1)
        .has("state is locked: test by ")
        .has("--lock-timeout");
    // Waiting for the lock instead of failing.
    let waiter = w
        .command(&[
            "plan",
            "-s",
            s,
            "--state",
            REMOTE,
            "--lock-timeout",
            "30s",
            "--var",
            "cidr=10.30.3.0/24",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    held.unlock(&lock).await.unwrap();
    let out = waiter.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the waiting plan ran once the lock was released"
    );

    // Every write is a version in the bucket.
    let hist = w.run(&["state", "-s", s, "--state", REMOTE, "history", "--stats"]);
    hist.ok()
        .has("(latest)")
        // The S3 state store's own calls, under --stats.
        .has("State store calls: ")
        .has("ListObjectVersions");
    let versions: Vec<&str> = hist
        .stdout
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert!(versions.len() >= 4, "{}", hist.stdout);
    let oldest = versions.last().unwrap();
    let pulled = w.run(&[
        "state",
        "-s",
        s,
        "--state",
        REMOTE,
        "pull",
        "--version",
        oldest,
    ]);
    let v: serde_json::Value = serde_json::from_str(&pulled.ok().stdout).unwrap();
    assert_eq!(v["serial"], 1);
}

#[tokio::test]
async fn a_stale_writer_cannot_overwrite_newer_state() {
    creds();
    let w = World::new();
    let _s3 = bucket(&w).await;
    let open = || {
        provision::aws::state_s3::open(
            ("team-state", "stale/state.json"),
            Some("us-east-1"),
            Some(&w.moto.url),
            None,
        )
    };
    let (a, b) = (open().await.unwrap(), open().await.unwrap());
    let mut st = provision::state::State::new("team");
    a.put_new(&st, false).await.unwrap();
    let mut sa = a.load().await.unwrap().unwrap();
    let mut sb = b.load().await.unwrap().unwrap();
    sb.resources.insert(
        "vpc".into(),
        provision::state::Recorded {
            kind: "ec2.vpc".into(),
            id: "vpc-b".into(),
            region: None,
            properties: serde_json::json!({}),
            outputs: Default::default(),
            dependencies: vec![],
            prevent_destroy: false,
            imported: false,
        },
    );
    b.save(&mut sb).await.unwrap();
    // A read before B wrote: its write is refused, and B's state stays.
    let e = a.save(&mut sa).await.unwrap_err().to_string();
    assert!(
        e.contains("was written by someone else since this run read it"),
        "{e}"
    );
    let now = open().await.unwrap().load().await.unwrap().unwrap();
    assert_eq!(now.resources["vpc"].id, "vpc-b");
    assert_eq!(now.serial, 1);
    // Creating a state where one exists is refused too.
    st.serial = 9;
    assert!(
        a.put_new(&st, false)
            .await
            .unwrap_err()
            .to_string()
            .contains("exists already")
    );
}

#[tokio::test]
async fn migrate_round_trips_and_state_mv_rm_and_import_keep_plans_honest() {
    let w = World::new();
    let _s3 = bucket(&w).await;
    let s = w.write_stack("team.yaml", SMALL);
    let sp = s.to_str().unwrap();
    w.run(&["apply", "-s", sp, "--auto-approve"]).ok();
    // Local -> S3 -> local, a no-op plan at every stop.
    w.run(&["state", "-s", sp, "migrate", "--to", REMOTE])
        .ok()
        .has("Copied the state");
    w.run(&["plan", "-s", sp, "--state", REMOTE, "--detailed-exitcode"])
        .code(0);
    w.run(&["state", "-s", sp, "migrate", "--to", REMOTE])
        .code(1)
        .has("exists already: pass --force");
    let back = w.dir.path().join("back.json");
    w.run(&[
        "state",
        "-s",
        sp,
        "--state",
        REMOTE,
        "migrate",
        "--to",
        back.to_str().unwrap(),
    ])
    .ok();
    w.run(&[
        "plan",
        "-s",
        sp,
        "--state",
        back.to_str().unwrap(),
        "--detailed-exitcode",
    ])
    .code(0);

    // Renaming in the YAML plus state mv: nothing is recreated.
    w.edit(&s, "  subnet:\n", "  app_subnet:\n");
    w.run(&["plan", "-s", sp, "--detailed-exitcode"])
        .code(2)
        .has("+ ec2.subnet app_subnet will be created");
    w.run(&["state", "-s", sp, "mv", "subnet", "app_subnet"])
        .ok();
    w.run(&["plan", "-s", sp, "--detailed-exitcode"]).code(0);
    w.run(&["state", "-s", sp, "list"])
        .ok()
        .has("app_subnet")
        .lacks("\nsubnet ");
    w.run(&["state", "-s", sp, "show", "app_subnet"])
        .ok()
        .has("\"kind\": \"ec2.subnet\"");

    // Forget, then import what was built by hand: only real differences remain.
    let subnet_id = w.state("team")["resources"]["app_subnet"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let vpc_id = w.state("team")["resources"]["vpc"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    w.run(&["state", "-s", sp, "rm", "app_subnet", "vpc"])
        .ok()
        .has("it still exists in AWS");
    let ec2 = w.ec2().await;
    for id in [&subnet_id, &vpc_id] {
        ec2.delete_tags()
            .resources(id)
            .tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key("provision:stack")
                    .build(),
            )
            .tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key("provision:address")
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    let hand = ec2
        .create_vpc()
        .cidr_block("10.40.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc()
        .unwrap()
        .vpc_id()
        .unwrap()
        .to_string();
    let found = w.run(&["--stats", "import", "-s", sp, "--discover"]);
    found
        .ok()
        .has("provision import vpc_")
        .has(&hand)
        .has("kind: ec2.vpc")
        // Only the kinds the stack uses: no other service is called.
        .has("DescribeVpcs")
        .lacks("DescribeDBClusters")
        .lacks("Elastic Load Balancing");
    w.run(&["import", "-s", sp, "vpc", &vpc_id])
        .ok()
        .has(&format!("Imported ec2.vpc {vpc_id} as vpc"));
    w.run(&["import", "-s", sp, "app_subnet", &subnet_id]).ok();
    w.run(&["import", "-s", sp, "vpc", &vpc_id])
        .code(1)
        .has("already in the state");
    w.run(&["plan", "-s", sp])
        .ok()
        .has("~ ec2.vpc vpc")
        .has("+ provision:stack   = \"team\"")
        .lacks("will be created")
        .lacks("must be replaced")
        .has("Plan: 0 to add, 2 to change, 0 to destroy.");
}

async fn put_lock(s3: &aws_sdk_s3::Client, holder: serde_json::Value) {
    s3.put_object()
        .bucket("team-state")
        .key("team/state.json.lock")
        .body(ByteStream::from(holder.to_string().into_bytes()))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_remote_lock_whose_lease_lapsed_or_whose_holder_died_is_taken_over() {
    let w = World::new();
    let s3 = bucket(&w).await;
    let s = w.write_stack("team.yaml", SMALL);
    let s = s.to_str().unwrap();
    // A run elsewhere that died an hour ago: its lease lapsed.
    put_lock(
        &s3,
        serde_json::json!({
            "id": "lapsed", "operation": "apply", "user": "maria", "host": "ops-box-7",
            "pid": 4242, "created": "2026-11-24T10:00:00Z", "expires": "2026-11-24T10:02:00Z"
        }),
    )
    .await;
    w.run(&["apply", "-s", s, "--state", REMOTE, "--auto-approve"])
        .ok()
        .has("took over the state lock of apply by maria@ops-box-7 (pid 4242, since 2026-11-24T10:00:00Z): its lease lapsed without renewal");
    // A run of this host whose process is gone: taken over at once, lease or not.
    let mut dead = std::process::Command::new("true").spawn().unwrap();
    let pid = dead.id();
    dead.wait().unwrap();
    let host = gethostname::gethostname().to_string_lossy().to_string();
    put_lock(
        &s3,
        serde_json::json!({
            "id": "dead", "operation": "plan", "user": "ci", "host": host,
            "pid": pid, "created": "2026-11-25T10:00:00Z", "expires": "2099-01-01T00:00:00Z"
        }),
    )
    .await;
    w.run(&["plan", "-s", s, "--state", REMOTE])
        .ok()
        .has("its process is no longer running");
    // A live holder elsewhere with a lease to run: refused, naming it.
    put_lock(
        &s3,
        serde_json::json!({
            "id": "alive", "operation": "apply", "user": "maria", "host": "ops-box-7",
            "pid": 4242, "created": "2026-11-25T10:00:00Z", "expires": "2099-01-01T00:00:00Z"
        }),
    )
    .await;
    w.run(&["plan", "-s", s, "--state", REMOTE])
        .code(1)
        .has("state is locked: apply by maria@ops-box-7")
        .has("for its lease to lapse (2099-01-01T00:00:00Z)");
}

#[tokio::test]
async fn a_remote_lock_is_renewed_while_its_holder_works() {
    let w = World::strict(crate::strict::Strict {
        latency: std::time::Duration::from_millis(150),
        ..Default::default()
    });
    let s3 = bucket(&w).await;
    let s = w.stack_from("examples/network.yaml");
    let s = s.to_str().unwrap();
    let child = w
        .command(&["apply", "-s", s, "--state", REMOTE, "--auto-approve"])
        .env("PROVISION_LOCK_LEASE", "2s")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let expires = || async {
        let o = s3
            .get_object()
            .bucket("team-state")
            .key("team/state.json.lock")
            .send()
            .await
            .ok()?;
        let v: serde_json::Value =
            serde_json::from_slice(&o.body.collect().await.ok()?.to_vec()).ok()?;
        v["expires"].as_str().map(str::to_string)
    };
    let mut seen = Vec::new();
    for _ in 0..40 {
        if let Some(e) = expires().await
            && seen.last() != Some(&e)
        {
            seen.push(e);
        }
        if seen.len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    // Another run meanwhile is refused: the lease is kept alive.
    w.run(&["plan", "-s", s, "--state", REMOTE])
        .code(1)
        .has("state is locked: apply");
    let r = crate::harness::Run::from(child.wait_with_output().unwrap());
    r.ok();
    assert!(seen.len() >= 3, "the lease was renewed: {seen:?}");
    assert!(expires().await.is_none(), "released at the end");
}

/// S3 carries out a conditional write whose answer is lost; the SDK's retry
/// of the same request is refused (412) though the first one succeeded. The
/// lock, a state write, a journal record and the unlock each meet it once:
/// the apply reads what is there (its own lock id, its own lineage and
/// serial, its own record) and goes on.
#[tokio::test]
async fn lost_answers_to_conditional_writes_of_s3_state_are_recognised_as_our_own() {
    let w = World::strict(crate::strict::Strict {
        // The lock (1st PutObject), the first state write (3rd: the
        // lock's retry is the 2nd), the first journal record (5th), the
        // unlock's delete.
        lose_nth: vec![
            ("PutObject", 1),
            ("PutObject", 3),
            ("PutObject", 5),
            ("DeleteObject", 1),
        ],
        ..crate::strict::Strict::default()
    });
    let s3 = bucket(&w).await;
    let s = w.write_stack("team.yaml", SMALL);
    let s = s.to_str().unwrap();
    w.run(&["apply", "-s", s, "--state", REMOTE, "--auto-approve"])
        .ok()
        .lacks("state is locked")
        .lacks("written by someone else");
    let l = w.layer();
    assert_eq!(l.count("lost PutObject"), 3, "{:?}", l.stats());
    assert_eq!(l.count("lost DeleteObject"), 1, "{:?}", l.stats());
    // The records were folded into the state and deleted.
    let left = s3
        .list_objects_v2()
        .bucket("team-state")
        .prefix("team/state.json.journal/")
        .send()
        .await
        .unwrap();
    assert!(left.contents().is_empty(), "{:?}", left.contents());
    let obj = s3
        .get_object()
        .bucket("team-state")
        .key("team/state.json")
        .send()
        .await
        .unwrap();
    let body: serde_json::Value =
        serde_json::from_slice(&obj.body.collect().await.unwrap().to_vec()).unwrap();
    assert_eq!(body["resources"].as_object().unwrap().len(), 2);
    assert!(
        s3.head_object()
            .bucket("team-state")
            .key("team/state.json.lock")
            .send()
            .await
            .is_err(),
        "the lock is released"
    );
    w.run(&["plan", "-s", s, "--state", REMOTE, "--detailed-exitcode"])
        .code(0);
}

/// stacks/state.yaml makes the state's home: a bucket encrypted by default
/// with a customer-managed key, replicated to the standby region. A stack
/// whose state is kept there has it written under that key (SSE-KMS)
/// without naming the key itself; the replica (copied here as S3's
/// replication would) is a state the stack plans from, in its region.
#[tokio::test]
async fn state_kept_in_the_state_stacks_bucket_is_encrypted_and_replicated() {
    let w = World::new();
    let home = w.stack_from("stacks/state.yaml");
    let home = home.to_str().unwrap();
    // moto drops a replication rule's encryption settings (see the variable).
    let off = ["--var", "replica_key=false"];
    w.run(&[&["apply", "-s", home, "--auto-approve"][..], &off[..]].concat())
        .ok()
        .has("Apply complete: 6 operations succeeded.");
    w.run(&[&["plan", "-s", home, "--detailed-exitcode"][..], &off[..]].concat())
        .code(0);
    let outputs = &w.state("state")["outputs"];
    let key_arn = outputs["key_arn"]["value"].as_str().unwrap().to_string();
    let standby_key = outputs["standby_key_arn"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(standby_key.contains(":us-west-2:"), "{standby_key}");
    let s = w.write_stack("team.yaml", SMALL);
    let s = s.to_str().unwrap();
    let remote = "s3://eproc-provision-state/team.json";
    w.run(&["apply", "-s", s, "--state", remote, "--auto-approve"])
        .ok();
    let s3 = w.s3().await;
    let head = s3
        .head_object()
        .bucket("eproc-provision-state")
        .key("team.json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.server_side_encryption().map(|e| e.as_str()),
        Some("aws:kms")
    );
    let id = key_arn.rsplit('/').next().unwrap();
    assert!(
        head.ssekms_key_id().is_some_and(|k| k.contains(id)),
        "{:?} under {key_arn}",
        head.ssekms_key_id()
    );
    w.run(&["plan", "-s", s, "--state", remote, "--detailed-exitcode"])
        .code(0);

    // The primary bucket replicates every object to the standby's.
    let rules = s3
        .get_bucket_replication()
        .bucket("eproc-provision-state")
        .send()
        .await
        .unwrap();
    let rule = &rules.replication_configuration().unwrap().rules()[0];
    assert_eq!(
        rule.destination().unwrap().bucket(),
        "arn:aws:s3:::eproc-provision-state-standby"
    );
    // What S3's replication does (moto does not copy): the replica is the
    // state, read in the standby region.
    let body = s3
        .get_object()
        .bucket("eproc-provision-state")
        .key("team.json")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    let west = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&w.sdk_in("us-west-2").await)
            .force_path_style(true)
            .build(),
    );
    west.put_object()
        .bucket("eproc-provision-state-standby")
        .key("team.json")
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap();
    let replica = "s3://eproc-provision-state-standby/team.json";
    w.run(&[
        "plan",
        "-s",
        s,
        "--state",
        replica,
        "--state-region",
        "us-west-2",
        "--detailed-exitcode",
    ])
    .code(0);
    // The state's home refuses to be destroyed with the stack's default.
    w.run(&[&["destroy", "-s", home, "--auto-approve"][..], &off[..]].concat())
        .code(1)
        .has("has lifecycle.prevent_destroy: set it to false and apply before destroying");
}
