//! `ec2.vpc`: a VPC. DNS support and hostnames are attributes of their own
//! (DescribeVpcAttribute has no batch form: two calls per VPC on refresh).

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, ResourceType, VpcAttributeName};
use serde::{Deserialize, Serialize};

use super::{By, Ec2, flag, query, tag_spec};
use crate::aws::call::{call, pages};
use crate::aws::tags::{Tagging, Tags, from_sdk};
use crate::aws::{Clients, Create, Kind, Query, live, no_id, read_one};
use crate::diag::Result;
use crate::kind::{KindSpec, TAGS, Takes, Ty, def, new, p, req};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    block_sizes: Some(("cidr_block", 16, 28)),
    owned_by_filter: true,
    refresh_cost: "1 DescribeVpcs per 200 ids + 2 DescribeVpcAttribute per VPC",
    takes: Takes::secs(2, 2, 2),
    ..KindSpec::new(
        "ec2.vpc",
        "A VPC.",
        &[
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
    )
};

/// How EC2 filters find its objects.
const BY: By = By {
    id: "vpc-id",
    vpc: None,
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    cidr_block: String,
    enable_dns_support: bool,
    enable_dns_hostnames: bool,
    instance_tenancy: String,
    tags: Tags,
}

pub(crate) struct Vpc(Ec2);

impl Vpc {
    async fn list(&self, filters: Vec<Filter>) -> Result<Vec<Live>> {
        let s = &self.0;
        let vpcs = pages!(
            s,
            "DescribeVpcs",
            describe_vpcs().set_filters(Some(filters.clone()))
        )
        .await?;
        let mut out = Vec::new();
        for v in vpcs {
            let id = v.vpc_id().unwrap_or_default();
            // DescribeVpcAttribute has no batch form: two calls per VPC.
            let (support, hostnames) = tokio::try_join!(
                self.attr(id, VpcAttributeName::EnableDnsSupport),
                self.attr(id, VpcAttributeName::EnableDnsHostnames)
            )?;
            let p = Props {
                cidr_block: v.cidr_block().unwrap_or_default().into(),
                enable_dns_support: support,
                enable_dns_hostnames: hostnames,
                instance_tenancy: v
                    .instance_tenancy()
                    .map_or("default", |t| t.as_str())
                    .into(),
                tags: from_sdk(v.tags()),
            };
            out.push(live(&SPEC, id, &p, &[]));
        }
        Ok(out)
    }

    async fn attr(&self, id: &str, a: VpcAttributeName) -> Result<bool> {
        let s = &self.0;
        let r = call!(s, detail "DescribeVpcAttribute", describe_vpc_attribute().vpc_id(id).attribute(a.clone()))
            .await?;
        let v = match a {
            VpcAttributeName::EnableDnsSupport => r.enable_dns_support(),
            _ => r.enable_dns_hostnames(),
        };
        Ok(v.and_then(|x| x.value()).unwrap_or(false))
    }

    /// One attribute per ModifyVpcAttribute call, as the API requires;
    /// `Some` for those that change.
    async fn set_attrs(
        &self,
        id: &str,
        support: Option<bool>,
        hostnames: Option<bool>,
    ) -> Result<()> {
        let s = &self.0;
        if let Some(v) = support {
            call!(s, write "ModifyVpcAttribute", modify_vpc_attribute().vpc_id(id).enable_dns_support(flag(v)))
                .await?;
        }
        if let Some(v) = hostnames {
            call!(s, write "ModifyVpcAttribute", modify_vpc_attribute().vpc_id(id).enable_dns_hostnames(flag(v)))
                .await?;
        }
        Ok(())
    }
}

/// `Some(after)` when the value changes.
fn change<T: PartialEq + Copy>(before: T, after: T) -> Option<T> {
    (before != after).then_some(after)
}

#[async_trait]
impl Kind for Vpc {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        Vpc(c.ec2.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        query(q, BY, |f| self.list(f)).await
    }
    async fn create(&self, p: &Props, _: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        let tenancy = p.instance_tenancy.as_str();
        let r = call!(s, create "CreateVpc", create_vpc()
            .cidr_block(&p.cidr_block)
            .instance_tenancy(tenancy.into())
            .tag_specifications(tag_spec(ResourceType::Vpc, &p.tags)))
        .await?;
        let id = r
            .vpc()
            .and_then(|v| v.vpc_id())
            .ok_or_else(|| no_id("CreateVpc"))?;
        // A new VPC has DNS support on and hostnames off.
        let (support, hostnames) = (p.enable_dns_support, p.enable_dns_hostnames);
        self.set_attrs(id, change(true, support), change(false, hostnames))
            .await?;
        read_one(self, id).await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        let support = change(before.enable_dns_support, after.enable_dns_support);
        let hostnames = change(before.enable_dns_hostnames, after.enable_dns_hostnames);
        self.set_attrs(id, support, hostnames).await?;
        self.0.sync_tags(id, &before.tags, &after.tags).await?;
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Props, _: Duration) -> Result<()> {
        let s = &self.0;
        call!(s, delete "DeleteVpc", delete_vpc().vpc_id(id))
            .await
            .map(drop)
    }
}
