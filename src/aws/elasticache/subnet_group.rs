//! `elasticache.subnet_group`: a cache subnet group (see `aws::subnet_group`).

use async_trait::async_trait;

use super::Cache;
use crate::aws::Clients;
use crate::aws::call::{call, pages};
use crate::aws::subnet_group::{Group, Props, Service, SubnetGroup, props};
use crate::aws::tags::{Tagging, Tags, to_sdk};
use crate::diag::Result;
use crate::kind::{Container, Inside, KindSpec, Tagged};

static SPEC: KindSpec = KindSpec {
    inside: Inside::NotSearched(
        Container::Vpc,
        "subnet groups made by hand are not looked for yet",
    ),
    tagged: Some(Tagged {
        service: "elasticache",
        prefix: "subnetgroup:",
        id_is_arn: false,
    }),
    coexist: true,
    unique: Some(("name", 255)),
    in_use: 1200,
    outputs: &["id", "arn"],
    refresh_cost: "1 DescribeCacheSubnetGroups per group (by name, up to 10; beyond, 1 per 100 groups in the region) + 1 ListTagsForResource per group",
    ..KindSpec::new(
        "elasticache.subnet_group",
        "A cache subnet group.",
        &props("group name"),
    )
};

pub(crate) type CacheSubnetGroup = SubnetGroup<CacheGroups>;

pub(crate) struct CacheGroups(pub(crate) Cache);

#[async_trait]
impl Service for CacheGroups {
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        CacheGroups(c.elasticache.clone())
    }
    async fn list(&self, name: Option<&str>) -> Result<Vec<Group>> {
        let s = &self.0;
        let groups = pages!(
            s,
            "DescribeCacheSubnetGroups",
            describe_cache_subnet_groups().set_cache_subnet_group_name(name.map(str::to_string))
        )
        .await?;
        Ok(groups
            .iter()
            .map(|g| Group {
                props: Props {
                    name: g.cache_subnet_group_name().unwrap_or_default().into(),
                    description: g
                        .cache_subnet_group_description()
                        .unwrap_or_default()
                        .into(),
                    subnet_ids: g
                        .subnets()
                        .iter()
                        .filter_map(|s| s.subnet_identifier())
                        .map(str::to_string)
                        .collect(),
                    tags: Tags::new(),
                },
                arn: g.arn().unwrap_or_default().into(),
            })
            .collect())
    }
    fn tagging(&self) -> &dyn Tagging {
        &self.0
    }
    async fn create(&self, p: &Props) -> Result<()> {
        let s = &self.0;
        call!(s, create "CreateCacheSubnetGroup", create_cache_subnet_group()
            .cache_subnet_group_name(&p.name)
            .cache_subnet_group_description(&p.description)
            .set_subnet_ids(Some(p.subnet_ids.clone()))
            .set_tags(Some(to_sdk(&p.tags))))
        .await
        .map(drop)
    }
    async fn modify(&self, p: &Props) -> Result<()> {
        let s = &self.0;
        call!(s, write "ModifyCacheSubnetGroup", modify_cache_subnet_group()
            .cache_subnet_group_name(&p.name)
            .cache_subnet_group_description(&p.description)
            .set_subnet_ids(Some(p.subnet_ids.clone())))
        .await
        .map(drop)
    }
    async fn delete(&self, name: &str) -> Result<()> {
        let s = &self.0;
        call!(s, delete "DeleteCacheSubnetGroup", delete_cache_subnet_group().cache_subnet_group_name(name))
            .await
            .map(drop)
    }
}
