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
pub async fn census(w: &World, stack: &str) -> (BTreeMap<String, usize>, BTreeMap<String, usize>) {
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
    let r = ec2
        .describe_subnets()
        .filters(f.clone())
        .send()
        .await
        .unwrap();
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
    // moto ignores tag filters on this call: the tags are checked here.
    let nats = r.nat_gateways().iter().filter(|n| {
        n.tags()
            .iter()
            .any(|t| t.key() == Some("provision:stack") && t.value() == Some(stack))
            && !matches!(
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
        // AWS's default of 5 attempts less one (the harness's 2 keeps other
        // tests fast): with a fifth of all answers lost at random, two losses
        // in a row on one call are common enough to fail a run by chance.
        let out = w
            .command(&["apply", "-s", stack_file, "--auto-approve", "--stats"])
            .env("AWS_MAX_ATTEMPTS", "4")
            .output()
            .unwrap();
        let r = crate::harness::Run::from(out);
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
    println!(
        "lost {lost} answers, {failed} applies failed: {:?}",
        l.stats()
    );
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
        assert_eq!(
            failed, 0,
            "seed {seed}: the first apply must absorb lost answers"
        );
    }
}

const OURS: &str = r#"
stack: ours
region: us-east-1
resources:
  vpc:
    kind: ec2.vpc
    properties: {cidr_block: 10.9.0.0/16}
  subnet:
    kind: ec2.subnet
    properties: {vpc_id: "${vpc.id}", cidr_block: 10.9.1.0/24, availability_zone: us-east-1a}
"#;

/// A VPC tagged as the stack's `vpc`, with this lineage (or none).
async fn tagged_vpc(w: &World, cidr: &str, lineage: Option<&str>) -> String {
    use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    let mut spec = TagSpecification::builder()
        .resource_type(ResourceType::Vpc)
        .tags(tag("provision:stack", "ours"))
        .tags(tag("provision:address", "vpc"));
    if let Some(l) = lineage {
        spec = spec.tags(tag("provision:lineage", l));
    }
    let r = w
        .ec2()
        .await
        .create_vpc()
        .cidr_block(cidr)
        .tag_specifications(spec.build())
        .send()
        .await
        .unwrap();
    r.vpc().unwrap().vpc_id().unwrap().to_string()
}

/// State as a run leaves it that died in CreateVpc: begun, not recorded.
fn died_in_create(w: &World, lineage: &str) {
    let st = serde_json::json!({
        "version": 1, "lineage": lineage, "serial": 1, "stack": "ours",
        "resources": {},
        "creating": {"vpc": {"kind": "ec2.vpc", "token": "t-1"}}
    });
    let dir = w.dir.path().join(".provision");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ours.state.json"), st.to_string()).unwrap();
}

#[tokio::test]
async fn what_a_run_that_died_made_is_adopted_and_another_states_objects_are_left_alone() {
    let w = World::new();
    let s = w.write_stack("ours.yaml", OURS);
    let sp = s.to_str().unwrap();
    died_in_create(&w, "lineage-a");
    let mine = tagged_vpc(&w, "10.9.0.0/16", Some("lineage-a")).await;
    // Same stack name and address, another state's (a copy of the stack
    // applied elsewhere in the account), and one from before lineages.
    let theirs = tagged_vpc(&w, "10.9.0.0/16", Some("lineage-b")).await;
    let old = tagged_vpc(&w, "10.9.0.0/16", None).await;
    w.run(&["plan", "-s", sp])
        .ok()
        .has(&format!("= ec2.vpc vpc ({mine}) already exists"))
        .has(&format!("? ec2.vpc vpc {theirs} (lineage: lineage-b)"))
        .has(&format!("? ec2.vpc vpc {old} (lineage: none)"))
        .has("Plan: 1 to add, 0 to change, 0 to destroy, 1 to adopt.");
    w.run(&["apply", "-s", sp, "--auto-approve"]).ok();
    let st = w.state("ours");
    assert_eq!(st["resources"]["vpc"]["id"], mine.as_str());
    assert!(st.get("creating").is_none(), "{st}");
    // Destroy deletes what this state made, never the others.
    w.run(&["destroy", "-s", sp, "--auto-approve"]).ok();
    let left: Vec<String> = census_ids(&w).await;
    assert_eq!(left, {
        let mut v = vec![theirs, old];
        v.sort();
        v
    });
}

async fn census_ids(w: &World) -> Vec<String> {
    let r = w
        .ec2()
        .await
        .describe_vpcs()
        .filters(tagged("ours"))
        .send()
        .await
        .unwrap();
    let mut v: Vec<String> = r
        .vpcs()
        .iter()
        .map(|v| v.vpc_id().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn an_orphan_of_this_state_is_shown_and_deleted_and_state_rm_lets_go_for_good() {
    let w = World::new();
    let s = w.write_stack("ours.yaml", OURS);
    let sp = s.to_str().unwrap();
    w.run(&["apply", "-s", sp, "--auto-approve"]).ok();
    let st = w.state("ours");
    let lineage = st["lineage"].as_str().unwrap().to_string();
    let recorded = st["resources"]["vpc"]["id"].as_str().unwrap().to_string();
    // A second `vpc` this state made and recorded nowhere (as a create
    // repeated after a lost answer would leave).
    let orphan = tagged_vpc(&w, "10.9.0.0/16", Some(&lineage)).await;
    w.run(&["drift", "-s", sp]).code(2).has(&format!(
        "? vpc {orphan} was made by this state but is recorded nowhere"
    ));
    w.run(&["plan", "-s", sp])
        .ok()
        .has(&format!(
            "- ec2.vpc vpc ({orphan}) orphan: made by an earlier attempt of this state"
        ))
        .has("Plan: 0 to add, 0 to change, 1 to destroy.");
    w.run(&["apply", "-s", sp, "--auto-approve"]).ok();
    assert_eq!(census_ids(&w).await, vec![recorded.clone()]);
    w.run(&["plan", "-s", sp, "--detailed-exitcode"]).code(0);
    w.run(&["drift", "-s", sp]).code(0);
    // `state rm` lets go: never an orphan, never deleted; the stack makes a new one.
    w.run(&["state", "-s", sp, "rm", "subnet", "vpc"]).ok();
    w.run(&["plan", "-s", sp])
        .ok()
        .lacks("orphan")
        .has("Plan: 2 to add, 0 to change, 0 to destroy.");
    w.run(&["destroy", "-s", sp, "--auto-approve"]).ok();
    assert_eq!(census_ids(&w).await, vec![recorded]);
}

const PRE_EXISTING: &str = r#"
stack: guard
region: us-east-1
resources:
  threat:
    kind: guardduty.detector
    properties: {finding_publishing_frequency: SIX_HOURS}
  docs:
    kind: s3.bucket
    properties: {bucket: court-documents-existing}
"#;

#[tokio::test]
async fn a_detector_and_a_bucket_provision_did_not_create_are_never_taken_nor_deleted() {
    let w = World::new();
    let gd = w.guardduty().await;
    let detector = gd
        .create_detector()
        .enable(true)
        .send()
        .await
        .unwrap()
        .detector_id()
        .unwrap()
        .to_string();
    let s3 = w.s3().await;
    s3.create_bucket()
        .bucket("court-documents-existing")
        .send()
        .await
        .unwrap();
    let s = w.write_stack("guard.yaml", PRE_EXISTING);
    let sp = s.to_str().unwrap();
    // The bucket's name is taken: the plan says by whom and exits 1; apply
    // refuses the plan before any write.
    w.run(&["plan", "-s", sp])
        .code(1)
        .has("! guardduty.detector threat will NOT be created")
        .has(&format!(
            "the region already has GuardDuty detector {detector}, which provision did not create"
        ))
        .has("! s3.bucket docs cannot be created: its name is taken")
        .has("bucket court-documents-existing exists and provision did not make it");
    w.run(&["apply", "-s", sp, "--auto-approve"])
        .code(1)
        .has("the name of docs is taken: choose another, or import what holds it")
        .has("nothing was applied");
    assert!(
        !w.dir.path().join(".provision/guard.state.json").exists(),
        "no state written"
    );
    // Imported, they are managed, and destroy forgets them.
    w.run(&["import", "-s", sp, "threat", &detector]).ok();
    w.run(&["import", "-s", sp, "docs", "court-documents-existing"])
        .ok();
    w.run(&["apply", "-s", sp, "--auto-approve"]).ok();
    let d = gd
        .get_detector()
        .detector_id(&detector)
        .send()
        .await
        .unwrap();
    assert_eq!(
        d.finding_publishing_frequency().map(|f| f.as_str()),
        Some("SIX_HOURS")
    );
    w.run(&["destroy", "-s", sp, "--auto-approve"])
        .ok()
        .has(&format!(
            "guardduty.detector threat ({detector}) was imported: forget it, and leave it in AWS"
        ));
    assert_eq!(
        gd.list_detectors().send().await.unwrap().detector_ids(),
        std::slice::from_ref(&detector)
    );
    s3.head_bucket()
        .bucket("court-documents-existing")
        .send()
        .await
        .expect("the bucket is still there");
}

/// Objects of the stack in the emulator beyond EC2, per kind, counted past
/// the layer by their ownership tag.
async fn census_beyond_ec2(w: &World, stack: &str, live: &mut BTreeMap<String, usize>) {
    let ours = |k: Option<&str>, v: Option<&str>| k == Some("provision:stack") && v == Some(stack);
    let mut put = |k: &str, n: usize| {
        if n > 0 {
            live.insert(k.to_string(), n);
        }
    };
    let acm = w.acm().await;
    let mut certificates = 0;
    for c in acm
        .list_certificates()
        .send()
        .await
        .unwrap()
        .certificate_summary_list()
    {
        let arn = c.certificate_arn().unwrap_or_default();
        let t = acm
            .list_tags_for_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .unwrap();
        if t.tags().iter().any(|t| ours(Some(t.key()), t.value())) {
            certificates += 1;
        }
    }
    put("acm.certificate", certificates);
    let ec2 = w.ec2().await;
    let f = tagged(stack);
    let r = ec2
        .describe_launch_templates()
        .filters(f.clone())
        .send()
        .await
        .unwrap();
    put("ec2.launch_template", r.launch_templates().len());
    let alive = Filter::builder()
        .name("instance-state-name")
        .values("pending")
        .values("running")
        .build();
    let r = ec2
        .describe_instances()
        .filters(f.clone())
        .filters(alive)
        .send()
        .await
        .unwrap();
    put(
        "ec2.instance",
        r.reservations().iter().map(|r| r.instances().len()).sum(),
    );
    let elb = w.elbv2().await;
    let lbs = elb.describe_load_balancers().send().await.unwrap();
    let tgs = elb.describe_target_groups().send().await.unwrap();
    let count = |arns: Vec<String>| {
        let elb = elb.clone();
        async move {
            if arns.is_empty() {
                return 0;
            }
            let t = elb
                .describe_tags()
                .set_resource_arns(Some(arns))
                .send()
                .await
                .unwrap();
            t.tag_descriptions()
                .iter()
                .filter(|d| d.tags().iter().any(|t| ours(t.key(), t.value())))
                .count()
        }
    };
    let lb_arns = lbs
        .load_balancers()
        .iter()
        .filter_map(|l| l.load_balancer_arn().map(str::to_string))
        .collect();
    put("elbv2.load_balancer", count(lb_arns).await);
    let tg_arns = tgs
        .target_groups()
        .iter()
        .filter_map(|t| t.target_group_arn().map(str::to_string))
        .collect();
    put("elbv2.target_group", count(tg_arns).await);
    let rds = w.rds().await;
    let c = rds.describe_db_clusters().send().await.unwrap();
    let tagged_ours =
        |tags: &[aws_sdk_rds::types::Tag]| tags.iter().any(|t| ours(t.key(), t.value()));
    put(
        "rds.cluster",
        c.db_clusters()
            .iter()
            .filter(|c| tagged_ours(c.tag_list()))
            .count(),
    );
    let i = rds.describe_db_instances().send().await.unwrap();
    put(
        "rds.instance",
        i.db_instances()
            .iter()
            .filter(|i| tagged_ours(i.tag_list()))
            .count(),
    );
    let efs = w.efs().await;
    let fs = efs.describe_file_systems().send().await.unwrap();
    let our_fs: Vec<String> = fs
        .file_systems()
        .iter()
        .filter(|f| {
            f.tags()
                .iter()
                .any(|t| ours(Some(t.key()), Some(t.value())))
        })
        .map(|f| f.file_system_id().to_string())
        .collect();
    put("efs.file_system", our_fs.len());
    // What lives in what is ours: listeners on our load balancers, mount
    // targets of our file systems.
    let mut mount_targets = 0;
    for id in &our_fs {
        let m = efs
            .describe_mount_targets()
            .file_system_id(id)
            .send()
            .await
            .unwrap();
        mount_targets += m.mount_targets().len();
    }
    put("efs.mount_target", mount_targets);
    let mut listeners = 0;
    for lb in lbs.load_balancers() {
        let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
        let t = elb
            .describe_tags()
            .resource_arns(&arn)
            .send()
            .await
            .unwrap();
        let is_ours = t
            .tag_descriptions()
            .iter()
            .any(|d| d.tags().iter().any(|t| ours(t.key(), t.value())));
        if is_ours {
            let l = elb
                .describe_listeners()
                .load_balancer_arn(&arn)
                .send()
                .await
                .unwrap();
            listeners += l.listeners().len();
        }
    }
    put("elbv2.listener", listeners);
    let mut groups = 0;
    for g in rds
        .describe_db_subnet_groups()
        .send()
        .await
        .unwrap()
        .db_subnet_groups()
    {
        let arn = g.db_subnet_group_arn().unwrap_or_default();
        let t = rds
            .list_tags_for_resource()
            .resource_name(arn)
            .send()
            .await
            .unwrap();
        if tagged_ours(t.tag_list()) {
            groups += 1;
        }
    }
    put("rds.db_subnet_group", groups);
    let s3 = w.s3().await;
    let mut buckets = 0;
    for b in s3.list_buckets().send().await.unwrap().buckets() {
        let name = b.name().unwrap_or_default();
        if let Ok(t) = s3.get_bucket_tagging().bucket(name).send().await
            && t.tag_set()
                .iter()
                .any(|t| ours(Some(t.key()), Some(t.value())))
        {
            buckets += 1;
        }
    }
    put("s3.bucket", buckets);
    let waf = w.wafv2().await;
    let mut acls = 0;
    let listed = waf
        .list_web_acls()
        .scope(aws_sdk_wafv2::types::Scope::Regional)
        .send()
        .await
        .unwrap();
    for a in listed.web_acls() {
        let t = waf
            .list_tags_for_resource()
            .resource_arn(a.arn().unwrap_or_default())
            .send()
            .await
            .unwrap();
        let tags = t
            .tag_info_for_resource()
            .map(|i| i.tag_list())
            .unwrap_or_default();
        if tags.iter().any(|t| ours(Some(t.key()), Some(t.value()))) {
            acls += 1;
        }
    }
    put("wafv2.web_acl", acls);
    let r53 = w.route53().await;
    let mut zones = 0;
    for z in r53.list_hosted_zones().send().await.unwrap().hosted_zones() {
        let id = z.id().trim_start_matches("/hostedzone/");
        let t = r53
            .list_tags_for_resource()
            .resource_type(aws_sdk_route53::types::TagResourceType::Hostedzone)
            .resource_id(id)
            .send()
            .await
            .unwrap();
        let tags = t.resource_tag_set().map(|s| s.tags()).unwrap_or_default();
        if tags.iter().any(|t| ours(t.key(), t.value())) {
            zones += 1;
        }
    }
    put("route53.zone", zones);
    // A region has one detector at most (moto's GetDetector answers no
    // tags): the world's own emulator holds no other.
    let gd = w.guardduty().await;
    let detectors = gd.list_detectors().send().await.unwrap();
    put("guardduty.detector", detectors.detector_ids().len());
}

/// The stack's objects in the emulator, of every kind the census counts,
/// and what state records of those kinds.
pub(crate) async fn whole_census(
    w: &World,
    stack: &str,
) -> (BTreeMap<String, usize>, BTreeMap<String, usize>) {
    let (mut live, recorded) = census(w, stack).await;
    census_beyond_ec2(w, stack, &mut live).await;
    let counted = recorded
        .into_iter()
        .filter(|(k, _)| {
            live.contains_key(k) || k.starts_with("ec2.") || COUNTED.contains(&k.as_str())
        })
        .collect();
    (live, counted)
}

/// The kinds the census counts in the emulator: for each, the objects of
/// the stack there must be exactly those state records.
const COUNTED: &[&str] = &[
    "acm.certificate",
    "efs.file_system",
    "efs.mount_target",
    "elbv2.listener",
    "elbv2.load_balancer",
    "elbv2.target_group",
    "guardduty.detector",
    "rds.cluster",
    "rds.db_subnet_group",
    "rds.instance",
    "route53.zone",
    "s3.bucket",
    "wafv2.web_acl",
];

/// Every call that makes something in the reference stack (as the layer
/// names them: REST operations it does not name go by method and path).
const REFERENCE_CREATES: &[&str] = &[
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
    "CreateLaunchTemplate",
    "RunInstances",
    "CreateLoadBalancer",
    "ModifyLoadBalancerAttributes",
    "CreateTargetGroup",
    "RegisterTargets",
    "CreateListener",
    "CreateDBSubnetGroup",
    "CreateDBCluster",
    "CreateDBInstance",
    "CreateFileSystem",
    "CreateMountTarget",
    "CreateBucket",
    "CreateWebACL",
    "AssociateWebACL",
    "CreateHostedZone",
    "ChangeTagsForResource",
    "ChangeResourceRecordSets",
    "POST /detector",
    "RequestCertificate",
];

/// Applies the reference stack through `w` (as many attempts as provision
/// makes by default: the harness makes 2, to keep failure tests short), then
/// checks exactly-once. Returns the answers lost.
pub(crate) async fn reference_exactly_once(w: &World, label: &str) -> u64 {
    let s = w.stack_from("tests/fixtures/three-az-flat.yaml");
    let sp = s.to_str().unwrap();
    let vars = ["--var", "cache=false", "--var", "health_check=false"];
    let mut args = vec!["apply", "-s", sp, "--auto-approve", "--stats"];
    args.extend(vars);
    let r = w
        .command(&args)
        .env("AWS_MAX_ATTEMPTS", "5")
        .output()
        .map(crate::harness::Run::from)
        .unwrap();
    let l = w.layer();
    let lost: Vec<String> = l
        .stats()
        .iter()
        .filter(|(k, _)| k.starts_with("lost "))
        .map(|(k, n)| format!("{} x{n}", &k[5..]))
        .collect();
    println!("{label}: lost {}\n{}", lost.join(", "), r.stderr);
    r.ok();
    let (live, counted) = whole_census(w, "three-az").await;
    assert_eq!(live, counted, "objects in the emulator vs state");
    let mut args = vec!["plan", "-s", sp, "--detailed-exitcode"];
    args.extend(vars);
    w.run(&args).code(0);
    l.stats()
        .iter()
        .filter(|(k, _)| k.starts_with("lost "))
        .map(|x| x.1)
        .sum()
}

#[tokio::test]
async fn the_first_answer_of_every_create_in_the_reference_stack_is_lost_and_nothing_is_made_twice()
{
    let w = World::strict(Strict {
        lose: REFERENCE_CREATES.to_vec(),
        ..Strict::all()
    });
    let lost = reference_exactly_once(&w, "every create once").await;
    assert_eq!(
        lost as usize,
        REFERENCE_CREATES.len(),
        "{:?}",
        w.layer().stats()
    );
}

#[tokio::test]
async fn the_reference_stack_applies_exactly_once_with_answers_lost_at_random() {
    // scripts/soak-lost-answers.sh runs this with many seeds.
    let seed = std::env::var("PROVISION_LOSS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let w = World::strict(Strict {
        lose_share: 0.15,
        seed,
        ..Strict::all()
    });
    let lost = reference_exactly_once(&w, &format!("seed {seed}")).await;
    assert!(lost >= 5, "{:?}", w.layer().stats());
}

/// A create begun by an earlier run, resumed with its token after what that
/// token made is gone and the stack changed: AWS refuses the token
/// (`IdempotentParameterMismatch`); provision finds nothing of its own and
/// makes the object with a new token, never taking the other.
#[tokio::test]
async fn a_token_aws_remembers_with_other_parameters_is_replaced_by_a_new_one() {
    let w = World::strict(Strict::default());
    // What the token made before: a NAT gateway elsewhere (made by hand here).
    let ec2 = w.ec2_through_the_layer().await;
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.90.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap();
    let subnet = ec2
        .create_subnet()
        .vpc_id(vpc)
        .cidr_block("10.90.1.0/24")
        .send()
        .await
        .unwrap();
    let subnet = subnet.subnet().unwrap().subnet_id().unwrap();
    let eip = ec2.allocate_address().send().await.unwrap();
    ec2.create_nat_gateway()
        .subnet_id(subnet)
        .allocation_id(eip.allocation_id().unwrap())
        .client_token("tok-earlier-run")
        .send()
        .await
        .unwrap();
    // The state of a run that began the create of nat[us-east-1a] with it.
    let s = w.stack_from("examples/network.yaml");
    let sp = s.to_str().unwrap();
    let dir = w.dir.path().join(".provision");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("network.state.json"),
        serde_json::json!({
            "version": 1, "lineage": "5f0c0000-0000-4000-8000-00000000beef", "serial": 3,
            "stack": "network", "resources": {},
            "creating": {"nat[us-east-1a]": {"kind": "ec2.nat_gateway", "token": "tok-earlier-run"}}
        })
        .to_string(),
    )
    .unwrap();
    w.run(&["apply", "-s", sp, "--auto-approve"])
        .ok()
        .has("Apply complete: 25 operations succeeded.");
    assert_eq!(
        w.layer().count("mismatch CreateNatGateway"),
        1,
        "{:?}",
        w.layer().stats()
    );
    let (live, recorded) = census(&w, "network").await;
    assert_eq!(live, recorded, "ours made once; the other not taken");
}
