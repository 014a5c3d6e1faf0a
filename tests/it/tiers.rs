//! The application and data tiers against moto: ALB, target group, listener,
//! launch template, instances, Aurora, ElastiCache, EFS, S3.

use aws_sdk_ec2::types::Filter;

use crate::harness::World;

const NET: &str = r#"
stack: tiers
region: us-east-1
variables:
  azs: {default: [us-east-1a, us-east-1b]}
  image: {default: ami-11111111}
  scheme: {default: internet-facing}
  idle: {default: 60}
  protect: {default: false}
resources:
  vpc:
    kind: ec2.vpc
    properties: {cidr_block: 10.7.0.0/16}
  public:
    kind: ec2.subnet
    for_each: ${var.azs}
    properties: {vpc_id: "${vpc.id}", availability_zone: "${each.key}", cidr_block: "${cidrsubnet(vpc.cidr_block, 8, each.index)}"}
  private:
    kind: ec2.subnet
    for_each: ${var.azs}
    properties: {vpc_id: "${vpc.id}", availability_zone: "${each.key}", cidr_block: "${cidrsubnet(vpc.cidr_block, 8, each.index + 10)}"}
  alb_sg:
    kind: ec2.security_group
    properties: {name: alb, vpc_id: "${vpc.id}", ingress: [{port: 80, cidr_blocks: [0.0.0.0/0]}]}
  app_sg:
    kind: ec2.security_group
    properties: {name: app, vpc_id: "${vpc.id}", ingress: [{port: 8080, security_group_ids: ["${alb_sg.id}"]}]}
"#;

const APP: &str = r##"
  template:
    kind: ec2.launch_template
    properties:
      name: app
      image_id: ${var.image}
      instance_type: t3.micro
      security_group_ids: ["${app_sg.id}"]
      user_data: "#!/bin/sh\necho ready\n"
  app:
    kind: ec2.instance
    for_each: ${setproduct(var.azs, range(2))}
    properties:
      launch_template_id: ${template.id}
      launch_template_version: ${template.latest_version}
      subnet_id: ${private[each.value[0]].id}
  alb:
    kind: elbv2.load_balancer
    properties:
      name: tiers-alb
      scheme: ${var.scheme}
      subnet_ids: ${public[*].id}
      security_group_ids: ["${alb_sg.id}"]
      idle_timeout: ${var.idle}
      deletion_protection: ${var.protect}
      drop_invalid_headers: true
  tg:
    kind: elbv2.target_group
    properties:
      name: tiers-app
      port: 8080
      vpc_id: ${vpc.id}
      health_check_path: /health
      targets: ${app[*].id}
  http:
    kind: elbv2.listener
    properties:
      load_balancer_arn: ${alb.arn}
      port: 80
      forward_to: ${tg.arn}
"##;

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn load_balancer_and_instances_create_update_replace_recreate_and_delete() {
    let w = World::new();
    let s = w.write_stack("app.yaml", &format!("{NET}{APP}"));
    let s = s.to_str().unwrap();
    w.run(&["apply", "-s", s, "--auto-approve"])
        .ok()
        .has("Apply complete: 15 operations succeeded.");
    w.run(&["plan", "-s", s, "--detailed-exitcode"]).code(0);
    let st = w.state("tiers");
    let id =
        |st: &serde_json::Value, a: &str| st["resources"][a]["id"].as_str().unwrap().to_string();
    let elb = w.elbv2().await;
    let tg_arn = id(&st, "tg");
    let registered = |h: aws_sdk_elasticloadbalancingv2::operation::describe_target_health::DescribeTargetHealthOutput| {
        sorted(h.target_health_descriptions().iter().map(|d| d.target().unwrap().id().unwrap().to_string()).collect())
    };
    let old_instances = sorted(
        (0..2)
            .flat_map(|i| ["us-east-1a", "us-east-1b"].map(|az| id(&st, &format!("app[{az}-{i}]"))))
            .collect(),
    );
    assert_eq!(
        registered(
            elb.describe_target_health()
                .target_group_arn(&tg_arn)
                .send()
                .await
                .unwrap()
        ),
        old_instances
    );
    let attrs = elb
        .describe_load_balancer_attributes()
        .load_balancer_arn(id(&st, "alb"))
        .send()
        .await
        .unwrap();
    let attr = |k: &str| {
        attrs
            .attributes()
            .iter()
            .find(|a| a.key() == Some(k))
            .and_then(|a| a.value())
            .map(str::to_string)
    };
    assert_eq!(
        attr("routing.http.drop_invalid_header_fields.enabled").as_deref(),
        Some("true")
    );

    // In place: an ALB attribute. Replacement create-then-delete: a new image
    // makes a new template version; the target group moves to the new
    // instances before the old ones go.
    w.run(&[
        "plan",
        "-s",
        s,
        "--var",
        "idle=300",
        "--var",
        "image=ami-22222222",
    ])
    .ok()
    .has("~ idle_timeout = 60 -> 300")
    .has("+/- ec2.instance app[us-east-1a-0]")
    .has("Plan: 4 to add, 3 to change, 4 to destroy.");
    let out = w.run(&[
        "apply",
        "-s",
        s,
        "--var",
        "idle=300",
        "--var",
        "image=ami-22222222",
        "--auto-approve",
    ]);
    out.ok();
    let pos = |needle: &str| {
        out.stdout
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} not in {}", out.stdout))
    };
    assert!(
        pos("tg: updated") < pos("app[us-east-1a-0]: deleted"),
        "targets move before old instances go"
    );
    let st2 = w.state("tiers");
    let new_instances = sorted(
        (0..2)
            .flat_map(|i| {
                ["us-east-1a", "us-east-1b"].map(|az| id(&st2, &format!("app[{az}-{i}]")))
            })
            .collect(),
    );
    assert!(new_instances.iter().all(|i| !old_instances.contains(i)));
    assert_eq!(
        registered(
            elb.describe_target_health()
                .target_group_arn(&tg_arn)
                .send()
                .await
                .unwrap()
        ),
        new_instances
    );
    let ec2 = w.ec2().await;
    let alive = ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .values("running")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let running: Vec<String> = alive
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| i.instance_id().unwrap().to_string())
        .collect();
    assert!(
        old_instances.iter().all(|i| !running.contains(i)),
        "old instances terminated"
    );
    let lt = ec2
        .describe_launch_template_versions()
        .launch_template_id(id(&st2, "template"))
        .versions("$Latest")
        .send()
        .await
        .unwrap();
    assert_eq!(
        lt.launch_template_versions()[0]
            .launch_template_data()
            .unwrap()
            .image_id(),
        Some("ami-22222222")
    );
    let vars = ["--var", "idle=300", "--var", "image=ami-22222222"];
    let mut args = vec!["plan", "-s", s, "--detailed-exitcode"];
    args.extend(vars);
    w.run(&args).code(0);

    // Replacement: the scheme of the ALB. The listener and targets refer to
    // it, so the new ALB (its name suffixed while the old one has it) is
    // created first; the listener follows; the old ALB goes last.
    let mut args = vec![
        "apply",
        "-s",
        s,
        "--auto-approve",
        "--var",
        "scheme=internal",
    ];
    args.extend(vars);
    w.run(&args)
        .ok()
        .has("+/- elbv2.load_balancer alb")
        .has("-/+ elbv2.listener http")
        .has("3. delete alb (old)");
    let lbs = elb.describe_load_balancers().send().await.unwrap();
    assert_eq!(lbs.load_balancers().len(), 1);
    assert_eq!(
        lbs.load_balancers()[0].scheme().unwrap().as_str(),
        "internal"
    );

    // Deleted behind provision's back: created again.
    let st3 = w.state("tiers");
    elb.delete_listener()
        .listener_arn(id(&st3, "http"))
        .send()
        .await
        .unwrap();
    let mut args = vec![
        "plan",
        "-s",
        s,
        "--detailed-exitcode",
        "--var",
        "scheme=internal",
    ];
    args.extend(vars);
    w.run(&args)
        .code(2)
        .has("! http was deleted outside provision")
        .has("+ elbv2.listener http will be created");
    let mut args = vec![
        "apply",
        "-s",
        s,
        "--auto-approve",
        "--var",
        "scheme=internal",
    ];
    args.extend(vars);
    w.run(&args).ok();
    assert_eq!(
        elb.describe_listeners()
            .load_balancer_arn(id(&st3, "alb"))
            .send()
            .await
            .unwrap()
            .listeners()
            .len(),
        1
    );

    // Deletion protection stops destroy for the ALB and what it stands on.
    let mut args = vec![
        "apply",
        "-s",
        s,
        "--auto-approve",
        "--var",
        "scheme=internal",
        "--var",
        "protect=true",
    ];
    args.extend(vars);
    w.run(&args).ok();
    let mut args = vec![
        "destroy",
        "-s",
        s,
        "--auto-approve",
        "--var",
        "scheme=internal",
        "--var",
        "protect=true",
    ];
    args.extend(vars);
    w.run(&args)
        .code(1)
        .has("! cannot be deleted: deletion protection is on: set deletion_protection: false and apply first")
        .has("delete alb: cannot be deleted: deletion protection is on")
        .has("delete public[us-east-1a] (because delete alb failed)");
    assert_eq!(
        elb.describe_load_balancers()
            .send()
            .await
            .unwrap()
            .load_balancers()
            .len(),
        1
    );
    let mut args = vec![
        "apply",
        "-s",
        s,
        "--auto-approve",
        "--var",
        "scheme=internal",
    ];
    args.extend(vars);
    w.run(&args).ok();
    let mut args = vec![
        "destroy",
        "-s",
        s,
        "--auto-approve",
        "--var",
        "scheme=internal",
    ];
    args.extend(vars);
    w.run(&args).ok().has("Destroy complete");
    assert!(
        elb.describe_load_balancers()
            .send()
            .await
            .unwrap()
            .load_balancers()
            .is_empty()
    );
    assert!(
        elb.describe_target_groups()
            .send()
            .await
            .unwrap()
            .target_groups()
            .is_empty()
    );
    let owned = ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name("tag:provision:stack")
                .values("tiers")
                .build(),
        )
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .values("running")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(owned.reservations().is_empty());
}

const DATA: &str = r#"
  database:
    kind: ec2.subnet
    for_each: ${var.azs}
    properties: {vpc_id: "${vpc.id}", availability_zone: "${each.key}", cidr_block: "${cidrsubnet(vpc.cidr_block, 8, each.index + 20)}"}
  db_sg:
    kind: ec2.security_group
    properties: {name: db, vpc_id: "${vpc.id}", ingress: [{port: 3306, security_group_ids: ["${app_sg.id}"]}]}
  db_subnets:
    kind: rds.db_subnet_group
    properties: {name: tiers-db, subnet_ids: "${database[*].id}"}
  db:
    kind: rds.cluster
    properties:
      identifier: tiers-db
      db_subnet_group_name: ${db_subnets.name}
      vpc_security_group_ids: ["${db_sg.id}"]
      backup_retention_period: ${var.retention}
      deletion_protection: ${var.protect}
      skip_final_snapshot: false
  writer:
    kind: rds.instance
    properties: {identifier: tiers-writer, cluster_identifier: "${db.identifier}", instance_class: "${var.class}", availability_zone: us-east-1a, promotion_tier: 0}
  reader:
    kind: rds.instance
    depends_on: [writer]
    properties: {identifier: tiers-reader, cluster_identifier: "${db.identifier}", availability_zone: "${var.reader_az}"}
  efs:
    kind: efs.file_system
    properties: {transition_to_ia: "${var.ia}", backup: false}
  efs_target:
    kind: efs.mount_target
    for_each: ${var.azs}
    properties: {file_system_id: "${efs.id}", subnet_id: "${private[each.key].id}", security_group_ids: ["${app_sg.id}"]}
  docs:
    kind: s3.bucket
    properties:
      bucket: ${var.bucket}
      versioning: ${var.versioning}
      lifecycle_rules: [{id: old, noncurrent_expiration_days: 90}]
      force_destroy: ${var.force}
"#;

const DATA_VARS: &str = r#"
  retention: {default: 7}
  class: {default: db.r6g.large}
  reader_az: {default: us-east-1b}
  ia: {default: AFTER_30_DAYS}
  bucket: {default: tiers-docs-1}
  versioning: {default: true}
  force: {default: false}
"#;

#[tokio::test]
async fn aurora_efs_and_s3_create_update_replace_recreate_guard_and_delete() {
    let w = World::new();
    let net = NET.replace(
        "  protect: {default: false}\n",
        &format!("  protect: {{default: true}}{DATA_VARS}"),
    );
    let s = w.write_stack("data.yaml", &format!("{net}{DATA}"));
    let s = s.to_str().unwrap();
    w.run(&["apply", "-s", s, "--auto-approve"]).ok();
    w.run(&["plan", "-s", s, "--detailed-exitcode"]).code(0);
    let st = w.state("tiers");
    // No password anywhere: AWS keeps it in Secrets Manager.
    let state_text =
        std::fs::read_to_string(w.dir.path().join(".provision/tiers.state.json")).unwrap();
    assert!(!state_text.to_lowercase().contains("password"));
    assert!(
        st["resources"]["db"]["outputs"]["master_user_secret_arn"]
            .as_str()
            .unwrap()
            .contains("secret")
    );
    let rds = w.rds().await;
    let c = rds
        .describe_db_clusters()
        .db_cluster_identifier("tiers-db")
        .send()
        .await
        .unwrap();
    assert_eq!(c.db_clusters()[0].storage_encrypted(), Some(true));
    assert_eq!(c.db_clusters()[0].deletion_protection(), Some(true));
    assert_eq!(c.db_clusters()[0].db_cluster_members().len(), 2);

    // In place: retention, instance class, EFS lifecycle, bucket versioning.
    let upd = [
        "--var",
        "retention=14",
        "--var",
        "class=db.r6g.xlarge",
        "--var",
        "ia=AFTER_60_DAYS",
        "--var",
        "versioning=false",
    ];
    let mut args = vec!["plan", "-s", s];
    args.extend(upd);
    w.run(&args)
        .ok()
        .has("~ backup_retention_period = 7 -> 14")
        .has("~ instance_class = \"db.r6g.large\" -> \"db.r6g.xlarge\"")
        .has("~ transition_to_ia = \"AFTER_30_DAYS\" -> \"AFTER_60_DAYS\"")
        .has("~ versioning = true -> false")
        .has("Plan: 0 to add, 4 to change, 0 to destroy.");
    let mut args = vec!["apply", "-s", s, "--auto-approve"];
    args.extend(upd);
    w.run(&args).ok();
    let c = rds
        .describe_db_clusters()
        .db_cluster_identifier("tiers-db")
        .send()
        .await
        .unwrap();
    assert_eq!(c.db_clusters()[0].backup_retention_period(), Some(14));
    let mut args = vec!["plan", "-s", s, "--detailed-exitcode"];
    args.extend(upd);
    w.run(&args).code(0);

    // Replacement: the reader moves AZ; the bucket gets a new name.
    let mut args = vec![
        "apply",
        "-s",
        s,
        "--auto-approve",
        "--var",
        "reader_az=us-east-1a",
        "--var",
        "bucket=tiers-docs-2",
    ];
    args.extend(upd);
    w.run(&args)
        .ok()
        .has("-/+ rds.instance reader")
        .has("-/+ s3.bucket docs");
    let r = rds
        .describe_db_instances()
        .db_instance_identifier("tiers-reader")
        .send()
        .await
        .unwrap();
    assert_eq!(r.db_instances()[0].availability_zone(), Some("us-east-1a"));
    let s3 = w.s3().await;
    assert!(
        s3.head_bucket()
            .bucket("tiers-docs-1")
            .send()
            .await
            .is_err()
    );
    assert!(s3.head_bucket().bucket("tiers-docs-2").send().await.is_ok());
    let upd2: Vec<&str> = upd
        .iter()
        .copied()
        .chain([
            "--var",
            "reader_az=us-east-1a",
            "--var",
            "bucket=tiers-docs-2",
        ])
        .collect();

    // Deleted behind provision's back: a mount target and the bucket come back.
    let st = w.state("tiers");
    let efs = w.efs().await;
    efs.delete_mount_target()
        .mount_target_id(
            st["resources"]["efs_target[us-east-1b]"]["id"]
                .as_str()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    s3.delete_bucket()
        .bucket("tiers-docs-2")
        .send()
        .await
        .unwrap();
    let mut args = vec!["apply", "-s", s, "--auto-approve"];
    args.extend(upd2.iter().copied());
    w.run(&args)
        .ok()
        .has("+ efs.mount_target efs_target[us-east-1b] will be created")
        .has("+ s3.bucket docs will be created");
    assert!(s3.head_bucket().bucket("tiers-docs-2").send().await.is_ok());
    let fs_id = st["resources"]["efs"]["id"].as_str().unwrap();
    assert_eq!(
        efs.describe_mount_targets()
            .file_system_id(fs_id)
            .send()
            .await
            .unwrap()
            .mount_targets()
            .len(),
        2
    );

    // Guards: a protected cluster and a bucket with objects are not deleted.
    s3.put_object()
        .bucket("tiers-docs-2")
        .key("case-0001.pdf")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"%PDF"))
        .send()
        .await
        .unwrap();
    let mut args = vec!["destroy", "-s", s, "--auto-approve"];
    args.extend(upd2.iter().copied());
    w.run(&args)
        .code(1)
        .has(
            "db (tiers-db) will be destroyed\n      ! cannot be deleted: deletion protection is on",
        )
        .has("! cannot be deleted: the bucket still holds objects")
        .has("delete db: cannot be deleted: deletion protection is on");
    assert_eq!(
        rds.describe_db_clusters()
            .db_cluster_identifier("tiers-db")
            .send()
            .await
            .unwrap()
            .db_clusters()
            .len(),
        1
    );
    assert!(s3.head_bucket().bucket("tiers-docs-2").send().await.is_ok());
    // Turned off in the stack and applied, destroy goes through, with a final snapshot.
    let mut args = vec![
        "apply",
        "-s",
        s,
        "--auto-approve",
        "--var",
        "protect=false",
        "--var",
        "force=true",
    ];
    args.extend(upd2.iter().copied());
    w.run(&args).ok();
    let mut args = vec![
        "destroy",
        "-s",
        s,
        "--auto-approve",
        "--var",
        "protect=false",
        "--var",
        "force=true",
    ];
    args.extend(upd2.iter().copied());
    w.run(&args).ok().has("Destroy complete");
    assert!(
        rds.describe_db_clusters()
            .send()
            .await
            .unwrap()
            .db_clusters()
            .is_empty()
    );
    let snaps = rds.describe_db_cluster_snapshots().send().await.unwrap();
    assert!(
        snaps.db_cluster_snapshots().iter().any(|x| x
            .db_cluster_snapshot_identifier()
            .unwrap()
            .starts_with("tiers-db-final-")),
        "a final snapshot was taken"
    );
    assert!(
        s3.head_bucket()
            .bucket("tiers-docs-2")
            .send()
            .await
            .is_err()
    );
    assert!(
        efs.describe_file_systems()
            .send()
            .await
            .unwrap()
            .file_systems()
            .is_empty()
    );
}

const CACHE: &str = r#"
  cache_subnets:
    kind: elasticache.subnet_group
    properties: {name: tiers-cache, subnet_ids: "${private[*].id}"}
  cache:
    kind: elasticache.replication_group
    properties:
      id: tiers-cache
      node_type: ${var.node}
      replicas_per_node_group: ${var.replicas}
      subnet_group_name: ${cache_subnets.name}
      security_group_ids: ["${app_sg.id}"]
"#;

#[tokio::test]
async fn cache_create_update_and_planned_replacement() {
    let w = World::new();
    let net = NET.replace(
        "  protect: {default: false}\n",
        "  node: {default: cache.t4g.medium}\n  replicas: {default: 2}\n",
    );
    let s = w.write_stack("cache.yaml", &format!("{net}{CACHE}"));
    let s = s.to_str().unwrap();
    w.run(&["apply", "-s", s, "--auto-approve"]).ok();
    w.run(&["plan", "-s", s, "--detailed-exitcode"]).code(0);
    let ec = w.elasticache().await;
    let g = ec
        .describe_replication_groups()
        .replication_group_id("tiers-cache")
        .send()
        .await
        .unwrap();
    let g = &g.replication_groups()[0];
    assert_eq!(
        g.node_groups()[0].node_group_members().len(),
        3,
        "a primary and two replicas"
    );
    assert_eq!(g.transit_encryption_enabled(), Some(true));
    assert_eq!(g.at_rest_encryption_enabled(), Some(true));
    assert_eq!(g.multi_az().map(|m| m.as_str()), Some("enabled"));
    // In place: node type is planned as an update (moto lacks
    // ModifyReplicationGroup: the call is tested against a mocked AWS answer
    // in src/aws/mock_tests.rs).
    w.run(&["plan", "-s", s, "--var", "node=cache.r7g.large"])
        .ok()
        .has("~ node_type = \"cache.t4g.medium\" -> \"cache.r7g.large\"")
        .has("Plan: 0 to add, 1 to change, 0 to destroy.");
    // Tags are changed in place through ElastiCache's tagging calls, which moto has.
    w.edit(
        std::path::Path::new(s),
        "      id: tiers-cache\n",
        "      id: tiers-cache\n      tags: {Team: cache}\n",
    );
    w.run(&["apply", "-s", s, "--auto-approve"])
        .ok()
        .has("~ elasticache.replication_group cache");
    w.run(&["plan", "-s", s, "--detailed-exitcode"]).code(0);
    // Replacement is planned for a new replica count (moto never finishes a
    // deletion, so the apply of it is covered by the mocked AWS answers in
    // src/aws/mock_tests.rs).
    w.run(&["plan", "-s", s, "--var", "replicas=1"])
        .ok()
        .has("-/+ elasticache.replication_group cache")
        .has("~ replicas_per_node_group = 2 -> 1 # forces replacement");
}
