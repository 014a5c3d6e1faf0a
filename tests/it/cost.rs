//! What a refresh costs does not grow with what else is in the account: a
//! no-change plan makes the same calls with more than a page of unrelated
//! objects of the same kinds beside the stack's (subnet groups, replication
//! groups, file systems; health checks and Shield protections are read the
//! same way, by id, but moto cannot serve them to the SDK).

use crate::harness::World;

const STACK: &str = "stack: cost
resources:
  vpc:
    kind: ec2.vpc
    properties: {cidr_block: 10.0.0.0/16}
  net:
    kind: ec2.subnet
    for_each: [us-east-1a, us-east-1b]
    properties:
      vpc_id: ${vpc.id}
      availability_zone: ${each.key}
      cidr_block: ${cidrsubnet(\"10.0.0.0/16\", 8, each.index)}
  db_group:
    kind: rds.db_subnet_group
    properties: {name: cost-db, subnet_ids: '${net[*].id}'}
  cache_group:
    kind: elasticache.subnet_group
    properties: {name: cost-cache, subnet_ids: '${net[*].id}'}
  cache_sg:
    kind: ec2.security_group
    properties: {name: cost-cache, description: cache, vpc_id: '${vpc.id}'}
  cache:
    kind: elasticache.replication_group
    properties:
      id: cost-cache
      engine: redis
      node_type: cache.t4g.micro
      subnet_group_name: ${cache_group.name}
      security_group_ids: ['${cache_sg.id}']
  files:
    kind: efs.file_system
    properties: {encrypted: true}
";

/// The calls a command makes, per operation, when it finds nothing to do.
fn calls_of(w: &World, args: &[&str]) -> String {
    let mut all = vec!["--stats"];
    all.extend(args);
    let r = w.run(&all);
    r.code(0);
    let text = format!("{}{}", r.stdout, r.stderr);
    let from = text.find("API calls: ").expect("--stats prints the calls");
    text[from..].to_string()
}

#[tokio::test]
async fn unrelated_objects_do_not_change_what_a_plan_or_drift_costs() {
    let w = World::new();
    let s = w.write_stack("cost.yaml", STACK);
    let s = s.to_str().unwrap();
    w.run(&["apply", "-s", s, "--auto-approve"]).ok();
    let plan = ["plan", "-s", s, "--detailed-exitcode"];
    let drift = ["drift", "-s", s];
    let (before, drift_before) = (calls_of(&w, &plan), calls_of(&w, &drift));
    // More than a page (100) of each, made behind provision's back.
    let (ec2, rds, cache, efs) = (
        w.ec2().await,
        w.rds().await,
        w.elasticache().await,
        w.efs().await,
    );
    let subnets: Vec<String> = ec2
        .describe_subnets()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:provision:stack")
                .values("cost")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .subnets()
        .iter()
        .filter_map(|x| x.subnet_id().map(str::to_string))
        .collect();
    for i in 0..120 {
        rds.create_db_subnet_group()
            .db_subnet_group_name(format!("other-{i}"))
            .db_subnet_group_description("not ours")
            .set_subnet_ids(Some(subnets.clone()))
            .send()
            .await
            .unwrap();
        cache
            .create_cache_subnet_group()
            .cache_subnet_group_name(format!("other-{i}"))
            .cache_subnet_group_description("not ours")
            .set_subnet_ids(Some(subnets.clone()))
            .send()
            .await
            .unwrap();
        cache
            .create_replication_group()
            .replication_group_id(format!("other-{i}"))
            .replication_group_description("not ours")
            .cache_subnet_group_name(format!("other-{i}"))
            .send()
            .await
            .unwrap();
        efs.create_file_system()
            .creation_token(format!("other-{i}"))
            .send()
            .await
            .unwrap();
    }
    let after = calls_of(&w, &plan);
    assert_eq!(before, after, "the calls of a clean plan moved");
    for read in [
        "DescribeDBSubnetGroups",
        "DescribeReplicationGroups",
        "DescribeFileSystems",
    ] {
        assert!(before.contains(read), "{before}");
    }
    // Drift looks for orphans in every kind the stack uses: through the
    // tagging index where a kind's API cannot filter by tag, so its cost
    // does not move either.
    assert_eq!(
        drift_before,
        calls_of(&w, &drift),
        "the calls of drift moved"
    );
    assert!(drift_before.contains("GetResources"), "{drift_before}");

    // The index finds this state's orphan among them all: a replication
    // group carrying the stack's tags and this state's lineage, that the
    // state records nowhere.
    let lineage = w.state("cost")["lineage"].as_str().unwrap().to_string();
    let tag = |k: &str, v: &str| {
        aws_sdk_elasticache::types::Tag::builder()
            .key(k)
            .value(v)
            .build()
    };
    cache
        .create_replication_group()
        .replication_group_id("stray")
        .replication_group_description("an earlier attempt's")
        .cache_subnet_group_name("cost-cache")
        .tags(tag("provision:stack", "cost"))
        .tags(tag("provision:address", "stray"))
        .tags(tag("provision:lineage", &lineage))
        .send()
        .await
        .unwrap();
    w.run(&["drift", "-s", s])
        .has("stray")
        .has("0 unmanaged")
        .has("1 orphaned");
}
