//! An in-memory cloud for unit tests of the engine. Never used against the
//! emulator's place: integration tests talk to moto.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::diag::{Error, Result};
use crate::provider::{Cloud, Live};

#[derive(Default)]
pub struct FakeCloud {
    pub objects: Mutex<BTreeMap<String, (String, Live)>>,
    /// Address tags whose create fails.
    pub fail_create: Mutex<Vec<String>>,
    pub log: Mutex<Vec<String>>,
    /// Each create, update and delete takes the time its kind says AWS
    /// typically takes (`KindSpec::takes`): for runs on tokio's paused clock.
    pub aws_times: bool,
    /// The next this many reads answer as if nothing existed yet (AWS's
    /// eventual consistency), and how long that may last (`Cloud::settle`).
    pub lagging_reads: Mutex<u32>,
    pub settle: Duration,
    /// Each create spends a token of its own bucket, as EC2 meters each
    /// mutating action (`aws::rates`: 200 at once, then 5 a second), and
    /// waits for it as the AWS layer does (`provider::pace`).
    pub paced: bool,
    meters: crate::aws::rates::Meters,
    next: Mutex<u32>,
}

impl FakeCloud {
    /// Waits as AWS would for an operation of this kind, when asked to.
    async fn take(&self, kind: &str, pick: impl Fn(&crate::kind::Takes) -> u32) {
        if self.aws_times
            && let Some(spec) = crate::kind::lookup(kind)
        {
            tokio::time::sleep(Duration::from_secs(u64::from(pick(&spec.takes)))).await;
        }
    }
}

#[async_trait]
impl Cloud for FakeCloud {
    /// One cloud for every region: the engine's routing is tested against
    /// the emulator, which keeps each region apart.
    fn at(&self, _region: Option<&str>) -> Result<&dyn Cloud> {
        Ok(self)
    }

    fn settle(&self) -> Duration {
        self.settle
    }
    async fn read(&self, kind: &str, ids: &[String]) -> Result<Vec<Live>> {
        {
            let mut lag = self.lagging_reads.lock().unwrap();
            if *lag > 0 {
                *lag -= 1;
                return Ok(vec![]);
            }
        }
        let o = self.objects.lock().unwrap();
        Ok(ids
            .iter()
            .filter_map(|i| o.get(i).filter(|(k, _)| k == kind).map(|(_, l)| l.clone()))
            .collect())
    }
    async fn find_owned(
        &self,
        kind: &str,
        stack: &str,
        _: &[crate::provider::Wanted],
    ) -> Result<Vec<Live>> {
        let o = self.objects.lock().unwrap();
        Ok(o.values()
            .filter(|(k, l)| k == kind && l.props["tags"][crate::stack::TAG_STACK] == stack)
            .map(|(_, l)| l.clone())
            .collect())
    }
    async fn create(
        &self,
        kind: &str,
        props: &Value,
        _: Duration,
        _: &crate::provider::Intent,
    ) -> Result<Live> {
        let addr = props["tags"][crate::stack::TAG_ADDRESS]
            .as_str()
            .unwrap_or("")
            .to_string();
        if self.fail_create.lock().unwrap().contains(&addr) {
            return Err(Error::Aws {
                address: None,
                operation: "Create".into(),
                code: "InjectedFault".into(),
                message: "injected".into(),
            });
        }
        if self.paced {
            let wait = self.meters.take("ec2", &format!("Create {kind}"));
            crate::provider::pace(wait, "pacing").await?;
        }
        self.take(kind, |t| t.create).await;
        let id = {
            let mut n = self.next.lock().unwrap();
            *n += 1;
            format!("{}-{}", kind.replace('.', "-"), *n)
        };
        self.log.lock().unwrap().push(format!("create {addr}"));
        // Every output the kind has, made up from the id.
        let names = crate::kind::lookup(kind).map_or(&[][..], |s| s.outputs);
        let outputs = names.iter().map(|o| {
            let v = match *o {
                "id" => json!(id),
                "name_servers" => json!([format!("{id}-ns")]),
                _ => json!(format!("{id}-{o}")),
            };
            (o.to_string(), v)
        });
        let l = Live {
            id: id.clone(),
            props: props.clone(),
            outputs: outputs.chain([("id".to_string(), json!(id))]).collect(),
            unobserved: vec![],
            claimed_by: None,
        };
        self.objects
            .lock()
            .unwrap()
            .insert(id, (kind.into(), l.clone()));
        Ok(l)
    }
    async fn update(
        &self,
        kind: &str,
        id: &str,
        before: &Value,
        after: &Value,
        _: Duration,
    ) -> Result<Live> {
        let changed: Vec<&String> = after
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, v)| before.get(k.as_str()) != Some(*v))
            .map(|(k, _)| k)
            .collect();
        self.take(kind, |t| t.update_of(&changed)).await;
        let mut o = self.objects.lock().unwrap();
        let e = o.get_mut(id).ok_or_else(|| Error::other("gone"))?;
        e.0 = kind.into();
        e.1.props = after.clone();
        self.log.lock().unwrap().push(format!("update {id}"));
        Ok(e.1.clone())
    }
    async fn delete(
        &self,
        kind: &str,
        id: &str,
        _: &Value,
        _: Duration,
        _: Option<Duration>,
    ) -> Result<()> {
        self.take(kind, |t| t.delete).await;
        self.objects.lock().unwrap().remove(id);
        self.log.lock().unwrap().push(format!("delete {id}"));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::{Executor, Silent};
    use crate::plan;
    use crate::state::State;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    const STACK: &str = r#"
stack: t
resources:
  vpc:
    kind: ec2.vpc
    properties: {cidr_block: 10.0.0.0/16}
  subnet:
    kind: ec2.subnet
    for_each: [a, b]
    properties:
      vpc_id: ${vpc.id}
      availability_zone: us-east-1${each.key}
      cidr_block: ${cidrsubnet("10.0.0.0/16", 8, each.index)}
  rt:
    kind: ec2.route_table
    properties:
      vpc_id: ${vpc.id}
      subnet_ids: ${subnet[*].id}
"#;

    async fn apply(cloud: &Arc<FakeCloud>, src: &str, st: State) -> (crate::exec::Report, State) {
        let stack = crate::stack::load("t.yaml", src, &[]).unwrap();
        apply_at(cloud, stack, st, 4).await
    }

    /// Refreshes, plans and applies `stack` with `parallelism` slots.
    async fn apply_at(
        cloud: &Arc<FakeCloud>,
        stack: crate::stack::Stack,
        st: State,
        parallelism: usize,
    ) -> (crate::exec::Report, State) {
        let live = crate::refresh::refresh(
            cloud.as_ref(),
            Some(&stack),
            &stack.name,
            Some(&st),
            crate::refresh::Search::Cheap,
        )
        .await
        .unwrap();
        let p = plan::plan(&stack, Some(&st), &live).unwrap();
        let estimate: u64 = crate::exec::estimate(&p).iter().map(|(_, s)| s).sum();
        let ex = Executor {
            cloud: cloud.clone(),
            stack: Some(Arc::new(stack)),
            parallelism,
            reporter: Arc::new(Silent),
            cancel: Arc::new(AtomicBool::new(false)),
        };
        let (r, st) = ex.run(&p, st, None).await;
        // The plan's estimate is the run's floor on AWS's times: no
        // schedule finishes sooner (fewer slots or a paced bucket only
        // make it later).
        if cloud.aws_times {
            assert!(
                r.took.as_secs() >= estimate,
                "the plan quoted {estimate}s, the run took {:?}",
                r.took
            );
        }
        (r, st)
    }

    /// A run's critical path, an operation and its whole seconds each.
    fn chain(r: &crate::exec::Report) -> Vec<String> {
        r.critical_path
            .iter()
            .map(|(o, d)| format!("{o} ({}s)", d.as_secs()))
            .collect()
    }

    /// The reference stack on AWS's typical times (tokio's clock paused:
    /// the hours pass at once, and exactly): with more operations ready than
    /// slots, the longest chains start first, so the apply takes about its
    /// critical path (the Aurora cluster and its instances) even at 4 at once.
    #[tokio::test(start_paused = true)]
    async fn the_reference_apply_takes_its_critical_path_on_aws_times() {
        let src = include_str!("../tests/fixtures/three-az-flat.yaml");
        let stack = crate::stack::load("tests/fixtures/three-az-flat.yaml", src, &[]).unwrap();
        for parallelism in [4, 10] {
            let cloud = Arc::new(FakeCloud {
                aws_times: true,
                ..FakeCloud::default()
            });
            let st = State::new("three-az");
            let (r, _) = apply_at(&cloud, stack.clone(), st, parallelism).await;
            assert!(r.ok(), "{r:?}");
            let path = r.critical_path_time();
            let chain = chain(&r);
            println!(
                "parallelism {parallelism}: took {}s for {}s of operations; critical path {}s: {}",
                r.took.as_secs(),
                r.work.as_secs(),
                path.as_secs(),
                chain.join(" -> ")
            );
            assert!(
                r.took.as_secs_f64() <= 1.15 * path.as_secs_f64(),
                "at --parallelism {parallelism} the apply took {:?}, critical path {path:?}",
                r.took
            );
        }
    }

    /// The failover of examples/failover.yaml on AWS's typical times (the
    /// kinds' `takes`): after the two-region apply, `active_region` flipped
    /// to the standby is two updates, the promotion and then the DNS name
    /// that refers to it; the run takes their chain. This is the recovery
    /// time a court can quote, before the record's TTL.
    #[tokio::test(start_paused = true)]
    async fn the_failover_takes_the_promotion_then_the_name_on_aws_times() {
        let src = include_str!("../examples/failover.yaml");
        let stack = crate::stack::load("examples/failover.yaml", src, &[]).unwrap();
        let cloud = Arc::new(FakeCloud {
            aws_times: true,
            ..FakeCloud::default()
        });
        let (r, st) = apply_at(&cloud, stack, State::new("failover"), 10).await;
        assert!(r.ok(), "{r:?}");
        let flip = [("active_region".to_string(), "us-west-2".to_string())];
        let stack = crate::stack::load("examples/failover.yaml", src, &flip).unwrap();
        let (r, _) = apply_at(&cloud, stack, st, 10).await;
        assert!(r.ok(), "{r:?}");
        let chain = chain(&r);
        println!(
            "failover on AWS's typical times: {}s; critical path: {}",
            r.took.as_secs(),
            chain.join(" -> ")
        );
        assert_eq!(
            chain,
            ["update standby_database (600s)", "update db_name (60s)"],
            "the promotion, then the name"
        );
        assert_eq!(r.took.as_secs(), 660);
    }

    /// The reference stack as `provision` loads it, its data sources
    /// answered as AWS would (three zones in each region, an image).
    fn reference_stack(vars: &[(String, String)]) -> crate::stack::Stack {
        let file = "stacks/three-az.yaml";
        let source = std::fs::read_to_string(file).unwrap();
        let mut data = std::collections::HashMap::new();
        let upstream = BTreeMap::new();
        for _ in 0..4 {
            let loaded = crate::stack::load_with(&crate::stack::Input {
                file,
                source: &source,
                vars,
                var_files: &[],
                env: None,
                files: &crate::stack::Disk,
                data: &data,
                upstream: &upstream,
                offline: false,
            });
            if loaded.wants.data.is_empty() {
                return loaded.stack.unwrap();
            }
            for r in loaded.wants.data {
                let region = r.region.unwrap_or_else(|| "us-east-1".into());
                let names = ["a", "b", "c"].map(|z| format!("{region}{z}"));
                let v = match r.kind {
                    "ec2.availability_zones" => json!({
                        "names": names,
                        "zone_ids": ["az1", "az2", "az3"],
                        "region": region,
                    }),
                    "sts.caller_identity" => json!({
                        "account_id": "123456789012",
                        "arn": "arn:aws:iam::123456789012:user/court",
                        "user_id": "AIDACOURT",
                    }),
                    _ => json!({"value": "ami-0123456789abcdef0", "version": 1, "type": "String"}),
                };
                data.insert(r.address, v);
            }
        }
        panic!("data sources deeper than 4");
    }

    /// docs/three-az.svg: the reference stack's graph as the plan of its
    /// first apply draws it, every resource of both regions (its data
    /// sources answered as AWS would; the emulator cannot carry all of it).
    /// Kept current here: `PROVISION_BLESS=1 cargo test --lib reference_graph`.
    #[test]
    fn the_reference_graph_in_the_docs_is_current() {
        let stack = reference_stack(&[]);
        let marks = stack
            .instances
            .iter()
            .map(|i| (i.address.clone(), crate::graph::Mark::Create))
            .collect();
        let dot = crate::graph::dot_marked(&stack, &marks, &[]);
        let want = crate::commands::graph::dot_to_svg(&dot).unwrap();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/three-az.svg");
        if std::env::var_os("PROVISION_BLESS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "docs/three-az.svg is out of date: run PROVISION_BLESS=1 cargo test --lib reference_graph"
        );
    }

    /// The reference stack's failover on AWS's typical times: after its
    /// apply, `active_region` set to the standby's region promotes the
    /// replica, launches the standby's instances (which register with its
    /// target group) and re-points the zone's records, all at once; the
    /// run takes the longest of those chains. Printed for the issue's note
    /// (`cargo test --lib reference_stacks_failover -- --nocapture`).
    #[tokio::test(start_paused = true)]
    async fn the_reference_stacks_failover_takes_its_longest_chain_on_aws_times() {
        let cloud = Arc::new(FakeCloud {
            aws_times: true,
            ..FakeCloud::default()
        });
        let (r, st) = apply_at(&cloud, reference_stack(&[]), State::new("three-az"), 10).await;
        assert!(r.ok(), "{r:?}");
        println!(
            "reference stack apply ({} resources) on AWS's typical times: {}s; critical path: {}",
            st.resources.len(),
            r.took.as_secs(),
            chain(&r).join(" -> ")
        );
        let before = cloud.log.lock().unwrap().len();
        let flip = [("active_region".to_string(), "us-west-2".to_string())];
        let (r, _) = apply_at(&cloud, reference_stack(&flip), st, 10).await;
        assert!(r.ok(), "{r:?}");
        let chain = chain(&r);
        println!(
            "reference stack failover on AWS's typical times: {}s; critical path: {}",
            r.took.as_secs(),
            chain.join(" -> ")
        );
        let log = cloud.log.lock().unwrap()[before..].to_vec();
        let count = |what: &str| log.iter().filter(|l| l.starts_with(what)).count();
        assert_eq!(count("create"), 6, "the standby's instances: {log:?}");
        assert_eq!(count("delete"), 0, "nothing deleted: {log:?}");
        assert!(
            log.iter().any(|l| l.starts_with("update rds-cluster")),
            "the promotion: {log:?}"
        );
        assert_eq!(
            count("update"),
            4,
            "promotion, target group, A, AAAA: {log:?}"
        );
        assert_eq!(
            chain,
            ["update module.standby.db (600s)"],
            "the promotion sets the time; the instances and the names go on beside it"
        );
        assert_eq!(r.took.as_secs(), 600);
    }

    /// One VPC, a thousand subnets and their route tables, each create
    /// paced to its own bucket as EC2 meters them (tokio's clock paused):
    /// operations waiting on CreateSubnet's bucket give their slots back,
    /// so the route tables keep pace with their subnets instead of waiting
    /// for the last subnet, and the apply takes about what the buckets set.
    #[tokio::test(start_paused = true)]
    async fn an_apply_paced_to_the_buckets_takes_about_their_floor() {
        let n = 1000;
        let src = format!(
            "stack: scale
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
        );
        let stack = crate::stack::load("scale.yaml", &src, &[]).unwrap();
        let cloud = Arc::new(FakeCloud {
            paced: true,
            ..FakeCloud::default()
        });
        let (r, st) = apply_at(&cloud, stack, State::new("scale"), 10).await;
        assert!(r.ok(), "{:?}", r.failed);
        assert_eq!(st.resources.len(), 2 * n + 1);
        let (_, bucket) = crate::aws::rates::buckets("ec2", "CreateSubnet")[0].clone();
        let floor = crate::aws::rates::floor(bucket, n as u64);
        let ratio = r.took.as_secs_f64() / floor;
        println!("took {:?}, floor {floor}s, ratio {ratio:.2}", r.took);
        assert!(
            ratio <= 1.2,
            "took {:?} against the buckets' {floor}s ({ratio:.2}x)",
            r.took
        );
    }

    #[tokio::test]
    async fn applies_in_order_and_converges() {
        let cloud = Arc::new(FakeCloud::default());
        let (r, st) = apply(&cloud, STACK, State::new("t")).await;
        assert!(r.ok(), "{r:?}");
        assert_eq!(st.resources.len(), 4);
        let log = cloud.log.lock().unwrap().clone();
        assert_eq!(log[0], "create vpc");
        assert_eq!(log[3], "create rt");
        let rt = &st.resources["rt"].properties["subnet_ids"];
        assert_eq!(rt.as_array().unwrap().len(), 2);
        // Nothing to do the second time.
        let stack = crate::stack::load("t.yaml", STACK, &[]).unwrap();
        let live = crate::refresh::refresh(
            cloud.as_ref(),
            Some(&stack),
            "t",
            Some(&st),
            crate::refresh::Search::Cheap,
        )
        .await
        .unwrap();
        let p = plan::plan(&stack, Some(&st), &live).unwrap();
        assert!(!p.has_changes(), "{}", crate::render::plan(&p));
    }

    #[tokio::test]
    async fn a_failure_skips_dependents_and_keeps_the_rest() {
        let cloud = Arc::new(FakeCloud::default());
        cloud.fail_create.lock().unwrap().push("subnet/b".into());
        let (r, st) = apply(&cloud, STACK, State::new("t")).await;
        assert_eq!(r.failed.len(), 1, "{r:?}");
        assert_eq!(
            r.skipped,
            vec![("create rt".to_string(), "create subnet[b]".to_string())]
        );
        assert_eq!(r.succeeded.len(), 2);
        assert!(st.resources.contains_key("subnet[a]"));
        // The next run picks up where it stopped.
        cloud.fail_create.lock().unwrap().clear();
        let (r, st) = apply(&cloud, STACK, st).await;
        assert!(r.ok(), "{r:?}");
        assert_eq!(r.succeeded, vec!["create subnet[b]", "create rt"]);
        assert_eq!(st.resources.len(), 4);
    }

    #[tokio::test]
    async fn replacement_deletes_dependents_first() {
        let cloud = Arc::new(FakeCloud::default());
        let (_, st) = apply(&cloud, STACK, State::new("t")).await;
        cloud.log.lock().unwrap().clear();
        let changed = STACK.replace(
            "cidr_block: 10.0.0.0/16}",
            "cidr_block: 10.0.0.0/16, instance_tenancy: dedicated}",
        );
        let (r, st2) = apply(&cloud, &changed, st.clone()).await;
        assert!(r.ok(), "{r:?}");
        let log = cloud.log.lock().unwrap().clone();
        // Subnets recorded a dependency on the VPC; the VPC goes after them.
        let pos = |s: &str| {
            log.iter()
                .position(|x| x == s)
                .unwrap_or_else(|| panic!("{s} in {log:?}"))
        };
        let vpc_del = pos(&format!("delete {}", st.resources["vpc"].id));
        let sub_del = pos(&format!("delete {}", st.resources["subnet[a]"].id));
        assert!(sub_del < vpc_del, "{log:?}");
        assert_ne!(st2.resources["vpc"].id, st.resources["vpc"].id);
    }
}
