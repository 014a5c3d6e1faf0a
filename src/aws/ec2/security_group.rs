//! `ec2.security_group`: a security group whose rules are exactly those
//! written (authoritative): extra rules are revoked, missing ones authorized.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, ResourceType, UserIdGroupPair};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Ec2, PAGE, filter, owner_filter, sync_tags, tag_spec, tags_of};
use crate::aws::tags::Tags;
use crate::aws::{Clients, Kind, by_pages, live, no_id, read_one};
use crate::diag::Result;
use crate::kind::{KindSpec, Prop, TAGS, Ty, def, new, p, req};
use crate::provider::{Live, Wanted};

/// A rule as written; kept one per source (see `kind::canonical`).
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

static SPEC: KindSpec = KindSpec {
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
            def(p("ingress", Ty::Rules(RULE), "inbound rules"), "[]"),
            def(
                p(
                    "egress",
                    Ty::Rules(RULE),
                    "outbound rules (default: all traffic to anywhere)",
                ),
                r#"[{"protocol":"all","cidr_blocks":["0.0.0.0/0"]}]"#,
            ),
            TAGS,
        ],
    )
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

#[derive(Clone, Copy)]
enum Direction {
    Ingress,
    Egress,
}

pub(crate) struct SecurityGroup(Ec2);

impl SecurityGroup {
    async fn describe(&self, filters: Vec<Filter>) -> Result<Vec<Live>> {
        let s = &self.0;
        let items = s
            .api
            .read("DescribeSecurityGroups", || {
                s.c.describe_security_groups()
                    .set_filters(Some(filters.clone()))
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
            })
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
                    tags: tags_of(x.tags()),
                };
                let arn = ("arn", json!(x.security_group_arn()));
                live(&SPEC, x.group_id().unwrap_or_default(), &p, &[arn])
            })
            .collect())
    }

    /// Makes both directions' rules equal to `want`'s, from what is live now.
    async fn converge(&self, id: &str, want: &Props) -> Result<()> {
        let now: Props = serde_json::from_value(read_one(self, &self.0.api, id).await?.props)
            .map_err(|e| crate::diag::Error::other(format!("internal: {e}")))?;
        self.direction(id, Direction::Ingress, &now.ingress, &want.ingress)
            .await?;
        self.direction(id, Direction::Egress, &now.egress, &want.egress)
            .await
    }

    /// Revokes what is extra, then authorizes what is missing.
    async fn direction(&self, id: &str, d: Direction, have: &[Rule], want: &[Rule]) -> Result<()> {
        let extra: Vec<IpPermission> = have
            .iter()
            .filter(|r| !want.contains(r))
            .map(permission)
            .collect();
        let missing: Vec<IpPermission> = want
            .iter()
            .filter(|r| !have.contains(r))
            .map(permission)
            .collect();
        let s = &self.0;
        let extra = Some(extra).filter(|x| !x.is_empty());
        let missing = Some(missing).filter(|x| !x.is_empty());
        match (d, extra) {
            (_, None) => {}
            (Direction::Ingress, x) => {
                s.api
                    .delete("RevokeSecurityGroupIngress", || {
                        s.c.revoke_security_group_ingress()
                            .group_id(id)
                            .set_ip_permissions(x.clone())
                            .send()
                    })
                    .await?;
            }
            (Direction::Egress, x) => {
                s.api
                    .delete("RevokeSecurityGroupEgress", || {
                        s.c.revoke_security_group_egress()
                            .group_id(id)
                            .set_ip_permissions(x.clone())
                            .send()
                    })
                    .await?;
            }
        }
        match (d, missing) {
            (_, None) => {}
            (Direction::Ingress, x) => {
                s.api
                    .write("AuthorizeSecurityGroupIngress", || {
                        s.c.authorize_security_group_ingress()
                            .group_id(id)
                            .set_ip_permissions(x.clone())
                            .send()
                    })
                    .await?;
            }
            (Direction::Egress, x) => {
                s.api
                    .write("AuthorizeSecurityGroupEgress", || {
                        s.c.authorize_security_group_egress()
                            .group_id(id)
                            .set_ip_permissions(x.clone())
                            .send()
                    })
                    .await?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Kind for SecurityGroup {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        SecurityGroup(c.ec2.clone())
    }
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        by_pages(ids, PAGE, |page| async move {
            self.describe(vec![filter("group-id", &page)]).await
        })
        .await
    }
    async fn find_owned(&self, stack: &str, _: &[Wanted]) -> Result<Vec<Live>> {
        self.describe(vec![owner_filter(stack)]).await
    }
    async fn discover(&self) -> Result<Vec<Live>> {
        Ok(self
            .describe(vec![])
            .await?
            .into_iter()
            .filter(|l| l.props["name"] != "default")
            .collect())
    }
    async fn create(&self, p: &Props, _: Duration) -> Result<Live> {
        let s = &self.0;
        let r = s
            .api
            .create("CreateSecurityGroup", || {
                s.c.create_security_group()
                    .group_name(&p.name)
                    .description(&p.description)
                    .vpc_id(&p.vpc_id)
                    .tag_specifications(tag_spec(ResourceType::SecurityGroup, &p.tags))
                    .send()
            })
            .await?;
        let id = r.group_id().ok_or_else(|| no_id("CreateSecurityGroup"))?;
        // A new group allows all egress: converge from what it has.
        self.converge(id, p).await?;
        read_one(self, &s.api, id).await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        self.converge(id, after).await?;
        sync_tags(&self.0, id, &before.tags, &after.tags).await?;
        read_one(self, &self.0.api, id).await
    }
    async fn delete(&self, id: &str, _: &Props, _: Duration) -> Result<()> {
        let s = &self.0;
        s.api
            .delete("DeleteSecurityGroup", || {
                s.c.delete_security_group().group_id(id).send()
            })
            .await?;
        Ok(())
    }
}
