//! Files (EFS): file system and mount target.
//!
//! A file system's creation token is `provision-STACK-ADDRESS`, so a create
//! whose answer was lost is found again by EFS's own idempotency. Mount
//! targets carry no tags: a create that meets an existing one in the same
//! subnet adopts it.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_efs::Client;
use aws_sdk_efs::types::{
    BackupPolicy, LifeCycleState, LifecyclePolicy, PerformanceMode, Status, Tag, ThroughputMode,
    TransitionToIaRules,
};
use serde_json::{Value, json};

use super::{Resource, b, err, list, live_of, read_one, s, tag_changes, tag_pairs, wait_for};
use crate::diag::{Error, Result};
use crate::provider::{Live, Wanted};
use crate::stack::{TAG_ADDRESS, TAG_STACK};

pub(super) fn register(
    c: &Client,
    region: &str,
    kinds: &mut HashMap<&'static str, Box<dyn Resource>>,
) {
    kinds.insert(
        "efs.file_system",
        Box::new(FileSystem {
            c: c.clone(),
            region: region.to_string(),
        }),
    );
    kinds.insert("efs.mount_target", Box::new(MountTarget(c.clone())));
}

// ---------------------------------------------------------------- File system

pub(crate) struct FileSystem {
    pub(crate) c: Client,
    pub(crate) region: String,
}

impl FileSystem {
    /// The region's live file systems that `keep` accepts, read in full
    /// (lifecycle and backup cost a call each, so only for those kept).
    async fn describe(
        &self,
        keep: impl Fn(&aws_sdk_efs::types::FileSystemDescription) -> bool,
    ) -> Result<Vec<Live>> {
        let items: Vec<_> = self
            .c
            .describe_file_systems()
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| err("DescribeFileSystems", e))?;
        let mut out = Vec::new();
        for f in items
            .iter()
            .filter(|f| f.life_cycle_state() != &LifeCycleState::Deleted && keep(f))
        {
            let id = f.file_system_id().to_string();
            out.push(self.one_of(f, &id).await?);
        }
        Ok(out)
    }

    async fn one_of(
        &self,
        f: &aws_sdk_efs::types::FileSystemDescription,
        id: &str,
    ) -> Result<Live> {
        // Lifecycle and backup have no batch read: one call each per file system.
        let lc = self
            .c
            .describe_lifecycle_configuration()
            .file_system_id(id)
            .send()
            .await
            .map_err(|e| err("DescribeLifecycleConfiguration", e))?;
        let ia = lc
            .lifecycle_policies()
            .iter()
            .find_map(|p| p.transition_to_ia())
            .map(|t| t.as_str().to_string())
            .unwrap_or_else(|| "NONE".into());
        let backup = match self
            .c
            .describe_backup_policy()
            .file_system_id(id)
            .send()
            .await
        {
            Ok(r) => matches!(
                r.backup_policy().map(|p| p.status()),
                Some(Status::Enabled | Status::Enabling)
            ),
            Err(e) => {
                let e = err("DescribeBackupPolicy", e);
                match &e {
                    // No policy was ever set: backups are off.
                    Error::Aws { code, .. } if code == "PolicyNotFound" => false,
                    _ => return Err(e),
                }
            }
        };
        let raw = json!({
            "encrypted": f.encrypted().unwrap_or(false),
            "kms_key_id": f.kms_key_id(),
            "performance_mode": f.performance_mode().as_str(),
            "throughput_mode": f.throughput_mode().map(|x| x.as_str()),
            "transition_to_ia": ia,
            "backup": backup,
            "tags": super::tags_from(f.tags().iter().map(|t| (t.key(), t.value()))),
        });
        Ok(live_of(
            "efs.file_system",
            id,
            raw,
            &[
                ("arn", json!(f.file_system_arn())),
                (
                    "dns_name",
                    json!(format!("{id}.efs.{}.amazonaws.com", self.region)),
                ),
            ],
        ))
    }

    async fn set_lifecycle(&self, id: &str, p: &Value) -> Result<()> {
        let policies = match s(p, "transition_to_ia").as_deref() {
            None | Some("NONE") => vec![],
            Some(rule) => vec![
                LifecyclePolicy::builder()
                    .transition_to_ia(TransitionToIaRules::from(rule))
                    .build(),
            ],
        };
        self.c
            .put_lifecycle_configuration()
            .file_system_id(id)
            .set_lifecycle_policies(Some(policies))
            .send()
            .await
            .map_err(|e| err("PutLifecycleConfiguration", e))?;
        Ok(())
    }
}

#[async_trait]
impl Resource for FileSystem {
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        if let [id] = ids {
            // One file system: ask for it alone.
            let r = match self
                .c
                .describe_file_systems()
                .file_system_id(id)
                .send()
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    let e = err("DescribeFileSystems", e);
                    return if super::is_not_found(&e) {
                        Ok(vec![])
                    } else {
                        Err(e)
                    };
                }
            };
            let mut out = Vec::new();
            for f in r
                .file_systems()
                .iter()
                .filter(|f| f.life_cycle_state() != &LifeCycleState::Deleted)
            {
                out.push(self.one_of(f, id).await?);
            }
            return Ok(out);
        }
        self.describe(|f| ids.iter().any(|i| i == f.file_system_id()))
            .await
    }
    async fn find_owned(&self, stack: &str, _: &[Wanted]) -> Result<Vec<Live>> {
        self.describe(|f| {
            f.tags()
                .iter()
                .any(|t| t.key() == TAG_STACK && t.value() == stack)
        })
        .await
    }
    async fn create(&self, p: &Value, timeout: Duration) -> Result<Live> {
        let tag = |k: &str| p["tags"][k].as_str().unwrap_or_default().to_string();
        let token = format!("provision-{}-{}", tag(TAG_STACK), tag(TAG_ADDRESS));
        let tags: Vec<Tag> = tag_pairs(p)
            .into_iter()
            .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
            .collect();
        let id = match self
            .c
            .create_file_system()
            .creation_token(&token)
            .encrypted(b(p, "encrypted"))
            .set_kms_key_id(s(p, "kms_key_id"))
            .set_performance_mode(
                s(p, "performance_mode").map(|m| PerformanceMode::from(m.as_str())),
            )
            .set_throughput_mode(s(p, "throughput_mode").map(|m| ThroughputMode::from(m.as_str())))
            .backup(b(p, "backup"))
            .set_tags(Some(tags))
            .send()
            .await
        {
            Ok(r) => r.file_system_id().to_string(),
            Err(e) => {
                // The token already made a file system: a retry after a lost answer.
                let e = err("CreateFileSystem", e);
                match &e {
                    Error::Aws { code, .. } if code == "FileSystemAlreadyExists" => {
                        let r = self
                            .c
                            .describe_file_systems()
                            .creation_token(&token)
                            .send()
                            .await
                            .map_err(|e| err("DescribeFileSystems", e))?;
                        r.file_systems()
                            .first()
                            .map(|f| f.file_system_id())
                            .ok_or_else(|| {
                                Error::other(format!("{e} (and no file system has token {token})"))
                            })?
                            .to_string()
                    }
                    _ => return Err(e),
                }
            }
        };
        wait_for(
            &format!("file system {id} to become available"),
            timeout,
            || async {
                let r = self
                    .c
                    .describe_file_systems()
                    .file_system_id(&id)
                    .send()
                    .await
                    .map_err(|e| err("DescribeFileSystems", e))?;
                Ok((r.file_systems().first().map(|f| f.life_cycle_state())
                    == Some(&LifeCycleState::Available))
                .then_some(()))
            },
        )
        .await?;
        self.set_lifecycle(&id, p).await?;
        read_one(self, &id).await
    }
    async fn update(&self, id: &str, before: &Value, after: &Value, _: Duration) -> Result<Live> {
        let changed = |k: &str| before.get(k) != after.get(k);
        if changed("throughput_mode") {
            self.c
                .update_file_system()
                .file_system_id(id)
                .set_throughput_mode(
                    s(after, "throughput_mode").map(|m| ThroughputMode::from(m.as_str())),
                )
                .send()
                .await
                .map_err(|e| err("UpdateFileSystem", e))?;
        }
        if changed("transition_to_ia") {
            self.set_lifecycle(id, after).await?;
        }
        if changed("backup") {
            let status = if b(after, "backup") {
                Status::Enabled
            } else {
                Status::Disabled
            };
            self.c
                .put_backup_policy()
                .file_system_id(id)
                .backup_policy(
                    BackupPolicy::builder()
                        .status(status)
                        .build()
                        .map_err(|e| Error::other(e.to_string()))?,
                )
                .send()
                .await
                .map_err(|e| err("PutBackupPolicy", e))?;
        }
        let (set, removed) = tag_changes(before, after);
        if !removed.is_empty() {
            self.c
                .untag_resource()
                .resource_id(id)
                .set_tag_keys(Some(removed))
                .send()
                .await
                .map_err(|e| err("UntagResource", e))?;
        }
        if !set.is_empty() {
            self.c
                .tag_resource()
                .resource_id(id)
                .set_tags(Some(
                    set.into_iter()
                        .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
                        .collect(),
                ))
                .send()
                .await
                .map_err(|e| err("TagResource", e))?;
        }
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Value, timeout: Duration) -> Result<()> {
        self.c
            .delete_file_system()
            .file_system_id(id)
            .send()
            .await
            .map_err(|e| err("DeleteFileSystem", e))?;
        wait_for(
            &format!("file system {id} to be deleted"),
            timeout,
            || async { Ok(self.read(&[id.to_string()]).await?.is_empty().then_some(())) },
        )
        .await
    }
}

// ---------------------------------------------------------------- Mount target

pub(crate) struct MountTarget(pub(crate) Client);

impl MountTarget {
    async fn describe(
        &self,
        mount_target: Option<&str>,
        file_system: Option<&str>,
    ) -> Result<Vec<(Live, LifeCycleState)>> {
        let r = match self
            .0
            .describe_mount_targets()
            .set_mount_target_id(mount_target.map(str::to_string))
            .set_file_system_id(file_system.map(str::to_string))
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                let e = err("DescribeMountTargets", e);
                return if super::is_not_found(&e) {
                    Ok(vec![])
                } else {
                    Err(e)
                };
            }
        };
        let mut out = Vec::new();
        for m in r.mount_targets() {
            let id = m.mount_target_id();
            let sgs = self
                .0
                .describe_mount_target_security_groups()
                .mount_target_id(id)
                .send()
                .await
                .map_err(|e| err("DescribeMountTargetSecurityGroups", e))?;
            let raw = json!({
                "file_system_id": m.file_system_id(),
                "subnet_id": m.subnet_id(),
                "security_group_ids": sgs.security_groups(),
            });
            out.push((
                live_of(
                    "efs.mount_target",
                    id,
                    raw,
                    &[
                        ("ip_address", json!(m.ip_address())),
                        ("availability_zone", json!(m.availability_zone_name())),
                    ],
                ),
                m.life_cycle_state().clone(),
            ));
        }
        Ok(out)
    }
}

#[async_trait]
impl Resource for MountTarget {
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        // DescribeMountTargets takes one id: one call per mount target.
        let mut out = Vec::new();
        for id in ids {
            out.extend(
                self.describe(Some(id), None)
                    .await?
                    .into_iter()
                    .filter(|(_, st)| {
                        !matches!(st, LifeCycleState::Deleted | LifeCycleState::Deleting)
                    })
                    .map(|x| x.0),
            );
        }
        Ok(out)
    }
    async fn find_owned(&self, _: &str, _: &[Wanted]) -> Result<Vec<Live>> {
        // No tags on mount targets: a create that meets one adopts it instead.
        Ok(vec![])
    }
    async fn create(&self, p: &Value, timeout: Duration) -> Result<Live> {
        let fs = s(p, "file_system_id").unwrap_or_default();
        let subnet = s(p, "subnet_id").unwrap_or_default();
        let id = match self
            .0
            .create_mount_target()
            .file_system_id(&fs)
            .subnet_id(&subnet)
            .set_security_groups(Some(list(p, "security_group_ids")))
            .send()
            .await
        {
            Ok(r) => r.mount_target_id().to_string(),
            Err(e) => {
                let e = err("CreateMountTarget", e);
                let existing = match &e {
                    Error::Aws { code, .. } if code == "MountTargetConflict" => self
                        .describe(None, Some(&fs))
                        .await?
                        .into_iter()
                        .find(|(l, _)| l.props["subnet_id"] == subnet.as_str()),
                    _ => None,
                };
                match existing {
                    Some((l, _)) => l.id,
                    None => return Err(e),
                }
            }
        };
        let live = wait_for(
            &format!("mount target {id} to become available"),
            timeout,
            || async {
                Ok(match self.describe(Some(&id), None).await?.pop() {
                    Some((l, LifeCycleState::Available)) => Some(l),
                    _ => None,
                })
            },
        )
        .await?;
        if live.props.get("security_group_ids") != p.get("security_group_ids") {
            return self.update(&id, &live.props, p, timeout).await;
        }
        Ok(live)
    }
    async fn update(&self, id: &str, _: &Value, after: &Value, _: Duration) -> Result<Live> {
        self.0
            .modify_mount_target_security_groups()
            .mount_target_id(id)
            .set_security_groups(Some(list(after, "security_group_ids")))
            .send()
            .await
            .map_err(|e| err("ModifyMountTargetSecurityGroups", e))?;
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Value, timeout: Duration) -> Result<()> {
        self.0
            .delete_mount_target()
            .mount_target_id(id)
            .send()
            .await
            .map_err(|e| err("DeleteMountTarget", e))?;
        wait_for(
            &format!("mount target {id} to be deleted"),
            timeout,
            || async { Ok(self.read(&[id.to_string()]).await?.is_empty().then_some(())) },
        )
        .await
    }
}
