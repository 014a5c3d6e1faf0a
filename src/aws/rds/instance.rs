//! `rds.instance`: an Aurora instance in a cluster: the first is the writer,
//! the others readers.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_rds::types::{DbInstance as Db, Filter};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Rds, filter, query};
use crate::aws::call::{call, pages};
use crate::aws::tags::Tags;
use crate::aws::tags::{Tagging, from_sdk, to_sdk};
use crate::aws::wait;
use crate::aws::{Clients, Create, Kind, Query, arn_of, gone, live};
use crate::diag::Result;
use crate::kind::{KindSpec, TAGS, Takes, Ty, def, new, p, req};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    waits: "create and update until `available` (fails at once on `failed`, `inaccessible-*`, `incompatible-*`, `storage-full`); delete until it is gone.",
    outputs: &["id", "arn", "endpoint"],
    refresh_cost: "1 DescribeDBInstances per 100 ids",
    takes: Takes::secs(600, 300, 400),
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
        tags: from_sdk(x.tag_list()),
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
    async fn list_raw(&self, filters: Option<Vec<Filter>>) -> Result<Vec<Db>> {
        let s = &self.0;
        pages!(
            s,
            "DescribeDBInstances",
            describe_db_instances().set_filters(filters.clone())
        )
        .await
    }

    async fn list(&self, filters: Option<Vec<Filter>>) -> Result<Vec<Live>> {
        Ok(self.list_raw(filters).await?.iter().map(live_of).collect())
    }

    async fn wait_available(&self, id: &str, timeout: Duration) -> Result<Live> {
        let what = format!("Aurora instance {id} to become available");
        let failed = ["failed", "inaccessible", "incompatible", "storage-full"];
        wait::for_status(&what, timeout, &["available"], &failed, || async {
            let found = self
                .list_raw(Some(vec![filter("db-instance-id", &[id.to_string()])]))
                .await?;
            let status = |x: &Db| x.db_instance_status().unwrap_or_default().to_string();
            Ok(found.first().map(|x| (status(x), live_of(x))))
        })
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
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        query(q, "db-instance-id", |f| self.list(f)).await
    }
    async fn create(&self, p: &Props, c: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        call!(s, create "CreateDBInstance", create_db_instance()
            .db_instance_identifier(&p.identifier)
            .db_cluster_identifier(&p.cluster_identifier)
            .set_engine(p.engine.clone())
            .set_db_instance_class(p.instance_class.clone())
            .set_availability_zone(p.availability_zone.clone())
            .set_promotion_tier(p.promotion_tier)
            .set_tags(Some(to_sdk(&p.tags))))
        .await?;
        self.ready(&p.identifier, c.timeout).await
    }
    async fn ready(&self, id: &str, timeout: Duration) -> Result<Live> {
        self.wait_available(id, timeout).await
    }
    async fn update(
        &self,
        id: &str,
        before: &Props,
        after: &Props,
        timeout: Duration,
    ) -> Result<Live> {
        let s = &self.0;
        if (&before.instance_class, before.promotion_tier)
            != (&after.instance_class, after.promotion_tier)
        {
            call!(s, write "ModifyDBInstance", modify_db_instance()
                .db_instance_identifier(id)
                .apply_immediately(true)
                .set_db_instance_class(after.instance_class.clone())
                .set_promotion_tier(after.promotion_tier))
            .await?;
        }
        if before.tags != after.tags {
            let arn = arn_of(self, id).await?;
            s.sync_tags(&arn, &before.tags, &after.tags).await?;
        }
        self.wait_available(id, timeout).await
    }
    async fn delete(&self, id: &str, _: &Props, timeout: Duration) -> Result<()> {
        let s = &self.0;
        // Aurora instances have no snapshots of their own: the cluster's is taken.
        call!(s, delete "DeleteDBInstance", delete_db_instance()
            .db_instance_identifier(id)
            .skip_final_snapshot(true))
        .await?;
        gone(self, id, timeout).await
    }
}
