//! Operator controls against the emulator: --target, --replace,
//! --refresh-only, moved: and import: in the stack, show PLANFILE, state
//! backups and state push.

use crate::harness::World;

const BASE: &str = r#"
stack: ctl
region: us-east-1
resources:
  vpc:
    kind: ec2.vpc
    properties:
      cidr_block: 10.60.0.0/16
      tags: {Team: court}
  subnet:
    kind: ec2.subnet
    properties:
      vpc_id: ${vpc.id}
      availability_zone: us-east-1a
      cidr_block: 10.60.1.0/24
  sg:
    kind: ec2.security_group
    properties:
      name: app
      vpc_id: ${vpc.id}
  other:
    kind: ec2.vpc
    properties: {cidr_block: 10.61.0.0/16}
"#;

#[test]
fn target_applies_only_the_target_and_what_it_needs_with_a_warning() {
    let w = World::new();
    let s = w.write_stack("ctl.yaml", BASE);
    let s = s.to_str().unwrap();
    w.run(&["apply", "-s", s, "--auto-approve", "--target", "subnet"])
        .ok()
        .has("Warning: --target subnet: this plan covers only those and what they depend on")
        .has("+ ec2.vpc vpc will be created")
        .has("+ ec2.subnet subnet will be created")
        .lacks("ec2.security_group sg")
        .lacks("ec2.vpc other")
        .has("Apply complete: 2 operations succeeded.");
    let st = w.state("ctl");
    let addrs: Vec<&String> = st["resources"].as_object().unwrap().keys().collect();
    assert_eq!(addrs, ["subnet", "vpc"]);
    // The rest comes with the next full apply.
    w.run(&["plan", "-s", s])
        .ok()
        .has("Plan: 2 to add, 0 to change, 0 to destroy.");
    w.run(&["plan", "-s", s, "--target", "nothing"])
        .code(1)
        .has("--target nothing: no resource of the stack or its state has that address");
    w.run(&["destroy", "-s", s, "--auto-approve"]).ok();
}

#[tokio::test]
async fn replacing_an_unchanged_instance_never_empties_its_target_group() {
    let w = World::new();
    let s = w.write_stack(
        "lb.yaml",
        r#"
stack: lb
region: us-east-1
resources:
  vpc:
    kind: ec2.vpc
    properties: {cidr_block: 10.62.0.0/16}
  subnet:
    kind: ec2.subnet
    properties: {vpc_id: "${vpc.id}", availability_zone: us-east-1a, cidr_block: 10.62.1.0/24}
  template:
    kind: ec2.launch_template
    properties: {name: app, image_id: ami-12c6146b, instance_type: t3.micro}
  app:
    kind: ec2.instance
    for_each: [a, b]
    properties:
      launch_template_id: ${template.id}
      launch_template_version: ${template.latest_version}
      subnet_id: ${subnet.id}
  tg:
    kind: elbv2.target_group
    properties:
      name: app
      port: 8080
      vpc_id: ${vpc.id}
      targets: ${app[*].id}
"#,
    );
    let s = s.to_str().unwrap();
    w.run(&["apply", "-s", s, "--auto-approve"]).ok();
    let old = w.state("lb")["resources"]["app[a]"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The new instance is created and registered before the old one goes.
    let r = w.run(&["apply", "-s", s, "--auto-approve", "--replace", "app[a]"]);
    r.ok()
        .has("+/- ec2.instance app[a]")
        .has("# forces replacement")
        .has("Plan: 1 to add, 1 to change, 1 to destroy.");
    let order = r
        .stdout
        .split("Order of operations")
        .nth(1)
        .unwrap_or_default();
    let (create, update, delete) = (
        order.find("create app[a]").unwrap(),
        order.find("update tg").unwrap(),
        order.find("delete app[a] (old)").unwrap(),
    );
    assert!(create < update && update < delete, "{order}");
    let st = w.state("lb");
    let new = st["resources"]["app[a]"]["id"].as_str().unwrap();
    assert_ne!(new, old);
    let tg = st["resources"]["tg"]["outputs"]["arn"].as_str().unwrap();
    let health = w
        .elbv2()
        .await
        .describe_target_health()
        .target_group_arn(tg)
        .send()
        .await
        .unwrap();
    let ids: Vec<&str> = health
        .target_health_descriptions()
        .iter()
        .filter_map(|d| d.target()?.id())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&new) && !ids.contains(&old.as_str()));
    w.run(&["plan", "-s", s, "--detailed-exitcode"]).code(0);
    w.run(&["plan", "-s", s, "--replace", "nothing"])
        .code(1)
        .has("--replace nothing: no object of the stack is recorded at that address");
    w.run(&["destroy", "-s", s, "--auto-approve"]).ok();
}

#[tokio::test]
async fn refresh_only_accepts_a_hand_change_and_the_next_drift_is_clean() {
    let w = World::new();
    let s = w.write_stack("ctl.yaml", BASE);
    let s = s.to_str().unwrap();
    w.run(&["apply", "-s", s, "--auto-approve"]).ok();
    let vpc = w.state("ctl")["resources"]["vpc"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let tag = aws_sdk_ec2::types::Tag::builder()
        .key("Team")
        .value("registry")
        .build();
    w.ec2()
        .await
        .create_tags()
        .resources(&vpc)
        .tags(tag)
        .send()
        .await
        .unwrap();
    w.run(&["drift", "-s", s]).code(2);
    let before = w.state("ctl")["serial"].as_u64().unwrap();
    w.run(&["plan", "-s", s, "--refresh-only", "--detailed-exitcode"])
        .code(2)
        .has("~ ec2.vpc vpc (")
        .has("changed outside provision: accept it into state")
        .has("Team")
        .has("Plan: 1 to accept into state, 0 to forget; nothing in AWS is written.");
    let r = w.run(&[
        "apply",
        "-s",
        s,
        "--refresh-only",
        "--auto-approve",
        "--stats",
    ]);
    r.ok().has("vpc: accepted");
    // Nothing was written in AWS: only reads.
    assert!(
        !r.stderr.contains("CreateTags") && !r.stderr.contains("DeleteTags"),
        "{}",
        r.stderr
    );
    assert!(w.state("ctl")["serial"].as_u64().unwrap() > before);
    assert_eq!(
        w.state("ctl")["resources"]["vpc"]["properties"]["tags"]["Team"],
        "registry"
    );
    w.run(&["drift", "-s", s]).code(0);
    // The stack still says court: a normal plan puts it back.
    w.run(&["plan", "-s", s])
        .ok()
        .has("~ ec2.vpc vpc")
        .has("\"registry\" -> \"court\"");
    w.run(&["destroy", "-s", s, "--auto-approve"]).ok();
}

#[test]
fn a_moved_block_moves_a_resource_into_a_module_without_replacing_it() {
    let w = World::new();
    let d = w.dir.path().join("modules/net");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("main.yaml"),
        "variables:\n  cidr: {type: string}\nresources:\n  vpc:\n    kind: ec2.vpc\n    properties: {cidr_block: \"${var.cidr}\"}\n",
    )
    .unwrap();
    let s = w.write_stack(
        "mv.yaml",
        "stack: mv\nregion: us-east-1\nresources:\n  vpc:\n    kind: ec2.vpc\n    properties: {cidr_block: 10.63.0.0/16}\n",
    );
    let s = s.to_str().unwrap();
    w.run(&["apply", "-s", s, "--auto-approve"]).ok();
    let id = w.state("mv")["resources"]["vpc"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::write(
        s,
        r#"
stack: mv
region: us-east-1
moved:
  - {from: vpc, to: module.net.vpc}
modules:
  net:
    source: ./modules/net
    inputs: {cidr: 10.63.0.0/16}
"#,
    )
    .unwrap();
    w.run(&["plan", "-s", s, "--detailed-exitcode"])
        .code(2)
        .has("vpc has moved to module.net.vpc")
        .has("Plan: 0 to add, 0 to change, 0 to destroy, 1 moved.")
        .lacks("will be created");
    w.run(&["apply", "-s", s, "--auto-approve"]).ok();
    assert_eq!(
        w.state("mv")["resources"]["module.net.vpc"]["id"],
        id.as_str()
    );
    // The block stays, as a record: the next plan has nothing to do.
    w.run(&["plan", "-s", s, "--detailed-exitcode"]).code(0);
    // A move onto an address state already holds is refused.
    let text = std::fs::read_to_string(s).unwrap();
    std::fs::write(
        s,
        text.replace(
            "modules:",
            "resources:\n  vpc:\n    kind: ec2.vpc\n    properties: {cidr_block: 10.64.0.0/16}\nmodules:",
        )
        .replace("{from: vpc, to: module.net.vpc}", "{from: module.net.vpc, to: vpc}"),
    )
    .unwrap();
    w.run(&["apply", "-s", s, "--auto-approve"]).ok();
    w.edit(
        std::path::Path::new(s),
        "{from: module.net.vpc, to: vpc}",
        "{from: vpc, to: module.net.vpc}",
    );
    w.run(&["plan", "-s", s])
        .code(1)
        .has("moved: cannot move vpc to module.net.vpc: state already records an object there");
}

#[tokio::test]
async fn an_import_block_brings_in_a_bucket_made_by_hand() {
    let w = World::new();
    w.s3()
        .await
        .create_bucket()
        .bucket("court-archive")
        .send()
        .await
        .unwrap();
    let s = w.write_stack(
        "imp.yaml",
        r#"
stack: imp
region: us-east-1
import:
  - {to: archive, id: court-archive}
resources:
  archive:
    kind: s3.bucket
    properties:
      bucket: court-archive
      versioning: true
"#,
    );
    let s = s.to_str().unwrap();
    w.run(&["plan", "-s", s])
        .ok()
        .has("<= s3.bucket archive (court-archive) will be imported, then updated in place")
        .has("~ versioning")
        .has("1 to import");
    w.run(&["apply", "-s", s, "--auto-approve"])
        .ok()
        .has("archive: imported");
    let st = w.state("imp");
    assert_eq!(st["resources"]["archive"]["imported"], true);
    assert_eq!(st["resources"]["archive"]["properties"]["versioning"], true);
    let v = w
        .s3()
        .await
        .get_bucket_versioning()
        .bucket("court-archive")
        .send()
        .await
        .unwrap();
    assert_eq!(v.status().map(|s| s.as_str()), Some("Enabled"));
    w.run(&["plan", "-s", s, "--detailed-exitcode"]).code(0);
    // An imported object is never deleted: destroy forgets it.
    w.run(&["destroy", "-s", s, "--auto-approve"]).ok();
    w.s3()
        .await
        .head_bucket()
        .bucket("court-archive")
        .send()
        .await
        .unwrap();
    // An id that does not exist is a named error, before any write.
    w.edit(
        std::path::Path::new(s),
        "id: court-archive",
        "id: no-such-bucket",
    );
    w.run(&["plan", "-s", s])
        .code(1)
        .has("import archive: there is no s3.bucket with id no-such-bucket");
}

#[test]
fn a_saved_plan_is_shown_again_without_aws() {
    let w = World::new();
    let s = w.write_stack("ctl.yaml", BASE);
    let s = s.to_str().unwrap();
    let pf = w.dir.path().join("ctl.plan");
    let pf = pf.to_str().unwrap();
    w.run(&["plan", "-s", s, "-o", pf]).ok();
    // No endpoint at all: show reads the file only.
    let r = w
        .command(&["show", pf])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .map(crate::harness::Run::from)
        .unwrap();
    r.ok()
        .has("Saved plan of")
        .has("+ ec2.vpc vpc will be created")
        .has("Plan: 4 to add, 0 to change, 0 to destroy.");
    let j = w.run(&["show", pf, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&j.ok().stdout).unwrap();
    assert_eq!(v["summary"]["add"], 4);
    assert_eq!(v["saved"]["serial"], 0);
}

#[test]
fn every_state_write_keeps_the_one_before_and_push_restores_it() {
    let w = World::new();
    let s = w.write_stack("ctl.yaml", BASE);
    let s = s.to_str().unwrap();
    w.run(&["apply", "-s", s, "--auto-approve", "--target", "vpc"])
        .ok();
    let path = w.dir.path().join(".provision/ctl.state.json");
    let backup = w.dir.path().join(".provision/ctl.state.json.backup");
    let prev: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&backup).unwrap()).unwrap();
    let now = w.state("ctl");
    // The whole state before the last whole write (the run's first, which
    // recorded the create as begun; the record of its end went to the
    // journal, folded in by the last).
    assert!(prev["serial"].as_u64().unwrap() < now["serial"].as_u64().unwrap());
    assert!(prev["creating"]["vpc"].is_object(), "{prev}");
    assert!(prev["resources"].as_object().unwrap().is_empty(), "{prev}");
    // A state broken by hand says so, and names the backup and how to restore it.
    std::fs::write(&path, "{\"version\": 1, \"lineage\": ").unwrap();
    w.run(&["plan", "-s", s])
        .code(1)
        .has("is not valid")
        .has("ctl.state.json.backup (serial")
        .has("provision state push");
    // Without --force, a broken state is not replaced.
    let b = backup.to_str().unwrap().to_string();
    w.run(&["state", "push", &b, "-s", s]).code(1);
    w.run(&["state", "push", &b, "-s", s, "--force"])
        .ok()
        .has("Pushed");
    // The write before the last recorded the VPC's create as begun: the
    // plan finds what it made by its ownership and takes it back.
    w.run(&["plan", "-s", s, "--target", "vpc"])
        .ok()
        .has("= ec2.vpc vpc")
        .has("will be adopted");
    w.run(&["apply", "-s", s, "--auto-approve", "--target", "vpc"])
        .ok();
    w.run(&["state", "list", "-s", s]).ok().has("vpc");
    // Another lineage's state, or an older serial, is refused without --force.
    let mut other = w.state("ctl");
    other["lineage"] = serde_json::json!("another");
    let f = w.dir.path().join("other.json");
    std::fs::write(&f, other.to_string()).unwrap();
    w.run(&["state", "push", f.to_str().unwrap(), "-s", s])
        .code(1)
        .has("another state's; --force pushes it anyway");
    let mut old = w.state("ctl");
    old["serial"] = serde_json::json!(0);
    std::fs::write(&f, old.to_string()).unwrap();
    w.run(&["state", "push", f.to_str().unwrap(), "-s", s])
        .code(1)
        .has("pushing it would go back");
    w.run(&["destroy", "-s", s, "--auto-approve"]).ok();
}

#[test]
fn a_deny_rule_stops_the_apply_before_any_write() {
    let w = World::new();
    let s = w.write_stack(
        "pol.yaml",
        r#"
stack: pol
region: us-east-1
policy:
  - name: vpcs-are-tagged
    kinds: [ec2.vpc]
    level: warn
    condition: ${lookup(props.tags, "Team", "") != ""}
    message: every VPC says which team runs it
resources:
  vpc:
    kind: ec2.vpc
    properties: {cidr_block: 10.65.0.0/16}
  admin:
    kind: ec2.security_group
    properties:
      name: admin
      vpc_id: ${vpc.id}
      ingress:
        - {port: 22, cidr_blocks: [0.0.0.0/0], description: ssh from anywhere}
  docs:
    kind: s3.bucket
    properties: {bucket: court-docs-policy, sse_algorithm: AES256, block_public_access: true}
"#,
    );
    let s = s.to_str().unwrap();
    // The stack's own rule warns; the plan goes on.
    w.run(&["plan", "-s", s])
        .ok()
        .has("? warning by vpcs-are-tagged: vpc: every VPC says which team runs it");
    // With the baseline, SSH open to the internet is denied: plan says so
    // and exits 1; apply refuses before any call that writes.
    w.run(&["plan", "-s", s, "--policy", "baseline", "--json"])
        .code(1)
        .has("\"policy_violations\"")
        .has("baseline/no-admin-ports-to-the-internet");
    let r = w.run(&[
        "apply",
        "-s",
        s,
        "--auto-approve",
        "--policy",
        "baseline",
        "--stats",
    ]);
    r.code(1)
        .has("! denied by baseline/no-admin-ports-to-the-internet: admin: port 22 is open to 0.0.0.0/0")
        .has("nothing was applied")
        // The plan's reads are counted, so the absence of writes means something.
        .has("API calls:")
        .has("EC2 DescribeVpcs");
    for write in ["Create", "Put", "Authorize", "Modify"] {
        assert!(
            !r.stderr
                .lines()
                .any(|l| l.trim_start().contains(&format!(" {write}"))),
            "a write was made: {}",
            r.stderr
        );
    }
    // A policy file works as the stack's rules do; its mistakes are positioned.
    std::fs::write(
        w.dir.path().join("rules.yaml"),
        "- name: no-ssh\n  kinds: [ec2.security_group]\n  condition: ${length(props.ingress) == 0}\n  message: no inbound rules at all\n",
    )
    .unwrap();
    w.run(&["plan", "-s", s, "--policy", "rules.yaml"])
        .code(1)
        .has("! denied by no-ssh: admin: no inbound rules at all");
    std::fs::write(
        w.dir.path().join("bad.yaml"),
        "- name: broken\n  condition: ${props.x ==}\n  message: m\n",
    )
    .unwrap();
    w.run(&["plan", "-s", s, "--policy", "bad.yaml"])
        .code(1)
        .has("bad.yaml:2:");
}
