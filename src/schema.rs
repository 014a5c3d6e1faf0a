//! What each resource kind accepts: properties, their types, which force
//! replacement, and what the kind exports. Pure data, no AWS.
//!
//! Kind names are `service.type`, lower case, as AWS names the service in its
//! API (`ec2.vpc`, `ec2.subnet`, `elbv2.load_balancer`, ...).

use serde_json::{Map, Value, json};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ty {
    Str,
    Bool,
    Int,
    /// An IPv4 CIDR block in canonical form (`10.0.1.0/24`).
    Cidr,
    /// A list of strings; `set` lists are compared without regard to order.
    StrList {
        set: bool,
    },
    /// A map of tag keys to values.
    Tags,
    /// A list of objects with the given fields; compared as a set.
    ObjList(&'static [Prop]),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prop {
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
    /// Changing it replaces the resource.
    pub force_new: bool,
    /// JSON text of the default, if any.
    pub default: Option<&'static str>,
    /// A setting of provision's, not of AWS (read back from state, never from AWS):
    /// `skip_final_snapshot`, `force_destroy`.
    pub local: bool,
    pub doc: &'static str,
}

/// In which order a replacement happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ReplaceOrder {
    DeleteThenCreate,
    CreateThenDelete,
}

#[derive(Debug)]
pub struct KindSpec {
    pub name: &'static str,
    pub doc: &'static str,
    pub props: &'static [Prop],
    /// Attributes known only once the resource exists (`id` always).
    pub outputs: &'static [&'static str],
    /// Outputs that an in-place update changes (a launch template's version).
    pub volatile: &'static [&'static str],
    pub replace: ReplaceOrder,
    /// Describe calls a refresh of N resources of this kind costs.
    pub refresh_cost: &'static str,
}

impl KindSpec {
    pub fn prop(&self, name: &str) -> Option<&'static Prop> {
        self.props.iter().find(|p| p.name == name)
    }
    pub fn has_tags(&self) -> bool {
        self.prop("tags").is_some()
    }
}

const fn p(name: &'static str, ty: Ty, doc: &'static str) -> Prop {
    Prop {
        name,
        ty,
        required: false,
        force_new: false,
        default: None,
        local: false,
        doc,
    }
}
const fn req(mut x: Prop) -> Prop {
    x.required = true;
    x
}
const fn new(mut x: Prop) -> Prop {
    x.force_new = true;
    x
}
const fn local(mut x: Prop) -> Prop {
    x.local = true;
    x
}
const fn def(mut x: Prop, d: &'static str) -> Prop {
    x.default = Some(d);
    x
}

const TAGS: Prop = p("tags", Ty::Tags, "tags, merged with the stack's tags");

const RULE: &[Prop] = &[
    def(p("protocol", Ty::Str, "tcp, udp, icmp or all"), "\"tcp\""),
    p("from_port", Ty::Int, "first port"),
    p("to_port", Ty::Int, "last port (defaults to from_port)"),
    p("port", Ty::Int, "shorthand for from_port = to_port"),
    p(
        "cidr_blocks",
        Ty::StrList { set: true },
        "IPv4 sources or destinations",
    ),
    p(
        "security_group_ids",
        Ty::StrList { set: true },
        "security groups as sources or destinations",
    ),
    p("description", Ty::Str, "rule description"),
];

const ROUTE: &[Prop] = &[
    req(p("destination", Ty::Cidr, "destination CIDR block")),
    p("gateway_id", Ty::Str, "an internet gateway"),
    p("nat_gateway_id", Ty::Str, "a NAT gateway"),
];

pub static KINDS: &[KindSpec] = &[
    KindSpec {
        name: "ec2.vpc",
        doc: "A VPC.",
        props: &[
            req(new(p("cidr_block", Ty::Cidr, "the VPC's IPv4 block"))),
            def(p("enable_dns_support", Ty::Bool, "DNS resolution"), "true"),
            def(
                p("enable_dns_hostnames", Ty::Bool, "DNS hostnames"),
                "false",
            ),
            def(
                new(p("instance_tenancy", Ty::Str, "default or dedicated")),
                "\"default\"",
            ),
            TAGS,
        ],
        outputs: &["id"],
        replace: ReplaceOrder::DeleteThenCreate,
        volatile: &[],
        refresh_cost: "1 DescribeVpcs + 2 DescribeVpcAttribute per VPC",
    },
    KindSpec {
        name: "ec2.subnet",
        doc: "A subnet in one Availability Zone.",
        props: &[
            req(new(p("vpc_id", Ty::Str, "the VPC"))),
            req(new(p("cidr_block", Ty::Cidr, "inside the VPC's block"))),
            req(new(p(
                "availability_zone",
                Ty::Str,
                "for example us-east-1a",
            ))),
            def(
                p(
                    "map_public_ip_on_launch",
                    Ty::Bool,
                    "public IPs for instances",
                ),
                "false",
            ),
            TAGS,
        ],
        outputs: &["id", "arn"],
        replace: ReplaceOrder::DeleteThenCreate,
        volatile: &[],
        refresh_cost: "1 DescribeSubnets per 200 ids",
    },
    KindSpec {
        name: "ec2.internet_gateway",
        doc: "An internet gateway, attached to a VPC.",
        props: &[p("vpc_id", Ty::Str, "the VPC to attach to"), TAGS],
        outputs: &["id"],
        replace: ReplaceOrder::DeleteThenCreate,
        volatile: &[],
        refresh_cost: "1 DescribeInternetGateways per 200 ids",
    },
    KindSpec {
        name: "ec2.eip",
        doc: "An Elastic IP address in the VPC domain.",
        props: &[TAGS],
        outputs: &["id", "public_ip"],
        replace: ReplaceOrder::DeleteThenCreate,
        volatile: &[],
        refresh_cost: "1 DescribeAddresses per 200 ids",
    },
    KindSpec {
        name: "ec2.nat_gateway",
        doc: "A NAT gateway in a subnet, with an Elastic IP when public.",
        props: &[
            req(new(p("subnet_id", Ty::Str, "the (public) subnet"))),
            new(p(
                "allocation_id",
                Ty::Str,
                "the Elastic IP's allocation id",
            )),
            def(
                new(p("connectivity_type", Ty::Str, "public or private")),
                "\"public\"",
            ),
            TAGS,
        ],
        outputs: &["id"],
        replace: ReplaceOrder::DeleteThenCreate,
        volatile: &[],
        refresh_cost: "1 DescribeNatGateways per 200 ids",
    },
    KindSpec {
        name: "ec2.route_table",
        doc: "A route table, its routes and its subnet associations (all authoritative).",
        props: &[
            req(new(p("vpc_id", Ty::Str, "the VPC"))),
            def(
                p("routes", Ty::ObjList(ROUTE), "routes besides the local one"),
                "[]",
            ),
            def(
                p(
                    "subnet_ids",
                    Ty::StrList { set: true },
                    "subnets associated",
                ),
                "[]",
            ),
            TAGS,
        ],
        outputs: &["id"],
        replace: ReplaceOrder::DeleteThenCreate,
        volatile: &[],
        refresh_cost: "1 DescribeRouteTables per 200 ids",
    },
    KindSpec {
        name: "ec2.security_group",
        doc: "A security group; its rules are exactly those written (authoritative).",
        props: &[
            req(new(p("name", Ty::Str, "group name"))),
            def(
                new(p("description", Ty::Str, "group description")),
                "\"Managed by provision\"",
            ),
            req(new(p("vpc_id", Ty::Str, "the VPC"))),
            def(p("ingress", Ty::ObjList(RULE), "inbound rules"), "[]"),
            def(
                p(
                    "egress",
                    Ty::ObjList(RULE),
                    "outbound rules (default: all traffic to anywhere)",
                ),
                r#"[{"protocol":"all","cidr_blocks":["0.0.0.0/0"]}]"#,
            ),
            TAGS,
        ],
        outputs: &["id", "arn"],
        replace: ReplaceOrder::DeleteThenCreate,
        volatile: &[],
        refresh_cost: "1 DescribeSecurityGroups per 200 ids",
    },
    KindSpec {
        name: "ec2.launch_template",
        doc: "A launch template; every change makes a new version and sets it as default.",
        props: &[
            req(new(p("name", Ty::Str, "template name"))),
            req(p("image_id", Ty::Str, "the AMI")),
            req(p("instance_type", Ty::Str, "for example t3.medium")),
            def(
                p(
                    "security_group_ids",
                    Ty::StrList { set: true },
                    "security groups",
                ),
                "[]",
            ),
            p(
                "user_data",
                Ty::Str,
                "user data script (plain text; provision encodes it)",
            ),
            p("iam_instance_profile", Ty::Str, "instance profile name"),
            def(p("root_volume_size", Ty::Int, "root volume GiB"), "20"),
            def(
                p("root_volume_encrypted", Ty::Bool, "encrypt the root volume"),
                "true",
            ),
            def(
                p("imdsv2_required", Ty::Bool, "require IMDSv2 tokens"),
                "true",
            ),
            TAGS,
        ],
        outputs: &["id", "latest_version"],
        replace: ReplaceOrder::DeleteThenCreate,
        volatile: &["latest_version"],
        refresh_cost: "1 DescribeLaunchTemplates per 200 ids + 1 DescribeLaunchTemplateVersions per template",
    },
    KindSpec {
        name: "ec2.instance",
        doc: "An EC2 instance launched from a launch template version. Replaced create-then-delete, \
              so whatever points at it (a target group) moves to the new one first.",
        props: &[
            req(new(p("launch_template_id", Ty::Str, "the launch template"))),
            req(new(p(
                "launch_template_version",
                Ty::Str,
                "its version (use the template's latest_version)",
            ))),
            req(new(p("subnet_id", Ty::Str, "a private subnet"))),
            TAGS,
        ],
        outputs: &["id", "private_ip", "availability_zone"],
        replace: ReplaceOrder::CreateThenDelete,
        volatile: &[],
        refresh_cost: "1 DescribeInstances per 200 ids",
    },
    KindSpec {
        name: "elbv2.load_balancer",
        doc: "An Application Load Balancer.",
        props: &[
            req(new(p("name", Ty::Str, "at most 32 characters"))),
            def(
                new(p("scheme", Ty::Str, "internet-facing or internal")),
                "\"internet-facing\"",
            ),
            req(p(
                "subnet_ids",
                Ty::StrList { set: true },
                "subnets in at least two AZs",
            )),
            def(
                p(
                    "security_group_ids",
                    Ty::StrList { set: true },
                    "security groups",
                ),
                "[]",
            ),
            def(p("idle_timeout", Ty::Int, "seconds"), "60"),
            def(
                p("deletion_protection", Ty::Bool, "refuse deletion while on"),
                "false",
            ),
            def(p("http2", Ty::Bool, "HTTP/2"), "true"),
            def(
                p(
                    "drop_invalid_headers",
                    Ty::Bool,
                    "drop invalid header fields",
                ),
                "false",
            ),
            TAGS,
        ],
        outputs: &["id", "arn", "dns_name", "zone_id"],
        replace: ReplaceOrder::DeleteThenCreate,
        volatile: &[],
        refresh_cost: "1 DescribeLoadBalancers + 1 DescribeTags per 20, 1 DescribeLoadBalancerAttributes per ALB",
    },
    KindSpec {
        name: "elbv2.target_group",
        doc: "A target group with a health check; `targets` are registered (authoritative).",
        props: &[
            req(new(p("name", Ty::Str, "at most 32 characters"))),
            def(new(p("protocol", Ty::Str, "HTTP or HTTPS")), "\"HTTP\""),
            req(new(p("port", Ty::Int, "the targets' port"))),
            req(new(p("vpc_id", Ty::Str, "the VPC"))),
            def(
                new(p("target_type", Ty::Str, "instance or ip")),
                "\"instance\"",
            ),
            def(p("health_check_path", Ty::Str, "path probed"), "\"/\""),
            def(
                p(
                    "health_check_matcher",
                    Ty::Str,
                    "HTTP codes counted healthy",
                ),
                "\"200\"",
            ),
            def(
                p("health_check_interval", Ty::Int, "seconds between probes"),
                "30",
            ),
            def(
                p("healthy_threshold", Ty::Int, "probes to become healthy"),
                "5",
            ),
            def(
                p("unhealthy_threshold", Ty::Int, "probes to become unhealthy"),
                "2",
            ),
            def(
                p(
                    "targets",
                    Ty::StrList { set: true },
                    "instance ids registered",
                ),
                "[]",
            ),
            TAGS,
        ],
        outputs: &["id", "arn"],
        replace: ReplaceOrder::DeleteThenCreate,
        volatile: &[],
        refresh_cost: "1 DescribeTargetGroups + 1 DescribeTags per 20, 1 DescribeTargetHealth per group",
    },
    KindSpec {
        name: "elbv2.listener",
        doc: "A listener: forward to a target group, or redirect HTTP to HTTPS.",
        props: &[
            req(new(p("load_balancer_arn", Ty::Str, "the load balancer"))),
            req(p("port", Ty::Int, "80, 443, ...")),
            def(p("protocol", Ty::Str, "HTTP or HTTPS"), "\"HTTP\""),
            p("certificate_arn", Ty::Str, "ACM certificate (HTTPS)"),
            p("ssl_policy", Ty::Str, "TLS policy (HTTPS)"),
            p("forward_to", Ty::Str, "target group ARN to forward to"),
            def(
                p(
                    "redirect_to_https",
                    Ty::Bool,
                    "answer 301 to https://...:443",
                ),
                "false",
            ),
            TAGS,
        ],
        outputs: &["id", "arn"],
        replace: ReplaceOrder::DeleteThenCreate,
        volatile: &[],
        refresh_cost: "1 DescribeListeners + 1 DescribeTags per 20",
    },
    KindSpec {
        name: "rds.db_subnet_group",
        doc: "A DB subnet group.",
        props: &[
            req(new(p("name", Ty::Str, "group name (lower case)"))),
            def(
                p("description", Ty::Str, "description"),
                "\"Managed by provision\"",
            ),
            req(p(
                "subnet_ids",
                Ty::StrList { set: true },
                "database subnets in several AZs",
            )),
            TAGS,
        ],
        outputs: &["id", "arn"],
        replace: ReplaceOrder::DeleteThenCreate,
        volatile: &[],
        refresh_cost: "1 DescribeDBSubnetGroups per 100 groups in the region + 1 ListTagsForResource per group",
    },
    KindSpec {
        name: "rds.cluster",
        doc: "An Aurora cluster. The master password is made and kept by AWS Secrets Manager \
              (ManageMasterUserPassword): no password is ever in the stack, state, plan or logs.",
        props: &[
            req(new(p("identifier", Ty::Str, "cluster identifier"))),
            def(
                new(p("engine", Ty::Str, "aurora-mysql or aurora-postgresql")),
                "\"aurora-mysql\"",
            ),
            p("engine_version", Ty::Str, "engine version"),
            def(
                new(p("master_username", Ty::Str, "master user name")),
                "\"admin\"",
            ),
            new(p("database_name", Ty::Str, "initial database")),
            req(new(p(
                "db_subnet_group_name",
                Ty::Str,
                "the DB subnet group",
            ))),
            def(
                p(
                    "vpc_security_group_ids",
                    Ty::StrList { set: true },
                    "security groups",
                ),
                "[]",
            ),
            def(
                new(p("storage_encrypted", Ty::Bool, "encrypt storage")),
                "true",
            ),
            new(p("kms_key_id", Ty::Str, "KMS key for storage")),
            def(p("backup_retention_period", Ty::Int, "days"), "7"),
            p("preferred_backup_window", Ty::Str, "hh24:mi-hh24:mi UTC"),
            def(
                p("deletion_protection", Ty::Bool, "refuse deletion while on"),
                "true",
            ),
            def(
                p("copy_tags_to_snapshot", Ty::Bool, "tags on snapshots"),
                "true",
            ),
            def(
                local(p(
                    "skip_final_snapshot",
                    Ty::Bool,
                    "delete without a final snapshot",
                )),
                "false",
            ),
            TAGS,
        ],
        outputs: &[
            "id",
            "arn",
            "endpoint",
            "reader_endpoint",
            "port",
            "master_user_secret_arn",
        ],
        replace: ReplaceOrder::DeleteThenCreate,
        volatile: &[],
        refresh_cost: "1 DescribeDBClusters per 100 ids",
    },
    KindSpec {
        name: "rds.instance",
        doc: "An Aurora instance in a cluster: the first is the writer, the others readers.",
        props: &[
            req(new(p("identifier", Ty::Str, "instance identifier"))),
            req(new(p("cluster_identifier", Ty::Str, "the cluster"))),
            def(
                new(p("engine", Ty::Str, "as the cluster's")),
                "\"aurora-mysql\"",
            ),
            def(
                p("instance_class", Ty::Str, "for example db.r6g.large"),
                "\"db.r6g.large\"",
            ),
            new(p("availability_zone", Ty::Str, "AZ of this instance")),
            def(p("promotion_tier", Ty::Int, "failover priority 0-15"), "1"),
            TAGS,
        ],
        outputs: &["id", "arn", "endpoint"],
        replace: ReplaceOrder::DeleteThenCreate,
        volatile: &[],
        refresh_cost: "1 DescribeDBInstances per 100 ids",
    },
    KindSpec {
        name: "elasticache.subnet_group",
        doc: "A cache subnet group.",
        props: &[
            req(new(p("name", Ty::Str, "group name"))),
            def(
                p("description", Ty::Str, "description"),
                "\"Managed by provision\"",
            ),
            req(p("subnet_ids", Ty::StrList { set: true }, "subnets")),
            TAGS,
        ],
        outputs: &["id", "arn"],
        replace: ReplaceOrder::DeleteThenCreate,
        volatile: &[],
        refresh_cost: "1 DescribeCacheSubnetGroups per 100 groups in the region + 1 ListTagsForResource per group",
    },
    KindSpec {
        name: "elasticache.replication_group",
        doc: "A Redis or Valkey replication group: one shard, replicas in other AZs.",
        props: &[
            req(new(p("id", Ty::Str, "replication group id"))),
            def(
                p("description", Ty::Str, "description"),
                "\"Managed by provision\"",
            ),
            def(new(p("engine", Ty::Str, "redis or valkey")), "\"redis\""),
            p("engine_version", Ty::Str, "engine version"),
            def(
                p("node_type", Ty::Str, "for example cache.t4g.medium"),
                "\"cache.t4g.medium\"",
            ),
            def(
                new(p(
                    "replicas_per_node_group",
                    Ty::Int,
                    "replicas of the primary",
                )),
                "2",
            ),
            def(
                p(
                    "automatic_failover",
                    Ty::Bool,
                    "promote a replica on failure",
                ),
                "true",
            ),
            def(p("multi_az", Ty::Bool, "replicas in other AZs"), "true"),
            def(
                new(p("transit_encryption", Ty::Bool, "TLS in transit")),
                "true",
            ),
            def(
                new(p("at_rest_encryption", Ty::Bool, "encryption at rest")),
                "true",
            ),
            req(new(p(
                "subnet_group_name",
                Ty::Str,
                "the cache subnet group",
            ))),
            def(
                p(
                    "security_group_ids",
                    Ty::StrList { set: true },
                    "security groups",
                ),
                "[]",
            ),
            def(new(p("port", Ty::Int, "port")), "6379"),
            def(
                p("snapshot_retention_limit", Ty::Int, "days of snapshots"),
                "1",
            ),
            TAGS,
        ],
        outputs: &["id", "arn", "primary_endpoint", "reader_endpoint"],
        replace: ReplaceOrder::DeleteThenCreate,
        volatile: &[],
        refresh_cost: "1 DescribeReplicationGroups per 100 groups in the region + 1 ListTagsForResource per group",
    },
    KindSpec {
        name: "efs.file_system",
        doc: "An encrypted EFS file system with a lifecycle policy.",
        props: &[
            def(new(p("encrypted", Ty::Bool, "encrypt at rest")), "true"),
            new(p("kms_key_id", Ty::Str, "KMS key")),
            def(
                new(p("performance_mode", Ty::Str, "generalPurpose or maxIO")),
                "\"generalPurpose\"",
            ),
            def(
                p(
                    "throughput_mode",
                    Ty::Str,
                    "bursting, elastic or provisioned",
                ),
                "\"elastic\"",
            ),
            def(
                p("transition_to_ia", Ty::Str, "AFTER_30_DAYS, ... or NONE"),
                "\"AFTER_30_DAYS\"",
            ),
            def(
                p("backup", Ty::Bool, "automatic backups (AWS Backup)"),
                "true",
            ),
            TAGS,
        ],
        outputs: &["id", "arn", "dns_name"],
        replace: ReplaceOrder::DeleteThenCreate,
        volatile: &[],
        refresh_cost: "1 DescribeFileSystems per 100 file systems in the region + 1 DescribeLifecycleConfiguration and 1 DescribeBackupPolicy per file system",
    },
    KindSpec {
        name: "efs.mount_target",
        doc: "A mount target of a file system in one subnet (EFS gives mount targets no tags: \
              a duplicate create is answered by adopting the existing one).",
        props: &[
            req(new(p("file_system_id", Ty::Str, "the file system"))),
            req(new(p("subnet_id", Ty::Str, "one per AZ"))),
            def(
                p(
                    "security_group_ids",
                    Ty::StrList { set: true },
                    "security groups",
                ),
                "[]",
            ),
        ],
        outputs: &["id", "ip_address", "availability_zone"],
        replace: ReplaceOrder::DeleteThenCreate,
        volatile: &[],
        refresh_cost: "1 DescribeMountTargets + 1 DescribeMountTargetSecurityGroups per mount target",
    },
    KindSpec {
        name: "s3.bucket",
        doc: "An S3 bucket for documents: versioning, default encryption, public access blocked, \
              owner-enforced ownership, lifecycle rules. Its name is its identity.",
        props: &[
            req(new(p("bucket", Ty::Str, "globally unique name"))),
            def(p("versioning", Ty::Bool, "keep every version"), "true"),
            def(
                p("sse_algorithm", Ty::Str, "AES256 or aws:kms"),
                "\"AES256\"",
            ),
            p("kms_key_id", Ty::Str, "KMS key for aws:kms"),
            def(
                p(
                    "block_public_access",
                    Ty::Bool,
                    "all four public access blocks",
                ),
                "true",
            ),
            def(
                p("object_ownership", Ty::Str, "BucketOwnerEnforced, ..."),
                "\"BucketOwnerEnforced\"",
            ),
            def(
                p("lifecycle_rules", Ty::ObjList(LIFECYCLE), "lifecycle rules"),
                "[]",
            ),
            def(
                local(p(
                    "force_destroy",
                    Ty::Bool,
                    "delete even with objects in it",
                )),
                "false",
            ),
            TAGS,
        ],
        outputs: &["id", "arn", "domain_name"],
        replace: ReplaceOrder::DeleteThenCreate,
        volatile: &[],
        refresh_cost: "6 calls per bucket (no batch read exists): tagging, versioning, encryption, public access block, ownership, lifecycle",
    },
    KindSpec {
        name: "wafv2.web_acl",
        doc: "A regional WAF web ACL: AWS managed rule groups, a rate-based rule per source IP, \
              default action allow, CloudWatch metrics and sampled requests on.",
        props: &[
            req(new(p("name", Ty::Str, "web ACL name"))),
            def(
                p("description", Ty::Str, "description"),
                "\"Managed by provision\"",
            ),
            def(
                p(
                    "managed_rule_groups",
                    Ty::StrList { set: false },
                    "AWS managed rule groups, in priority order",
                ),
                r#"["AWSManagedRulesCommonRuleSet","AWSManagedRulesKnownBadInputsRuleSet","AWSManagedRulesSQLiRuleSet"]"#,
            ),
            def(
                p(
                    "rate_limit",
                    Ty::Int,
                    "requests per 5 minutes per IP before blocking (0: no rate rule)",
                ),
                "2000",
            ),
            TAGS,
        ],
        outputs: &["id", "arn"],
        replace: ReplaceOrder::DeleteThenCreate,
        volatile: &[],
        refresh_cost: "1 GetWebACL + 1 ListTagsForResource per web ACL (no batch read exists)",
    },
    KindSpec {
        name: "wafv2.web_acl_association",
        doc: "Puts a web ACL in front of a load balancer.",
        props: &[
            req(new(p("web_acl_arn", Ty::Str, "the web ACL"))),
            req(new(p("resource_arn", Ty::Str, "the load balancer"))),
        ],
        outputs: &["id"],
        replace: ReplaceOrder::DeleteThenCreate,
        volatile: &[],
        refresh_cost: "1 GetWebACLForResource per association",
    },
    KindSpec {
        name: "shield.protection",
        doc: "A Shield Advanced protection. Needs a Shield Advanced subscription (paid, one-year \
              commitment): provision never subscribes; without one the plan says so and does not \
              attempt the protection.",
        props: &[
            req(new(p("name", Ty::Str, "protection name"))),
            req(new(p(
                "resource_arn",
                Ty::Str,
                "the load balancer or hosted zone",
            ))),
            TAGS,
        ],
        outputs: &["id", "arn"],
        replace: ReplaceOrder::DeleteThenCreate,
        volatile: &[],
        refresh_cost: "1 ListProtections per 100 protections + 1 ListTagsForResource per protection",
    },
    KindSpec {
        name: "route53.zone",
        doc: "A public hosted zone created by the stack.",
        props: &[
            req(new(p("name", Ty::Str, "domain name"))),
            def(p("comment", Ty::Str, "comment"), "\"Managed by provision\""),
            TAGS,
        ],
        outputs: &["id", "name_servers"],
        replace: ReplaceOrder::DeleteThenCreate,
        volatile: &[],
        refresh_cost: "1 GetHostedZone per zone + 1 ListTagsForResources per 10 zones",
    },
    KindSpec {
        name: "route53.zone_lookup",
        doc: "An existing public hosted zone, found by name; never created or deleted.",
        props: &[req(new(p("name", Ty::Str, "domain name")))],
        outputs: &["id", "name_servers"],
        replace: ReplaceOrder::DeleteThenCreate,
        volatile: &[],
        refresh_cost: "1 GetHostedZone per zone",
    },
    KindSpec {
        name: "route53.record",
        doc: "A DNS record: an alias (to a load balancer) or plain values. Changes wait for INSYNC.",
        props: &[
            req(new(p("zone_id", Ty::Str, "the hosted zone"))),
            req(new(p("name", Ty::Str, "fully qualified name"))),
            req(new(p("type", Ty::Str, "A, AAAA, CNAME, TXT, ..."))),
            p("ttl", Ty::Int, "seconds (not for aliases)"),
            def(
                p(
                    "values",
                    Ty::StrList { set: true },
                    "record values (not for aliases)",
                ),
                "[]",
            ),
            p(
                "alias_dns_name",
                Ty::Str,
                "alias target, for example the ALB's dns_name",
            ),
            p(
                "alias_zone_id",
                Ty::Str,
                "alias target's hosted zone, for example the ALB's zone_id",
            ),
            def(
                p(
                    "evaluate_target_health",
                    Ty::Bool,
                    "answer only while the target is healthy",
                ),
                "false",
            ),
        ],
        outputs: &["id", "fqdn"],
        replace: ReplaceOrder::DeleteThenCreate,
        volatile: &[],
        refresh_cost: "1 ListResourceRecordSets per record",
    },
    KindSpec {
        name: "route53.health_check",
        doc: "An HTTPS health check of an endpoint.",
        props: &[
            req(p("fqdn", Ty::Str, "host name checked")),
            def(new(p("type", Ty::Str, "HTTPS, HTTP or TCP")), "\"HTTPS\""),
            def(p("port", Ty::Int, "port"), "443"),
            def(p("resource_path", Ty::Str, "path requested"), "\"/\""),
            def(
                new(p("request_interval", Ty::Int, "10 or 30 seconds")),
                "30",
            ),
            def(
                p("failure_threshold", Ty::Int, "failures before unhealthy"),
                "3",
            ),
            TAGS,
        ],
        outputs: &["id"],
        replace: ReplaceOrder::DeleteThenCreate,
        volatile: &[],
        refresh_cost: "1 ListHealthChecks per 100 checks + 1 ListTagsForResources per 10 checks",
    },
    KindSpec {
        name: "guardduty.detector",
        doc: "The region's GuardDuty detector. There is at most one per account and region: one \
              that exists already is adopted, never duplicated. It is known by being the region's \
              one, so it carries no ownership tags.",
        props: &[
            def(p("enable", Ty::Bool, "detector on"), "true"),
            def(
                p(
                    "finding_publishing_frequency",
                    Ty::Str,
                    "FIFTEEN_MINUTES, ONE_HOUR or SIX_HOURS",
                ),
                "\"FIFTEEN_MINUTES\"",
            ),
            def(
                p("features", Ty::StrList { set: true }, "features enabled"),
                r#"["EBS_MALWARE_PROTECTION","RDS_LOGIN_EVENTS","S3_DATA_EVENTS"]"#,
            ),
        ],
        outputs: &["id"],
        replace: ReplaceOrder::DeleteThenCreate,
        volatile: &[],
        refresh_cost: "1 GetDetector per detector (one per region)",
    },
];

const LIFECYCLE: &[Prop] = &[
    req(p("id", Ty::Str, "rule id")),
    def(p("prefix", Ty::Str, "objects under this prefix"), "\"\""),
    p(
        "transition_days",
        Ty::Int,
        "days before moving to transition_storage_class",
    ),
    p(
        "transition_storage_class",
        Ty::Str,
        "STANDARD_IA, GLACIER_IR, ...",
    ),
    p(
        "noncurrent_expiration_days",
        Ty::Int,
        "days before old versions are deleted",
    ),
    p(
        "expiration_days",
        Ty::Int,
        "days before current objects expire",
    ),
];

pub fn kind(name: &str) -> Option<&'static KindSpec> {
    KINDS.iter().find(|k| k.name == name)
}

pub fn kind_names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.name).collect()
}

/// Checks a value against a type. `path` names the place for the message.
/// Values known only after apply pass.
pub fn check(ty: &Ty, v: &Value, path: &str) -> Result<(), String> {
    if crate::expr::contains_unknown(v) && !v.is_array() && !v.is_object() {
        return Ok(());
    }
    let bad = |want: &str| Err(format!("`{path}` must be {want}, found {}", describe(v)));
    match ty {
        Ty::Str => match v {
            Value::String(_) => Ok(()),
            Value::Number(_) => Ok(()),
            _ => bad("a string"),
        },
        Ty::Bool => match v {
            Value::Bool(_) => Ok(()),
            _ => bad("true or false"),
        },
        Ty::Int => match v {
            Value::Number(n) if n.is_i64() => Ok(()),
            Value::String(s) if s.parse::<i64>().is_ok() => Ok(()),
            _ => bad("an integer"),
        },
        Ty::Cidr => match v {
            Value::String(s) => check_cidr(s)
                .map(|_| ())
                .map_err(|m| format!("`{path}`: {m}")),
            _ => bad("an IPv4 CIDR block such as 10.0.0.0/16"),
        },
        Ty::StrList { .. } => match v {
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    check(&Ty::Str, x, &format!("{path}[{i}]"))?;
                }
                Ok(())
            }
            _ => bad("a list of strings"),
        },
        Ty::Tags => match v {
            Value::Object(o) => {
                for (k, x) in o {
                    if !(x.is_string() || x.is_number() || x.is_boolean()) {
                        return Err(format!("tag `{k}` in `{path}` must be a string"));
                    }
                }
                Ok(())
            }
            _ => bad("a mapping of tag names to values"),
        },
        Ty::ObjList(fields) => {
            let Value::Array(a) = v else {
                return bad("a list of mappings");
            };
            for (i, item) in a.iter().enumerate() {
                let Value::Object(o) = item else {
                    return Err(format!(
                        "`{path}[{i}]` must be a mapping, found {}",
                        describe(item)
                    ));
                };
                for (k, x) in o {
                    let Some(f) = fields.iter().find(|f| f.name == k) else {
                        return Err(format!(
                            "unknown field `{k}` in `{path}[{i}]`, expected one of: {}",
                            fields.iter().map(|f| f.name).collect::<Vec<_>>().join(", ")
                        ));
                    };
                    check(&f.ty, x, &format!("{path}[{i}].{k}"))?;
                }
                for f in fields.iter().filter(|f| f.required) {
                    if !o.contains_key(f.name) {
                        return Err(format!("`{path}[{i}]` needs `{}`", f.name));
                    }
                }
            }
            Ok(())
        }
    }
}

pub fn check_cidr(s: &str) -> Result<ipnet::Ipv4Net, String> {
    let net: ipnet::Ipv4Net = s
        .parse()
        .map_err(|_| format!("`{s}` is not an IPv4 CIDR block such as 10.0.0.0/16"))?;
    if net.network() != net.addr() {
        return Err(format!(
            "`{s}` is not a network address; did you mean {}?",
            net.trunc()
        ));
    }
    Ok(net)
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "nothing".into(),
        Value::Bool(b) => format!("{b}"),
        Value::Number(n) => format!("{n}"),
        Value::String(s) => format!("\"{s}\""),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

/// The same value with every object's keys in sorted order (serde_json keeps
/// insertion order here: the AWS SDK turns its `preserve_order` feature on).
pub fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&o[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// Brings evaluated properties to the canonical form used in state and diffs:
/// defaults filled in, numbers-as-strings fixed, sets sorted, rules flattened.
/// The AWS readers produce the same form, so equal means equal.
pub fn canonical(spec: &KindSpec, props: &Value) -> Value {
    let mut out = Map::new();
    let empty = Map::new();
    let obj = props.as_object().unwrap_or(&empty);
    for prop in spec.props {
        let v = match obj.get(prop.name) {
            Some(v) if !v.is_null() => v.clone(),
            _ => match prop.default {
                Some(d) => serde_json::from_str(d).expect("valid default"),
                None => continue,
            },
        };
        out.insert(prop.name.to_string(), canon_value(&prop.ty, v));
    }
    sorted(&Value::Object(out))
}

fn canon_value(ty: &Ty, v: Value) -> Value {
    if crate::expr::contains_unknown(&v) && !v.is_array() && !v.is_object() {
        return v;
    }
    match ty {
        Ty::Str => match v {
            Value::Number(n) => Value::String(n.to_string()),
            v => v,
        },
        Ty::Int => match &v {
            Value::String(s) => s.parse::<i64>().map(Value::from).unwrap_or(v),
            _ => v,
        },
        Ty::StrList { set } => {
            let mut a: Vec<Value> = v
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|x| canon_value(&Ty::Str, x))
                .collect();
            if *set {
                sort_values(&mut a);
                // Unknown ids are distinct values that look alike: keep them all.
                a.dedup_by(|x, y| x == y && !crate::expr::contains_unknown(x));
            }
            Value::Array(a)
        }
        Ty::Tags => {
            let mut o = Map::new();
            if let Value::Object(m) = v {
                for (k, x) in m {
                    o.insert(k, canon_value(&Ty::Str, x));
                }
            }
            Value::Object(o)
        }
        Ty::ObjList(fields) if std::ptr::eq(*fields, RULE) => canon_rules(v),
        Ty::ObjList(fields) => {
            let mut a: Vec<Value> = v
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|item| {
                    let mut o = Map::new();
                    for f in fields.iter() {
                        let x = match item.get(f.name).filter(|x| !x.is_null()) {
                            Some(x) => x.clone(),
                            None => match f.default {
                                Some(d) => serde_json::from_str(d).expect("valid default"),
                                None => continue,
                            },
                        };
                        o.insert(f.name.to_string(), canon_value(&f.ty, x));
                    }
                    Value::Object(o)
                })
                .collect();
            sort_values(&mut a);
            Value::Array(a)
        }
        _ => v,
    }
}

/// Security group rules, one per source: `{protocol, from_port, to_port,
/// cidr_block | security_group_id, description?}`; protocol `all` is `-1`
/// with ports -1, as EC2 reports it.
fn canon_rules(v: Value) -> Value {
    let mut out = Vec::new();
    for r in v.as_array().cloned().unwrap_or_default() {
        let proto = match r.get("protocol").and_then(Value::as_str).unwrap_or("tcp") {
            "all" | "-1" => "-1".to_string(),
            "6" => "tcp".into(),
            "17" => "udp".into(),
            "1" => "icmp".into(),
            other => other.to_lowercase(),
        };
        let int = |k: &str| {
            r.get(k).and_then(|x| match x {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            })
        };
        let (from, to) = if proto == "-1" {
            (-1, -1)
        } else {
            let from = int("from_port").or_else(|| int("port")).unwrap_or(0);
            (from, int("to_port").or_else(|| int("port")).unwrap_or(from))
        };
        let desc = r
            .get("description")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let mut push = |key: &str, src: &Value| {
            let mut o = json!({"protocol": proto, "from_port": from, "to_port": to, key: src});
            if let Some(d) = desc {
                o["description"] = json!(d);
            }
            out.push(o);
        };
        for c in r
            .get("cidr_blocks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            push("cidr_block", c);
        }
        for g in r
            .get("security_group_ids")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            push("security_group_id", g);
        }
        if let Some(c) = r.get("cidr_block") {
            push("cidr_block", c);
        }
        if let Some(g) = r.get("security_group_id") {
            push("security_group_id", g);
        }
    }
    sort_values(&mut out);
    out.dedup();
    Value::Array(out)
}

fn sort_values(a: &mut [Value]) {
    a.sort_by_key(|x| x.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_flatten_and_sort() {
        let sg = kind("ec2.security_group").unwrap();
        let c = canonical(
            sg,
            &json!({"name": "a", "vpc_id": "v", "ingress": [
                {"port": 443, "cidr_blocks": ["0.0.0.0/0", "10.0.0.0/8"]},
                {"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr_blocks": ["0.0.0.0/0"]}
            ]}),
        );
        assert_eq!(c["ingress"].as_array().unwrap().len(), 3);
        assert_eq!(c["egress"][0]["protocol"], "-1");
        assert_eq!(c["description"], "Managed by provision");
    }

    #[test]
    fn cidr_must_be_canonical() {
        assert!(check_cidr("10.0.0.0/16").is_ok());
        assert_eq!(
            check_cidr("10.0.1.5/24").unwrap_err(),
            "`10.0.1.5/24` is not a network address; did you mean 10.0.1.0/24?"
        );
        assert!(check_cidr("10.0.0.0/33").is_err());
    }
}

/// The text of docs/resources.md, made from the kinds above (a test keeps the file in step).
pub fn docs_markdown() -> String {
    use std::fmt::Write;
    let mut out = String::from(
        "# Resource kinds\n\nMade from `src/schema.rs` by `PROVISION_BLESS=1 cargo test --lib docs_are_current`; \
         do not edit by hand.\n\nOn change, a property either updates the resource in place or forces its \
         replacement (delete then create unless the kind says create then delete).\n",
    );
    for k in KINDS {
        let _ = write!(
            out,
            "\n## `{}`\n\n{}\n\nOutputs: {}. Replacement: {}. Refresh of N resources: {}.\n\n\
             | property | type | required | default | on change | description |\n|---|---|---|---|---|---|\n",
            k.name,
            k.doc,
            k.outputs
                .iter()
                .map(|o| format!("`{o}`"))
                .collect::<Vec<_>>()
                .join(", "),
            match k.replace {
                ReplaceOrder::DeleteThenCreate => "delete, then create",
                ReplaceOrder::CreateThenDelete => "create, then delete",
            },
            k.refresh_cost
        );
        for p in k.props {
            let ty = match p.ty {
                Ty::Str => "string".to_string(),
                Ty::Bool => "bool".into(),
                Ty::Int => "integer".into(),
                Ty::Cidr => "CIDR".into(),
                Ty::StrList { set: true } => "set of strings".into(),
                Ty::StrList { set: false } => "list of strings".into(),
                Ty::Tags => "map".into(),
                Ty::ObjList(fields) => format!(
                    "list of {{{}}}",
                    fields.iter().map(|f| f.name).collect::<Vec<_>>().join(", ")
                ),
            };
            let _ = writeln!(
                out,
                "| `{}` | {ty} | {} | {} | {} | {} |",
                p.name,
                if p.required { "yes" } else { "" },
                p.default.map(|d| format!("`{d}`")).unwrap_or_default(),
                if p.force_new {
                    "replace"
                } else {
                    "update in place"
                },
                p.doc
            );
        }
    }
    out
}

#[cfg(test)]
mod doc_tests {
    #[test]
    fn docs_are_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/resources.md");
        let want = super::docs_markdown();
        if std::env::var_os("PROVISION_BLESS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "docs/resources.md is out of date: run PROVISION_BLESS=1 cargo test --lib docs_are_current"
        );
    }
}
