//! `ec2.security_group`: a security group whose rules are exactly those
//! written (authoritative): extra rules are revoked, missing ones authorized.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, ResourceType, UserIdGroupPair};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{By, Ec2, query, tag_spec};
use crate::aws::call::{call, pages};
use crate::aws::tags::{Tagging, Tags, from_sdk};
use crate::aws::{Clients, Create, Kind, Query, live, no_id, read_one};
use crate::diag::Result;
use crate::kind::{Container, Guard, Inside, KindSpec, Prop, TAGS, Ty, def, key, new, p, req};
use crate::provider::Live;

/// A rule as written; kept one per source (`canonical_rules`). Everything
/// but the description says which rule it is.
const RULE: &[Prop] = &[
    key(def(
        p("protocol", Ty::Str, "tcp, udp, icmp or all"),
        "\"tcp\"",
    )),
    key(p("from_port", Ty::Int, "first port")),
    key(p("to_port", Ty::Int, "last port (defaults to from_port)")),
    key(p("port", Ty::Int, "shorthand for from_port = to_port")),
    key(p(
        "cidr_blocks",
        Ty::StrList { set: true },
        "IPv4 sources or destinations",
    )),
    key(p(
        "security_group_ids",
        Ty::StrList { set: true },
        "security groups as sources or destinations",
    )),
    key(p("cidr_block", Ty::Str, "one IPv4 source or destination")),
    key(p(
        "security_group_id",
        Ty::Str,
        "one security group as source or destination",
    )),
    p("description", Ty::Str, "rule description"),
];

/// The rules in canonical form, one per source: `{protocol, from_port,
/// to_port, cidr_block | security_group_id, description?}`; protocol `all`
/// is `-1` with ports -1, as EC2 reports it. (`kind::canonical` sorts them.)
fn canonical_rules(v: Value) -> Value {
    let mut out = Vec::new();
    let Value::Array(rules) = v else {
        return Value::Array(out);
    };
    for r in rules {
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
        let list = |k: &str| r.get(k).and_then(Value::as_array).cloned();
        for c in list("cidr_blocks").into_iter().flatten() {
            push("cidr_block", &c);
        }
        for g in list("security_group_ids").into_iter().flatten() {
            push("security_group_id", &g);
        }
        for (single, key) in [
            ("cidr_block", "cidr_block"),
            ("security_group_id", "security_group_id"),
        ] {
            if let Some(x) = r.get(single) {
                push(key, x);
            }
        }
    }
    Value::Array(out)
}

static SPEC: KindSpec = KindSpec {
    guards: &[Guard {
        name: "no-admin-ports-to-the-internet",
        check: admin_ports_open,
    }],
    inside: Inside::Searched(Container::Vpc),
    owned_by_filter: true,
    coexist: true,
    unique: Some(("name", 255)),
    // In use: network interfaces using it linger for minutes.
    in_use: 1200,
    outputs: &["id", "arn"],
    refresh_cost: "1 DescribeSecurityGroups per 200 ids",
    ..KindSpec::new(
        "ec2.security_group",
        "A security group; its rules are exactly those written (authoritative).",
        &[
            req(new(p("name", Ty::Str, "group name"))),
            def(
                new(p("description", Ty::Str, "group description")),
                "\"Managed by provision\"",
            ),
            req(new(p("vpc_id", Ty::Str, "the VPC"))),
            def(
                p("ingress", Ty::Rules(RULE, canonical_rules), "inbound rules"),
                "[]",
            ),
            def(
                p(
                    "egress",
                    Ty::Rules(RULE, canonical_rules),
                    "outbound rules (default: all traffic to anywhere)",
                ),
                r#"[{"protocol":"all","cidr_blocks":["0.0.0.0/0"]}]"#,
            ),
            TAGS,
        ],
    )
};

/// Ports 22 (SSH) and 3389 (RDP) open to any address.
fn admin_ports_open(p: &Value, _: bool) -> Option<String> {
    let mut open = Vec::new();
    for r in p["ingress"].as_array().into_iter().flatten() {
        let Some(cidr @ ("0.0.0.0/0" | "::/0")) = r["cidr_block"].as_str() else {
            continue;
        };
        let all = r["protocol"].as_str() == Some("-1");
        let (from, to) = (r["from_port"].as_i64(), r["to_port"].as_i64());
        for port in [22, 3389] {
            let within = from.zip(to).is_some_and(|(f, t)| f <= port && port <= t);
            if all || within {
                open.push(format!("port {port} is open to {cidr}"));
            }
        }
    }
    (!open.is_empty()).then(|| open.join("; "))
}

/// How EC2 filters find its objects.
const BY: By = By {
    id: "group-id",
    vpc: Some("vpc-id"),
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    name: String,
    description: String,
    vpc_id: String,
    ingress: Vec<Rule>,
    egress: Vec<Rule>,
    tags: Tags,
}

/// One rule, one source, as `kind::canonical` and EC2 both give it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    protocol: String,
    from_port: i32,
    to_port: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    cidr_block: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    security_group_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

fn rules_of(perms: &[IpPermission]) -> Vec<Rule> {
    let mut out = Vec::new();
    for p in perms {
        let rule = |cidr: Option<&str>, group: Option<&str>, desc: Option<&str>| Rule {
            protocol: p.ip_protocol().unwrap_or("-1").to_string(),
            from_port: p.from_port().unwrap_or(-1),
            to_port: p.to_port().unwrap_or(-1),
            cidr_block: cidr.map(str::to_string),
            security_group_id: group.map(str::to_string),
            description: desc.map(str::to_string),
        };
        for r in p.ip_ranges() {
            out.push(rule(r.cidr_ip(), None, r.description()));
        }
        for g in p.user_id_group_pairs() {
            out.push(rule(None, g.group_id(), g.description()));
        }
    }
    out
}

/// One IpPermission for one rule.
fn permission(rule: &Rule) -> IpPermission {
    let mut p = IpPermission::builder().ip_protocol(&rule.protocol);
    if rule.protocol != "-1" {
        p = p.from_port(rule.from_port).to_port(rule.to_port);
    }
    let desc = rule.description.clone();
    if let Some(c) = &rule.cidr_block {
        p = p.ip_ranges(IpRange::builder().cidr_ip(c).set_description(desc).build());
    } else if let Some(g) = &rule.security_group_id {
        p = p.user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(g)
                .set_description(desc)
                .build(),
        );
    }
    p.build()
}

pub(crate) struct SecurityGroup(Ec2);

impl SecurityGroup {
    async fn list(&self, filters: Vec<Filter>) -> Result<Vec<Live>> {
        let s = &self.0;
        let items = pages!(
            s,
            "DescribeSecurityGroups",
            describe_security_groups().set_filters(Some(filters.clone()))
        )
        .await?;
        Ok(items
            .iter()
            .map(|x| {
                let p = Props {
                    name: x.group_name().unwrap_or_default().into(),
                    description: x.description().unwrap_or_default().into(),
                    vpc_id: x.vpc_id().unwrap_or_default().into(),
                    ingress: rules_of(x.ip_permissions()),
                    egress: rules_of(x.ip_permissions_egress()),
                    tags: from_sdk(x.tags()),
                };
                let arn = ("arn", json!(x.security_group_arn()));
                live(&SPEC, x.group_id().unwrap_or_default(), &p, &[arn])
            })
            .collect())
    }

    /// Makes both directions' rules equal to `want`'s, from what is live now:
    /// revokes what is extra, then authorizes what is missing.
    async fn converge(&self, id: &str, want: &Props) -> Result<()> {
        let now = read_one(self, id).await?;
        let now: Props = serde_json::from_value(now.props)
            .map_err(|e| crate::diag::Error::other(format!("internal: {e}")))?;
        let (extra_in, missing_in) = difference(&now.ingress, &want.ingress);
        let (extra_out, missing_out) = difference(&now.egress, &want.egress);
        let s = &self.0;
        if let Some(x) = extra_in {
            call!(s, delete "RevokeSecurityGroupIngress", revoke_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(Some(x.clone())))
            .await?;
        }
        if let Some(x) = extra_out {
            call!(s, delete "RevokeSecurityGroupEgress", revoke_security_group_egress()
                .group_id(id)
                .set_ip_permissions(Some(x.clone())))
            .await?;
        }
        if let Some(x) = missing_in {
            call!(s, ensure "AuthorizeSecurityGroupIngress", authorize_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(Some(x.clone())))
            .await?;
        }
        if let Some(x) = missing_out {
            call!(s, ensure "AuthorizeSecurityGroupEgress", authorize_security_group_egress()
                .group_id(id)
                .set_ip_permissions(Some(x.clone())))
            .await?;
        }
        Ok(())
    }
}

type Permissions = Option<Vec<IpPermission>>;

/// (extra, missing) permissions between the rules there are and those wanted.
fn difference(have: &[Rule], want: &[Rule]) -> (Permissions, Permissions) {
    let only = |a: &[Rule], b: &[Rule]| {
        let v: Vec<IpPermission> = a
            .iter()
            .filter(|r| !b.contains(r))
            .map(permission)
            .collect();
        (!v.is_empty()).then_some(v)
    };
    (only(have, want), only(want, have))
}

#[async_trait]
impl Kind for SecurityGroup {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        SecurityGroup(c.ec2.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        let found = query(q, BY, |f| self.list(f)).await?;
        Ok(match q {
            // Every VPC has a default group: it is AWS's, not something to import.
            Query::All | Query::Inside(..) => found
                .into_iter()
                .filter(|l| l.props["name"] != "default")
                .collect(),
            _ => found,
        })
    }
    async fn create(&self, p: &Props, _: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        let tags = tag_spec(ResourceType::SecurityGroup, &p.tags);
        let r = call!(s, create "CreateSecurityGroup", create_security_group()
            .group_name(&p.name)
            .description(&p.description)
            .vpc_id(&p.vpc_id)
            .tag_specifications(tags.clone()))
        .await?;
        let id = r.group_id().ok_or_else(|| no_id("CreateSecurityGroup"))?;
        // A new group allows all egress: converge from what it has.
        self.converge(id, p).await?;
        read_one(self, id).await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        self.converge(id, after).await?;
        self.0.sync_tags(id, &before.tags, &after.tags).await?;
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Props, _: Duration) -> Result<()> {
        let s = &self.0;
        call!(s, delete "DeleteSecurityGroup", delete_security_group().group_id(id))
            .await
            .map(drop)
    }
}
