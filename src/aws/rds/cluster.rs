//! `rds.cluster`: an Aurora cluster. The master password is made and kept by
//! Secrets Manager: no password is ever in the stack, state, plan or logs.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_rds::types::{DbCluster, Filter};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Rds, filter, protected, query};
use crate::aws::call::{call, pages};
use crate::aws::tags::Tags;
use crate::aws::tags::{Tagging, from_sdk, to_sdk};
use crate::aws::wait;
use crate::aws::{Clients, Create, Kind, Query, arn_of, gone, live};
use crate::diag::Result;
use crate::kind::{Guard, KindSpec, TAGS, Takes, Ty, def, local, new, p, req};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    guards: &[
        Guard {
            name: "databases-encrypted",
            check: |p, _| {
                (p["storage_encrypted"] != true)
                    .then(|| "the cluster's storage is not encrypted".into())
            },
        },
        Guard {
            name: "databases-deletion-protected",
            check: |p, production| {
                (production && p["deletion_protection"] != true)
                    .then(|| "deletion protection is off in production".into())
            },
        },
    ],
    waits: "create and update until `available` (fails at once on `failed`, `inaccessible-*`, `incompatible-*`); delete until it is gone.",
    outputs: &[
        "id",
        "arn",
        "endpoint",
        "reader_endpoint",
        "port",
        "master_user_secret_arn",
    ],
    refresh_cost: "1 DescribeDBClusters per 100 ids",
    // An Aurora cluster takes minutes; its instances more. A replica's
    // promotion "can take several minutes or longer, depending on the size
    // of the read replica" (its instances are rebooted): ten, then the
    // password's modify.
    takes: Takes::secs(300, 60, 300).slow(&[("replication_source", 600)]),
    refuse_update: Some(replica_again),
    explain_update: Some(promotion),
    ..KindSpec::new(
        "rds.cluster",
        "An Aurora cluster. The master password is made and kept by AWS Secrets Manager \
         (ManageMasterUserPassword): no password is ever in the stack, state, plan or logs.",
        &[
            req(new(p("identifier", Ty::Str, "cluster identifier"))),
            def(
                new(p("engine", Ty::Str, "aurora-mysql or aurora-postgresql")),
                "\"aurora-mysql\"",
            ),
            p("engine_version", Ty::Str, "engine version"),
            def(
                new(p("master_username", Ty::Str, "master user name")),
                "\"admin\"",
            ),
            new(p("database_name", Ty::Str, "initial database")),
            req(new(p(
                "db_subnet_group_name",
                Ty::Str,
                "the DB subnet group",
            ))),
            def(
                p(
                    "vpc_security_group_ids",
                    Ty::StrList { set: true },
                    "security groups",
                ),
                "[]",
            ),
            def(
                new(p("storage_encrypted", Ty::Bool, "encrypt storage")),
                "true",
            ),
            new(p("kms_key_id", Ty::Str, "KMS key for storage")),
            def(
                p(
                    "replication_source",
                    Ty::Str,
                    "ARN of the cluster (in another region) this one replicates: a cross-region \
                     read replica, the standby's database; empty: a cluster of its own. Emptying \
                     it promotes the replica (PromoteReadReplicaDBCluster: the failover) and \
                     gives it a password of its own, kept by Secrets Manager in its region; a \
                     cluster cannot become a replica again in place: such a plan is refused \
                     (replacing it would delete the writes it took; --replace does so knowingly)",
                ),
                "\"\"",
            ),
            def(p("backup_retention_period", Ty::Int, "days"), "7"),
            p("preferred_backup_window", Ty::Str, "hh24:mi-hh24:mi UTC"),
            def(
                p("deletion_protection", Ty::Bool, "refuse deletion while on"),
                "true",
            ),
            def(
                p("copy_tags_to_snapshot", Ty::Bool, "tags on snapshots"),
                "true",
            ),
            def(
                local(p(
                    "skip_final_snapshot",
                    Ty::Bool,
                    "delete without a final snapshot",
                )),
                "false",
            ),
            TAGS,
        ],
    )
};

/// Settings absent from AWS's answer take their defaults.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    identifier: String,
    engine: Option<String>,
    engine_version: Option<String>,
    master_username: Option<String>,
    database_name: Option<String>,
    db_subnet_group_name: String,
    vpc_security_group_ids: Vec<String>,
    storage_encrypted: Option<bool>,
    kms_key_id: Option<String>,
    replication_source: Option<String>,
    backup_retention_period: Option<i32>,
    preferred_backup_window: Option<String>,
    deletion_protection: Option<bool>,
    copy_tags_to_snapshot: Option<bool>,
    skip_final_snapshot: bool,
    tags: Tags,
}

impl Props {
    /// The cluster it replicates, if any.
    fn source(&self) -> Option<&str> {
        self.replication_source.as_deref().filter(|s| !s.is_empty())
    }

    /// What ModifyDBCluster changes.
    fn settings(&self) -> serde_json::Value {
        json!([
            self.engine_version,
            self.vpc_security_group_ids,
            self.backup_retention_period,
            self.preferred_backup_window,
            self.deletion_protection,
            self.copy_tags_to_snapshot,
        ])
    }
}

fn live_of(c: &DbCluster) -> Live {
    let p = Props {
        identifier: c.db_cluster_identifier().unwrap_or_default().into(),
        engine: c.engine().map(str::to_string),
        engine_version: c.engine_version().map(str::to_string),
        master_username: c.master_username().map(str::to_string),
        database_name: c.database_name().map(str::to_string),
        db_subnet_group_name: c.db_subnet_group().unwrap_or_default().into(),
        vpc_security_group_ids: c
            .vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id().map(str::to_string))
            .collect(),
        storage_encrypted: c.storage_encrypted(),
        kms_key_id: c.kms_key_id().map(str::to_string),
        replication_source: Some(
            c.replication_source_identifier()
                .unwrap_or_default()
                .to_string(),
        ),
        backup_retention_period: c.backup_retention_period(),
        preferred_backup_window: c.preferred_backup_window().map(str::to_string),
        deletion_protection: c.deletion_protection(),
        copy_tags_to_snapshot: c.copy_tags_to_snapshot(),
        skip_final_snapshot: false,
        tags: from_sdk(c.tag_list()),
    };
    let outputs = [
        ("arn", json!(c.db_cluster_arn())),
        ("endpoint", json!(c.endpoint())),
        ("reader_endpoint", json!(c.reader_endpoint())),
        ("port", json!(c.port())),
        (
            "master_user_secret_arn",
            json!(c.master_user_secret().and_then(|m| m.secret_arn())),
        ),
    ];
    live(
        &SPEC,
        c.db_cluster_identifier().unwrap_or_default(),
        &p,
        &outputs,
    )
}

pub(crate) struct Cluster(pub(crate) Rds);

impl Cluster {
    async fn list_raw(&self, filters: Option<Vec<Filter>>) -> Result<Vec<DbCluster>> {
        let s = &self.0;
        pages!(
            s,
            "DescribeDBClusters",
            describe_db_clusters().set_filters(filters.clone())
        )
        .await
    }

    async fn list(&self, filters: Option<Vec<Filter>>) -> Result<Vec<Live>> {
        Ok(self.list_raw(filters).await?.iter().map(live_of).collect())
    }

    async fn wait_available(&self, id: &str, timeout: Duration) -> Result<Live> {
        let what = format!("Aurora cluster {id} to become available");
        let failed = ["failed", "inaccessible", "incompatible"];
        wait::for_status(&what, timeout, &["available"], &failed, || async {
            let found = self
                .list_raw(Some(vec![filter("db-cluster-id", &[id.to_string()])]))
                .await?;
            Ok(found
                .first()
                .map(|c| (c.status().unwrap_or_default().to_string(), live_of(c))))
        })
        .await
    }
}

impl Cluster {
    /// After PromoteReadReplicaDBCluster: available, replicating nothing.
    async fn wait_promoted(&self, id: &str, timeout: Duration) -> Result<Live> {
        let what = format!("Aurora cluster {id} to be promoted");
        let failed = ["failed", "inaccessible", "incompatible"];
        wait::for_status(&what, timeout, &["promoted"], &failed, || async {
            let found = self
                .list_raw(Some(vec![filter("db-cluster-id", &[id.to_string()])]))
                .await?;
            Ok(found.first().map(|c| {
                let status = match (c.status(), c.replication_source_identifier()) {
                    (Some("available"), None) => "promoted".to_string(),
                    (s, _) => s.unwrap_or_default().to_string(),
                };
                (status, live_of(c))
            }))
        })
        .await
    }
}

#[async_trait]
impl Kind for Cluster {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        Cluster(c.rds.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        query(q, "db-cluster-id", |f| self.list(f)).await
    }
    async fn create(&self, p: &Props, c: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        // A replica's master user and password are its source's: AWS
        // refuses Secrets Manager's management for a cross-region replica.
        // (moto 5.1.22 asks a replica for a password: src/aws/mock_tests.rs.)
        let own = p.source().is_none();
        let own_password = own.then_some(true);
        let user = p.master_username.clone().filter(|_| own);
        call!(s, create "CreateDBCluster", create_db_cluster()
            .db_cluster_identifier(&p.identifier)
            .set_engine(p.engine.clone())
            .set_engine_version(p.engine_version.clone())
            .set_master_username(user.clone())
            // AWS makes the password and keeps it in Secrets Manager.
            .set_manage_master_user_password(own_password)
            .set_replication_source_identifier(p.source().map(str::to_string))
            .set_database_name(p.database_name.clone())
            .db_subnet_group_name(&p.db_subnet_group_name)
            .set_vpc_security_group_ids(Some(p.vpc_security_group_ids.clone()))
            .set_storage_encrypted(p.storage_encrypted)
            .set_kms_key_id(p.kms_key_id.clone())
            .set_backup_retention_period(p.backup_retention_period)
            .set_preferred_backup_window(p.preferred_backup_window.clone())
            .set_deletion_protection(p.deletion_protection)
            .set_copy_tags_to_snapshot(p.copy_tags_to_snapshot)
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
        match (before.source(), after.source()) {
            (a, b) if a == b => {}
            (None, None) => {}
            // The failover: the replica becomes a cluster of its own.
            (Some(_), None) => {
                let asked =
                    call!(s, write "PromoteReadReplicaDBCluster", promote_read_replica_db_cluster()
                        .db_cluster_identifier(id))
                    .await;
                // A repeat after a lost answer is refused (no longer a
                // replica): what counts is whether the promotion is under
                // way or done.
                if let Err(e) = asked {
                    let found = self
                        .list_raw(Some(vec![filter("db-cluster-id", &[id.to_string()])]))
                        .await?;
                    let begun = found.first().is_some_and(|c| {
                        c.replication_source_identifier().is_none()
                            || c.status() == Some("promoting")
                    });
                    if !begun {
                        return Err(e);
                    }
                }
                let promoted = self.wait_promoted(id, timeout).await?;
                // Its password was the source's, whose secret is in the
                // region the failover leaves: it gets one of its own, kept
                // by Secrets Manager here.
                if promoted
                    .outputs
                    .get("master_user_secret_arn")
                    .is_none_or(serde_json::Value::is_null)
                {
                    call!(s, write "ModifyDBCluster", modify_db_cluster()
                        .db_cluster_identifier(id)
                        .manage_master_user_password(true)
                        .apply_immediately(true))
                    .await?;
                }
            }
            (_, Some(src)) => {
                return Err(crate::diag::Error::other(format!(
                    "{id}: a cluster cannot start or change replicating ({src}) in place; \
                     replace it (`--replace`) to make it a replica of another"
                )));
            }
        }
        if before.settings() != after.settings() {
            let version = after
                .engine_version
                .clone()
                .filter(|_| before.engine_version != after.engine_version);
            let groups = (before.vpc_security_group_ids != after.vpc_security_group_ids)
                .then(|| after.vpc_security_group_ids.clone());
            call!(s, write "ModifyDBCluster", modify_db_cluster()
                .db_cluster_identifier(id)
                .apply_immediately(true)
                .set_engine_version(version.clone())
                .set_vpc_security_group_ids(groups.clone())
                .set_backup_retention_period(after.backup_retention_period)
                .set_preferred_backup_window(after.preferred_backup_window.clone())
                .set_deletion_protection(after.deletion_protection)
                .set_copy_tags_to_snapshot(after.copy_tags_to_snapshot))
            .await?;
        }
        if before.tags != after.tags {
            let arn = arn_of(self, id).await?;
            s.sync_tags(&arn, &before.tags, &after.tags).await?;
        }
        self.wait_available(id, timeout).await
    }
    async fn delete(&self, id: &str, p: &Props, timeout: Duration) -> Result<()> {
        let skip = p.skip_final_snapshot;
        let snapshot = (!skip).then(|| {
            let t = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
            format!("{id}-final-{}", t.replace([':', '-', 'T', 'Z'], ""))
        });
        let s = &self.0;
        call!(s, delete "DeleteDBCluster", delete_db_cluster()
            .db_cluster_identifier(id)
            .skip_final_snapshot(skip)
            .set_final_db_snapshot_identifier(snapshot.clone()))
        .await?;
        gone(self, id, timeout).await
    }
    async fn delete_blocker(&self, _: &str, p: &Props) -> Result<Option<String>> {
        Ok(protected(p.deletion_protection == Some(true)))
    }
}

/// The failover, in words: a replica whose source is emptied is promoted.
fn promotion(before: &serde_json::Value, after: &serde_json::Value) -> Option<String> {
    let source = |v: &serde_json::Value| v["replication_source"].as_str().unwrap_or("").to_string();
    let was = source(before);
    (!was.is_empty() && source(after).is_empty()).then(|| {
        format!(
            "promotes the replica of {was} to a cluster of its own (PromoteReadReplicaDBCluster: \
             its instances reboot; it stops following its source for good), then gives it a \
             password of its own, kept by Secrets Manager in its region"
        )
    })
}

/// A cluster of its own (a promoted standby, after the failover) cannot
/// become a replica again in place, nor a replica follow another source:
/// RDS has no call for it, and replacing it would delete the one cluster
/// that took the writes since. Flipping `active_region` back is refused
/// here, before anything (the names re-pointed at a stale primary) moves.
fn replica_again(before: &serde_json::Value, after: &serde_json::Value) -> Option<String> {
    let source = |v: &serde_json::Value| {
        v["replication_source"]
            .as_str()
            .filter(|s| !s.is_empty() && !crate::expr::contains_unknown(&v["replication_source"]))
            .map(str::to_string)
    };
    let (was, wants) = (source(before), source(after));
    let wants = wants?;
    if was.as_deref() == Some(wants.as_str()) {
        return None;
    }
    Some(match was {
        None => format!(
            "a cluster of its own cannot become a replica of {wants} in place, and replacing it \
             would delete it with every write it took (a promoted standby: failing back?). Fail \
             back by making the other cluster a replica of this one first, then promoting it; \
             or throw this one away with --replace"
        ),
        Some(was) => format!(
            "a replica cannot change its source in place ({was} -> {wants}): replace it \
             (--replace) to replicate another"
        ),
    })
}
