//! `ec2.eip`: an Elastic IP address in the VPC domain.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{DomainType, Filter, ResourceType};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{By, Ec2, query, tag_spec};
use crate::aws::call::call;
use crate::aws::tags::{Tagging, Tags, from_sdk};
use crate::aws::{Clients, Create, Kind, Query, live, no_id, read_one};
use crate::diag::Result;
use crate::kind::{KindSpec, TAGS};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    owned_by_filter: true,
    coexist: true,
    in_use: 600,
    outputs: &["id", "public_ip"],
    refresh_cost: "1 DescribeAddresses per 200 ids",
    ..KindSpec::new(
        "ec2.eip",
        "An Elastic IP address in the VPC domain.",
        &[TAGS],
    )
};

/// How EC2 filters find its objects.
const BY: By = By {
    id: "allocation-id",
    vpc: None,
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    tags: Tags,
}

pub(crate) struct Eip(Ec2);

impl Eip {
    async fn list(&self, filters: Vec<Filter>) -> Result<Vec<Live>> {
        let s = &self.0;
        // DescribeAddresses is not paginated: one call answers for all.
        let r = call!(s, read "DescribeAddresses", describe_addresses().set_filters(Some(filters.clone())))
            .await?;
        Ok(r.addresses()
            .iter()
            .map(|a| {
                let p = Props {
                    tags: from_sdk(a.tags()),
                };
                let ip = ("public_ip", json!(a.public_ip()));
                live(&SPEC, a.allocation_id().unwrap_or_default(), &p, &[ip])
            })
            .collect())
    }
}

#[async_trait]
impl Kind for Eip {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        Eip(c.ec2.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        query(q, BY, |f| self.list(f)).await
    }
    async fn create(&self, p: &Props, _: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        let tags = tag_spec(ResourceType::ElasticIp, &p.tags);
        let r = call!(s, create "AllocateAddress", allocate_address()
            .domain(DomainType::Vpc)
            .tag_specifications(tags.clone()))
        .await?;
        let id = r.allocation_id().ok_or_else(|| no_id("AllocateAddress"))?;
        read_one(self, id).await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        self.0.sync_tags(id, &before.tags, &after.tags).await?;
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Props, _: Duration) -> Result<()> {
        let s = &self.0;
        call!(s, delete "ReleaseAddress", release_address().allocation_id(id))
            .await
            .map(drop)
    }
}
