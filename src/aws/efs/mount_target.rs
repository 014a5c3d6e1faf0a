//! `efs.mount_target`: a mount target of a file system in one subnet. EFS
//! gives mount targets no tags: a create that meets an existing one in the
//! same subnet adopts it.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_efs::types::{LifeCycleState, MountTargetDescription};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Efs;
use crate::aws::errors::{Class, has_code, is};
use crate::aws::wait::{self, Seen};
use crate::aws::{Clients, Kind, live, read_one};
use crate::diag::Result;
use crate::kind::{KindSpec, SECURITY_GROUPS, Ty, new, p, req};
use crate::provider::{Live, Wanted};

static SPEC: KindSpec = KindSpec {
    outputs: &["id", "ip_address", "availability_zone"],
    refresh_cost: "1 DescribeMountTargets + 1 DescribeMountTargetSecurityGroups per mount target",
    ..KindSpec::new(
        "efs.mount_target",
        "A mount target of a file system in one subnet (EFS gives mount targets no tags: \
         a duplicate create is answered by adopting the existing one).",
        &[
            req(new(p("file_system_id", Ty::Str, "the file system"))),
            req(new(p("subnet_id", Ty::Str, "one per AZ"))),
            SECURITY_GROUPS,
        ],
    )
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    file_system_id: String,
    subnet_id: String,
    security_group_ids: Vec<String>,
}

pub(crate) struct MountTarget(pub(crate) Efs);

impl MountTarget {
    /// One mount target, or a file system's; with their security groups (a call each).
    async fn describe(
        &self,
        mount_target: Option<&str>,
        file_system: Option<&str>,
    ) -> Result<Vec<(Live, LifeCycleState)>> {
        let s = &self.0;
        let r = match s
            .api
            .read("DescribeMountTargets", || {
                s.c.describe_mount_targets()
                    .set_mount_target_id(mount_target.map(str::to_string))
                    .set_file_system_id(file_system.map(str::to_string))
                    .send()
            })
            .await
        {
            Err(e) if is(&e, Class::NotFound) => return Ok(vec![]),
            r => r?,
        };
        let mut out = Vec::new();
        for m in r.mount_targets() {
            out.push((self.live_of(m).await?, m.life_cycle_state().clone()));
        }
        Ok(out)
    }

    async fn live_of(&self, m: &MountTargetDescription) -> Result<Live> {
        let s = &self.0;
        let id = m.mount_target_id();
        let sgs = s
            .api
            .read("DescribeMountTargetSecurityGroups", || {
                s.c.describe_mount_target_security_groups()
                    .mount_target_id(id)
                    .send()
            })
            .await?;
        let p = Props {
            file_system_id: m.file_system_id().into(),
            subnet_id: m.subnet_id().into(),
            security_group_ids: sgs.security_groups().to_vec(),
        };
        let outputs = [
            ("ip_address", json!(m.ip_address())),
            ("availability_zone", json!(m.availability_zone_name())),
        ];
        Ok(live(&SPEC, id, &p, &outputs))
    }

    /// The mount target a conflicting create met: the file system's one in that subnet.
    async fn existing(&self, p: &Props) -> Result<Option<String>> {
        Ok(self
            .describe(None, Some(&p.file_system_id))
            .await?
            .into_iter()
            .find(|(l, _)| l.props["subnet_id"] == p.subnet_id.as_str())
            .map(|(l, _)| l.id))
    }
}

#[async_trait]
impl Kind for MountTarget {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        MountTarget(c.efs.clone())
    }
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
    async fn create(&self, p: &Props, timeout: Duration) -> Result<Live> {
        let s = &self.0;
        // One per file system and subnet: a repeat is answered MountTargetConflict.
        let made = s
            .api
            .write("CreateMountTarget", || {
                s.c.create_mount_target()
                    .file_system_id(&p.file_system_id)
                    .subnet_id(&p.subnet_id)
                    .set_security_groups(Some(p.security_group_ids.clone()))
                    .send()
            })
            .await;
        let id = match made {
            Ok(r) => r.mount_target_id().to_string(),
            Err(e) if has_code(&e, &["MountTargetConflict"]) => match self.existing(p).await? {
                Some(id) => id,
                None => return Err(e),
            },
            Err(e) => return Err(e),
        };
        let now = wait::until(
            &format!("mount target {id} to become available"),
            timeout,
            || async {
                Ok(match self.describe(Some(&id), None).await?.pop() {
                    Some((l, LifeCycleState::Available)) => Seen::Ready(l),
                    Some((_, LifeCycleState::Error)) => Seen::Failed("it is in error".into()),
                    Some((_, st)) => Seen::Pending(st.as_str().into()),
                    None => Seen::Pending("not visible yet".into()),
                })
            },
        )
        .await?;
        if now.props["security_group_ids"] != json!(p.security_group_ids) {
            self.set_groups(&id, &p.security_group_ids).await?;
            return read_one(self, &s.api, &id).await;
        }
        Ok(now)
    }
    async fn update(&self, id: &str, _: &Props, after: &Props, _: Duration) -> Result<Live> {
        self.set_groups(id, &after.security_group_ids).await?;
        read_one(self, &self.0.api, id).await
    }
    async fn delete(&self, id: &str, _: &Props, timeout: Duration) -> Result<()> {
        let s = &self.0;
        s.api
            .delete("DeleteMountTarget", || {
                s.c.delete_mount_target().mount_target_id(id).send()
            })
            .await?;
        wait::gone(&format!("mount target {id}"), timeout, || async {
            Ok(!self.read(&[id.to_string()]).await?.is_empty())
        })
        .await
    }
}

impl MountTarget {
    async fn set_groups(&self, id: &str, groups: &[String]) -> Result<()> {
        let s = &self.0;
        s.api
            .write("ModifyMountTargetSecurityGroups", || {
                s.c.modify_mount_target_security_groups()
                    .mount_target_id(id)
                    .set_security_groups(Some(groups.to_vec()))
                    .send()
            })
            .await?;
        Ok(())
    }
}
