//! `rds.db_subnet_group`: a DB subnet group (see `aws::subnet_group`).

use async_trait::async_trait;

use super::{Rds, sync_tags, tag_list, tags_of};
use crate::aws::Clients;
use crate::aws::call::{call, pages};
use crate::aws::subnet_group::{Group, Props, Service, SubnetGroup, props};
use crate::aws::tags::Tags;
use crate::diag::Result;
use crate::kind::{KindSpec, Tagged};

static SPEC: KindSpec = KindSpec {
    tagged: Some(Tagged {
        service: "rds",
        prefix: "subgrp:",
        id_is_arn: false,
    }),
    coexist: true,
    unique: Some(("name", 255)),
    in_use: 1200,
    outputs: &["id", "arn"],
    refresh_cost: "1 DescribeDBSubnetGroups per group (by name, up to 10; beyond, 1 per 100 groups in the region) + 1 ListTagsForResource per group",
    ..KindSpec::new(
        "rds.db_subnet_group",
        "A DB subnet group.",
        &props("group name (lower case)"),
    )
};

pub(crate) type DbSubnetGroup = SubnetGroup<DbGroups>;

pub(crate) struct DbGroups(Rds);

#[async_trait]
impl Service for DbGroups {
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        DbGroups(c.rds.clone())
    }
    async fn list(&self, name: Option<&str>) -> Result<Vec<Group>> {
        let s = &self.0;
        let groups = pages!(
            s,
            "DescribeDBSubnetGroups",
            describe_db_subnet_groups().set_db_subnet_group_name(name.map(str::to_string))
        )
        .await?;
        Ok(groups
            .iter()
            .map(|g| Group {
                props: Props {
                    name: g.db_subnet_group_name().unwrap_or_default().into(),
                    description: g.db_subnet_group_description().unwrap_or_default().into(),
                    subnet_ids: g
                        .subnets()
                        .iter()
                        .filter_map(|s| s.subnet_identifier())
                        .map(str::to_string)
                        .collect(),
                    tags: Tags::new(),
                },
                arn: g.db_subnet_group_arn().unwrap_or_default().into(),
            })
            .collect())
    }
    async fn tags(&self, arn: &str) -> Result<Tags> {
        let s = &self.0;
        let t = call!(s, detail "ListTagsForResource", list_tags_for_resource().resource_name(arn))
            .await?;
        Ok(tags_of(t.tag_list()))
    }
    async fn create(&self, p: &Props) -> Result<()> {
        let s = &self.0;
        call!(s, create "CreateDBSubnetGroup", create_db_subnet_group()
            .db_subnet_group_name(&p.name)
            .db_subnet_group_description(&p.description)
            .set_subnet_ids(Some(p.subnet_ids.clone()))
            .set_tags(Some(tag_list(&p.tags))))
        .await
        .map(drop)
    }
    async fn modify(&self, p: &Props) -> Result<()> {
        let s = &self.0;
        call!(s, write "ModifyDBSubnetGroup", modify_db_subnet_group()
            .db_subnet_group_name(&p.name)
            .db_subnet_group_description(&p.description)
            .set_subnet_ids(Some(p.subnet_ids.clone())))
        .await
        .map(drop)
    }
    async fn sync_tags(&self, arn: &str, before: &Tags, after: &Tags) -> Result<()> {
        sync_tags(&self.0, arn, before, after).await
    }
    async fn delete(&self, name: &str) -> Result<()> {
        let s = &self.0;
        call!(s, delete "DeleteDBSubnetGroup", delete_db_subnet_group().db_subnet_group_name(name))
            .await
            .map(drop)
    }
}
