//! Cache (ElastiCache): cache subnet group and replication group.
//!
//! A replication group's subnet group, security groups, port and engine
//! version are reported on its member clusters (DescribeCacheClusters, one
//! paginated call for the region). When no member cluster is reported (moto
//! describes none), those properties are left unobserved and kept as recorded.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_elasticache::Client;
use aws_sdk_elasticache::types::{AutomaticFailoverStatus, MultiAzStatus, Tag};
use serde_json::{Value, json};

use super::{
    Resource, b, err, i, list, live_of, owned_by, read_one, s, tag_changes, tag_pairs, wait_for,
};
use crate::diag::{Error, Result};
use crate::provider::{Live, Wanted};

pub(super) fn register(c: &Client, kinds: &mut HashMap<&'static str, Box<dyn Resource>>) {
    kinds.insert("elasticache.subnet_group", Box::new(SubnetGroup(c.clone())));
    kinds.insert(
        "elasticache.replication_group",
        Box::new(ReplicationGroup(c.clone())),
    );
}

fn tags(props: &Value) -> Vec<Tag> {
    tag_pairs(props)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

async fn tags_of(c: &Client, arn: &str) -> Result<Value> {
    let t = c
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .map_err(|e| err("ListTagsForResource", e))?;
    Ok(super::tags_from(t.tag_list().iter().map(|t| {
        (t.key().unwrap_or_default(), t.value().unwrap_or_default())
    })))
}

async fn sync_tags(c: &Client, arn: &str, before: &Value, after: &Value) -> Result<()> {
    let (set, removed) = tag_changes(before, after);
    if !removed.is_empty() {
        c.remove_tags_from_resource()
            .resource_name(arn)
            .set_tag_keys(Some(removed))
            .send()
            .await
            .map_err(|e| err("RemoveTagsFromResource", e))?;
    }
    if !set.is_empty() {
        c.add_tags_to_resource()
            .resource_name(arn)
            .set_tags(Some(
                set.into_iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await
            .map_err(|e| err("AddTagsToResource", e))?;
    }
    Ok(())
}

// ---------------------------------------------------------------- Subnet group

pub(crate) struct SubnetGroup(pub(crate) Client);

impl SubnetGroup {
    async fn describe(&self, names: Option<&[String]>) -> Result<Vec<Live>> {
        let groups: Vec<_> = self
            .0
            .describe_cache_subnet_groups()
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| err("DescribeCacheSubnetGroups", e))?;
        let mut out = Vec::new();
        for g in groups {
            let name = g.cache_subnet_group_name().unwrap_or_default().to_string();
            if names.is_some_and(|n| !n.contains(&name)) {
                continue;
            }
            let arn = g.arn().unwrap_or_default().to_string();
            let raw = json!({
                "name": name,
                "description": g.cache_subnet_group_description(),
                "subnet_ids": g.subnets().iter().filter_map(|s| s.subnet_identifier()).collect::<Vec<_>>(),
                "tags": tags_of(&self.0, &arn).await?,
            });
            out.push(live_of(
                "elasticache.subnet_group",
                &name,
                raw,
                &[("arn", json!(arn))],
            ));
        }
        Ok(out)
    }
}

#[async_trait]
impl Resource for SubnetGroup {
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        self.describe(Some(ids)).await
    }
    async fn find_owned(&self, stack: &str, wanted: &[Wanted]) -> Result<Vec<Live>> {
        let names: Vec<String> = wanted.iter().filter_map(|w| s(&w.props, "name")).collect();
        let found = if wanted.is_empty() {
            self.describe(None).await?
        } else {
            self.describe(Some(&names)).await?
        };
        Ok(found
            .into_iter()
            .filter(|l| owned_by(&l.props["tags"], stack))
            .collect())
    }
    async fn create(&self, p: &Value, _: Duration) -> Result<Live> {
        let name = s(p, "name").unwrap_or_default();
        self.0
            .create_cache_subnet_group()
            .cache_subnet_group_name(&name)
            .cache_subnet_group_description(s(p, "description").unwrap_or_default())
            .set_subnet_ids(Some(list(p, "subnet_ids")))
            .set_tags(Some(tags(p)))
            .send()
            .await
            .map_err(|e| err("CreateCacheSubnetGroup", e))?;
        read_one(self, &name).await
    }
    async fn update(&self, id: &str, before: &Value, after: &Value, _: Duration) -> Result<Live> {
        if before.get("subnet_ids") != after.get("subnet_ids")
            || before.get("description") != after.get("description")
        {
            self.0
                .modify_cache_subnet_group()
                .cache_subnet_group_name(id)
                .set_cache_subnet_group_description(s(after, "description"))
                .set_subnet_ids(Some(list(after, "subnet_ids")))
                .send()
                .await
                .map_err(|e| err("ModifyCacheSubnetGroup", e))?;
        }
        let arn = read_one(self, id).await?.outputs["arn"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        sync_tags(&self.0, &arn, before, after).await?;
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Value, _: Duration) -> Result<()> {
        self.0
            .delete_cache_subnet_group()
            .cache_subnet_group_name(id)
            .send()
            .await
            .map_err(|e| err("DeleteCacheSubnetGroup", e))?;
        Ok(())
    }
}

// ---------------------------------------------------------------- Replication group

pub(crate) struct ReplicationGroup(pub(crate) Client);

/// Settings a replication group reports only through its member clusters.
const ON_MEMBERS: &[&str] = &[
    "subnet_group_name",
    "security_group_ids",
    "port",
    "engine_version",
];

impl ReplicationGroup {
    /// One group (`id`) or the region's; with `only`, just those ids (their
    /// tags cost a call each, so none is spent on the others).
    async fn describe(
        &self,
        id: Option<&str>,
        only: Option<&[String]>,
    ) -> Result<Vec<(Live, String)>> {
        let groups: Vec<_> = self
            .0
            .describe_replication_groups()
            .set_replication_group_id(id.map(str::to_string))
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| err("DescribeReplicationGroups", e))?;
        let groups: Vec<_> = groups
            .into_iter()
            .filter(|g| {
                only.is_none_or(|o| {
                    o.iter()
                        .any(|i| Some(i.as_str()) == g.replication_group_id())
                })
            })
            .collect();
        if groups.is_empty() {
            return Ok(vec![]);
        }
        let clusters: Vec<_> = self
            .0
            .describe_cache_clusters()
            .show_cache_node_info(true)
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| err("DescribeCacheClusters", e))?;
        let mut out = Vec::new();
        for g in groups {
            let gid = g.replication_group_id().unwrap_or_default().to_string();
            let arn = g.arn().unwrap_or_default().to_string();
            let member = clusters
                .iter()
                .find(|c| c.replication_group_id() == Some(gid.as_str()));
            let ng = g.node_groups().first();
            let replicas = ng
                .map(|n| n.node_group_members().len().saturating_sub(1))
                .unwrap_or(0);
            let mut raw = json!({
                "id": gid,
                "description": g.description(),
                "engine": g.engine().or(member.and_then(|m| m.engine())),
                "node_type": g.cache_node_type(),
                "replicas_per_node_group": replicas,
                "automatic_failover": matches!(g.automatic_failover(), Some(AutomaticFailoverStatus::Enabled | AutomaticFailoverStatus::Enabling)),
                "multi_az": matches!(g.multi_az(), Some(MultiAzStatus::Enabled)),
                "transit_encryption": g.transit_encryption_enabled().unwrap_or(false),
                "at_rest_encryption": g.at_rest_encryption_enabled().unwrap_or(false),
                "snapshot_retention_limit": g.snapshot_retention_limit(),
                "tags": tags_of(&self.0, &arn).await?,
            });
            let mut unobserved = vec![];
            match member {
                Some(m) => {
                    raw["subnet_group_name"] = json!(m.cache_subnet_group_name());
                    raw["security_group_ids"] = json!(
                        m.security_groups()
                            .iter()
                            .filter_map(|s| s.security_group_id())
                            .collect::<Vec<_>>()
                    );
                    raw["engine_version"] = json!(m.engine_version());
                    raw["port"] = json!(
                        m.cache_nodes()
                            .first()
                            .and_then(|n| n.endpoint())
                            .and_then(|e| e.port())
                    );
                }
                None => unobserved = ON_MEMBERS.to_vec(),
            }
            let mut l = live_of(
                "elasticache.replication_group",
                &gid,
                raw,
                &[
                    ("arn", json!(arn)),
                    (
                        "primary_endpoint",
                        json!(
                            ng.and_then(|n| n.primary_endpoint())
                                .and_then(|e| e.address())
                        ),
                    ),
                    (
                        "reader_endpoint",
                        json!(
                            ng.and_then(|n| n.reader_endpoint())
                                .and_then(|e| e.address())
                        ),
                    ),
                ],
            );
            l.unobserved = unobserved;
            out.push((l, g.status().unwrap_or_default().to_string()));
        }
        Ok(out)
    }

    async fn wait_available(&self, id: &str, timeout: Duration) -> Result<Live> {
        wait_for(
            &format!("replication group {id} to become available"),
            timeout,
            || async {
                match self.describe(Some(id), None).await?.pop() {
                    Some((l, st)) if st == "available" => Ok(Some(l)),
                    Some((_, st)) if st == "create-failed" => {
                        Err(Error::other(format!("replication group {id} is {st}")))
                    }
                    _ => Ok(None),
                }
            },
        )
        .await
    }
}

#[async_trait]
impl Resource for ReplicationGroup {
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        // DescribeReplicationGroups takes one id or none: list the region once.
        let all = if ids.len() == 1 {
            match self.describe(Some(&ids[0]), None).await {
                Err(e) if super::is_not_found(&e) => vec![],
                r => r?,
            }
        } else {
            self.describe(None, Some(ids)).await?
        };
        Ok(all
            .into_iter()
            .filter(|(_, st)| st != "deleting")
            .map(|x| x.0)
            .collect())
    }
    async fn find_owned(&self, stack: &str, _: &[Wanted]) -> Result<Vec<Live>> {
        Ok(self
            .describe(None, None)
            .await?
            .into_iter()
            .filter(|(l, st)| owned_by(&l.props["tags"], stack) && st != "deleting")
            .map(|x| x.0)
            .collect())
    }
    async fn create(&self, p: &Value, timeout: Duration) -> Result<Live> {
        let id = s(p, "id").unwrap_or_default();
        self.0
            .create_replication_group()
            .replication_group_id(&id)
            .replication_group_description(s(p, "description").unwrap_or_default())
            .set_engine(s(p, "engine"))
            .set_engine_version(s(p, "engine_version"))
            .set_cache_node_type(s(p, "node_type"))
            .num_node_groups(1)
            .set_replicas_per_node_group(i(p, "replicas_per_node_group"))
            .automatic_failover_enabled(b(p, "automatic_failover"))
            .multi_az_enabled(b(p, "multi_az"))
            .transit_encryption_enabled(b(p, "transit_encryption"))
            .at_rest_encryption_enabled(b(p, "at_rest_encryption"))
            .set_cache_subnet_group_name(s(p, "subnet_group_name"))
            .set_security_group_ids(Some(list(p, "security_group_ids")))
            .set_port(i(p, "port"))
            .set_snapshot_retention_limit(i(p, "snapshot_retention_limit"))
            .set_tags(Some(tags(p)))
            .send()
            .await
            .map_err(|e| err("CreateReplicationGroup", e))?;
        self.wait_available(&id, timeout).await
    }
    async fn update(
        &self,
        id: &str,
        before: &Value,
        after: &Value,
        timeout: Duration,
    ) -> Result<Live> {
        let changed = |k: &str| before.get(k) != after.get(k);
        let settings = [
            "description",
            "engine_version",
            "node_type",
            "automatic_failover",
            "multi_az",
            "security_group_ids",
            "snapshot_retention_limit",
        ];
        if settings.iter().any(|k| changed(k)) {
            self.0
                .modify_replication_group()
                .replication_group_id(id)
                .apply_immediately(true)
                .set_replication_group_description(
                    s(after, "description").filter(|_| changed("description")),
                )
                .set_engine_version(
                    s(after, "engine_version").filter(|_| changed("engine_version")),
                )
                .set_cache_node_type(s(after, "node_type").filter(|_| changed("node_type")))
                .automatic_failover_enabled(b(after, "automatic_failover"))
                .multi_az_enabled(b(after, "multi_az"))
                .set_security_group_ids(
                    changed("security_group_ids").then(|| list(after, "security_group_ids")),
                )
                .set_snapshot_retention_limit(i(after, "snapshot_retention_limit"))
                .send()
                .await
                .map_err(|e| err("ModifyReplicationGroup", e))?;
        }
        let arn = read_one(self, id).await?.outputs["arn"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        sync_tags(&self.0, &arn, before, after).await?;
        self.wait_available(id, timeout).await
    }
    async fn delete(&self, id: &str, _: &Value, timeout: Duration) -> Result<()> {
        self.0
            .delete_replication_group()
            .replication_group_id(id)
            .send()
            .await
            .map_err(|e| err("DeleteReplicationGroup", e))?;
        // Gone means DescribeReplicationGroups answers ReplicationGroupNotFoundFault.
        wait_for(
            &format!("replication group {id} to be deleted"),
            timeout,
            || async {
                match self.describe(Some(id), None).await {
                    Ok(v) if v.is_empty() => Ok(Some(())),
                    Ok(_) => Ok(None),
                    Err(e) if super::is_not_found(&e) => Ok(Some(())),
                    Err(e) => Err(e),
                }
            },
        )
        .await
    }
}
