//! At scale: the scale stack (one VPC, N subnets, N route tables each
//! associated with its subnet) applied and destroyed against AWS's
//! published request buckets (`Strict::published`): nothing throttled,
//! about one and a half calls per object, and a re-plan that finds nothing.

use std::time::Instant;

use crate::harness::World;
use crate::strict::Strict;

/// The scale stack with `n` subnets and route tables (`2n + 1` objects).
pub(crate) fn scale_stack(n: usize) -> String {
    format!(
        "stack: scale
region: us-east-1
resources:
  vpc:
    kind: ec2.vpc
    properties: {{cidr_block: 10.0.0.0/16}}
  subnet:
    kind: ec2.subnet
    for_each: ${{range({n})}}
    properties:
      vpc_id: ${{vpc.id}}
      availability_zone: us-east-1a
      cidr_block: ${{cidrsubnet(\"10.0.0.0/16\", 12, each.index)}}
  rt:
    kind: ec2.route_table
    for_each: ${{range({n})}}
    properties:
      vpc_id: ${{vpc.id}}
      subnet_ids: [\"${{subnet[each.key].id}}\"]
"
    )
}

/// Seconds the published buckets alone take for `calls` calls of one
/// mutating EC2 action (200 at once, then 5 a second).
pub(crate) fn ec2_write_floor(calls: usize) -> f64 {
    let (_, bucket) = provision::aws::rates::buckets("ec2", "CreateSubnet")[0].clone();
    provision::aws::rates::floor(bucket, calls as u64)
}

#[tokio::test]
async fn the_scale_stack_applies_at_the_published_rates_without_a_throttle_and_in_few_calls() {
    let n = 250;
    let w = World::strict(Strict {
        published: true,
        ..Strict::default()
    });
    let s = w.write_stack("scale.yaml", &scale_stack(n));
    let sp = s.to_str().unwrap();
    let t = Instant::now();
    w.run(&["apply", "-s", sp, "--auto-approve"])
        .ok()
        .has(&format!(
            "Apply complete: {} operations succeeded.",
            2 * n + 1
        ));
    let took = t.elapsed().as_secs_f64();
    let l = w.layer();
    let calls = l.count("call ec2");
    println!(
        "apply of {} objects: {took:.1} s (the buckets' floor {:.1} s), {calls} calls, {:.2} a object",
        2 * n + 1,
        ec2_write_floor(n),
        calls as f64 / (2 * n + 1) as f64
    );
    assert_eq!(l.count("throttled ec2"), 0, "{:?}", l.stats());
    // The writes alone are 1.5 a object (a subnet, a table, its
    // association); reads add little: new objects are not read one by one.
    assert!(
        calls as f64 <= 1.6 * (2 * n + 1) as f64,
        "{calls} calls: {:?}",
        l.stats()
    );
    w.run(&["plan", "-s", sp, "--detailed-exitcode"]).code(0);
    w.run(&["destroy", "-s", sp, "--auto-approve"])
        .ok()
        .has(&format!(
            "Destroy complete: {} operations succeeded.",
            2 * n + 1
        ));
    assert_eq!(
        w.layer().count("throttled ec2"),
        0,
        "{:?}",
        w.layer().stats()
    );
}
