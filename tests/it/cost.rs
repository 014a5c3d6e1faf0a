//! What a refresh costs does not grow with what else is in the account: a
//! no-change plan makes the same calls with hundreds of unrelated objects of
//! the same kinds beside the stack's.

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
";

fn calls_of_a_clean_plan(w: &World, s: &str) -> String {
    let r = w.run(&["--stats", "plan", "-s", s, "--detailed-exitcode"]);
    r.code(0);
    let text = format!("{}{}", r.stdout, r.stderr);
    let from = text.find("API calls: ").expect("--stats prints the calls");
    text[from..].to_string()
}

#[tokio::test]
async fn unrelated_subnet_groups_do_not_change_what_a_plan_costs() {
    let w = World::new();
    let s = w.write_stack("cost.yaml", STACK);
    let s = s.to_str().unwrap();
    w.run(&["apply", "-s", s, "--auto-approve"]).ok();
    let before = calls_of_a_clean_plan(&w, s);
    // More than a page (100) of each, made behind provision's back.
    let (ec2, rds, cache) = (w.ec2().await, w.rds().await, w.elasticache().await);
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
    }
    let after = calls_of_a_clean_plan(&w, s);
    assert_eq!(before, after, "the calls of a clean plan moved");
    assert!(before.contains("DescribeDBSubnetGroups"), "{before}");
}
