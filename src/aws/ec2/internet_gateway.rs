//! `ec2.internet_gateway`: an internet gateway, attached to a VPC.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, ResourceType};
use serde::{Deserialize, Serialize};

use super::{By, Ec2, query, tag_spec};
use crate::aws::call::{call, pages};
use crate::aws::errors::has_code;
use crate::aws::tags::{Tagging, Tags, from_sdk};
use crate::aws::{Clients, Create, Kind, Query, live, no_id, read_one};
use crate::diag::Result;
use crate::kind::{Container, Inside, KindSpec, TAGS, Takes, Ty, p};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    inside: Inside::Searched(Container::Vpc),
    owned_by_filter: true,
    // In use: NAT gateways keep public addresses mapped while they go.
    in_use: 600,
    refresh_cost: "1 DescribeInternetGateways per 200 ids",
    // Detaching waits for the VPC's public addresses.
    takes: Takes::secs(2, 2, 10),
    ..KindSpec::new(
        "ec2.internet_gateway",
        "An internet gateway, attached to a VPC.",
        &[p("vpc_id", Ty::Str, "the VPC to attach to"), TAGS],
    )
};

/// How EC2 filters find its objects.
const BY: By = By {
    id: "internet-gateway-id",
    vpc: Some("attachment.vpc-id"),
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    vpc_id: Option<String>,
    tags: Tags,
}

pub(crate) struct InternetGateway(Ec2);

impl InternetGateway {
    async fn list(&self, filters: Vec<Filter>) -> Result<Vec<Live>> {
        let s = &self.0;
        let items = pages!(
            s,
            "DescribeInternetGateways",
            describe_internet_gateways().set_filters(Some(filters.clone()))
        )
        .await?;
        Ok(items
            .iter()
            .map(|x| {
                let p = Props {
                    vpc_id: x
                        .attachments()
                        .first()
                        .and_then(|a| a.vpc_id())
                        .map(str::to_string),
                    tags: from_sdk(x.tags()),
                };
                live(&SPEC, x.internet_gateway_id().unwrap_or_default(), &p, &[])
            })
            .collect())
    }

    async fn attach(&self, id: &str, vpc: &str) -> Result<()> {
        let s = &self.0;
        call!(s, ensure "AttachInternetGateway", attach_internet_gateway()
            .internet_gateway_id(id)
            .vpc_id(vpc))
        .await
        .map(drop)
    }

    async fn detach(&self, id: &str, vpc: &str) -> Result<()> {
        let s = &self.0;
        match call!(s, delete "DetachInternetGateway", detach_internet_gateway()
            .internet_gateway_id(id)
            .vpc_id(vpc))
        .await
        {
            Err(e) if has_code(&e, &["Gateway.NotAttached"]) => Ok(()),
            r => r.map(drop),
        }
    }
}

#[async_trait]
impl Kind for InternetGateway {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        InternetGateway(c.ec2.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        query(q, BY, |f| self.list(f)).await
    }
    async fn create(&self, p: &Props, _: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        let tags = tag_spec(ResourceType::InternetGateway, &p.tags);
        let r = call!(s, create "CreateInternetGateway", create_internet_gateway()
            .tag_specifications(tags.clone()))
        .await?;
        let id = r
            .internet_gateway()
            .and_then(|x| x.internet_gateway_id())
            .ok_or_else(|| no_id("CreateInternetGateway"))?;
        if let Some(vpc) = &p.vpc_id {
            self.attach(id, vpc).await?;
        }
        read_one(self, id).await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        if before.vpc_id != after.vpc_id {
            if let Some(old) = &before.vpc_id {
                self.detach(id, old).await?;
            }
            if let Some(new) = &after.vpc_id {
                self.attach(id, new).await?;
            }
        }
        self.0.sync_tags(id, &before.tags, &after.tags).await?;
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, p: &Props, _: Duration) -> Result<()> {
        // Detach from whatever VPC it is attached to now, not only the recorded one.
        let now = self.describe(Query::Ids(&[id.to_string()])).await?;
        for l in &now {
            if let Some(vpc) = l.props["vpc_id"].as_str() {
                self.detach(id, vpc).await?;
            }
        }
        if now.is_empty() && p.vpc_id.is_some() {
            return Ok(());
        }
        let s = &self.0;
        call!(s, delete "DeleteInternetGateway", delete_internet_gateway().internet_gateway_id(id))
            .await
            .map(drop)
    }
}
