//! The engine against AWS's semantics, played by the strict layer in front of
//! the emulator (see `strict`): deletes refused while something uses the
//! object, objects pending or deleting for a while, failures on demand, ids
//! not visible right after their create, throttling. Each test would fail on
//! an engine that relied on the emulator's leniency.

use std::time::{Duration, Instant};

use aws_sdk_ec2::types::Filter;

use crate::harness::World;
use crate::strict::Strict;

fn owned(stack: &str) -> Filter {
    Filter::builder()
        .name("tag:provision:stack")
        .values(stack)
        .build()
}

/// Every AWS behaviour on, with network interfaces that linger long enough
/// that a subnet's delete surely meets them.
fn strict() -> Strict {
    Strict {
        linger: Duration::from_secs(3),
        ..Strict::all()
    }
}

#[tokio::test]
async fn the_network_applies_and_is_destroyed_with_every_aws_behaviour_on() {
    let w = World::strict(strict());
    let s = w.stack_from("examples/network.yaml");
    let s = s.to_str().unwrap();
    w.run(&["apply", "-s", s, "--auto-approve"])
        .ok()
        .has("Apply complete: 25 operations succeeded.");
    w.run(&["plan", "-s", s, "--detailed-exitcode"]).code(0);
    w.run(&["destroy", "-s", s, "--auto-approve"])
        .ok()
        .has("Destroy complete: 25 operations succeeded.");
    let l = w.layer();
    // The behaviours were met, not avoided: NAT gateways pending then
    // deleting, ids invisible right after their create, subnets in use while
    // the NAT gateways' interfaces lingered.
    // Each gateway shown pending for both of its pending reads (an engine
    // that took the first answer would leave reads unused), and no route
    // named one before it was available.
    assert!(l.count("pending nat_gateway") >= 6, "{:?}", l.stats());
    assert_eq!(
        l.count("named while pending nat_gateway"),
        0,
        "{:?}",
        l.stats()
    );
    assert!(l.count("deleting nat_gateway") >= 3, "{:?}", l.stats());
    assert!(l.count("invisible CreateRoute") >= 1, "{:?}", l.stats());
    assert!(l.count("in_use DeleteSubnet") >= 1, "{:?}", l.stats());
    let ec2 = w.ec2().await;
    let vpcs = ec2
        .describe_vpcs()
        .filters(owned("network"))
        .send()
        .await
        .unwrap();
    assert!(vpcs.vpcs().is_empty());
}

#[tokio::test]
async fn a_security_group_others_refer_to_is_replaced_new_first_and_the_old_deleted_last() {
    let w = World::strict(strict());
    let s = w.stack_from("examples/network.yaml");
    let sp = s.to_str().unwrap();
    w.run(&["apply", "-s", sp, "--auto-approve"]).ok();
    let old = w.state("network")["resources"]["alb_sg"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The description of a group cannot change: the group is replaced. The
    // app group's rule refers to it, so AWS refuses to delete it until the
    // rule points at the new one.
    w.edit(
        &s,
        "description: Load balancer, open to the internet on 80 and 443",
        "description: Load balancer",
    );
    w.run(&["apply", "-s", sp, "--auto-approve"])
        .ok()
        .has("+/- ec2.security_group alb_sg")
        .has("~ name        = \"alb\" -> \"alb-")
        .has("  1. create alb_sg\n  2. update app_sg\n  3. delete alb_sg (old)")
        .has("Apply complete: 3 operations succeeded.");
    assert_eq!(w.layer().count("in_use DeleteSecurityGroup"), 0);
    w.run(&["plan", "-s", sp, "--detailed-exitcode"]).code(0);
    let ec2 = w.ec2().await;
    let st = w.state("network");
    let new = st["resources"]["alb_sg"]["id"].as_str().unwrap();
    let groups = ec2
        .describe_security_groups()
        .filters(owned("network"))
        .send()
        .await
        .unwrap();
    let ids: Vec<_> = groups
        .security_groups()
        .iter()
        .filter_map(|g| g.group_id())
        .collect();
    assert!(
        ids.contains(&new) && !ids.contains(&old.as_str()),
        "{ids:?}"
    );
    let app = groups
        .security_groups()
        .iter()
        .find(|g| g.group_name() == Some("app"))
        .unwrap();
    assert_eq!(
        app.ip_permissions()[0].user_id_group_pairs()[0].group_id(),
        Some(new)
    );
    // A second replacement gives the name back.
    w.edit(
        &s,
        "description: Load balancer\n",
        "description: Load balancer, again\n",
    );
    w.run(&["apply", "-s", sp, "--auto-approve"])
        .ok()
        .has("~ name        = \"alb-");
    assert_eq!(
        w.state("network")["resources"]["alb_sg"]["properties"]["name"],
        "alb"
    );
}

#[tokio::test]
async fn a_delete_retries_while_aws_says_in_use_and_then_names_what_holds_it() {
    let w = World::strict(Strict {
        linger: Duration::from_secs(30),
        ..Strict::all()
    });
    let s = w.stack_from("examples/network.yaml");
    let sp = s.to_str().unwrap();
    // A short retry window for the public subnets (AWS: minutes; here seconds).
    w.edit(
        &s,
        "      tags: {Tier: public}\n",
        "      tags: {Tier: public}\n    timeouts: {in_use: 3s}\n",
    );
    w.run(&["apply", "-s", sp, "--auto-approve"]).ok();
    let t = Instant::now();
    w.run(&["destroy", "-s", sp, "--auto-approve"])
        .code(1)
        .has("public[us-east-1a]: AWS DeleteSubnet failed: DependencyViolation")
        .has("network interface still attached to subnet-")
        .has("still in use after 3s of retries")
        .has("skipped: 1")
        .has("delete vpc (because");
    assert!(t.elapsed() < Duration::from_secs(25), "{:?}", t.elapsed());
    assert!(w.layer().count("in_use DeleteSubnet") >= 6);
    // State keeps what is left (three subnets and the VPC); once the
    // interfaces are gone, the same destroy finishes.
    let state = w.state("network");
    assert_eq!(state["resources"].as_object().unwrap().len(), 4, "{state}");
    w.layer().release();
    w.run(&["destroy", "-s", sp, "--auto-approve"])
        .ok()
        .has("Destroy complete: 4 operations succeeded.");
}

#[tokio::test]
async fn the_internet_gateway_is_detached_only_once_no_nat_gateway_maps_an_address() {
    // NAT gateways stay `deleting` long enough that the detach meets them
    // (their deletes start first: they are the longest chains).
    let w = World::strict(Strict {
        deleting_reads: 12,
        ..strict()
    });
    let s = w.stack_from("examples/network.yaml");
    let sp = s.to_str().unwrap();
    // Without `depends_on: [igw]`, nothing orders the NAT gateways' deletion
    // before the gateway's: AWS refuses the detach while they map addresses.
    w.edit(&s, "    depends_on: [igw]\n", "");
    w.run(&["apply", "-s", sp, "--auto-approve"]).ok();
    // Every ready delete at once, so the detach meets the NAT gateways
    // still deleting (at 10, it can wait its turn until they are gone, and
    // then there is nothing to refuse: the premise below would not hold).
    let d = w.run(&["destroy", "-s", sp, "--auto-approve", "--parallelism", "50"]);
    let out = d.stdout.clone();
    d.ok().has("Destroy complete");
    assert!(
        w.layer().count("in_use DetachInternetGateway") >= 1,
        "{:?}\n{out}",
        w.layer().stats()
    );
}

const ALB_AND_WAF: &str = r#"
stack: edge
region: us-east-1
variables:
  acl: {default: edge-web}
resources:
  vpc:
    kind: ec2.vpc
    properties: {cidr_block: 10.0.0.0/16}
  subnet:
    kind: ec2.subnet
    for_each: [us-east-1a, us-east-1b]
    properties:
      vpc_id: ${vpc.id}
      availability_zone: ${each.key}
      cidr_block: ${cidrsubnet("10.0.0.0/16", 8, each.index)}
  alb:
    kind: elbv2.load_balancer
    properties: {name: edge-alb, subnet_ids: "${subnet[*].id}"}
  app:
    kind: elbv2.target_group
    properties: {name: edge-app, port: 8080, vpc_id: "${vpc.id}"}
  http:
    kind: elbv2.listener
    properties: {load_balancer_arn: "${alb.arn}", port: 80, forward_to: "${app.arn}"}
  waf:
    kind: wafv2.web_acl
    properties: {name: "${var.acl}"}
  waf_alb:
    kind: wafv2.web_acl_association
    properties: {web_acl_arn: "${waf.arn}", resource_arn: "${alb.arn}"}
"#;

#[tokio::test]
async fn a_web_acl_and_a_target_group_in_use_are_replaced_new_first() {
    let w = World::strict(strict());
    let s = w.write_stack("edge.yaml", ALB_AND_WAF);
    let sp = s.to_str().unwrap();
    w.run(&["apply", "-s", sp, "--auto-approve"]).ok();
    // A new ACL name and a new target port: both replaced; AWS refuses to
    // delete an associated ACL or a target group a listener forwards to.
    w.edit(&s, "port: 8080", "port: 8081");
    w.run(&[
        "apply",
        "-s",
        sp,
        "--auto-approve",
        "--var",
        "acl=edge-web-2",
    ])
    .ok()
    .has("+/- wafv2.web_acl waf")
    .has("+/- elbv2.target_group app")
    .has("delete waf (old)")
    .has("delete app (old)");
    let l = w.layer();
    assert_eq!(
        l.count("in_use DeleteWebACL") + l.count("in_use DeleteTargetGroup"),
        0,
        "{:?}",
        l.stats()
    );
    w.run(&[
        "plan",
        "-s",
        sp,
        "--detailed-exitcode",
        "--var",
        "acl=edge-web-2",
    ])
    .code(0);
    let tgs = w
        .elbv2()
        .await
        .describe_target_groups()
        .send()
        .await
        .unwrap();
    assert_eq!(tgs.target_groups().len(), 1);
    assert_eq!(tgs.target_groups()[0].port(), Some(8081));
    assert!(
        tgs.target_groups()[0]
            .target_group_name()
            .unwrap()
            .starts_with("edge-app-")
    );
    w.run(&[
        "destroy",
        "-s",
        sp,
        "--auto-approve",
        "--var",
        "acl=edge-web-2",
    ])
    .ok();
}

const DB: &str = r#"
stack: db
region: us-east-1
variables:
  group: {default: db-a}
resources:
  vpc:
    kind: ec2.vpc
    properties: {cidr_block: 10.0.0.0/16}
  subnet:
    kind: ec2.subnet
    for_each: [us-east-1a, us-east-1b]
    properties:
      vpc_id: ${vpc.id}
      availability_zone: ${each.key}
      cidr_block: ${cidrsubnet("10.0.0.0/16", 8, each.index)}
  group:
    kind: rds.db_subnet_group
    properties: {name: "${var.group}", subnet_ids: "${subnet[*].id}"}
  db:
    kind: rds.cluster
    properties:
      identifier: db-${var.group}
      db_subnet_group_name: ${group.name}
      deletion_protection: false
      skip_final_snapshot: true
"#;

#[tokio::test]
async fn a_db_subnet_group_a_cluster_uses_is_deleted_only_after_the_cluster_moved() {
    let w = World::strict(strict());
    let s = w.write_stack("db.yaml", DB);
    let sp = s.to_str().unwrap();
    w.run(&["apply", "-s", sp, "--auto-approve"]).ok();
    // A new group: the cluster is replaced into it; AWS refuses to delete
    // the old group while the old cluster is in it.
    w.run(&["apply", "-s", sp, "--auto-approve", "--var", "group=db-b"])
        .ok()
        .has("+/- rds.db_subnet_group group")
        .has("-/+ rds.cluster db");
    assert_eq!(
        w.layer().count("in_use DeleteDBSubnetGroup"),
        0,
        "{:?}",
        w.layer().stats()
    );
    let groups = w
        .rds()
        .await
        .describe_db_subnet_groups()
        .send()
        .await
        .unwrap();
    let names: Vec<_> = groups
        .db_subnet_groups()
        .iter()
        .filter_map(|g| g.db_subnet_group_name())
        .collect();
    assert_eq!(names, ["db-b"]);
    w.run(&["destroy", "-s", sp, "--auto-approve", "--var", "group=db-b"])
        .ok();
}

/// Applies `stack` with `what` failing at its create; the apply must fail at
/// once (not at the create timeout) and say AWS's reason.
fn fails_fast(what: &'static str, stack: &str, reason: &str) {
    let w = World::strict(Strict {
        fail: vec![what],
        ..Strict::all()
    });
    let s = w.write_stack("s.yaml", stack);
    let t = Instant::now();
    w.run(&["apply", "-s", s.to_str().unwrap(), "--auto-approve"])
        .code(1)
        .has(reason);
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
}

const VPC_AND_SUBNET: &str = r#"
stack: f
region: us-east-1
resources:
  vpc:
    kind: ec2.vpc
    properties: {cidr_block: 10.0.0.0/16}
  subnet:
    kind: ec2.subnet
    properties: {vpc_id: "${vpc.id}", availability_zone: us-east-1a, cidr_block: 10.0.1.0/24}
"#;

#[test]
fn a_nat_gateway_that_fails_fails_the_apply_at_once_with_aws_reason() {
    let stack = format!(
        "{VPC_AND_SUBNET}  ip:\n    kind: ec2.eip\n  nat:\n    kind: ec2.nat_gateway\n    \
         properties: {{subnet_id: \"${{subnet.id}}\", allocation_id: \"${{ip.id}}\"}}\n"
    );
    fails_fast(
        "nat_gateway",
        &stack,
        "failed: Subnet has insufficient free addresses",
    );
}

#[test]
fn an_instance_terminated_at_launch_fails_the_apply_at_once_with_aws_reason() {
    let stack = format!(
        "{VPC_AND_SUBNET}  lt:\n    kind: ec2.launch_template\n    \
         properties: {{name: lt, image_id: ami-12345678, instance_type: t3.micro}}\n  \
         i:\n    kind: ec2.instance\n    properties: {{launch_template_id: \"${{lt.id}}\", \
         launch_template_version: \"${{lt.latest_version}}\", subnet_id: \"${{subnet.id}}\"}}\n"
    );
    fails_fast(
        "instance",
        &stack,
        "terminated at launch: Server.InsufficientInstanceCapacity",
    );
}

#[test]
fn a_file_system_in_error_fails_the_apply_at_once() {
    let stack = "stack: f\nregion: us-east-1\nresources:\n  fs:\n    kind: efs.file_system\n";
    fails_fast(
        "file_system",
        stack,
        "to become available failed: it is error",
    );
}

#[tokio::test]
async fn ids_not_yet_visible_are_waited_for_not_taken_as_gone() {
    let w = World::strict(Strict {
        invisible_calls: 3,
        invisible_for: Duration::from_secs(60),
        ..Strict::default()
    });
    let s = w.stack_from("examples/network.yaml");
    let s = s.to_str().unwrap();
    w.run(&["apply", "-s", s, "--auto-approve", "--stats"])
        .ok()
        .has("Retries: ")
        .has("NotFound");
    w.run(&["plan", "-s", s, "--detailed-exitcode"]).code(0);
    let l = w.layer();
    let invisible: u64 = l
        .stats()
        .iter()
        .filter(|(k, _)| k.starts_with("invisible"))
        .map(|x| x.1)
        .sum();
    assert!(invisible >= 20, "{:?}", l.stats());
}

#[tokio::test]
async fn a_throttling_account_slows_the_apply_down_and_it_finishes() {
    let w = World::strict(Strict {
        throttle: Some(crate::strict::Throttle {
            reads: (6.0, 8.0),
            writes: (4.0, 5.0),
        }),
        ..Strict::default()
    });
    let s = w.stack_from("examples/network.yaml");
    let s = s.to_str().unwrap();
    let t = Instant::now();
    w.run(&["apply", "-s", s, "--auto-approve", "--stats"])
        .ok()
        .has("Throttled");
    let took = t.elapsed();
    let throttled = w.layer().count("throttled ec2");
    let calls = w.layer().count("call ec2");
    assert!(throttled >= 5, "{:?}", w.layer().stats());
    // Backed off: an engine that retried at once would spend most of its
    // calls being throttled while the buckets refill.
    assert!(
        throttled * 3 < calls,
        "{throttled} of {calls} calls throttled: no back-off"
    );
    println!("throttled apply of the network: {took:?}, {throttled} calls throttled");
}

#[tokio::test]
async fn the_reference_stack_is_applied_changed_and_destroyed_with_every_aws_behaviour_on() {
    let w = World::strict(strict());
    let s = w.stack_from("tests/fixtures/three-az-flat.yaml");
    let sp = s.to_str().unwrap();
    // moto cannot finish an ElastiCache deletion nor describe a health check
    // to the SDK (see edge.rs); its ModifyDBSubnetGroup loses the group
    // (mock_tests.rs covers that update instead).
    let vars = ["--var", "cache=false", "--var", "health_check=false"];
    let run = |verb: &str, extra: &[&str]| {
        let mut args = vec![verb, "-s", sp, "--auto-approve"];
        args.extend(vars);
        args.extend(extra);
        let t = Instant::now();
        let r = w.run(&args);
        (r, t.elapsed())
    };
    let (r, applied) = run("apply", &["--stats"]);
    r.ok().has("Apply complete: 56 operations succeeded.");
    println!("apply {applied:?}\n{}", r.stderr);
    // Change: the application's security group (other groups and, through
    // the launch template, the instances use it), the target group behind
    // the listener (a new port), the launch template (a new name).
    w.edit(
        &s,
        "description: Application instances, reachable from the load balancer only",
        "description: Application instances",
    );
    w.edit(
        &s,
        "      port: ${var.app_port}\n      vpc_id",
        "      port: 8081\n      vpc_id",
    );
    w.edit(
        &s,
        "      name: eproc-app\n      image_id",
        "      name: eproc-app-v2\n      image_id",
    );
    let (r, changed) = run("apply", &["--stats"]);
    r.ok()
        .has("+/- ec2.security_group app_sg")
        .has("+/- elbv2.target_group app_tg")
        .has("+/- ec2.launch_template app_template")
        .has("+/- ec2.instance app[us-east-1a-0]")
        .has("delete app_sg (old)")
        .has("Apply complete: 21 operations succeeded.");
    println!("change {changed:?}\n{}", r.stderr);
    let mut args = vec!["plan", "-s", sp, "--detailed-exitcode"];
    args.extend(vars);
    w.run(&args).code(0);
    w.edit(
        &s,
        "      deletion_protection: true\n    timeouts",
        "      deletion_protection: false\n      skip_final_snapshot: true\n    timeouts",
    );
    run("apply", &[]).0.ok();
    let (r, destroyed) = run("destroy", &["--stats"]);
    r.ok().has("Destroy complete");
    println!("destroy {destroyed:?}\n{}", r.stderr);
    let l = w.layer();
    println!("strict layer: {:?}", l.stats());
    assert!(l.count("pending db_cluster") >= 1 && l.count("pending instance") >= 6);
    assert!(l.count("pending change") >= 1, "{:?}", l.stats());
    // Replacements and deletes were ordered so that AWS never refused them
    // because of something provision could have deleted or moved first; only
    // interfaces AWS leaves behind for a while made it wait.
    for action in [
        "DeleteSecurityGroup",
        "DeleteTargetGroup",
        "DeleteSubnet",
        "DetachInternetGateway",
    ] {
        let (all, lingering) = (
            l.count(&format!("in_use {action}")),
            l.count(&format!("in_use {action} (lingering only)")),
        );
        assert_eq!(all, lingering, "{action}: {:?}", l.stats());
    }
    let vpcs = w
        .ec2()
        .await
        .describe_vpcs()
        .filters(owned("three-az"))
        .send()
        .await
        .unwrap();
    assert!(vpcs.vpcs().is_empty());
}

/// The layer refuses what AWS refuses and moto accepts: a VPC deleted with
/// an internet gateway attached or a group of its own left in it.
#[tokio::test]
async fn a_vpc_with_a_gateway_attached_or_a_group_left_is_not_deleted() {
    let w = World::strict(Strict {
        in_use: true,
        ..Strict::default()
    });
    let ec2 = w.ec2_through_the_layer().await;
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.80.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc()
        .unwrap()
        .vpc_id()
        .unwrap()
        .to_string();
    let igw = ec2
        .create_internet_gateway()
        .send()
        .await
        .unwrap()
        .internet_gateway()
        .unwrap()
        .internet_gateway_id()
        .unwrap()
        .to_string();
    ec2.attach_internet_gateway()
        .internet_gateway_id(&igw)
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap();
    let sg = ec2
        .create_security_group()
        .group_name("left")
        .description("left behind")
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_string();
    let refused = |e: &aws_sdk_ec2::error::SdkError<_, _>| {
        use aws_sdk_ec2::error::ProvideErrorMetadata;
        let e: &aws_sdk_ec2::operation::delete_vpc::DeleteVpcError =
            e.as_service_error().expect("a refusal");
        (
            e.code().unwrap_or_default().to_string(),
            e.message().unwrap_or_default().to_string(),
        )
    };
    let e = ec2.delete_vpc().vpc_id(&vpc).send().await.unwrap_err();
    let (code, message) = refused(&e);
    assert_eq!(code, "DependencyViolation");
    assert!(
        message.contains(&format!("internet gateway {igw} attached")),
        "{message}"
    );
    assert!(
        message.contains(&format!("security group {sg}")),
        "{message}"
    );
    ec2.detach_internet_gateway()
        .internet_gateway_id(&igw)
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap();
    ec2.delete_security_group()
        .group_id(&sg)
        .send()
        .await
        .unwrap();
    ec2.delete_vpc().vpc_id(&vpc).send().await.unwrap();
    assert_eq!(w.layer().count("in_use DeleteVpc"), 1);
}

/// IAM is eventually consistent: EC2 refuses an instance profile made
/// moments ago ("Invalid IAM Instance Profile name"). The launch waits for
/// it and is made once: the refusal means nothing was launched.
#[tokio::test]
async fn an_instance_waits_for_its_fresh_instance_profile_and_is_launched_once() {
    let w = World::strict(Strict {
        iam_lag: Duration::from_secs(5),
        ..strict()
    });
    let stack = r#"
stack: profiled
region: us-east-1
resources:
  vpc:
    kind: ec2.vpc
    properties: {cidr_block: 10.40.0.0/16}
  subnet:
    kind: ec2.subnet
    properties: {vpc_id: "${vpc.id}", availability_zone: us-east-1a, cidr_block: 10.40.1.0/24}
  role:
    kind: iam.role
    properties:
      name: profiled-app
      assume_role_policy:
        Statement:
          - {Effect: Allow, Principal: {Service: ec2.amazonaws.com}, Action: "sts:AssumeRole"}
  profile:
    kind: iam.instance_profile
    properties: {name: profiled-app, role: "${role.name}"}
  template:
    kind: ec2.launch_template
    properties:
      name: profiled-app
      image_id: ami-12c6146b
      instance_type: t3.micro
      iam_instance_profile: ${profile.name}
  app:
    kind: ec2.instance
    properties:
      launch_template_id: ${template.id}
      launch_template_version: ${template.latest_version}
      subnet_id: ${subnet.id}
"#;
    let s = w.write_stack("profiled.yaml", stack);
    let s = s.to_str().unwrap();
    w.run(&["apply", "-s", s, "--auto-approve"]).ok();
    assert!(
        w.layer().count("iam_lag RunInstances") >= 1,
        "{:?}",
        w.layer().stats()
    );
    let ec2 = w.ec2().await;
    let r = ec2
        .describe_instances()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:provision:stack")
                .values("profiled")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let n: usize = r.reservations().iter().map(|r| r.instances().len()).sum();
    assert_eq!(n, 1, "launched once");
    w.run(&["plan", "-s", s, "--detailed-exitcode"]).code(0);
    w.run(&["destroy", "-s", s, "--auto-approve"]).ok();
}

/// A backup vault holding recovery points: AWS refuses to delete it, and
/// provision never deletes backups. The destroy's plan says so before any
/// call (DescribeBackupVault counts them), the vault and the key its points
/// are encrypted with stay (in AWS and in state), the rest goes; once the
/// points are gone (expired), the next destroy finishes.
#[tokio::test]
async fn a_vault_holding_recovery_points_and_its_key_outlive_a_destroy() {
    let w = World::strict(Strict {
        in_use: true,
        ..Strict::default()
    });
    let stack = r#"
stack: vaulted
region: us-east-1
resources:
  key:
    kind: kms.key
    properties: {description: the court's backups, deletion_window_days: 7}
  vault:
    kind: backup.vault
    properties: {name: vaulted-backups, kms_key_id: "${key.arn}"}
  scratch:
    kind: s3.bucket
    properties: {bucket: vaulted-scratch}
"#;
    let s = w.write_stack("vaulted.yaml", stack);
    let s = s.to_str().unwrap();
    w.run(&["apply", "-s", s, "--auto-approve"]).ok();
    w.layer().hold_recovery_points("vaulted-backups", 3);
    w.run(&["destroy", "-s", s, "--auto-approve"])
        .code(1)
        .has("the vault holds 3 recovery points")
        .has("provision never deletes backups");
    let st = w.state("vaulted");
    assert!(
        st["resources"]["vault"].is_object(),
        "the vault stays in state"
    );
    assert!(st["resources"]["key"].is_object(), "its key too");
    assert!(st["resources"]["scratch"].is_null(), "the rest goes");
    let key = st["resources"]["key"]["id"].as_str().unwrap().to_string();
    let kms = w.kms().await;
    let d = kms.describe_key().key_id(&key).send().await.unwrap();
    assert_eq!(
        d.key_metadata().unwrap().key_state().unwrap().as_str(),
        "Enabled",
        "the points can still be decrypted"
    );
    assert_eq!(w.layer().count("in_use DeleteBackupVault"), 0, "never sent");
    // The premise: sent, AWS (the layer) refuses it.
    let layered = aws_sdk_backup::Client::new(&w.sdk_through_layer().await);
    let refused = layered
        .delete_backup_vault()
        .backup_vault_name("vaulted-backups")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_backup::error::ProvideErrorMetadata::code(&refused),
        Some("InvalidRequestException")
    );
    assert_eq!(w.layer().count("in_use DeleteBackupVault"), 1);

    // The points expired: the vault goes, then its key.
    w.layer().hold_recovery_points("vaulted-backups", 0);
    w.run(&["destroy", "-s", s, "--auto-approve"]).ok();
    let backup = aws_sdk_backup::Client::new(&w.sdk_in("us-east-1").await);
    let left = backup.list_backup_vaults().send().await.unwrap();
    assert!(
        left.backup_vault_list()
            .iter()
            .all(|v| v.backup_vault_name() != Some("vaulted-backups"))
    );
    let d = kms.describe_key().key_id(&key).send().await.unwrap();
    assert_eq!(
        d.key_metadata().unwrap().key_state().unwrap().as_str(),
        "PendingDeletion"
    );
}
