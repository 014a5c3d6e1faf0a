//! `ec2.subnet`: a subnet in one Availability Zone, inside its VPC's block.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, ResourceType, SubnetState};
use serde::{Deserialize, Serialize};

use super::{By, Ec2, flag, query, tag_spec};
use crate::aws::call::{call, pages};
use crate::aws::tags::{Tagging, Tags, from_sdk};
use crate::aws::{Clients, Create, Kind, Query, live, no_id, read_one};
use crate::diag::Result;
use crate::kind::{Container, Guard, Inside, KindSpec, TAGS, Ty, Within, def, new, p, req};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    block_sizes: Some(("cidr_block", 16, 28)),
    guards: &[Guard {
        name: "no-public-ips-in-private-subnets",
        check: |p, _| {
            let public = p["tags"]["Tier"].as_str() == Some("public");
            (!public && p["map_public_ip_on_launch"] == true).then(|| {
                "instances launched here get a public IP (tag the subnet Tier: public if it is one)"
                    .into()
            })
        },
    }],
    inside: Inside::Searched(Container::Vpc),
    owned_by_filter: true,
    // In use: network interfaces of what was in it linger for minutes.
    in_use: 1200,
    outputs: &["id", "arn"],
    refresh_cost: "1 DescribeSubnets per 200 ids",
    within: Some(Within {
        parent: "vpc_id",
        cidr: "cidr_block",
    }),
    ..KindSpec::new(
        "ec2.subnet",
        "A subnet in one Availability Zone.",
        &[
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
    )
};

/// How EC2 filters find its objects.
const BY: By = By {
    id: "subnet-id",
    vpc: Some("vpc-id"),
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    vpc_id: String,
    cidr_block: String,
    availability_zone: String,
    map_public_ip_on_launch: bool,
    tags: Tags,
}

pub(crate) struct Subnet(Ec2);

/// A subnet as AWS describes it (in a read, or in its create's answer).
fn live_of(x: &aws_sdk_ec2::types::Subnet) -> Live {
    let p = Props {
        vpc_id: x.vpc_id().unwrap_or_default().into(),
        cidr_block: x.cidr_block().unwrap_or_default().into(),
        availability_zone: x.availability_zone().unwrap_or_default().into(),
        map_public_ip_on_launch: x.map_public_ip_on_launch().unwrap_or(false),
        tags: from_sdk(x.tags()),
    };
    let arn = serde_json::json!(x.subnet_arn());
    live(
        &SPEC,
        x.subnet_id().unwrap_or_default(),
        &p,
        &[("arn", arn)],
    )
}

impl Subnet {
    async fn list(&self, filters: Vec<Filter>) -> Result<Vec<Live>> {
        let s = &self.0;
        let items = pages!(
            s,
            "DescribeSubnets",
            describe_subnets().set_filters(Some(filters.clone()))
        )
        .await?;
        Ok(items.iter().map(live_of).collect())
    }

    async fn map_public_ip(&self, id: &str, on: bool) -> Result<()> {
        let s = &self.0;
        call!(s, write "ModifySubnetAttribute", modify_subnet_attribute()
            .subnet_id(id)
            .map_public_ip_on_launch(flag(on)))
        .await
        .map(drop)
    }
}

#[async_trait]
impl Kind for Subnet {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        Subnet(c.ec2.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        query(q, BY, |f| self.list(f)).await
    }
    async fn create(&self, p: &Props, _: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        let r = call!(s, create "CreateSubnet", create_subnet()
            .vpc_id(&p.vpc_id)
            .cidr_block(&p.cidr_block)
            .availability_zone(&p.availability_zone)
            .tag_specifications(tag_spec(ResourceType::Subnet, &p.tags)))
        .await?;
        let made = r.subnet().ok_or_else(|| no_id("CreateSubnet"))?;
        let id = made.subnet_id().ok_or_else(|| no_id("CreateSubnet"))?;
        if p.map_public_ip_on_launch {
            self.map_public_ip(id, true).await?;
        }
        // The answer describes the subnet: it is read back only when the
        // answer says it is not available yet (with the other subnets read
        // back at the same time, in one call).
        if made.state() == Some(&SubnetState::Available) && made.subnet_arn().is_some() {
            let mut l = live_of(made);
            l.props["map_public_ip_on_launch"] = p.map_public_ip_on_launch.into();
            return Ok(l);
        }
        read_one(self, id).await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        if before.map_public_ip_on_launch != after.map_public_ip_on_launch {
            self.map_public_ip(id, after.map_public_ip_on_launch)
                .await?;
        }
        self.0.sync_tags(id, &before.tags, &after.tags).await?;
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Props, _: Duration) -> Result<()> {
        let s = &self.0;
        call!(s, delete "DeleteSubnet", delete_subnet().subnet_id(id))
            .await
            .map(drop)
    }
}
