//! Database (RDS/Aurora): DB subnet group, cluster, instance.
//!
//! The cluster's master password is created and kept by Secrets Manager
//! (`ManageMasterUserPassword`): provision never sees it, only the secret's
//! ARN. Clusters and instances are read in batches with `db-*-id` filters.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_rds::Client;
use aws_sdk_rds::types::{Filter, Tag};
use serde_json::{Value, json};

use super::{
    Resource, b, err, i, list, live_of, owned_by, read_one, s, tag_changes, tag_pairs, wait_for,
};
use crate::diag::{Error, Result};
use crate::provider::{Live, Wanted};

const PAGE: usize = 100;

pub(super) fn register(c: &Client, kinds: &mut HashMap<&'static str, Box<dyn Resource>>) {
    kinds.insert("rds.db_subnet_group", Box::new(SubnetGroup(c.clone())));
    kinds.insert("rds.cluster", Box::new(Cluster(c.clone())));
    kinds.insert("rds.instance", Box::new(Instance(c.clone())));
}

fn tags(props: &Value) -> Vec<Tag> {
    tag_pairs(props)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn tags_value(t: &[Tag]) -> Value {
    super::tags_from(
        t.iter()
            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
    )
}

fn filter(name: &str, values: &[String]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.to_vec()))
        .build()
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

// ---------------------------------------------------------------- DB subnet group

struct SubnetGroup(Client);

impl SubnetGroup {
    /// Every group in the region (one call per 100), with tags for those named.
    async fn describe(&self, names: Option<&[String]>) -> Result<Vec<Live>> {
        let groups: Vec<_> = self
            .0
            .describe_db_subnet_groups()
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| err("DescribeDBSubnetGroups", e))?;
        let mut out = Vec::new();
        for g in groups {
            let name = g.db_subnet_group_name().unwrap_or_default().to_string();
            if names.is_some_and(|n| !n.contains(&name)) {
                continue;
            }
            let arn = g.db_subnet_group_arn().unwrap_or_default().to_string();
            // DescribeDBSubnetGroups carries no tags: one call per group.
            let t = self
                .0
                .list_tags_for_resource()
                .resource_name(&arn)
                .send()
                .await
                .map_err(|e| err("ListTagsForResource", e))?;
            let raw = json!({
                "name": name,
                "description": g.db_subnet_group_description(),
                "subnet_ids": g.subnets().iter().filter_map(|s| s.subnet_identifier()).collect::<Vec<_>>(),
                "tags": tags_value(t.tag_list()),
            });
            out.push(live_of(
                "rds.db_subnet_group",
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
        // Names are the identity; with none wanted (drift), look at every group.
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
            .create_db_subnet_group()
            .db_subnet_group_name(&name)
            .db_subnet_group_description(s(p, "description").unwrap_or_default())
            .set_subnet_ids(Some(list(p, "subnet_ids")))
            .set_tags(Some(tags(p)))
            .send()
            .await
            .map_err(|e| err("CreateDBSubnetGroup", e))?;
        read_one(self, &name).await
    }
    async fn update(&self, id: &str, before: &Value, after: &Value, _: Duration) -> Result<Live> {
        if before.get("subnet_ids") != after.get("subnet_ids")
            || before.get("description") != after.get("description")
        {
            self.0
                .modify_db_subnet_group()
                .db_subnet_group_name(id)
                .set_db_subnet_group_description(s(after, "description"))
                .set_subnet_ids(Some(list(after, "subnet_ids")))
                .send()
                .await
                .map_err(|e| err("ModifyDBSubnetGroup", e))?;
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
            .delete_db_subnet_group()
            .db_subnet_group_name(id)
            .send()
            .await
            .map_err(|e| err("DeleteDBSubnetGroup", e))?;
        Ok(())
    }
}

// ---------------------------------------------------------------- Cluster

struct Cluster(Client);

impl Cluster {
    async fn describe(&self, filters: Option<Vec<Filter>>) -> Result<Vec<(Live, String)>> {
        let items: Vec<_> = self
            .0
            .describe_db_clusters()
            .set_filters(filters)
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| err("DescribeDBClusters", e))?;
        Ok(items
            .iter()
            .map(|c| {
                let id = c.db_cluster_identifier().unwrap_or_default();
                let raw = json!({
                    "identifier": id,
                    "engine": c.engine(),
                    "engine_version": c.engine_version(),
                    "master_username": c.master_username(),
                    "database_name": c.database_name(),
                    "db_subnet_group_name": c.db_subnet_group(),
                    "vpc_security_group_ids": c.vpc_security_groups().iter().filter_map(|g| g.vpc_security_group_id()).collect::<Vec<_>>(),
                    "storage_encrypted": c.storage_encrypted(),
                    "kms_key_id": c.kms_key_id(),
                    "backup_retention_period": c.backup_retention_period(),
                    "preferred_backup_window": c.preferred_backup_window(),
                    "deletion_protection": c.deletion_protection(),
                    "copy_tags_to_snapshot": c.copy_tags_to_snapshot(),
                    "tags": tags_value(c.tag_list()),
                });
                (
                    live_of(
                        "rds.cluster",
                        id,
                        raw,
                        &[
                            ("arn", json!(c.db_cluster_arn())),
                            ("endpoint", json!(c.endpoint())),
                            ("reader_endpoint", json!(c.reader_endpoint())),
                            ("port", json!(c.port())),
                            ("master_user_secret_arn", json!(c.master_user_secret().and_then(|m| m.secret_arn()))),
                        ],
                    ),
                    c.status().unwrap_or_default().to_string(),
                )
            })
            .collect())
    }

    async fn wait_available(&self, id: &str, timeout: Duration) -> Result<Live> {
        wait_for(
            &format!("Aurora cluster {id} to become available"),
            timeout,
            || async {
                match self
                    .describe(Some(vec![filter("db-cluster-id", &[id.to_string()])]))
                    .await?
                    .pop()
                {
                    Some((l, st)) if st == "available" => Ok(Some(l)),
                    Some((_, st)) if st == "failed" || st.starts_with("inaccessible") => {
                        Err(Error::other(format!("Aurora cluster {id} is {st}")))
                    }
                    _ => Ok(None),
                }
            },
        )
        .await
    }
}

#[async_trait]
impl Resource for Cluster {
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(PAGE) {
            out.extend(
                self.describe(Some(vec![filter("db-cluster-id", chunk)]))
                    .await?
                    .into_iter()
                    .map(|x| x.0),
            );
        }
        Ok(out)
    }
    async fn find_owned(&self, stack: &str, _: &[Wanted]) -> Result<Vec<Live>> {
        Ok(self
            .describe(None)
            .await?
            .into_iter()
            .map(|x| x.0)
            .filter(|l| owned_by(&l.props["tags"], stack))
            .collect())
    }
    async fn create(&self, p: &Value, timeout: Duration) -> Result<Live> {
        let id = s(p, "identifier").unwrap_or_default();
        self.0
            .create_db_cluster()
            .db_cluster_identifier(&id)
            .set_engine(s(p, "engine"))
            .set_engine_version(s(p, "engine_version"))
            .set_master_username(s(p, "master_username"))
            // AWS makes the password and keeps it in Secrets Manager.
            .manage_master_user_password(true)
            .set_database_name(s(p, "database_name"))
            .set_db_subnet_group_name(s(p, "db_subnet_group_name"))
            .set_vpc_security_group_ids(Some(list(p, "vpc_security_group_ids")))
            .storage_encrypted(b(p, "storage_encrypted"))
            .set_kms_key_id(s(p, "kms_key_id"))
            .set_backup_retention_period(i(p, "backup_retention_period"))
            .set_preferred_backup_window(s(p, "preferred_backup_window"))
            .deletion_protection(b(p, "deletion_protection"))
            .copy_tags_to_snapshot(b(p, "copy_tags_to_snapshot"))
            .set_tags(Some(tags(p)))
            .send()
            .await
            .map_err(|e| err("CreateDBCluster", e))?;
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
            "engine_version",
            "vpc_security_group_ids",
            "backup_retention_period",
            "preferred_backup_window",
            "deletion_protection",
            "copy_tags_to_snapshot",
        ];
        if settings.iter().any(|k| changed(k)) {
            self.0
                .modify_db_cluster()
                .db_cluster_identifier(id)
                .apply_immediately(true)
                .set_engine_version(
                    s(after, "engine_version").filter(|_| changed("engine_version")),
                )
                .set_vpc_security_group_ids(
                    changed("vpc_security_group_ids")
                        .then(|| list(after, "vpc_security_group_ids")),
                )
                .set_backup_retention_period(i(after, "backup_retention_period"))
                .set_preferred_backup_window(s(after, "preferred_backup_window"))
                .deletion_protection(b(after, "deletion_protection"))
                .copy_tags_to_snapshot(b(after, "copy_tags_to_snapshot"))
                .send()
                .await
                .map_err(|e| err("ModifyDBCluster", e))?;
        }
        let arn = read_one(self, id).await?.outputs["arn"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        sync_tags(&self.0, &arn, before, after).await?;
        self.wait_available(id, timeout).await
    }
    async fn delete(&self, id: &str, p: &Value, timeout: Duration) -> Result<()> {
        let skip = b(p, "skip_final_snapshot");
        let snapshot = (!skip).then(|| {
            let t = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                .to_string()
                .replace([':', '-', 'T', 'Z'], "");
            format!("{id}-final-{t}")
        });
        self.0
            .delete_db_cluster()
            .db_cluster_identifier(id)
            .skip_final_snapshot(skip)
            .set_final_db_snapshot_identifier(snapshot)
            .send()
            .await
            .map_err(|e| err("DeleteDBCluster", e))?;
        wait_for(
            &format!("Aurora cluster {id} to be deleted"),
            timeout,
            || async { Ok(self.read(&[id.to_string()]).await?.is_empty().then_some(())) },
        )
        .await
    }
    async fn delete_blocker(&self, _: &str, props: &Value) -> Result<Option<String>> {
        Ok(b(props, "deletion_protection").then(|| {
            "deletion protection is on: set deletion_protection: false and apply first".to_string()
        }))
    }
}

// ---------------------------------------------------------------- Instance

struct Instance(Client);

impl Instance {
    async fn describe(&self, filters: Option<Vec<Filter>>) -> Result<Vec<(Live, String)>> {
        let items: Vec<_> = self
            .0
            .describe_db_instances()
            .set_filters(filters)
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| err("DescribeDBInstances", e))?;
        Ok(items
            .iter()
            .map(|x| {
                let id = x.db_instance_identifier().unwrap_or_default();
                let raw = json!({
                    "identifier": id,
                    "cluster_identifier": x.db_cluster_identifier(),
                    "engine": x.engine(),
                    "instance_class": x.db_instance_class(),
                    "availability_zone": x.availability_zone(),
                    "promotion_tier": x.promotion_tier(),
                    "tags": tags_value(x.tag_list()),
                });
                (
                    live_of(
                        "rds.instance",
                        id,
                        raw,
                        &[
                            ("arn", json!(x.db_instance_arn())),
                            ("endpoint", json!(x.endpoint().and_then(|e| e.address()))),
                        ],
                    ),
                    x.db_instance_status().unwrap_or_default().to_string(),
                )
            })
            .collect())
    }

    async fn wait_available(&self, id: &str, timeout: Duration) -> Result<Live> {
        wait_for(
            &format!("Aurora instance {id} to become available"),
            timeout,
            || async {
                match self
                    .describe(Some(vec![filter("db-instance-id", &[id.to_string()])]))
                    .await?
                    .pop()
                {
                    Some((l, st)) if st == "available" => Ok(Some(l)),
                    Some((_, st))
                        if st == "failed"
                            || st.starts_with("inaccessible")
                            || st == "incompatible-parameters" =>
                    {
                        Err(Error::other(format!("Aurora instance {id} is {st}")))
                    }
                    _ => Ok(None),
                }
            },
        )
        .await
    }
}

#[async_trait]
impl Resource for Instance {
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(PAGE) {
            out.extend(
                self.describe(Some(vec![filter("db-instance-id", chunk)]))
                    .await?
                    .into_iter()
                    .map(|x| x.0),
            );
        }
        Ok(out)
    }
    async fn find_owned(&self, stack: &str, _: &[Wanted]) -> Result<Vec<Live>> {
        Ok(self
            .describe(None)
            .await?
            .into_iter()
            .map(|x| x.0)
            .filter(|l| owned_by(&l.props["tags"], stack))
            .collect())
    }
    async fn create(&self, p: &Value, timeout: Duration) -> Result<Live> {
        let id = s(p, "identifier").unwrap_or_default();
        self.0
            .create_db_instance()
            .db_instance_identifier(&id)
            .set_db_cluster_identifier(s(p, "cluster_identifier"))
            .set_engine(s(p, "engine"))
            .set_db_instance_class(s(p, "instance_class"))
            .set_availability_zone(s(p, "availability_zone"))
            .set_promotion_tier(i(p, "promotion_tier"))
            .set_tags(Some(tags(p)))
            .send()
            .await
            .map_err(|e| err("CreateDBInstance", e))?;
        self.wait_available(&id, timeout).await
    }
    async fn update(
        &self,
        id: &str,
        before: &Value,
        after: &Value,
        timeout: Duration,
    ) -> Result<Live> {
        if before.get("instance_class") != after.get("instance_class")
            || before.get("promotion_tier") != after.get("promotion_tier")
        {
            self.0
                .modify_db_instance()
                .db_instance_identifier(id)
                .apply_immediately(true)
                .set_db_instance_class(s(after, "instance_class"))
                .set_promotion_tier(i(after, "promotion_tier"))
                .send()
                .await
                .map_err(|e| err("ModifyDBInstance", e))?;
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
            .delete_db_instance()
            .db_instance_identifier(id)
            // Aurora instances have no snapshots of their own: the cluster's is taken.
            .skip_final_snapshot(true)
            .send()
            .await
            .map_err(|e| err("DeleteDBInstance", e))?;
        wait_for(
            &format!("Aurora instance {id} to be deleted"),
            timeout,
            || async { Ok(self.read(&[id.to_string()]).await?.is_empty().then_some(())) },
        )
        .await
    }
}
