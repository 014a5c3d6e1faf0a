//! `backup.selection`: what a backup plan backs up (resources by ARN), and
//! the role AWS Backup does it as. AWS has no update for a selection: every
//! change replaces it. Selections carry no tags: one is known by its plan
//! and name (a create whose answer was lost is found by them), and its id
//! is `PLAN_ID|SELECTION_ID`.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_backup::types::BackupSelection;
use serde::{Deserialize, Serialize};

use super::Backup;
use crate::aws::call::{call, pages};
use crate::aws::errors::{Class, class_of};
use crate::aws::{Clients, Create, Kind, Query, live, no_id};
use crate::diag::{Error, Result};
use crate::kind::{KindSpec, Ty, new, p, req};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    refresh_cost: "1 GetBackupSelection per selection",
    ..KindSpec::new(
        "backup.selection",
        "What a backup plan backs up: resources by ARN (Aurora clusters, EFS file systems, \
         ...), and the IAM role AWS Backup takes to do it. Every change replaces it (AWS has \
         no update). Known by its plan and name: it carries no tags.",
        &[
            req(new(p(
                "name",
                Ty::Str,
                "selection name (unique in its plan)",
            ))),
            req(new(p("plan_id", Ty::Str, "the backup plan"))),
            req(new(p(
                "iam_role_arn",
                Ty::Str,
                "the role AWS Backup takes (AWSBackupServiceRolePolicyForBackup)",
            ))),
            req(new(p(
                "resources",
                Ty::StrList { set: true },
                "ARNs of what is backed up",
            ))),
        ],
    )
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    name: String,
    plan_id: String,
    iam_role_arn: String,
    resources: Vec<String>,
}

pub(crate) struct Selection(pub(crate) Backup);

fn split(id: &str) -> Option<(&str, &str)> {
    id.split_once('|')
}

impl Selection {
    async fn get(&self, id: &str) -> Result<Option<Live>> {
        let s = &self.0;
        let Some((plan, sel)) = split(id) else {
            return Ok(None);
        };
        let r = match call!(s, read "GetBackupSelection", get_backup_selection()
            .backup_plan_id(plan)
            .selection_id(sel))
        .await
        {
            Ok(r) => r,
            Err(e) if class_of(&e) == Class::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(b) = r.backup_selection() else {
            return Ok(None);
        };
        let p = Props {
            name: b.selection_name().to_string(),
            plan_id: plan.to_string(),
            iam_role_arn: b.iam_role_arn().to_string(),
            resources: b.resources().to_vec(),
        };
        Ok(Some(live(&SPEC, id, &p, &[])))
    }

    /// The selection of this name in this plan, if one exists.
    async fn named(&self, plan: &str, name: &str) -> Result<Option<String>> {
        let s = &self.0;
        let all = match pages!(
            s,
            "ListBackupSelections",
            list_backup_selections().backup_plan_id(plan)
        )
        .await
        {
            Ok(all) => all,
            Err(e) if class_of(&e) == Class::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(all
            .iter()
            .find(|m| m.selection_name() == Some(name))
            .and_then(|m| m.selection_id())
            .map(|sel| format!("{plan}|{sel}")))
    }
}

#[async_trait]
impl Kind for Selection {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        Selection(c.backup.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        let mut out = Vec::new();
        match q {
            Query::Ids(ids) => {
                let reads: Vec<_> = ids.iter().map(|id| self.get(id)).collect();
                let found = crate::aws::each(reads).await?;
                out.extend(found.into_iter().flatten());
            }
            // What a create begun for these addresses may have made: by
            // plan and name (selections keep no tags).
            Query::Owned(_, wanted) => {
                for w in wanted {
                    // A plan not made yet has no selection.
                    let (Some(plan), Some(name)) =
                        (w.props["plan_id"].as_str(), w.props["name"].as_str())
                    else {
                        continue;
                    };
                    if crate::expr::contains_unknown(&w.props["plan_id"]) {
                        continue;
                    }
                    if let Some(id) = self.named(plan, name).await?
                        && let Some(mut l) = self.get(&id).await?
                    {
                        l.claimed_by = Some(w.address.clone());
                        out.push(l);
                    }
                }
            }
            Query::All | Query::Inside(..) => {}
        }
        Ok(out)
    }
    async fn create(&self, p: &Props, c: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        if c.retry
            && let Some(id) = self.named(&p.plan_id, &p.name).await?
        {
            return self
                .get(&id)
                .await?
                .ok_or_else(|| no_id("CreateBackupSelection"));
        }
        let sel = BackupSelection::builder()
            .selection_name(&p.name)
            .iam_role_arn(&p.iam_role_arn)
            .set_resources(Some(p.resources.clone()))
            .build()
            .map_err(|e| Error::other(format!("backup selection {}: {e}", p.name)))?;
        let r = call!(s, write "CreateBackupSelection", create_backup_selection()
            .backup_plan_id(&p.plan_id)
            .backup_selection(sel.clone())
            .creator_request_id(c.token))
        .await?;
        let sel = r
            .selection_id()
            .ok_or_else(|| no_id("CreateBackupSelection"))?;
        let id = format!("{}|{sel}", p.plan_id);
        self.get(&id)
            .await?
            .ok_or_else(|| Error::other(format!("backup selection {id} is not visible")))
    }
    async fn update(&self, id: &str, _: &Props, _: &Props, _: Duration) -> Result<Live> {
        // Every property is force-new: the engine replaces instead.
        Err(Error::other(format!(
            "internal: backup selection {id} has no update"
        )))
    }
    async fn delete(&self, id: &str, _: &Props, _: Duration) -> Result<()> {
        let s = &self.0;
        let Some((plan, sel)) = split(id) else {
            return Ok(());
        };
        call!(s, delete "DeleteBackupSelection", delete_backup_selection()
            .backup_plan_id(plan)
            .selection_id(sel))
        .await
        .map(drop)
    }
}
