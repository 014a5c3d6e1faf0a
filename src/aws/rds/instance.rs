//! `rds.instance`: an Aurora instance in a cluster: the first is the writer,
//! the others readers.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_rds::types::{DbInstance as Db, Filter};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{PAGE, Rds, filter, sync_tags, tag_list, tags_of};
use crate::aws::tags::{Tags, owns};
use crate::aws::wait::{self, Seen, by_status};
use crate::aws::{Clients, Kind, live, read_one};
use crate::diag::Result;
use crate::kind::{KindSpec, TAGS, Ty, def, new, p, req};
use crate::provider::{Live, Wanted};

static SPEC: KindSpec = KindSpec {
    outputs: &["id", "arn", "endpoint"],
    refresh_cost: "1 DescribeDBInstances per 100 ids",
    ..KindSpec::new(
        "rds.instance",
        "An Aurora instance in a cluster: the first is the writer, the others readers.",
        &[
            req(new(p("identifier", Ty::Str, "instance identifier"))),
            req(new(p("cluster_identifier", Ty::Str, "the cluster"))),
            def(
                new(p("engine", Ty::Str, "as the cluster's")),
                "\"aurora-mysql\"",
            ),
            def(
                p("instance_class", Ty::Str, "for example db.r6g.large"),
                "\"db.r6g.large\"",
            ),
            new(p("availability_zone", Ty::Str, "AZ of this instance")),
            def(p("promotion_tier", Ty::Int, "failover priority 0-15"), "1"),
            TAGS,
        ],
    )
};

/// Settings absent from AWS's answer take their defaults.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    identifier: String,
    cluster_identifier: String,
    engine: Option<String>,
    instance_class: Option<String>,
    availability_zone: Option<String>,
    promotion_tier: Option<i32>,
    tags: Tags,
}

fn live_of(x: &Db) -> Live {
    let p = Props {
        identifier: x.db_instance_identifier().unwrap_or_default().into(),
        cluster_identifier: x.db_cluster_identifier().unwrap_or_default().into(),
        engine: x.engine().map(str::to_string),
        instance_class: x.db_instance_class().map(str::to_string),
        availability_zone: x.availability_zone().map(str::to_string),
        promotion_tier: x.promotion_tier(),
        tags: tags_of(x.tag_list()),
    };
    let outputs = [
        ("arn", json!(x.db_instance_arn())),
        ("endpoint", json!(x.endpoint().and_then(|e| e.address()))),
    ];
    live(
        &SPEC,
        x.db_instance_identifier().unwrap_or_default(),
        &p,
        &outputs,
    )
}

pub(crate) struct DbInstance(Rds);

impl DbInstance {
    async fn describe(&self, filters: Option<Vec<Filter>>) -> Result<Vec<Db>> {
        let s = &self.0;
        s.api
            .read("DescribeDBInstances", || {
                s.c.describe_db_instances()
                    .set_filters(filters.clone())
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
            })
            .await
    }

    async fn wait_available(&self, id: &str, timeout: Duration) -> Result<Live> {
        wait::until(
            &format!("Aurora instance {id} to become available"),
            timeout,
            || async {
                let found = self
                    .describe(Some(vec![filter("db-instance-id", &[id.to_string()])]))
                    .await?;
                Ok(match found.first() {
                    None => Seen::Pending("not visible yet".into()),
                    Some(x) => by_status(
                        x.db_instance_status().unwrap_or_default(),
                        &["available"],
                        &["failed", "inaccessible", "incompatible", "storage-full"],
                        x,
                    ),
                }
                .map(live_of))
            },
        )
        .await
    }
}

#[async_trait]
impl Kind for DbInstance {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        DbInstance(c.rds.clone())
    }
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(PAGE) {
            let found = self
                .describe(Some(vec![filter("db-instance-id", chunk)]))
                .await?;
            out.extend(found.iter().map(live_of));
        }
        Ok(out)
    }
    async fn find_owned(&self, stack: &str, _: &[Wanted]) -> Result<Vec<Live>> {
        let found = self.describe(None).await?;
        Ok(found
            .iter()
            .map(live_of)
            .filter(|l| owns(stack, l))
            .collect())
    }
    async fn create(&self, p: &Props, timeout: Duration) -> Result<Live> {
        let s = &self.0;
        s.api
            .create("CreateDBInstance", || {
                s.c.create_db_instance()
                    .db_instance_identifier(&p.identifier)
                    .db_cluster_identifier(&p.cluster_identifier)
                    .set_engine(p.engine.clone())
                    .set_db_instance_class(p.instance_class.clone())
                    .set_availability_zone(p.availability_zone.clone())
                    .set_promotion_tier(p.promotion_tier)
                    .set_tags(Some(tag_list(&p.tags)))
                    .send()
            })
            .await?;
        self.wait_available(&p.identifier, timeout).await
    }
    async fn update(
        &self,
        id: &str,
        before: &Props,
        after: &Props,
        timeout: Duration,
    ) -> Result<Live> {
        let s = &self.0;
        if before.instance_class != after.instance_class
            || before.promotion_tier != after.promotion_tier
        {
            s.api
                .write("ModifyDBInstance", || {
                    s.c.modify_db_instance()
                        .db_instance_identifier(id)
                        .apply_immediately(true)
                        .set_db_instance_class(after.instance_class.clone())
                        .set_promotion_tier(after.promotion_tier)
                        .send()
                })
                .await?;
        }
        let now = read_one(self, &s.api, id).await?;
        let arn = now.outputs["arn"].as_str().unwrap_or_default();
        sync_tags(s, arn, &before.tags, &after.tags).await?;
        self.wait_available(id, timeout).await
    }
    async fn delete(&self, id: &str, _: &Props, timeout: Duration) -> Result<()> {
        let s = &self.0;
        s.api
            .delete("DeleteDBInstance", || {
                s.c.delete_db_instance()
                    .db_instance_identifier(id)
                    // Aurora instances have no snapshots of their own: the cluster's is taken.
                    .skip_final_snapshot(true)
                    .send()
            })
            .await?;
        wait::gone(&format!("Aurora instance {id}"), timeout, || async {
            Ok(!self.read(&[id.to_string()]).await?.is_empty())
        })
        .await
    }
}
