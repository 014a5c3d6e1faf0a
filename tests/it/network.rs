//! examples/network.yaml end to end against moto.

use aws_sdk_ec2::types::{Filter, IpPermission, IpRange};

use crate::harness::World;

fn owned(stack: &str) -> Filter {
    Filter::builder()
        .name("tag:provision:stack")
        .values(stack)
        .build()
}

fn by_tag(addr: &str) -> Filter {
    Filter::builder()
        .name("tag:provision:address")
        .values(addr)
        .build()
}

/// Applies the network example and checks the tool's view and AWS's.
async fn applied() -> (World, std::path::PathBuf) {
    let w = World::new();
    let s = w.stack_from("examples/network.yaml");
    let s_str = s.to_str().unwrap().to_string();
    w.run(&["apply", "-s", &s_str, "--auto-approve"])
        .ok()
        .has("Plan: 25 to add, 0 to change, 0 to destroy.")
        .has("Apply complete: 25 operations succeeded.");
    (w, s)
}

#[tokio::test]
async fn apply_from_nothing_then_nothing_to_do() {
    let (w, s) = applied().await;
    let s = s.to_str().unwrap();
    let ec2 = w.ec2().await;
    let vpcs = ec2
        .describe_vpcs()
        .filters(owned("network"))
        .send()
        .await
        .unwrap();
    assert_eq!(vpcs.vpcs().len(), 1);
    let vpc = &vpcs.vpcs()[0];
    assert_eq!(vpc.cidr_block(), Some("10.0.0.0/16"));
    let subnets = ec2
        .describe_subnets()
        .filters(owned("network"))
        .send()
        .await
        .unwrap();
    let mut cidrs: Vec<_> = subnets
        .subnets()
        .iter()
        .map(|x| x.cidr_block().unwrap().to_string())
        .collect();
    cidrs.sort();
    assert_eq!(cidrs.len(), 9);
    assert!(cidrs.contains(&"10.0.22.0/24".to_string()), "{cidrs:?}");
    let azs: std::collections::BTreeSet<_> = subnets
        .subnets()
        .iter()
        .map(|x| x.availability_zone().unwrap().to_string())
        .collect();
    assert_eq!(azs.len(), 3);
    let nats = ec2
        .describe_nat_gateways()
        .filter(owned("network"))
        .send()
        .await
        .unwrap();
    assert_eq!(nats.nat_gateways().len(), 3);
    // db allows 3306 from app only, app allows the app port from the ALB only.
    let st = w.state("network");
    let sg_id = |a: &str| st["resources"][a]["id"].as_str().unwrap().to_string();
    let db = ec2
        .describe_security_groups()
        .group_ids(sg_id("db_sg"))
        .send()
        .await
        .unwrap();
    let perms = db.security_groups()[0].ip_permissions();
    assert_eq!(perms.len(), 1);
    assert_eq!(perms[0].from_port(), Some(3306));
    assert_eq!(
        perms[0].user_id_group_pairs()[0].group_id(),
        Some(sg_id("app_sg").as_str())
    );
    assert!(perms[0].ip_ranges().is_empty());
    // The database route table has no route to the internet.
    let rt = ec2
        .describe_route_tables()
        .filters(by_tag("database_routes"))
        .send()
        .await
        .unwrap();
    let routes = rt.route_tables()[0].routes();
    assert!(
        routes
            .iter()
            .all(|r| r.destination_cidr_block() != Some("0.0.0.0/0")),
        "{routes:?}"
    );
    assert_eq!(rt.route_tables()[0].associations().len(), 3);
    // Tagged at creation with the stack, its address and the stack's tags.
    let tags = vpc.tags();
    let tag = |k: &str| {
        tags.iter()
            .find(|t| t.key() == Some(k))
            .and_then(|t| t.value())
            .map(str::to_string)
    };
    assert_eq!(tag("provision:address").as_deref(), Some("vpc"));
    assert_eq!(tag("Project").as_deref(), Some("eproc"));
    // State file is private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(w.dir.path().join(".provision/network.state.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    w.run(&["plan", "-s", s, "--detailed-exitcode", "--stats"])
        .code(0)
        .has("No changes.")
        .lacks("will be")
        // Refresh is batched: one Describe per kind, whatever the count.
        .has("DescribeSubnets                      1\n")
        .has("API calls: 9\n");
}

#[tokio::test]
async fn tag_change_updates_in_place_and_cidr_change_replaces_what_must_follow() {
    let (w, s) = applied().await;
    let sp = s.to_str().unwrap();
    let before = w.state("network");
    w.edit(&s, "tags: {Tier: public}", "tags: {Tier: edge}");
    w.run(&["plan", "-s", sp, "--detailed-exitcode"])
        .code(2)
        .has("~ ec2.subnet public[us-east-1a]")
        .has("~ Tier = \"public\" -> \"edge\"")
        .has("Plan: 0 to add, 3 to change, 0 to destroy.");
    w.run(&["apply", "-s", sp, "--auto-approve"]).ok();
    let after = w.state("network");
    assert_eq!(
        before["resources"]["public[us-east-1a]"]["id"],
        after["resources"]["public[us-east-1a]"]["id"]
    );
    w.run(&["plan", "-s", sp, "--detailed-exitcode"]).code(0);

    // Moving the public subnets replaces them, the NAT gateways inside them,
    // and updates the route tables that point at either.
    w.edit(
        &s,
        "cidr_block: ${cidrsubnet(var.vpc_cidr, 8, each.index)}",
        "cidr_block: ${cidrsubnet(var.vpc_cidr, 8, each.index + 5)}",
    );
    w.run(&["plan", "-s", sp, "--detailed-exitcode"])
        .code(2)
        .has("-/+ ec2.subnet public[us-east-1b]")
        .has("~ cidr_block = \"10.0.1.0/24\" -> \"10.0.6.0/24\" # forces replacement")
        .has("-/+ ec2.nat_gateway nat[us-east-1c]")
        .has("~ ec2.route_table public_routes")
        .has("~ ec2.route_table private_routes[us-east-1a]")
        .has("Plan: 6 to add, 4 to change, 6 to destroy.");
    w.run(&["apply", "-s", sp, "--auto-approve"]).ok();
    let ec2 = w.ec2().await;
    let subnets = ec2
        .describe_subnets()
        .filters(by_tag("public/us-east-1b"))
        .send()
        .await
        .unwrap();
    assert_eq!(subnets.subnets().len(), 1);
    assert_eq!(subnets.subnets()[0].cidr_block(), Some("10.0.6.0/24"));
    let st = w.state("network");
    assert_ne!(
        st["resources"]["nat[us-east-1b]"]["id"],
        before["resources"]["nat[us-east-1b]"]["id"]
    );
    w.run(&["plan", "-s", sp, "--detailed-exitcode"]).code(0);
}

#[tokio::test]
async fn deleted_outside_is_created_again_and_hand_made_rules_are_removed() {
    let (w, s) = applied().await;
    let sp = s.to_str().unwrap();
    let st = w.state("network");
    let id = |a: &str| st["resources"][a]["id"].as_str().unwrap().to_string();
    let ec2 = w.ec2().await;
    ec2.delete_subnet()
        .subnet_id(id("database[us-east-1b]"))
        .send()
        .await
        .unwrap();
    ec2.authorize_security_group_ingress()
        .group_id(id("db_sg"))
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    w.run(&["plan", "-s", sp, "--detailed-exitcode"])
        .code(2)
        .has("! database[us-east-1b] was deleted outside provision")
        .has("+ ec2.subnet database[us-east-1b] will be created")
        .has("~ ec2.security_group db_sg")
        .has("+ ingress tcp 22 from 0.0.0.0/0")
        .has("- ingress tcp 22 from 0.0.0.0/0")
        .has("Plan: 1 to add, 2 to change, 0 to destroy.");
    w.run(&["apply", "-s", sp, "--auto-approve"]).ok();
    let db = ec2
        .describe_security_groups()
        .group_ids(id("db_sg"))
        .send()
        .await
        .unwrap();
    assert_eq!(db.security_groups()[0].ip_permissions().len(), 1);
    assert_eq!(
        db.security_groups()[0].ip_permissions()[0].from_port(),
        Some(3306)
    );
    w.run(&["plan", "-s", sp, "--detailed-exitcode"]).code(0);
}

const SMALL: &str = "stack: small\nregion: us-east-1\nresources:\n  vpc:\n    kind: ec2.vpc\n    properties: {cidr_block: 10.9.0.0/16}\n  subnet:\n    kind: ec2.subnet\n    properties: {vpc_id: '${vpc.id}', cidr_block: 10.9.1.0/24, availability_zone: us-east-1a}\n";

#[tokio::test]
async fn a_second_apply_is_refused_by_the_lock_and_touches_nothing() {
    let w = World::new();
    let s = w.write_stack("small.yaml", SMALL);
    let sp = s.to_str().unwrap();
    std::fs::create_dir_all(w.dir.path().join(".provision")).unwrap();
    // Another process holds the lock (this test, as maria's apply): an
    // operating-system lock on the lock file, which names its holder.
    let holder = serde_json::json!({
        "id": "0f8e1c2a-lock", "operation": "apply", "user": "maria", "host": "ops-box-7",
        "pid": 4242, "created": "2026-11-24T10:00:00Z"
    });
    let lock_path = w.dir.path().join(".provision/small.state.json.lock");
    std::fs::write(&lock_path, holder.to_string()).unwrap();
    let held = std::fs::File::open(&lock_path).unwrap();
    held.lock().unwrap();
    w.run(&["apply", "-s", sp, "--auto-approve"])
        .code(1)
        .has("state is locked: apply by maria@ops-box-7 (pid 4242)")
        .has("lock id 0f8e1c2a-lock");
    let vpcs = w
        .ec2()
        .await
        .describe_vpcs()
        .filters(owned("small"))
        .send()
        .await
        .unwrap();
    assert!(vpcs.vpcs().is_empty());

    // Its holder ends (the file closes): the lock is free, no force-unlock.
    drop(held);
    w.run(&["plan", "-s", sp])
        .ok()
        .has("ended without releasing the lock; the operating system freed it");
    // A real race: two applies at once, one wins, the other names it.
    let a = w
        .command(&["apply", "-s", sp, "--auto-approve"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let b = w
        .command(&["apply", "-s", sp, "--auto-approve"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (ra, rb) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let codes = [ra.status.code(), rb.status.code()];
    if codes.contains(&Some(1)) {
        let loser = if rb.status.code() == Some(1) {
            &rb
        } else {
            &ra
        };
        let err = String::from_utf8_lossy(&loser.stderr);
        assert!(err.contains("state is locked: apply by"), "{err}");
    }
    let vpcs = w
        .ec2()
        .await
        .describe_vpcs()
        .filters(owned("small"))
        .send()
        .await
        .unwrap();
    assert_eq!(vpcs.vpcs().len(), 1, "never two VPCs, whoever won");
}

#[tokio::test]
async fn destroy_leaves_nothing_tagged_with_the_stack() {
    let (w, s) = applied().await;
    let sp = s.to_str().unwrap();
    w.run(&["destroy", "-s", sp, "--auto-approve"])
        .ok()
        .has("Plan: 0 to add, 0 to change, 25 to destroy.")
        .has("Destroy complete: 25 operations succeeded.");
    let ec2 = w.ec2().await;
    let f = owned("network");
    assert!(
        ec2.describe_vpcs()
            .filters(f.clone())
            .send()
            .await
            .unwrap()
            .vpcs()
            .is_empty()
    );
    assert!(
        ec2.describe_subnets()
            .filters(f.clone())
            .send()
            .await
            .unwrap()
            .subnets()
            .is_empty()
    );
    assert!(
        ec2.describe_security_groups()
            .filters(f.clone())
            .send()
            .await
            .unwrap()
            .security_groups()
            .is_empty()
    );
    assert!(
        ec2.describe_route_tables()
            .filters(f.clone())
            .send()
            .await
            .unwrap()
            .route_tables()
            .is_empty()
    );
    assert!(
        ec2.describe_internet_gateways()
            .filters(f.clone())
            .send()
            .await
            .unwrap()
            .internet_gateways()
            .is_empty()
    );
    assert!(
        ec2.describe_addresses()
            .filters(f.clone())
            .send()
            .await
            .unwrap()
            .addresses()
            .is_empty()
    );
    let nats = ec2.describe_nat_gateways().filter(f).send().await.unwrap();
    assert!(
        nats.nat_gateways()
            .iter()
            .all(|n| n.state().map(|s| s.as_str()) == Some("deleted"))
    );
    assert_eq!(w.state("network")["resources"], serde_json::json!({}));
    w.run(&["plan", "-s", sp, "--detailed-exitcode"])
        .code(2)
        .has("Plan: 25 to add");
}

#[tokio::test]
async fn saved_plans_apply_exactly_and_stale_ones_are_refused() {
    let w = World::new();
    let s = w.write_stack("small.yaml", SMALL);
    let sp = s.to_str().unwrap();
    w.run(&["plan", "-s", sp, "-o", "first.plan"])
        .ok()
        .has("Saved the plan to first.plan");
    w.run(&["plan", "-s", sp, "-o", "second.plan"]).ok();
    // The stack changes after the plan: the saved plan still applies what it said.
    w.edit(&s, "10.9.1.0/24", "10.9.2.0/24");
    w.run(&["apply", "first.plan"])
        .ok()
        .has("Apply complete: 2 operations succeeded.");
    assert_eq!(
        w.state("small")["resources"]["subnet"]["properties"]["cidr_block"],
        "10.9.1.0/24"
    );
    w.run(&["apply", "second.plan"])
        .code(1)
        .has("the saved plan is stale");
    let vpcs = w
        .ec2()
        .await
        .describe_vpcs()
        .filters(owned("small"))
        .send()
        .await
        .unwrap();
    assert_eq!(vpcs.vpcs().len(), 1);
    let j = w.run(&["plan", "-s", sp, "--json"]);
    j.ok();
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(
        v["summary"],
        serde_json::json!({"add": 1, "change": 0, "destroy": 1, "adopt": 0})
    );
    let sub = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "subnet")
        .unwrap();
    assert_eq!(sub["action"], "delete_then_create");
    assert_eq!(sub["replace_because"], serde_json::json!(["cidr_block"]));
}

#[tokio::test]
async fn unreachable_endpoint_and_missing_credentials_fail_clearly() {
    let w = World::new();
    let s = w.write_stack("small.yaml", SMALL);
    let sp = s.to_str().unwrap();
    let r = crate::harness::Run::from(
        w.command(&["plan", "-s", sp, "--endpoint-url", "http://127.0.0.1:9"])
            .output()
            .unwrap(),
    );
    r.code(1)
        .has("DispatchFailure")
        .has("cannot reach the AWS endpoint");
    let r = crate::harness::Run::from(
        w.command(&["plan", "-s", sp])
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap(),
    );
    r.code(1)
        .has("AWS credentials failed: NoCredentials: no AWS credentials found");
    let vpcs = w
        .ec2()
        .await
        .describe_vpcs()
        .filters(owned("small"))
        .send()
        .await
        .unwrap();
    assert!(vpcs.vpcs().is_empty());
}
