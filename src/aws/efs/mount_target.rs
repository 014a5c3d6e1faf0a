//! `efs.mount_target`: a mount target of a file system in one subnet. EFS
//! gives mount targets no tags: a create that meets an existing one in the
//! same subnet adopts it.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_efs::types::{LifeCycleState, MountTargetDescription};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Efs;
use crate::aws::call::call;
use crate::aws::errors::{Class, has_code, is};
use crate::aws::wait;
use crate::aws::{Clients, Create, Kind, Query, each, gone, live, read_one};
use crate::diag::Result;
use crate::kind::{Container, Inside, KindSpec, SECURITY_GROUPS, Takes, Ty, new, p, req};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    inside: Inside::NotSearched(
        Container::Vpc,
        "mount targets belong to a file system: the file system is what is looked for",
    ),
    waits: "create until `available` (fails at once on `error`); delete until it is gone.",
    outputs: &[
        "id",
        "ip_address",
        "availability_zone",
        "network_interface_id",
    ],
    refresh_cost: "1 DescribeMountTargets per file system + 1 DescribeMountTargetSecurityGroups per mount target",
    // Mount targets take a minute or two either way.
    takes: Takes::secs(90, 5, 60),
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

/// The mount targets that are not gone or going.
fn alive(found: impl Iterator<Item = (Live, LifeCycleState)>) -> Vec<Live> {
    found
        .filter(|(_, st)| !matches!(st, LifeCycleState::Deleted | LifeCycleState::Deleting))
        .map(|x| x.0)
        .collect()
}

impl MountTarget {
    /// One mount target, or those of a file system that `keep` keeps (their
    /// security groups cost a call each), with their states.
    async fn list(
        &self,
        mount_target: Option<&str>,
        file_system: Option<&str>,
        keep: &(dyn Fn(&MountTargetDescription) -> bool + Sync),
    ) -> Result<Vec<(Live, LifeCycleState)>> {
        let s = &self.0;
        let r = match call!(s, read "DescribeMountTargets", describe_mount_targets()
            .set_mount_target_id(mount_target.map(str::to_string))
            .set_file_system_id(file_system.map(str::to_string)))
        .await
        {
            Err(e) if is(&e, Class::NotFound) => return Ok(vec![]),
            r => r?,
        };
        let full = r
            .mount_targets()
            .iter()
            .filter(|m| keep(m))
            .map(|m| async move { Ok((self.live_of(m).await?, m.life_cycle_state().clone())) });
        each(full.collect::<Vec<_>>()).await
    }

    /// A mount target with its security groups (a call each).
    async fn live_of(&self, m: &MountTargetDescription) -> Result<Live> {
        let s = &self.0;
        let id = m.mount_target_id();
        let sgs = call!(s, detail "DescribeMountTargetSecurityGroups", describe_mount_target_security_groups()
            .mount_target_id(id))
        .await?;
        let p = Props {
            file_system_id: m.file_system_id().into(),
            subnet_id: m.subnet_id().into(),
            security_group_ids: sgs.security_groups().to_vec(),
        };
        let outputs = [
            ("ip_address", json!(m.ip_address())),
            ("availability_zone", json!(m.availability_zone_name())),
            ("network_interface_id", json!(m.network_interface_id())),
        ];
        Ok(live(&SPEC, id, &p, &outputs))
    }

    /// The mount target a conflicting create met: the file system's one in that subnet.
    async fn existing(&self, p: &Props) -> Result<Option<String>> {
        let in_subnet = |m: &MountTargetDescription| m.subnet_id() == p.subnet_id;
        let all = self.list(None, Some(&p.file_system_id), &in_subnet).await?;
        Ok(all.into_iter().next().map(|(l, _)| l.id))
    }

    async fn set_groups(&self, id: &str, groups: &[String]) -> Result<()> {
        let s = &self.0;
        call!(s, write "ModifyMountTargetSecurityGroups", modify_mount_target_security_groups()
            .mount_target_id(id)
            .set_security_groups(Some(groups.to_vec())))
        .await
        .map(drop)
    }
}

#[async_trait]
impl Kind for MountTarget {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        MountTarget(c.efs.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        // DescribeMountTargets takes one id: one call per mount target. No
        // tags to find the stack's own by: a create that meets one adopts it.
        let Query::Ids(ids) = q else {
            return Ok(vec![]);
        };
        let found = each(
            ids.iter()
                .map(|id| self.list(Some(id), None, &|_| true))
                .collect::<Vec<_>>(),
        )
        .await?;
        Ok(alive(found.into_iter().flatten()))
    }
    /// What state records is read a file system at a time (the file system
    /// its properties name: one DescribeMountTargets for all of its mount
    /// targets); what names none, one by one.
    async fn describe_recorded(&self, recorded: &[(&str, &Value)]) -> Result<Vec<Live>> {
        let mut by_fs: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut alone: Vec<String> = Vec::new();
        for (id, props) in recorded {
            match props["file_system_id"].as_str() {
                Some(fs) => by_fs.entry(fs).or_default().push(id),
                None => alone.push(id.to_string()),
            }
        }
        let per_fs = by_fs.into_iter().map(|(fs, ids)| async move {
            let recorded = |m: &MountTargetDescription| ids.contains(&m.mount_target_id());
            self.list(None, Some(fs), &recorded).await
        });
        let found = each(per_fs.collect::<Vec<_>>()).await?;
        let mut out = alive(found.into_iter().flatten());
        out.extend(self.describe(Query::Ids(&alone)).await?);
        Ok(out)
    }
    async fn create(&self, p: &Props, c: &Create<'_>) -> Result<Live> {
        let timeout = c.timeout;
        let s = &self.0;
        // One per file system and subnet: a repeat is answered MountTargetConflict.
        let made = call!(s, write "CreateMountTarget", create_mount_target()
            .file_system_id(&p.file_system_id)
            .subnet_id(&p.subnet_id)
            .set_security_groups(Some(p.security_group_ids.clone())))
        .await;
        let id = match made {
            Ok(r) => r.mount_target_id().to_string(),
            Err(e) if has_code(&e, &["MountTargetConflict"]) => match self.existing(p).await? {
                Some(id) => id,
                None => return Err(e),
            },
            Err(e) => return Err(e),
        };
        let now = self.ready(&id, timeout).await?;
        if now.props["security_group_ids"] != json!(p.security_group_ids) {
            self.set_groups(&id, &p.security_group_ids).await?;
            return read_one(self, &id).await;
        }
        Ok(now)
    }
    async fn ready(&self, id: &str, timeout: Duration) -> Result<Live> {
        let what = format!("mount target {id} to become available");
        wait::for_status(&what, timeout, &["available"], &["error"], || async {
            let found = self.list(Some(id), None, &|_| true).await?;
            Ok(found
                .into_iter()
                .next()
                .map(|(l, st)| (st.as_str().to_string(), l)))
        })
        .await
    }
    async fn update(&self, id: &str, _: &Props, after: &Props, _: Duration) -> Result<Live> {
        self.set_groups(id, &after.security_group_ids).await?;
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Props, timeout: Duration) -> Result<()> {
        let s = &self.0;
        call!(s, delete "DeleteMountTarget", delete_mount_target().mount_target_id(id)).await?;
        gone(self, id, timeout).await
    }
}
