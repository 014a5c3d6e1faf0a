//! Composition against the emulator: outputs, modules (twice with
//! `for_each`, changed, shrunk, destroyed; a resource moved into one),
//! environments side by side, a stack reading another's outputs from S3
//! state, and every data source.

use crate::harness::World;

/// A module of a VPC and a subnet per zone, with outputs.
const NET: &str = r#"
variables:
  cidr: {type: string}
  zones: {type: list(string), default: [us-east-1a, us-east-1b]}
  label: {type: string, default: net}
resources:
  vpc:
    kind: ec2.vpc
    properties:
      cidr_block: ${var.cidr}
      tags: {Label: "${var.label}"}
  subnet:
    kind: ec2.subnet
    for_each: ${var.zones}
    properties:
      vpc_id: ${vpc.id}
      availability_zone: ${each.key}
      cidr_block: ${cidrsubnet(var.cidr, 8, each.index)}
outputs:
  vpc_id: {value: "${vpc.id}"}
  subnet_ids: {value: "${subnet[*].id}"}
"#;

fn module(w: &World, dir: &str, text: &str) {
    let d = w.dir.path().join(dir);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("main.yaml"), text).unwrap();
}

#[test]
fn outputs_are_recorded_printed_and_read_back() {
    let w = World::new();
    let s = w.write_stack(
        "out.yaml",
        r#"
stack: out
region: us-east-1
resources:
  vpc:
    kind: ec2.vpc
    properties: {cidr_block: 10.7.0.0/16}
outputs:
  vpc_id:
    value: ${vpc.id}
    description: The VPC.
  block: {value: "${vpc.cidr_block}"}
  secret: {value: "hunter2-${vpc.id}", sensitive: true}
"#,
    );
    let s = s.to_str().unwrap();
    w.run(&["plan", "-s", s])
        .ok()
        .has("Changes to outputs:")
        .has("+ block  = \"10.7.0.0/16\"")
        .has("+ secret = (sensitive)")
        .has("+ vpc_id = (known after apply)");
    let r = w.run(&["apply", "-s", s, "--auto-approve"]);
    r.ok()
        .has("Outputs:")
        .has("secret = (sensitive)")
        .lacks("hunter2");
    let st = w.state("out");
    let vpc = st["resources"]["vpc"]["id"].as_str().unwrap().to_string();
    assert_eq!(st["outputs"]["vpc_id"]["value"], vpc.as_str());
    assert_eq!(st["outputs"]["secret"]["sensitive"], true);
    // One raw value for scripts; all of them as JSON; masked in the list.
    let one = w.run(&["output", "vpc_id", "-s", s]);
    assert_eq!(one.ok().stdout.trim(), vpc);
    let all: serde_json::Value =
        serde_json::from_str(&w.run(&["output", "--json", "-s", s]).stdout).unwrap();
    assert_eq!(all["block"], "10.7.0.0/16");
    assert_eq!(all["secret"], format!("hunter2-{vpc}"));
    w.run(&["output", "-s", s])
        .ok()
        .has("secret = (sensitive)")
        .lacks("hunter2");
    w.run(&["output", "nope", "-s", s])
        .code(1)
        .has("no output `nope`");
    // Nothing changed: no output changes either.
    w.run(&["plan", "-s", s, "--detailed-exitcode"]).code(0);
    // A new output alone is a change (apply records it), masked in JSON plans too.
    w.edit(
        std::path::Path::new(s),
        "  block: {value: \"${vpc.cidr_block}\"}",
        "  block: {value: \"${vpc.cidr_block}\"}\n  other: {value: \"x-${vpc.id}\", sensitive: true}",
    );
    let j = w.run(&["plan", "-s", s, "--json", "--detailed-exitcode"]);
    j.code(2).lacks(&format!("x-{vpc}"));
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(v["output_changes"][0]["name"], "other");
    assert_eq!(v["output_changes"][0]["after"], "(sensitive)");
    w.run(&["apply", "-s", s, "--auto-approve"]).ok();
    assert_eq!(
        w.state("out")["outputs"]["other"]["value"],
        format!("x-{vpc}")
    );
    w.run(&["destroy", "-s", s, "--auto-approve"]).ok();
    assert!(
        w.state("out").get("outputs").is_none(),
        "destroy clears the outputs"
    );
}

#[tokio::test]
async fn a_module_used_twice_is_planned_applied_changed_shrunk_and_destroyed() {
    let w = World::new();
    module(&w, "modules/net", NET);
    let s = w.write_stack(
        "two.yaml",
        r#"
stack: two
region: us-east-1
variables:
  nets:
    type: map(string)
    default: {a: 10.11.0.0/16, b: 10.12.0.0/16}
modules:
  net:
    source: ./modules/net
    for_each: ${var.nets}
    inputs:
      cidr: ${each.value}
      label: lab-${each.key}
resources:
  sg:
    kind: ec2.security_group
    properties:
      name: shared
      vpc_id: ${module.net["a"].vpc_id}
outputs:
  subnets: {value: "${module.net[*].subnet_ids}"}
"#,
    );
    let s = s.to_str().unwrap();
    w.run(&["apply", "-s", s, "--auto-approve"])
        .ok()
        .has("+ ec2.vpc module.net[a].vpc will be created")
        .has("+ ec2.subnet module.net[b].subnet[us-east-1b] will be created")
        .has("Apply complete: 7 operations succeeded.");
    let st = w.state("two");
    let addrs: Vec<&String> = st["resources"].as_object().unwrap().keys().collect();
    assert!(
        addrs.contains(&&"module.net[a].subnet[us-east-1a]".to_string()),
        "{addrs:?}"
    );
    // The security group is in module.net[a]'s VPC: the dependency crossed the module.
    let vpc_a = st["resources"]["module.net[a].vpc"]["id"].as_str().unwrap();
    assert_eq!(st["resources"]["sg"]["properties"]["vpc_id"], vpc_a);
    assert_eq!(
        st["resources"]["sg"]["dependencies"][0],
        "module.net[a].vpc"
    );
    // The ownership tag names the module address; EC2 has it.
    let vpcs = w
        .ec2()
        .await
        .describe_vpcs()
        .vpc_ids(vpc_a)
        .send()
        .await
        .unwrap();
    let tags = vpcs.vpcs()[0].tags();
    assert!(tags.iter().any(|t| t.key() == Some("provision:address") && t.value() == Some("module.net/a/.vpc")), "{tags:?}");
    w.run(&["plan", "-s", s, "--detailed-exitcode"]).code(0);
    // One copy's input changes: only its VPC is updated.
    w.edit(
        std::path::Path::new(s),
        "label: lab-${each.key}",
        "label: \"${each.key == \\\"b\\\" ? \\\"blue\\\" : \\\"lab-a\\\"}\"",
    );
    w.run(&["apply", "-s", s, "--auto-approve"])
        .ok()
        .has("~ ec2.vpc module.net[b].vpc")
        .lacks("module.net[a].vpc (")
        .has("Plan: 0 to add, 1 to change, 0 to destroy.");
    // A copy removed from for_each is destroyed, subnets before their VPC.
    w.run(&[
        "apply",
        "-s",
        s,
        "--auto-approve",
        "--var",
        "nets={a: 10.11.0.0/16}",
    ])
    .ok()
    .has("- ec2.vpc module.net[b].vpc")
    .has("Plan: 0 to add, 0 to change, 3 to destroy.");
    w.run(&["state", "list", "-s", s])
        .ok()
        .lacks("module.net[b]");
    w.run(&[
        "destroy",
        "-s",
        s,
        "--auto-approve",
        "--var",
        "nets={a: 10.11.0.0/16}",
    ])
    .ok();
    let left = w
        .ec2()
        .await
        .describe_vpcs()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:provision:stack")
                .values("two")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(left.vpcs().is_empty());
}

#[test]
fn a_resource_moved_into_a_module_is_moved_not_replaced() {
    let w = World::new();
    module(&w, "modules/net", NET);
    let s = w.write_stack(
        "mv.yaml",
        r#"
stack: mv
region: us-east-1
resources:
  vpc:
    kind: ec2.vpc
    properties:
      cidr_block: 10.21.0.0/16
      tags: {Label: net}
"#,
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
modules:
  net:
    source: ./modules/net
    inputs: {cidr: 10.21.0.0/16, zones: []}
"#,
    )
    .unwrap();
    // Without the move, the plan would replace it: one to add, one to destroy.
    w.run(&["plan", "-s", s])
        .ok()
        .has("1 to add, 0 to change, 1 to destroy");
    w.run(&["state", "mv", "vpc", "module.net.vpc", "-s", s])
        .ok();
    w.run(&["plan", "-s", s, "--detailed-exitcode"])
        .code(0)
        .has("No changes.");
    assert_eq!(
        w.state("mv")["resources"]["module.net.vpc"]["id"],
        id.as_str()
    );
    w.run(&["destroy", "-s", s, "--auto-approve"]).ok();
}

#[tokio::test]
async fn staging_and_production_keep_their_own_state_and_objects() {
    let w = World::new();
    module(&w, "modules/net", NET);
    std::fs::create_dir_all(w.dir.path().join("env")).unwrap();
    std::fs::write(
        w.dir.path().join("env/staging.yaml"),
        "cidr: 10.31.0.0/16\nzones: [us-east-1a]\n",
    )
    .unwrap();
    std::fs::write(
        w.dir.path().join("env/production.yaml"),
        "cidr: 10.32.0.0/16\n",
    )
    .unwrap();
    let s = w.write_stack(
        "envs.yaml",
        r#"
stack: envs
region: us-east-1
variables:
  cidr: {type: string}
  zones: {type: list(string), default: [us-east-1a, us-east-1b]}
modules:
  net:
    source: ./modules/net
    inputs: {cidr: "${var.cidr}", zones: "${var.zones}"}
outputs:
  vpc: {value: "${module.net.vpc_id}"}
"#,
    );
    let s = s.to_str().unwrap();
    w.run(&["apply", "-s", s, "-e", "staging", "--auto-approve"])
        .ok()
        .has("Apply complete: 2 operations succeeded.");
    w.run(&["apply", "-s", s, "-e", "production", "--auto-approve"])
        .ok()
        .has("Apply complete: 3 operations succeeded.");
    let dir = w.dir.path().join(".provision");
    let staging: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("envs.staging.state.json")).unwrap(),
    )
    .unwrap();
    let production: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("envs.production.state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(staging["stack"], "envs:staging");
    assert_ne!(staging["outputs"]["vpc"], production["outputs"]["vpc"]);
    // Each sees its own objects only: no change, nothing of the other's unclaimed.
    for env in ["staging", "production"] {
        w.run(&["plan", "-s", s, "-e", env, "--detailed-exitcode"])
            .code(0)
            .lacks("another state");
        w.run(&["drift", "-s", s, "-e", env]).code(0);
    }
    // The objects carry the environment in their ownership tag.
    let ec2 = w.ec2().await;
    let owned = |v: &str| {
        aws_sdk_ec2::types::Filter::builder()
            .name("tag:provision:stack")
            .values(v)
            .build()
    };
    let st = ec2
        .describe_vpcs()
        .filters(owned("envs:staging"))
        .send()
        .await
        .unwrap();
    assert_eq!(st.vpcs().len(), 1);
    // Destroying staging leaves production whole.
    w.run(&["destroy", "-s", s, "-e", "staging", "--auto-approve"])
        .ok();
    w.run(&["plan", "-s", s, "-e", "production", "--detailed-exitcode"])
        .code(0);
    let prod = ec2
        .describe_vpcs()
        .filters(owned("envs:production"))
        .send()
        .await
        .unwrap();
    assert_eq!(prod.vpcs().len(), 1);
    w.run(&["destroy", "-s", s, "-e", "production", "--auto-approve"])
        .ok();
    // An environment without its file is an error that says where it looked.
    w.run(&["plan", "-s", s, "-e", "qa"])
        .code(1)
        .has("there is no")
        .has("env/qa.yaml");
}

#[tokio::test]
async fn a_consumer_reads_the_producers_outputs_from_s3_state() {
    let w = World::new();
    w.s3()
        .await
        .create_bucket()
        .bucket("shared-state")
        .send()
        .await
        .unwrap();
    let producer = w.write_stack(
        "producer.yaml",
        r#"
stack: producer
region: us-east-1
backend: {bucket: shared-state, key: producer/state.json}
variables:
  label: {type: string, default: one}
resources:
  vpc:
    kind: ec2.vpc
    properties: {cidr_block: 10.41.0.0/16}
outputs:
  vpc_id: {value: "${vpc.id}"}
  label: {value: "${var.label}"}
"#,
    );
    let p = producer.to_str().unwrap();
    w.run(&["apply", "-s", p, "--auto-approve"]).ok();
    let consumer = w.write_stack(
        "consumer.yaml",
        r#"
stack: consumer
region: us-east-1
stacks:
  net:
    state: s3://shared-state/producer/state.json
resources:
  sg:
    kind: ec2.security_group
    properties:
      name: integration
      vpc_id: ${stack.net.vpc_id}
      tags: {Label: "${stack.net.label}"}
"#,
    );
    let c = consumer.to_str().unwrap();
    w.run(&["apply", "-s", c, "--auto-approve"]).ok();
    let st = w.state("consumer");
    let vpc = st["upstream"]["net"]["vpc_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(st["resources"]["sg"]["properties"]["vpc_id"], vpc.as_str());
    w.run(&["plan", "-s", c, "--detailed-exitcode"]).code(0);
    // The producer's output changes: the consumer's plan says so, and plans against it.
    w.run(&["apply", "-s", p, "--auto-approve", "--var", "label=two"])
        .ok();
    w.run(&["plan", "-s", c, "--detailed-exitcode"])
        .code(2)
        .has("Outputs of the stacks this one reads changed")
        .has("~ stack.net.label: \"one\" -> \"two\"")
        .has("~ ec2.security_group sg");
    w.run(&["drift", "-s", c, "--json"])
        .code(2)
        .has("\"class\": \"upstream\"");
    w.run(&["apply", "-s", c, "--auto-approve"]).ok();
    w.run(&["plan", "-s", c, "--detailed-exitcode"]).code(0);
    // An output it does not record, and a state that is not there, are errors before any AWS call.
    w.edit(&consumer, "${stack.net.label}", "${stack.net.lable}");
    w.run(&["plan", "-s", c])
        .code(1)
        .has("consumer.yaml:13:")
        .has("stack `net` has no output `lable`, did you mean `label`?");
    w.edit(&consumer, "${stack.net.lable}", "${stack.net.label}");
    w.edit(&consumer, "producer/state.json", "nobody/state.json");
    w.run(&["plan", "-s", c])
        .code(1)
        .has("stack `net`: cannot read its state s3://shared-state/nobody/state.json: there is no state there");
    w.edit(&consumer, "nobody/state.json", "producer/state.json");
    w.run(&["destroy", "-s", c, "--auto-approve"]).ok();
    w.run(&["destroy", "-s", p, "--auto-approve"]).ok();
}

#[tokio::test]
async fn every_data_source_reads_from_the_emulator() {
    let w = World::new();
    let ec2 = w.ec2().await;
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.51.0.0/16")
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Vpc)
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key("Team")
                        .value("registry")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    for (cidr, az) in [
        ("10.51.1.0/24", "us-east-1a"),
        ("10.51.2.0/24", "us-east-1b"),
    ] {
        ec2.create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(cidr)
            .availability_zone(az)
            .send()
            .await
            .unwrap();
    }
    let s = w.write_stack(
        "data.yaml",
        r#"
stack: data
region: us-east-1
data:
  zones: {kind: ec2.availability_zones}
  image:
    kind: ec2.ami
    properties: {owners: [amazon], name: "amzn2-ami-*"}
  latest:
    kind: ssm.parameter
    properties: {name: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64}
  net:
    kind: ec2.vpc
    properties: {tags: {Team: registry}}
  subnets:
    kind: ec2.subnets
    properties: {vpc_id: "${data.net.id}"}
  me: {kind: sts.caller_identity}
  unused: {kind: ec2.vpc, properties: {tags: {Team: nobody}}}
outputs:
  zones: {value: "${data.zones.names}"}
  image: {value: "${data.image.id}"}
  latest: {value: "${data.latest.value}"}
  vpc: {value: "${data.net.id}"}
  subnets: {value: "${data.subnets.ids}"}
  account: {value: "${data.me.account_id}"}
"#,
    );
    let s = s.to_str().unwrap();
    let r = w.run(&["apply", "-s", s, "--auto-approve", "--stats"]);
    r.ok();
    let o = &w.state("data")["outputs"];
    assert_eq!(o["zones"]["value"][0], "us-east-1a");
    assert!(
        o["image"]["value"].as_str().unwrap().starts_with("ami-"),
        "{o}"
    );
    assert!(
        o["latest"]["value"].as_str().unwrap().starts_with("ami-"),
        "{o}"
    );
    assert_eq!(o["vpc"]["value"], vpc_id.as_str());
    assert_eq!(o["subnets"]["value"].as_array().unwrap().len(), 2);
    assert_eq!(o["account"]["value"], "123456789012");
    // Each data source read once; the one nothing refers to, never.
    r.has("DescribeAvailabilityZones            1")
        .has("GetParameter                         1")
        .has("GetCallerIdentity                    1")
        .has("DescribeVpcs                         1");
    // Finding nothing is an error naming the data source.
    w.edit(
        std::path::Path::new(s),
        "vpc: {value: \"${data.net.id}\"}",
        "vpc: {value: \"${data.unused.id}\"}",
    );
    w.run(&["plan", "-s", s])
        .code(1)
        .has("data.unused (ec2.vpc): ec2.vpc found no VPC");
}

#[test]
fn var_files_are_checked_where_they_are_written_and_var_wins() {
    let w = World::new();
    let s = w.write_stack(
        "v.yaml",
        "stack: v\nvariables:\n  n: {type: number, default: 1}\n  name: {type: string, default: a}\n",
    );
    let s = s.to_str().unwrap();
    std::fs::write(w.dir.path().join("one.yaml"), "n: 2\nname: b\n").unwrap();
    std::fs::write(w.dir.path().join("two.yaml"), "n: lots\n").unwrap();
    std::fs::write(w.dir.path().join("typo.yaml"), "nme: c\n").unwrap();
    w.run(&["validate", "-s", s, "--var-file", "one.yaml"]).ok();
    w.run(&[
        "validate",
        "-s",
        s,
        "--var-file",
        "one.yaml",
        "--var-file",
        "two.yaml",
    ])
    .code(1)
    .has("two.yaml:1:4: var.n (from two.yaml) must be number, found \"lots\"");
    // --var wins over the files.
    w.run(&[
        "validate",
        "-s",
        s,
        "--var-file",
        "two.yaml",
        "--var",
        "n=3",
    ])
    .ok();
    w.run(&["validate", "-s", s, "--var-file", "typo.yaml"])
        .code(1)
        .has("typo.yaml:1:1: the stack declares no variable `nme`, did you mean `name`?");
}

#[test]
fn the_reference_stack_plans_as_staging_and_as_production() {
    let w = World::new();
    let s = w.stack_from("stacks/three-az.yaml");
    let s = s.to_str().unwrap();
    let prod = w.run(&[
        "plan",
        "-s",
        s,
        "-e",
        "production",
        "--var",
        "health_check=false",
        "--var",
        "alarms=false",
    ]);
    prod.ok()
        .has("ec2.nat_gateway module.network.nat[us-east-1b] will be created")
        .has("elasticache.replication_group module.data.cache will be created")
        .has("guardduty.detector module.edge.guardduty will be created")
        .has("\"eproc-alb\"")
        .has("provision:stack   = \"three-az:production\"");
    let staging = w.run(&[
        "plan",
        "-s",
        s,
        "-e",
        "staging",
        "--var",
        "health_check=false",
        "--var",
        "alarms=false",
    ]);
    staging
        .ok()
        .has("ec2.nat_gateway module.network.nat[us-east-1a] will be created")
        .lacks("module.network.nat[us-east-1b]")
        .lacks("elasticache")
        .lacks("guardduty.detector")
        .has("\"eproc-stg-alb\"")
        .has("Environment       = \"staging\"");
    // Both read the zones and the current image, once each.
    let r = w.run(&[
        "plan",
        "-s",
        s,
        "-e",
        "staging",
        "--var",
        "health_check=false",
        "--var",
        "alarms=false",
        "--stats",
    ]);
    r.ok()
        .has("DescribeAvailabilityZones            1")
        .has("GetParameter                         1");
}
