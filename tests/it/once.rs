//! Exactly once: answers lost after AWS carried the call out (the strict
//! layer's `lose`), and what must hold afterwards: no object made twice,
//! every object recorded, a plan after it that finds nothing to do.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::Filter;

use crate::harness::World;
use crate::strict::Strict;

/// Every call that makes something in the network example.
const NETWORK_CREATES: &[&str] = &[
    "CreateVpc",
    "ModifyVpcAttribute",
    "CreateSubnet",
    "CreateInternetGateway",
    "AttachInternetGateway",
    "AllocateAddress",
    "CreateNatGateway",
    "CreateRouteTable",
    "CreateRoute",
    "AssociateRouteTable",
    "CreateSecurityGroup",
    "AuthorizeSecurityGroupIngress",
];

fn tagged(stack: &str) -> Filter {
    Filter::builder()
        .name("tag:provision:stack")
        .values(stack)
        .build()
}

/// Objects carrying the stack's tag in the emulator, per kind (read past the
/// layer), and what state records, per kind.
async fn census(w: &World, stack: &str) -> (BTreeMap<String, usize>, BTreeMap<String, usize>) {
    let ec2 = w.ec2().await;
    let f = tagged(stack);
    let mut live = BTreeMap::new();
    let mut put = |k: &str, n: usize| {
        if n > 0 {
            live.insert(k.to_string(), n);
        }
    };
    let r = ec2.describe_vpcs().filters(f.clone()).send().await.unwrap();
    put("ec2.vpc", r.vpcs().len());
    let r = ec2.describe_subnets().filters(f.clone()).send().await.unwrap();
    put("ec2.subnet", r.subnets().len());
    let r = ec2
        .describe_internet_gateways()
        .filters(f.clone())
        .send()
        .await
        .unwrap();
    put("ec2.internet_gateway", r.internet_gateways().len());
    let r = ec2
        .describe_addresses()
        .filters(f.clone())
        .send()
        .await
        .unwrap();
    put("ec2.eip", r.addresses().len());
    let r = ec2
        .describe_nat_gateways()
        .filter(f.clone())
        .send()
        .await
        .unwrap();
    let nats = r.nat_gateways().iter().filter(|n| {
        !matches!(
            n.state().map(|s| s.as_str()),
            Some("deleted") | Some("deleting") | Some("failed")
        )
    });
    put("ec2.nat_gateway", nats.count());
    let r = ec2
        .describe_route_tables()
        .filters(f.clone())
        .send()
        .await
        .unwrap();
    put("ec2.route_table", r.route_tables().len());
    let r = ec2
        .describe_security_groups()
        .filters(f.clone())
        .send()
        .await
        .unwrap();
    put("ec2.security_group", r.security_groups().len());
    let st = w.state(stack);
    let mut recorded = BTreeMap::new();
    for r in st["resources"].as_object().unwrap().values() {
        *recorded
            .entry(r["kind"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    (live, recorded)
}

/// Applies until it succeeds (at most `tries`), then checks exactly-once.
async fn converges(w: &World, stack_file: &str, stack: &str, tries: usize) -> usize {
    let mut first_failures = 0;
    for i in 0..tries {
        let r = w.run(&["apply", "-s", stack_file, "--auto-approve", "--stats"]);
        if r.code == 0 {
            break;
        }
        println!("apply {i} failed:\n{}\n{}", r.stdout, r.stderr);
        first_failures += 1;
        assert!(i + 1 < tries, "no convergence after {tries} applies");
    }
    let (live, recorded) = census(w, stack).await;
    assert_eq!(live, recorded, "objects in the emulator vs state");
    w.run(&["plan", "-s", stack_file, "--detailed-exitcode"])
        .code(0)
        .has("No changes");
    first_failures
}

#[tokio::test]
async fn the_first_answer_of_every_create_in_the_network_is_lost_and_nothing_is_made_twice() {
    let w = World::strict(Strict {
        lose: NETWORK_CREATES.to_vec(),
        ..Strict::all()
    });
    let s = w.stack_from("examples/network.yaml");
    let failed = converges(&w, s.to_str().unwrap(), "network", 3).await;
    let l = w.layer();
    let lost: u64 = l
        .stats()
        .iter()
        .filter(|(k, _)| k.starts_with("lost "))
        .map(|x| x.1)
        .sum();
    println!("lost {lost} answers, {failed} applies failed: {:?}", l.stats());
    assert_eq!(lost as usize, NETWORK_CREATES.len(), "{:?}", l.stats());
    assert_eq!(failed, 0, "the first apply must absorb lost answers");
}

#[tokio::test]
async fn a_fifth_of_all_answers_lost_at_random_never_makes_anything_twice() {
    for seed in [7, 11, 23] {
        let w = World::strict(Strict {
            lose_share: 0.2,
            seed,
            ..Strict::all()
        });
        let s = w.stack_from("examples/network.yaml");
        let failed = converges(&w, s.to_str().unwrap(), "network", 3).await;
        let l = w.layer();
        let lost: u64 = l
            .stats()
            .iter()
            .filter(|(k, _)| k.starts_with("lost "))
            .map(|x| x.1)
            .sum();
        println!("seed {seed}: lost {lost} answers, {failed} applies failed");
        assert!(lost >= 3, "{:?}", l.stats());
        assert_eq!(failed, 0, "seed {seed}: the first apply must absorb lost answers");
    }
}
