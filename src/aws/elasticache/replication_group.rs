//! `elasticache.replication_group`: a Redis or Valkey replication group, one
//! shard, replicas in other AZs.
//!
//! Its subnet group, security groups, port and engine version are reported
//! on its member clusters (DescribeCacheClusters of its first member). When no member cluster is reported (moto describes none), those
//! properties are left unobserved and kept as recorded.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_elasticache::types::{
    AutomaticFailoverStatus, CacheCluster, MultiAzStatus, ReplicationGroup as Group,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Cache;
use crate::aws::call::{call, pages};
use crate::aws::errors::{Class, is};
use crate::aws::tags::{Tagging, to_sdk};
use crate::aws::tags::{Tags, owns};
use crate::aws::wait;
use crate::aws::{Clients, Create, Kind, Query, arn_of, each, live, one_by_one_or_all};
use crate::diag::Result;
use crate::kind::{KindSpec, SECURITY_GROUPS, TAGS, Tagged, Takes, Ty, def, new, p, req};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    tagged: Some(Tagged {
        service: "elasticache",
        prefix: "replicationgroup:",
        id_is_arn: false,
    }),
    waits: "create and update until `available` (fails at once on `create-failed`); delete until AWS answers not found.",
    outputs: &["id", "arn", "primary_endpoint", "reader_endpoint"],
    refresh_cost: "1 DescribeReplicationGroups, 1 DescribeCacheClusters (its first member) and 1 ListTagsForResource per group (up to 10 groups; beyond, 1 DescribeReplicationGroups per 100 in the region)",
    // A replication group takes about ten minutes to create.
    takes: Takes::secs(600, 300, 300),
    ..KindSpec::new(
        "elasticache.replication_group",
        "A Redis or Valkey replication group: one shard, replicas in other AZs.",
        &[
            req(new(p("id", Ty::Str, "replication group id"))),
            def(
                p("description", Ty::Str, "description"),
                "\"Managed by provision\"",
            ),
            def(new(p("engine", Ty::Str, "redis or valkey")), "\"redis\""),
            p("engine_version", Ty::Str, "engine version"),
            def(
                p("node_type", Ty::Str, "for example cache.t4g.medium"),
                "\"cache.t4g.medium\"",
            ),
            def(
                new(p(
                    "replicas_per_node_group",
                    Ty::Int,
                    "replicas of the primary",
                )),
                "2",
            ),
            def(
                p(
                    "automatic_failover",
                    Ty::Bool,
                    "promote a replica on failure",
                ),
                "true",
            ),
            def(p("multi_az", Ty::Bool, "replicas in other AZs"), "true"),
            def(
                new(p("transit_encryption", Ty::Bool, "TLS in transit")),
                "true",
            ),
            def(
                new(p("at_rest_encryption", Ty::Bool, "encryption at rest")),
                "true",
            ),
            req(new(p(
                "subnet_group_name",
                Ty::Str,
                "the cache subnet group",
            ))),
            SECURITY_GROUPS,
            def(new(p("port", Ty::Int, "port")), "6379"),
            def(
                p("snapshot_retention_limit", Ty::Int, "days of snapshots"),
                "1",
            ),
            TAGS,
        ],
    )
};

/// Settings absent from AWS's answer take their defaults.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    id: String,
    description: String,
    engine: Option<String>,
    engine_version: Option<String>,
    node_type: Option<String>,
    replicas_per_node_group: i32,
    automatic_failover: bool,
    multi_az: bool,
    transit_encryption: bool,
    at_rest_encryption: bool,
    subnet_group_name: String,
    security_group_ids: Vec<String>,
    port: Option<i32>,
    snapshot_retention_limit: Option<i32>,
    tags: Tags,
}

impl Props {
    /// What ModifyReplicationGroup changes.
    fn settings(&self) -> serde_json::Value {
        json!([
            self.description,
            self.engine_version,
            self.node_type,
            self.automatic_failover,
            self.multi_az,
            self.security_group_ids,
            self.snapshot_retention_limit,
        ])
    }
}

/// Settings a replication group reports only through its member clusters.
const ON_MEMBERS: &[&str] = &[
    "subnet_group_name",
    "security_group_ids",
    "port",
    "engine_version",
];

pub(crate) struct ReplicationGroup(pub(crate) Cache);

impl ReplicationGroup {
    /// One group (`id`) or the region's, as listed (no tags, no members).
    async fn groups(&self, id: Option<&str>) -> Result<Vec<Group>> {
        let s = &self.0;
        pages!(
            s,
            "DescribeReplicationGroups",
            describe_replication_groups().set_replication_group_id(id.map(str::to_string))
        )
        .await
    }

    /// One group (`id`) or the region's; with `only`, just those ids (read
    /// one by one when few, so the cost does not grow with the account).
    async fn list(
        &self,
        id: Option<&str>,
        only: Option<&[String]>,
        of_stack: Option<&str>,
    ) -> Result<Vec<(Live, String)>> {
        let groups = match only {
            Some(ids) => {
                let one = |id: String| async move { self.groups(Some(&id)).await };
                let all = || self.groups(None);
                one_by_one_or_all(ids, one, all, group_id).await?
            }
            None => self.groups(id).await?,
        };
        let full = groups.iter().map(|g| self.full(g, of_stack));
        Ok(each(full.collect::<Vec<_>>())
            .await?
            .into_iter()
            .flatten()
            .collect())
    }

    /// A group with its tags and what its first member cluster reports (a
    /// call each, at once); with `of_stack`, only if it is that stack's
    /// (its member then read only if so).
    async fn full(&self, g: &Group, of_stack: Option<&str>) -> Result<Option<(Live, String)>> {
        let tags = self.0.tags(g.arn().unwrap_or_default());
        let (tags, member) = match of_stack {
            None => futures::future::try_join(tags, self.member(g)).await?,
            Some(stack) => {
                let tags = tags.await?;
                if !owns(stack, &live_of(g, None, tags.clone())) {
                    return Ok(None);
                }
                (tags, self.member(g).await?)
            }
        };
        Ok(Some((
            live_of(g, member.as_ref(), tags),
            g.status().unwrap_or_default().to_string(),
        )))
    }

    /// The group's first member cluster, as it reports itself.
    async fn member(&self, g: &Group) -> Result<Option<CacheCluster>> {
        let s = &self.0;
        let Some(first) = g.member_clusters().first() else {
            return Ok(None);
        };
        match call!(s, read "DescribeCacheClusters", describe_cache_clusters()
            .cache_cluster_id(first)
            .show_cache_node_info(true))
        .await
        {
            Ok(r) => Ok(r.cache_clusters().first().cloned()),
            Err(e) if is(&e, Class::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One group; gone is answered ReplicationGroupNotFoundFault.
    async fn one(&self, id: &str) -> Result<Option<(Live, String)>> {
        match self.list(Some(id), None, None).await {
            Err(e) if is(&e, Class::NotFound) => Ok(None),
            r => Ok(r?.pop()),
        }
    }

    async fn wait_available(&self, id: &str, timeout: Duration) -> Result<Live> {
        let what = format!("replication group {id} to become available");
        wait::for_status(
            &what,
            timeout,
            &["available"],
            &["create-failed"],
            || async { Ok(self.one(id).await?.map(|(l, st)| (st, l))) },
        )
        .await
    }
}

fn group_id(g: &Group) -> &str {
    g.replication_group_id().unwrap_or_default()
}

fn live_of(g: &Group, member: Option<&CacheCluster>, tags: Tags) -> Live {
    let ng = g.node_groups().first();
    let mut p = Props {
        id: g.replication_group_id().unwrap_or_default().into(),
        description: g.description().unwrap_or_default().into(),
        engine: g
            .engine()
            .or(member.and_then(|m| m.engine()))
            .map(str::to_string),
        engine_version: None,
        node_type: g.cache_node_type().map(str::to_string),
        replicas_per_node_group: ng
            .map(|n| n.node_group_members().len().saturating_sub(1))
            .unwrap_or(0) as i32,
        automatic_failover: matches!(
            g.automatic_failover(),
            Some(AutomaticFailoverStatus::Enabled | AutomaticFailoverStatus::Enabling)
        ),
        multi_az: matches!(g.multi_az(), Some(MultiAzStatus::Enabled)),
        transit_encryption: g.transit_encryption_enabled().unwrap_or(false),
        at_rest_encryption: g.at_rest_encryption_enabled().unwrap_or(false),
        subnet_group_name: String::new(),
        security_group_ids: vec![],
        port: None,
        snapshot_retention_limit: g.snapshot_retention_limit(),
        tags,
    };
    if let Some(m) = member {
        p.subnet_group_name = m.cache_subnet_group_name().unwrap_or_default().into();
        p.security_group_ids = m
            .security_groups()
            .iter()
            .filter_map(|s| s.security_group_id().map(str::to_string))
            .collect();
        p.engine_version = m.engine_version().map(str::to_string);
        p.port = m
            .cache_nodes()
            .first()
            .and_then(|n| n.endpoint())
            .and_then(|e| e.port());
    }
    let endpoint =
        |e: Option<&aws_sdk_elasticache::types::Endpoint>| json!(e.and_then(|e| e.address()));
    let outputs = [
        ("arn", json!(g.arn())),
        (
            "primary_endpoint",
            endpoint(ng.and_then(|n| n.primary_endpoint())),
        ),
        (
            "reader_endpoint",
            endpoint(ng.and_then(|n| n.reader_endpoint())),
        ),
    ];
    let mut l = live(
        &SPEC,
        g.replication_group_id().unwrap_or_default(),
        &p,
        &outputs,
    );
    if member.is_none() {
        l.unobserved = ON_MEMBERS.to_vec();
    }
    l
}

#[async_trait]
impl Kind for ReplicationGroup {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        ReplicationGroup(c.elasticache.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        let found = match q {
            Query::Ids(ids) => self.list(None, Some(ids), None).await?,
            Query::Owned(stack, _) => self.list(None, None, Some(stack)).await?,
            Query::All | Query::Inside(..) => vec![],
        };
        Ok(found
            .into_iter()
            .filter(|(_, st)| st != "deleting")
            .map(|x| x.0)
            .collect())
    }
    async fn create(&self, p: &Props, c: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        call!(s, create "CreateReplicationGroup", create_replication_group()
            .replication_group_id(&p.id)
            .replication_group_description(&p.description)
            .set_engine(p.engine.clone())
            .set_engine_version(p.engine_version.clone())
            .set_cache_node_type(p.node_type.clone())
            .num_node_groups(1)
            .replicas_per_node_group(p.replicas_per_node_group)
            .automatic_failover_enabled(p.automatic_failover)
            .multi_az_enabled(p.multi_az)
            .transit_encryption_enabled(p.transit_encryption)
            .at_rest_encryption_enabled(p.at_rest_encryption)
            .cache_subnet_group_name(&p.subnet_group_name)
            .set_security_group_ids(Some(p.security_group_ids.clone()))
            .set_port(p.port)
            .set_snapshot_retention_limit(p.snapshot_retention_limit)
            .set_tags(Some(to_sdk(&p.tags))))
        .await?;
        self.ready(&p.id, c.timeout).await
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
        if before.settings() != after.settings() {
            // Only what changes is sent: AWS refuses a no-op engine or node type change.
            let changed = |f: fn(&Props) -> Option<String>| {
                f(after).filter(|v| f(before).as_ref() != Some(v))
            };
            let description = changed(|p| Some(p.description.clone()));
            let version = changed(|p| p.engine_version.clone());
            let node_type = changed(|p| p.node_type.clone());
            let groups = (before.security_group_ids != after.security_group_ids)
                .then(|| after.security_group_ids.clone());
            call!(s, write "ModifyReplicationGroup", modify_replication_group()
                .replication_group_id(id)
                .apply_immediately(true)
                .set_replication_group_description(description.clone())
                .set_engine_version(version.clone())
                .set_cache_node_type(node_type.clone())
                .automatic_failover_enabled(after.automatic_failover)
                .multi_az_enabled(after.multi_az)
                .set_security_group_ids(groups.clone())
                .set_snapshot_retention_limit(after.snapshot_retention_limit))
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
        call!(s, delete "DeleteReplicationGroup", delete_replication_group().replication_group_id(id))
            .await?;
        wait::gone(&format!("replication group {id}"), timeout, || async {
            Ok(self.one(id).await?.is_some())
        })
        .await
    }
}
