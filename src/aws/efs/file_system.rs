//! `efs.file_system`: an encrypted EFS file system with a lifecycle policy.
//!
//! Its creation token is `provision-STACK-ADDRESS`, so a create whose answer
//! was lost is found again by EFS's own idempotency.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_efs::types::{
    BackupPolicy, FileSystemDescription, LifeCycleState, LifecyclePolicy, PerformanceMode, Status,
    ThroughputMode, TransitionToIaRules,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Efs;
use crate::aws::call::{call, pages};
use crate::aws::errors::{Class, has_code, is};
use crate::aws::tags::{self, Tagging, Tags, to_sdk};
use crate::aws::wait;
use crate::aws::{Clients, Create, Kind, Query, each, live, one_by_one_or_all, read_one};
use crate::diag::{Error, Result};
use crate::kind::{KindSpec, TAGS, Tagged, Takes, Ty, def, new, p};
use crate::provider::Live;
use crate::stack::{TAG_ADDRESS, TAG_STACK};

static SPEC: KindSpec = KindSpec {
    tagged: Some(Tagged {
        service: "elasticfilesystem",
        prefix: "file-system/",
        id_is_arn: false,
    }),
    waits: "create until `available` (fails at once on `error`); delete until it is gone.",
    outputs: &["id", "arn", "dns_name"],
    refresh_cost: "1 DescribeFileSystems per file system (up to 10; beyond, 1 per 100 in the region) + 1 DescribeLifecycleConfiguration and 1 DescribeBackupPolicy per file system",
    takes: Takes::secs(10, 2, 10),
    ..KindSpec::new(
        "efs.file_system",
        "An encrypted EFS file system with a lifecycle policy.",
        &[
            def(new(p("encrypted", Ty::Bool, "encrypt at rest")), "true"),
            new(p("kms_key_id", Ty::Str, "KMS key")),
            def(
                new(p("performance_mode", Ty::Str, "generalPurpose or maxIO")),
                "\"generalPurpose\"",
            ),
            def(
                p(
                    "throughput_mode",
                    Ty::Str,
                    "bursting, elastic or provisioned",
                ),
                "\"elastic\"",
            ),
            def(
                p("transition_to_ia", Ty::Str, "AFTER_30_DAYS, ... or NONE"),
                "\"AFTER_30_DAYS\"",
            ),
            def(
                p("backup", Ty::Bool, "automatic backups (AWS Backup)"),
                "true",
            ),
            TAGS,
        ],
    )
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    encrypted: bool,
    kms_key_id: Option<String>,
    performance_mode: String,
    throughput_mode: Option<String>,
    transition_to_ia: String,
    backup: bool,
    tags: Tags,
}

pub(crate) struct FileSystem {
    pub(crate) s: Efs,
    pub(crate) region: String,
}

impl FileSystem {
    async fn available(&self, id: &str, timeout: Duration) -> Result<()> {
        let what = format!("file system {id} to become available");
        wait::for_status(&what, timeout, &["available"], &["error"], || async {
            let found = self.list(Some(id), None).await?;
            Ok(found
                .first()
                .map(|f| (f.life_cycle_state().as_str().to_string(), ())))
        })
        .await
    }

    /// File systems that are not deleted: one, those made with a token, or the region's.
    async fn list(
        &self,
        id: Option<&str>,
        token: Option<&str>,
    ) -> Result<Vec<FileSystemDescription>> {
        let s = &self.s;
        let all = pages!(
            s,
            "DescribeFileSystems",
            describe_file_systems()
                .set_file_system_id(id.map(str::to_string))
                .set_creation_token(token.map(str::to_string))
        )
        .await;
        let all = match all {
            Err(e) if id.is_some() && is(&e, Class::NotFound) => vec![],
            r => r?,
        };
        Ok(all
            .into_iter()
            .filter(|f| f.life_cycle_state() != &LifeCycleState::Deleted)
            .collect())
    }

    /// File systems in full: lifecycle and backup cost a call each.
    async fn lives(&self, found: Vec<FileSystemDescription>) -> Result<Vec<Live>> {
        each(found.iter().map(|f| self.live_of(f)).collect::<Vec<_>>()).await
    }

    async fn live_of(&self, f: &FileSystemDescription) -> Result<Live> {
        let s = &self.s;
        let id = f.file_system_id();
        // The two reads at once: a refresh waits for the slower, not both.
        let lc = call!(s, read "DescribeLifecycleConfiguration", describe_lifecycle_configuration()
            .file_system_id(id));
        let backup = async {
            match call!(s, read "DescribeBackupPolicy", describe_backup_policy().file_system_id(id))
                .await
            {
                Ok(r) => Ok(matches!(
                    r.backup_policy().map(|p| p.status()),
                    Some(Status::Enabled | Status::Enabling)
                )),
                // No policy was ever set: backups are off.
                Err(e) if has_code(&e, &["PolicyNotFound"]) => Ok(false),
                Err(e) => Err(e),
            }
        };
        let (lc, backup) = futures::future::try_join(lc, backup).await?;
        let ia = lc
            .lifecycle_policies()
            .iter()
            .find_map(|p| p.transition_to_ia());
        let p = Props {
            encrypted: f.encrypted().unwrap_or(false),
            kms_key_id: f.kms_key_id().map(str::to_string),
            performance_mode: f.performance_mode().as_str().into(),
            throughput_mode: f.throughput_mode().map(|x| x.as_str().to_string()),
            transition_to_ia: ia.map_or("NONE", |t| t.as_str()).into(),
            backup,
            tags: tags::from_sdk(f.tags()),
        };
        let dns = format!("{id}.efs.{}.amazonaws.com", self.region);
        let outputs = [
            ("arn", json!(f.file_system_arn())),
            ("dns_name", json!(dns)),
        ];
        Ok(live(&SPEC, id, &p, &outputs))
    }

    async fn set_lifecycle(&self, id: &str, p: &Props) -> Result<()> {
        let policies = match p.transition_to_ia.as_str() {
            "NONE" => vec![],
            rule => vec![
                LifecyclePolicy::builder()
                    .transition_to_ia(TransitionToIaRules::from(rule))
                    .build(),
            ],
        };
        let s = &self.s;
        call!(s, write "PutLifecycleConfiguration", put_lifecycle_configuration()
            .file_system_id(id)
            .set_lifecycle_policies(Some(policies.clone())))
        .await
        .map(drop)
    }

    async fn set_backup(&self, id: &str, on: bool) -> Result<()> {
        let status = if on {
            Status::Enabled
        } else {
            Status::Disabled
        };
        let policy = BackupPolicy::builder()
            .status(status)
            .build()
            .map_err(|e| Error::other(e.to_string()))?;
        let s = &self.s;
        call!(s, write "PutBackupPolicy", put_backup_policy()
            .file_system_id(id)
            .backup_policy(policy.clone()))
        .await
        .map(drop)
    }
}

#[async_trait]
impl Kind for FileSystem {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        FileSystem {
            s: c.efs.clone(),
            region: c.region.clone(),
        }
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        let found = match q {
            Query::Ids(ids) => {
                let one = |id: String| async move { self.list(Some(&id), None).await };
                let all = || self.list(None, None);
                one_by_one_or_all(ids, one, all, |f| f.file_system_id()).await?
            }
            Query::Owned(stack, _) => {
                let all = self.list(None, None).await?;
                let ours = |f: &FileSystemDescription| {
                    f.tags()
                        .iter()
                        .any(|t| t.key() == TAG_STACK && t.value() == stack)
                };
                all.into_iter().filter(ours).collect()
            }
            Query::All | Query::Inside(..) => vec![],
        };
        self.lives(found).await
    }
    async fn create(&self, p: &Props, c: &Create<'_>) -> Result<Live> {
        let timeout = c.timeout;
        let tag = |k: &str| p.tags.get(k).cloned().unwrap_or_default();
        let token = format!("provision-{}-{}", tag(TAG_STACK), tag(TAG_ADDRESS));
        let s = &self.s;
        // The creation token makes this safe to repeat: EFS answers
        // FileSystemAlreadyExists for a token it has seen.
        let made = call!(s, write "CreateFileSystem", create_file_system()
            .creation_token(&token)
            .encrypted(p.encrypted)
            .set_kms_key_id(p.kms_key_id.clone())
            .performance_mode(PerformanceMode::from(p.performance_mode.as_str()))
            .set_throughput_mode(p.throughput_mode.as_deref().map(ThroughputMode::from))
            .backup(p.backup)
            .set_tags(Some(to_sdk(&p.tags))))
        .await;
        let id = match made {
            Ok(r) => r.file_system_id().to_string(),
            // The token already made a file system: a retry after a lost answer.
            Err(e) if has_code(&e, &["FileSystemAlreadyExists"]) => {
                let found = self.list(None, Some(&token)).await?;
                let id = found.first().map(|f| f.file_system_id().to_string());
                id.ok_or_else(|| {
                    Error::other(format!("{e} (and no file system has token {token})"))
                })?
            }
            Err(e) => return Err(e),
        };
        self.available(&id, timeout).await?;
        self.set_lifecycle(&id, p).await?;
        read_one(self, &id).await
    }
    async fn ready(&self, id: &str, timeout: Duration) -> Result<Live> {
        self.available(id, timeout).await?;
        read_one(self, id).await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        let s = &self.s;
        if before.throughput_mode != after.throughput_mode {
            let mode = after.throughput_mode.as_deref().map(ThroughputMode::from);
            call!(s, write "UpdateFileSystem", update_file_system()
                .file_system_id(id)
                .set_throughput_mode(mode.clone()))
            .await?;
        }
        if before.transition_to_ia != after.transition_to_ia {
            self.set_lifecycle(id, after).await?;
        }
        if before.backup != after.backup {
            self.set_backup(id, after.backup).await?;
        }
        self.s.sync_tags(id, &before.tags, &after.tags).await?;
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Props, timeout: Duration) -> Result<()> {
        let s = &self.s;
        call!(s, delete "DeleteFileSystem", delete_file_system().file_system_id(id)).await?;
        wait::gone(&format!("file system {id}"), timeout, || async {
            Ok(!self.list(Some(id), None).await?.is_empty())
        })
        .await
    }
}
