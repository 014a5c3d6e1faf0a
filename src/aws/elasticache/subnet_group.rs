//! `elasticache.subnet_group`: a cache subnet group. Its name is its id.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Cache, sync_tags, tag_list, tags_of};
use crate::aws::tags::{Tags, owns};
use crate::aws::{Clients, Kind, live, read_one};
use crate::diag::Result;
use crate::kind::{KindSpec, TAGS, Ty, def, new, p, req};
use crate::provider::{Live, Wanted};

static SPEC: KindSpec = KindSpec {
    outputs: &["id", "arn"],
    refresh_cost: "1 DescribeCacheSubnetGroups per 100 groups in the region + 1 ListTagsForResource per group",
    ..KindSpec::new(
        "elasticache.subnet_group",
        "A cache subnet group.",
        &[
            req(new(p("name", Ty::Str, "group name"))),
            def(
                p("description", Ty::Str, "description"),
                "\"Managed by provision\"",
            ),
            req(p("subnet_ids", Ty::StrList { set: true }, "subnets")),
            TAGS,
        ],
    )
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    name: String,
    description: String,
    subnet_ids: Vec<String>,
    tags: Tags,
}

pub(crate) struct CacheSubnetGroup(pub(crate) Cache);

impl CacheSubnetGroup {
    /// The region's groups (one call per 100), or those named, with their tags.
    async fn describe(&self, names: Option<&[String]>) -> Result<Vec<Live>> {
        let s = &self.0;
        let groups = s
            .api
            .read("DescribeCacheSubnetGroups", || {
                s.c.describe_cache_subnet_groups()
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
            })
            .await?;
        let mut out = Vec::new();
        for g in groups {
            let name = g.cache_subnet_group_name().unwrap_or_default();
            if names.is_some_and(|n| !n.iter().any(|x| x == name)) {
                continue;
            }
            let arn = g.arn().unwrap_or_default();
            let p = Props {
                name: name.into(),
                description: g
                    .cache_subnet_group_description()
                    .unwrap_or_default()
                    .into(),
                subnet_ids: g
                    .subnets()
                    .iter()
                    .filter_map(|s| s.subnet_identifier().map(str::to_string))
                    .collect(),
                tags: tags_of(s, arn).await?,
            };
            out.push(live(&SPEC, name, &p, &[("arn", json!(arn))]));
        }
        Ok(out)
    }
}

#[async_trait]
impl Kind for CacheSubnetGroup {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        CacheSubnetGroup(c.elasticache.clone())
    }
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        self.describe(Some(ids)).await
    }
    async fn find_owned(&self, stack: &str, wanted: &[Wanted]) -> Result<Vec<Live>> {
        // Names are the identity; with none wanted (drift), look at every group.
        let names: Vec<String> = wanted
            .iter()
            .filter_map(|w| w.props["name"].as_str().map(str::to_string))
            .collect();
        let found = self
            .describe((!wanted.is_empty()).then_some(names.as_slice()))
            .await?;
        Ok(found.into_iter().filter(|l| owns(stack, l)).collect())
    }
    async fn create(&self, p: &Props, _: Duration) -> Result<Live> {
        let s = &self.0;
        s.api
            .create("CreateCacheSubnetGroup", || {
                s.c.create_cache_subnet_group()
                    .cache_subnet_group_name(&p.name)
                    .cache_subnet_group_description(&p.description)
                    .set_subnet_ids(Some(p.subnet_ids.clone()))
                    .set_tags(Some(tag_list(&p.tags)))
                    .send()
            })
            .await?;
        read_one(self, &s.api, &p.name).await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        let s = &self.0;
        if before.subnet_ids != after.subnet_ids || before.description != after.description {
            s.api
                .write("ModifyCacheSubnetGroup", || {
                    s.c.modify_cache_subnet_group()
                        .cache_subnet_group_name(id)
                        .cache_subnet_group_description(&after.description)
                        .set_subnet_ids(Some(after.subnet_ids.clone()))
                        .send()
                })
                .await?;
        }
        let now = read_one(self, &s.api, id).await?;
        let arn = now.outputs["arn"].as_str().unwrap_or_default();
        sync_tags(s, arn, &before.tags, &after.tags).await?;
        read_one(self, &s.api, id).await
    }
    async fn delete(&self, id: &str, _: &Props, _: Duration) -> Result<()> {
        let s = &self.0;
        s.api
            .delete("DeleteCacheSubnetGroup", || {
                s.c.delete_cache_subnet_group()
                    .cache_subnet_group_name(id)
                    .send()
            })
            .await?;
        Ok(())
    }
}
