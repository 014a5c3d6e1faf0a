//! `rds.db_subnet_group`: a DB subnet group (see `aws::subnet_group`).

use async_trait::async_trait;

use super::Rds;
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
    fn tagging(&self) -> &dyn Tagging {
        &self.0
    }
    async fn create(&self, p: &Props) -> Result<()> {
        let s = &self.0;
        call!(s, create "CreateDBSubnetGroup", create_db_subnet_group()
            .db_subnet_group_name(&p.name)
            .db_subnet_group_description(&p.description)
            .set_subnet_ids(Some(p.subnet_ids.clone()))
            .set_tags(Some(to_sdk(&p.tags))))
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
    async fn delete(&self, name: &str) -> Result<()> {
        let s = &self.0;
        call!(s, delete "DeleteDBSubnetGroup", delete_db_subnet_group().db_subnet_group_name(name))
            .await
            .map(drop)
    }
}
