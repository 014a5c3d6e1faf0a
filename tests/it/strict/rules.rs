//! In-use checks: the deletes AWS refuses while something still uses the
//! object, asked of the emulator itself (what uses what) and of what the
//! layer saw go by (associations, replication groups, lingering interfaces).

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use aws_sdk_ec2::types::Filter;

use super::wire::Req;

/// What the layer remembers of the traffic it saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// web ACL ARN -> resources it is associated with.
    pub acl_of: HashMap<String, HashSet<String>>,
    /// replication group id -> (subnet group, security groups).
    pub cache: HashMap<String, (String, Vec<String>)>,
    /// Subnets and groups whose network interfaces linger until then.
    pub lingering: HashMap<String, Instant>,
}

/// Clients that ask the emulator directly.
pub struct Moto {
    pub ec2: aws_sdk_ec2::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub rds: aws_sdk_rds::Client,
    pub efs: aws_sdk_efs::Client,
    pub cache: aws_sdk_elasticache::Client,
    pub kms: aws_sdk_kms::Client,
}

impl Moto {
    pub async fn new(url: &str) -> Moto {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(url)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_ec2::config::Credentials::new(
                "a", "b", None, None, "strict",
            ))
            .load()
            .await;
        Moto {
            ec2: aws_sdk_ec2::Client::new(&sdk),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(&sdk),
            rds: aws_sdk_rds::Client::new(&sdk),
            efs: aws_sdk_efs::Client::new(&sdk),
            cache: aws_sdk_elasticache::Client::new(&sdk),
            kms: aws_sdk_kms::Client::new(&sdk),
        }
    }

    fn filter(name: &str, value: &str) -> Filter {
        Filter::builder().name(name).values(value).build()
    }

    /// What uses a security group: other groups' rules, instances, load
    /// balancers, DB clusters, cache clusters, mount targets.
    pub async fn group_users(&self, sg: &str, seen: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        if let Ok(r) = self.ec2.describe_security_groups().send().await {
            for g in r
                .security_groups()
                .iter()
                .filter(|g| g.group_id() != Some(sg))
            {
                let perms = g.ip_permissions().iter().chain(g.ip_permissions_egress());
                if perms
                    .flat_map(|p| p.user_id_group_pairs())
                    .any(|u| u.group_id() == Some(sg))
                {
                    out.push(format!("rules of {}", g.group_id().unwrap_or_default()));
                }
            }
        }
        for i in self.instances(None).await {
            if self.instance_groups(&i).await.iter().any(|g| g == sg) {
                out.push(format!("instance {}", i.instance_id().unwrap_or_default()));
            }
        }
        if let Ok(r) = self.elb.describe_load_balancers().send().await {
            for lb in r
                .load_balancers()
                .iter()
                .filter(|l| l.security_groups().iter().any(|g| g == sg))
            {
                out.push(format!(
                    "load balancer {}",
                    lb.load_balancer_name().unwrap_or_default()
                ));
            }
        }
        if let Ok(r) = self.rds.describe_db_clusters().send().await {
            for c in r.db_clusters() {
                if c.vpc_security_groups()
                    .iter()
                    .any(|g| g.vpc_security_group_id() == Some(sg))
                {
                    out.push(format!(
                        "DB cluster {}",
                        c.db_cluster_identifier().unwrap_or_default()
                    ));
                }
            }
        }
        if let Ok(r) = self.rds.describe_db_instances().send().await {
            for i in r.db_instances() {
                if i.vpc_security_groups()
                    .iter()
                    .any(|g| g.vpc_security_group_id() == Some(sg))
                {
                    out.push(format!(
                        "DB instance {}",
                        i.db_instance_identifier().unwrap_or_default()
                    ));
                }
            }
        }
        if let Ok(r) = self.cache.describe_cache_clusters().send().await {
            for c in r.cache_clusters() {
                if c.security_groups()
                    .iter()
                    .any(|g| g.security_group_id() == Some(sg))
                {
                    out.push(format!(
                        "cache cluster {}",
                        c.cache_cluster_id().unwrap_or_default()
                    ));
                }
            }
        }
        for m in self.mount_targets().await {
            let groups = self
                .efs
                .describe_mount_target_security_groups()
                .mount_target_id(&m.0)
                .send()
                .await;
            if groups.is_ok_and(|g| g.security_groups().iter().any(|x| x == sg)) {
                out.push(format!("mount target {}", m.0));
            }
        }
        out.extend(seen.iter().cloned());
        out
    }

    /// What keeps a VPC: an internet gateway attached, subnets, groups other
    /// than its default, route tables other than its main one.
    pub async fn vpc_users(&self, vpc: &str) -> Vec<String> {
        let mut out = Vec::new();
        let by_vpc = || Self::filter("vpc-id", vpc);
        if let Ok(r) = self
            .ec2
            .describe_internet_gateways()
            .filters(Self::filter("attachment.vpc-id", vpc))
            .send()
            .await
        {
            for g in r.internet_gateways() {
                out.push(format!(
                    "internet gateway {} attached",
                    g.internet_gateway_id().unwrap_or_default()
                ));
            }
        }
        if let Ok(r) = self.ec2.describe_subnets().filters(by_vpc()).send().await {
            for s in r.subnets() {
                out.push(format!("subnet {}", s.subnet_id().unwrap_or_default()));
            }
        }
        if let Ok(r) = self
            .ec2
            .describe_security_groups()
            .filters(by_vpc())
            .send()
            .await
        {
            for g in r
                .security_groups()
                .iter()
                .filter(|g| g.group_name() != Some("default"))
            {
                out.push(format!(
                    "security group {}",
                    g.group_id().unwrap_or_default()
                ));
            }
        }
        if let Ok(r) = self
            .ec2
            .describe_route_tables()
            .filters(by_vpc())
            .send()
            .await
        {
            for t in r
                .route_tables()
                .iter()
                .filter(|t| !t.associations().iter().any(|a| a.main() == Some(true)))
            {
                out.push(format!(
                    "route table {}",
                    t.route_table_id().unwrap_or_default()
                ));
            }
        }
        out
    }

    /// What is in a subnet: instances, NAT gateways, load balancers, mount targets.
    pub async fn subnet_users(&self, subnet: &str) -> Vec<String> {
        let mut out = Vec::new();
        for i in self
            .instances(Some(Self::filter("subnet-id", subnet)))
            .await
        {
            out.push(format!("instance {}", i.instance_id().unwrap_or_default()));
        }
        if let Ok(r) = self
            .ec2
            .describe_nat_gateways()
            .filter(Self::filter("subnet-id", subnet))
            .send()
            .await
        {
            for n in r.nat_gateways() {
                let state = n.state().map(|s| s.as_str()).unwrap_or("");
                if state != "deleted" && state != "failed" {
                    out.push(format!(
                        "NAT gateway {}",
                        n.nat_gateway_id().unwrap_or_default()
                    ));
                }
            }
        }
        if let Ok(r) = self.elb.describe_load_balancers().send().await {
            for lb in r.load_balancers() {
                if lb
                    .availability_zones()
                    .iter()
                    .any(|z| z.subnet_id() == Some(subnet))
                {
                    out.push(format!(
                        "load balancer {}",
                        lb.load_balancer_name().unwrap_or_default()
                    ));
                }
            }
        }
        for (id, s) in self.mount_targets().await {
            if s == subnet {
                out.push(format!("mount target {id}"));
            }
        }
        out
    }

    async fn instances(&self, filter: Option<Filter>) -> Vec<aws_sdk_ec2::types::Instance> {
        let alive = Filter::builder()
            .name("instance-state-name")
            .values("pending")
            .values("running")
            .values("stopping")
            .values("stopped")
            .values("shutting-down")
            .build();
        let filters = std::iter::once(alive).chain(filter).collect();
        match self
            .ec2
            .describe_instances()
            .set_filters(Some(filters))
            .send()
            .await
        {
            Ok(r) => r
                .reservations()
                .iter()
                .flat_map(|x| x.instances().to_vec())
                .filter(|i| {
                    i.state().and_then(|s| s.name()).map(|n| n.as_str()) != Some("terminated")
                })
                .collect(),
            Err(_) => vec![],
        }
    }

    /// An instance's security groups: its own, its interfaces', and (moto
    /// shows neither for an instance launched from a template) its launch
    /// template version's.
    async fn instance_groups(&self, i: &aws_sdk_ec2::types::Instance) -> Vec<String> {
        let mut out: Vec<String> = i
            .security_groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect();
        for n in i.network_interfaces() {
            out.extend(
                n.groups()
                    .iter()
                    .filter_map(|g| g.group_id().map(str::to_string)),
            );
        }
        let tag = |k: &str| {
            i.tags()
                .iter()
                .find(|t| t.key() == Some(k))
                .and_then(|t| t.value())
                .map(str::to_string)
        };
        if let (Some(lt), Some(v)) = (
            tag("aws:ec2launchtemplate:id"),
            tag("aws:ec2launchtemplate:version"),
        ) {
            let r = self
                .ec2
                .describe_launch_template_versions()
                .launch_template_id(lt)
                .versions(v)
                .send()
                .await;
            for d in r
                .iter()
                .flat_map(|r| r.launch_template_versions())
                .filter_map(|v| v.launch_template_data())
            {
                out.extend(d.security_group_ids().iter().cloned());
            }
        }
        out
    }

    /// (mount target id, subnet id) of every file system's mount targets.
    async fn mount_targets(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let Ok(fs) = self.efs.describe_file_systems().send().await else {
            return out;
        };
        for f in fs.file_systems() {
            let r = self
                .efs
                .describe_mount_targets()
                .file_system_id(f.file_system_id())
                .send()
                .await;
            for m in r.iter().flat_map(|r| r.mount_targets()) {
                out.push((m.mount_target_id().to_string(), m.subnet_id().to_string()));
            }
        }
        out
    }

    /// Whether the VPC has public addresses mapped: NAT gateways that are
    /// up, or that the layer still shows deleting.
    pub async fn vpc_mapped_addresses(&self, vpc: &str, deleting: &[String]) -> bool {
        let r = self
            .ec2
            .describe_nat_gateways()
            .filter(Self::filter("vpc-id", vpc))
            .send()
            .await;
        // Unanswered (the emulator busy): what the layer knows is deleting
        // decides.
        let Ok(r) = r else {
            return !deleting.is_empty();
        };
        r.nat_gateways().iter().any(|n| {
            let st = n.state().map(|s| s.as_str()).unwrap_or("");
            let still = n
                .nat_gateway_id()
                .is_some_and(|id| deleting.iter().any(|d| d == id));
            matches!(st, "pending" | "available" | "deleting") || still
        })
    }

    /// Listeners that forward to a target group.
    pub async fn target_group_users(&self, tg: &str) -> Vec<String> {
        let mut out = Vec::new();
        let Ok(lbs) = self.elb.describe_load_balancers().send().await else {
            return out;
        };
        for lb in lbs.load_balancers() {
            let l = self
                .elb
                .describe_listeners()
                .load_balancer_arn(lb.load_balancer_arn().unwrap_or_default())
                .send()
                .await;
            for listener in l.iter().flat_map(|l| l.listeners()) {
                if listener
                    .default_actions()
                    .iter()
                    .any(|a| a.target_group_arn() == Some(tg))
                {
                    out.push(format!(
                        "listener {}",
                        listener.listener_arn().unwrap_or_default()
                    ));
                }
            }
        }
        out
    }

    /// DB clusters in a DB subnet group.
    pub async fn db_subnet_group_users(&self, name: &str) -> Vec<String> {
        let r = self.rds.describe_db_clusters().send().await;
        r.iter()
            .flat_map(|r| r.db_clusters())
            .filter(|c| c.db_subnet_group() == Some(name))
            .map(|c| {
                format!(
                    "DB cluster {}",
                    c.db_cluster_identifier().unwrap_or_default()
                )
            })
            .collect()
    }

    /// The subnets and security groups of what a delete removes, whose
    /// network interfaces linger after it is gone.
    pub async fn interfaces_of(&self, r: &Req) -> Vec<String> {
        match r.action.as_str() {
            "DeleteNatGateway" => {
                let id = r.param("NatGatewayId").unwrap_or_default();
                let x = self
                    .ec2
                    .describe_nat_gateways()
                    .nat_gateway_ids(id)
                    .send()
                    .await;
                x.iter()
                    .flat_map(|x| x.nat_gateways())
                    .filter_map(|n| n.subnet_id().map(str::to_string))
                    .collect()
            }
            "TerminateInstances" => {
                let ids: Vec<String> = r
                    .params_named("InstanceId")
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                let x = self
                    .ec2
                    .describe_instances()
                    .set_instance_ids(Some(ids))
                    .send()
                    .await;
                let mut out = Vec::new();
                for i in x
                    .iter()
                    .flat_map(|x| x.reservations())
                    .flat_map(|r| r.instances())
                {
                    out.extend(i.subnet_id().map(str::to_string));
                    out.extend(self.instance_groups(i).await);
                }
                out
            }
            "DeleteLoadBalancer" => {
                let arn = r.param("LoadBalancerArn").unwrap_or_default();
                let x = self
                    .elb
                    .describe_load_balancers()
                    .load_balancer_arns(arn)
                    .send()
                    .await;
                let mut out = Vec::new();
                for lb in x.iter().flat_map(|x| x.load_balancers()) {
                    out.extend(
                        lb.availability_zones()
                            .iter()
                            .filter_map(|z| z.subnet_id().map(str::to_string)),
                    );
                    out.extend(lb.security_groups().iter().cloned());
                }
                out
            }
            _ => vec![],
        }
    }
}
