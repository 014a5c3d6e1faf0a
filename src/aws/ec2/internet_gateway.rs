//! `ec2.internet_gateway`: an internet gateway, attached to a VPC.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, ResourceType};
use serde::{Deserialize, Serialize};

use super::{Ec2, PAGE, filter, owner_filter, sync_tags, tag_spec, tags_of};
use crate::aws::errors::has_code;
use crate::aws::tags::Tags;
use crate::aws::{Clients, Kind, by_pages, live, no_id, read_one};
use crate::diag::Result;
use crate::kind::{KindSpec, TAGS, Ty, p};
use crate::provider::{Live, Wanted};

static SPEC: KindSpec = KindSpec {
    refresh_cost: "1 DescribeInternetGateways per 200 ids",
    ..KindSpec::new(
        "ec2.internet_gateway",
        "An internet gateway, attached to a VPC.",
        &[p("vpc_id", Ty::Str, "the VPC to attach to"), TAGS],
    )
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    vpc_id: Option<String>,
    tags: Tags,
}

pub(crate) struct InternetGateway(Ec2);

impl InternetGateway {
    async fn describe(&self, filters: Vec<Filter>) -> Result<Vec<Live>> {
        let s = &self.0;
        let items = s
            .api
            .read("DescribeInternetGateways", || {
                s.c.describe_internet_gateways()
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
                    vpc_id: x
                        .attachments()
                        .first()
                        .and_then(|a| a.vpc_id())
                        .map(str::to_string),
                    tags: tags_of(x.tags()),
                };
                live(&SPEC, x.internet_gateway_id().unwrap_or_default(), &p, &[])
            })
            .collect())
    }

    async fn attach(&self, id: &str, vpc: &str) -> Result<()> {
        let s = &self.0;
        s.api
            .write("AttachInternetGateway", || {
                s.c.attach_internet_gateway()
                    .internet_gateway_id(id)
                    .vpc_id(vpc)
                    .send()
            })
            .await?;
        Ok(())
    }

    async fn detach(&self, id: &str, vpc: &str) -> Result<()> {
        let s = &self.0;
        match s
            .api
            .delete("DetachInternetGateway", || {
                s.c.detach_internet_gateway()
                    .internet_gateway_id(id)
                    .vpc_id(vpc)
                    .send()
            })
            .await
        {
            Err(e) if has_code(&e, &["Gateway.NotAttached"]) => Ok(()),
            r => r.map(|_| ()),
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
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        by_pages(ids, PAGE, |page| async move {
            self.describe(vec![filter("internet-gateway-id", &page)])
                .await
        })
        .await
    }
    async fn find_owned(&self, stack: &str, _: &[Wanted]) -> Result<Vec<Live>> {
        self.describe(vec![owner_filter(stack)]).await
    }
    async fn discover(&self) -> Result<Vec<Live>> {
        self.describe(vec![]).await
    }
    async fn create(&self, p: &Props, _: Duration) -> Result<Live> {
        let s = &self.0;
        let r = s
            .api
            .create("CreateInternetGateway", || {
                s.c.create_internet_gateway()
                    .tag_specifications(tag_spec(ResourceType::InternetGateway, &p.tags))
                    .send()
            })
            .await?;
        let id = r
            .internet_gateway()
            .and_then(|x| x.internet_gateway_id())
            .ok_or_else(|| no_id("CreateInternetGateway"))?;
        if let Some(vpc) = &p.vpc_id {
            self.attach(id, vpc).await?;
        }
        read_one(self, &s.api, id).await
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
        sync_tags(&self.0, id, &before.tags, &after.tags).await?;
        read_one(self, &self.0.api, id).await
    }
    async fn delete(&self, id: &str, p: &Props, _: Duration) -> Result<()> {
        // Detach from whatever VPC it is attached to now, not only the recorded one.
        let now = self.read(&[id.to_string()]).await?;
        for l in &now {
            if let Some(vpc) = l.props["vpc_id"].as_str() {
                self.detach(id, vpc).await?;
            }
        }
        if now.is_empty() && p.vpc_id.is_some() {
            return Ok(());
        }
        let s = &self.0;
        s.api
            .delete("DeleteInternetGateway", || {
                s.c.delete_internet_gateway().internet_gateway_id(id).send()
            })
            .await?;
        Ok(())
    }
}
