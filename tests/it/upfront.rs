//! What stops a change is named in the plan, before any write: a hand-made
//! object inside what a destroy deletes, a bucket name someone else holds.
//! And the command line's own messages say what and where.

use std::time::{Duration, Instant};

use crate::harness::World;

#[tokio::test]
async fn a_destroy_names_the_hand_made_subnet_that_blocks_its_vpc_and_fails_at_once() {
    let w = World::new();
    let s = w.write_stack(
        "hold.yaml",
        r#"
stack: hold
region: us-east-1
resources:
  vpc:
    kind: ec2.vpc
    properties: {cidr_block: 10.71.0.0/16}
  web:
    kind: ec2.security_group
    properties: {name: web, vpc_id: "${vpc.id}"}
"#,
    );
    let s = s.to_str().unwrap();
    w.run(&["apply", "-s", s, "--auto-approve"])
        .ok()
        .has("Apply complete: 2 operations succeeded.");
    let vpc = w.state("hold")["resources"]["vpc"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ec2 = w.ec2().await;
    let by_hand = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.71.9.0/24")
        .send()
        .await
        .unwrap()
        .subnet()
        .unwrap()
        .subnet_id()
        .unwrap()
        .to_string();
    let t = Instant::now();
    let r = w.run(&["destroy", "-s", s, "--auto-approve"]);
    // Named in the plan, and the delete refused at once (AWS would answer
    // DependencyViolation for as long as the subnet is there).
    r.code(1)
        .has(&format!(
            "! cannot be deleted: it holds ec2.subnet {by_hand}, made outside provision"
        ))
        .has("delete web")
        .has(&format!(
            "delete vpc: cannot be deleted: it holds ec2.subnet {by_hand}"
        ))
        .lacks("still deleting");
    assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());
    assert!(w.state("hold")["resources"].get("vpc").is_some());
    // Once the subnet is gone, the destroy finishes.
    ec2.delete_subnet()
        .subnet_id(&by_hand)
        .send()
        .await
        .unwrap();
    w.run(&["destroy", "-s", s, "--auto-approve"])
        .ok()
        .has("Destroy complete: 1 operation succeeded.");
}

#[test]
fn a_bucket_another_stack_holds_is_a_conflict_in_the_plan_and_apply_writes_nothing() {
    let w = World::new();
    let stack = |name: &str| {
        format!(
            r#"
stack: {name}
region: us-east-1
resources:
  vpc:
    kind: ec2.vpc
    properties: {{cidr_block: 10.72.0.0/16}}
  docs:
    kind: s3.bucket
    properties: {{bucket: court-docs-taken, sse_algorithm: AES256, block_public_access: true}}
"#
        )
    };
    let other = w.write_stack("other.yaml", &stack("other"));
    w.run(&["apply", "-s", other.to_str().unwrap(), "--auto-approve"])
        .ok();
    let s = w.write_stack("mine.yaml", &stack("mine"));
    let s = s.to_str().unwrap();
    w.run(&["plan", "-s", s])
        .code(1)
        .has("! s3.bucket docs cannot be created: its name is taken")
        .has("! taken: bucket court-docs-taken belongs to stack \"other\"")
        .has("Apply refuses this plan: 1 name above is taken.");
    w.run(&["plan", "-s", s, "--json"])
        .code(1)
        .has("\"taken\": \"bucket court-docs-taken belongs to stack");
    let r = w.run(&["apply", "-s", s, "--auto-approve", "--stats"]);
    r.code(1)
        .has("the name of docs is taken")
        .has("nothing was applied")
        .has("API calls:")
        .lacks("CreateVpc")
        .lacks("CreateBucket");
    assert!(!w.dir.path().join(".provision/mine.state.json").exists());
}

#[test]
fn command_line_mistakes_exit_1_and_say_what_is_wrong() {
    let w = World::new();
    let s = w.stack_from("examples/network.yaml");
    let s = s.to_str().unwrap();
    // 2 means "changes" or "drift" to scripts: a typo must not say so.
    w.run(&["plan", "-s", s, "--no-such-flag"]).code(1);
    w.run(&["apply", "-s", s, "--parallelism", "0"])
        .code(1)
        .has("invalid value '0' for '--parallelism");
    w.run(&["drift", "-s", s, "--every", "0s"])
        .code(1)
        .has("the interval must be at least 1s");
    w.run(&["plan", "-s", s, "-o", "no/such/dir/x.plan"])
        .code(1)
        .has("cannot write no/such/dir/x.plan: the folder no/such/dir does not exist");
    assert!(!w.dir.path().join("no").exists(), "no folder made");
    // Where the calls went, and which bucket is missing.
    let r = w
        .command(&["plan", "-s", s])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    let r = crate::harness::Run::from(r);
    r.code(1).has(
        "cannot reach the AWS endpoint http://127.0.0.1:9 (--endpoint-url or AWS_ENDPOINT_URL)",
    );
    w.run(&["plan", "-s", s, "--state", "s3://no-such-bucket-here/k"])
        .code(1)
        .has("the state's bucket no-such-bucket-here does not exist");
}

#[test]
fn a_lock_message_names_the_user_and_the_way_to_wait() {
    // A slow apply holds the lock; it runs where USER and LOGNAME are unset
    // (cron, containers): its holder is named by its account all the same.
    let w = World::strict(crate::strict::Strict {
        latency: Duration::from_millis(1000),
        ..crate::strict::Strict::all()
    });
    let s = w.stack_from("examples/network.yaml");
    let sp = s.to_str().unwrap();
    let mut holder = w
        .command(&["apply", "-s", sp, "--auto-approve"])
        .env_remove("USER")
        .env_remove("LOGNAME")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lock = w.dir.path().join(".provision/network.state.json.lock");
    let start = Instant::now();
    while std::fs::read_to_string(&lock)
        .unwrap_or_default()
        .is_empty()
    {
        assert!(start.elapsed() < Duration::from_secs(30), "no lock taken");
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = w.run(&["plan", "-s", sp]);
    holder.kill().unwrap();
    let _ = holder.wait();
    r.code(1)
        .has("state is locked: apply by ")
        .lacks("by unknown@")
        .has("--lock-timeout 10m waits for the lock");
}
