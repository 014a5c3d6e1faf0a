//! `rds.db_subnet_group`: a DB subnet group. Its name is its id.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Rds, sync_tags, tag_list, tags_of};
use crate::aws::tags::{Tags, owns};
use crate::aws::{Clients, Kind, live, read_one};
use crate::diag::Result;
use crate::kind::{KindSpec, TAGS, Ty, def, new, p, req};
use crate::provider::{Live, Wanted};

static SPEC: KindSpec = KindSpec {
    outputs: &["id", "arn"],
    refresh_cost: "1 DescribeDBSubnetGroups per 100 groups in the region + 1 ListTagsForResource per group",
    ..KindSpec::new(
        "rds.db_subnet_group",
        "A DB subnet group.",
        &[
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

pub(crate) struct DbSubnetGroup(Rds);

impl DbSubnetGroup {
    /// Every group in the region (one call per 100), with tags for those named.
    async fn describe(&self, names: Option<&[String]>) -> Result<Vec<Live>> {
        let s = &self.0;
        let groups = s
            .api
            .read("DescribeDBSubnetGroups", || {
                s.c.describe_db_subnet_groups()
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
            })
            .await?;
        let mut out = Vec::new();
        for g in groups {
            let name = g.db_subnet_group_name().unwrap_or_default();
            if names.is_some_and(|n| !n.iter().any(|x| x == name)) {
                continue;
            }
            let arn = g.db_subnet_group_arn().unwrap_or_default();
            // DescribeDBSubnetGroups carries no tags: one call per group.
            let t = s
                .api
                .read("ListTagsForResource", || {
                    s.c.list_tags_for_resource().resource_name(arn).send()
                })
                .await?;
            let p = Props {
                name: name.into(),
                description: g.db_subnet_group_description().unwrap_or_default().into(),
                subnet_ids: g
                    .subnets()
                    .iter()
                    .filter_map(|s| s.subnet_identifier().map(str::to_string))
                    .collect(),
                tags: tags_of(t.tag_list()),
            };
            out.push(live(&SPEC, name, &p, &[("arn", json!(arn))]));
        }
        Ok(out)
    }
}

#[async_trait]
impl Kind for DbSubnetGroup {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        DbSubnetGroup(c.rds.clone())
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
            .create("CreateDBSubnetGroup", || {
                s.c.create_db_subnet_group()
                    .db_subnet_group_name(&p.name)
                    .db_subnet_group_description(&p.description)
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
                .write("ModifyDBSubnetGroup", || {
                    s.c.modify_db_subnet_group()
                        .db_subnet_group_name(id)
                        .db_subnet_group_description(&after.description)
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
            .delete("DeleteDBSubnetGroup", || {
                s.c.delete_db_subnet_group().db_subnet_group_name(id).send()
            })
            .await?;
        Ok(())
    }
}
