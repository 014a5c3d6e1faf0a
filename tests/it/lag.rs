//! AWS's eventual consistency, longer than a moment: for `lag` after its
//! create a new object is missing from every filtered or listing read and
//! every call naming it is answered NotFound, in its own service and in the
//! others that name it (a load balancer, subnet group or mount target naming
//! a new subnet). The applies must wait it out, never take a recorded object
//! as gone, and never repeat a create whose answer was lost while a lagging
//! read could still hide what it made.

use std::time::{Duration, Instant};

use crate::harness::World;
use crate::strict::Strict;

#[tokio::test]
async fn the_network_applies_replaces_and_destroys_through_a_lag_longer_than_a_lost_creates_search()
{
    // Ten seconds: longer than the search for what a lost create made used
    // to last (7.5 s), after which a create taking no token was repeated.
    let lag = Duration::from_secs(10);
    let w = World::strict(Strict {
        lag,
        lose: vec!["CreateVpc"],
        ..Strict::all()
    });
    let s = w.stack_from("examples/network.yaml");
    let sp = s.to_str().unwrap();
    let t = Instant::now();
    w.run(&["apply", "-s", sp, "--auto-approve"])
        .ok()
        .has("Apply complete: 25 operations succeeded.");
    println!("apply through a {lag:?} lag: {:?}", t.elapsed());
    let l = w.layer();
    assert_eq!(l.count("lost CreateVpc"), 1, "{:?}", l.stats());
    assert!(l.count("hidden vpc") >= 1, "{:?}", l.stats());
    // Subnets and route tables are not read back (their create's answer
    // says what they are): the calls naming them meet the lag instead.
    assert!(
        l.count("invisible AssociateRouteTable") >= 1,
        "{:?}",
        l.stats()
    );
    assert!(
        l.count("invisible AttachInternetGateway") >= 1,
        "{:?}",
        l.stats()
    );
    let (live, recorded) = crate::once::census(&w, "network").await;
    assert_eq!(live, recorded, "nothing made twice");
    // Once AWS shows everything, a plan finds nothing to do.
    std::thread::sleep(lag);
    w.run(&["plan", "-s", sp, "--detailed-exitcode"]).code(0);
    // A replacement through the same lag: the new subnet and what follows it.
    w.edit(
        &s,
        "cidr_block: ${cidrsubnet(var.vpc_cidr, 8, each.index + 20)}",
        "cidr_block: ${cidrsubnet(var.vpc_cidr, 8, each.index + 30)}",
    );
    w.run(&["apply", "-s", sp, "--auto-approve"]).ok();
    let (live, recorded) = crate::once::census(&w, "network").await;
    assert_eq!(live, recorded, "nothing made twice");
    std::thread::sleep(lag);
    w.run(&["plan", "-s", sp, "--detailed-exitcode"]).code(0);
    w.run(&["destroy", "-s", sp, "--auto-approve"])
        .ok()
        .has("Destroy complete: 25 operations succeeded.");
    let (live, _) = crate::once::census(&w, "network").await;
    assert!(live.is_empty(), "{live:?}");
}

#[tokio::test]
async fn the_reference_stack_applies_once_through_a_lag_with_creates_answers_lost() {
    // Other services name new subnets and groups while EC2 still hides them;
    // the load balancer's and the cluster's creates lose their answers.
    let w = World::strict(Strict {
        lag: Duration::from_secs(3),
        lag_elsewhere: Duration::from_secs(12),
        lose: vec!["CreateVpc", "CreateLoadBalancer", "CreateDBCluster"],
        ..Strict::all()
    });
    crate::once::reference_exactly_once(&w, "lag 3s, 12s elsewhere").await;
    let l = w.layer();
    for refused in [
        "invisible CreateLoadBalancer",
        "invisible CreateDBSubnetGroup",
    ] {
        assert!(l.count(refused) >= 1, "{refused}: {:?}", l.stats());
    }
    // A replacement through the lag: the load balancer's group, made anew
    // and named by the load balancer while ELB cannot see it yet.
    let s = w.dir.path().join("three-az-flat.yaml");
    let sp = s.to_str().unwrap();
    let vars = ["--var", "cache=false", "--var", "health_check=false"];
    let run = |verb: &str, extra: &[&str]| {
        let mut args = vec![verb, "-s", sp, "--auto-approve"];
        args.extend(vars);
        args.extend(extra);
        w.run(&args)
    };
    run("apply", &["--replace", "alb_sg"])
        .ok()
        .has("alb_sg: created after");
    let (live, recorded) = crate::once::whole_census(&w, "three-az").await;
    assert_eq!(live, recorded, "nothing made twice");
    assert!(
        l.count("invisible SetSecurityGroups") >= 1,
        "the load balancer met the new group's lag: {:?}",
        l.stats()
    );
    w.edit(
        &s,
        "      deletion_protection: true\n    timeouts",
        "      deletion_protection: false\n      skip_final_snapshot: true\n    timeouts",
    );
    run("apply", &[]).ok();
    run("destroy", &[]).ok();
    let (live, _) = crate::once::whole_census(&w, "three-az").await;
    // The region's GuardDuty detector is counted whoever made it; the
    // destroy deleted this stack's, so none is left.
    assert!(live.is_empty(), "{live:?}");
}
