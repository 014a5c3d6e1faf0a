//! `backup.plan`: when AWS Backup backs up, for how long it keeps what it
//! made, and where it copies it (a vault in another region: the standby's).
//! What it backs up is a `backup.selection`'s.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_backup::types::{BackupPlanInput, BackupRule, BackupRuleInput, CopyAction, Lifecycle};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Backup, to_map};
use crate::aws::call::{call, pages};
use crate::aws::errors::{Class, class_of};
use crate::aws::tags::{Tagging, Tags};
use crate::aws::{Clients, Create, Kind, Query, arn_of, live, no_id, one_call_each, wanted_names};
use crate::diag::{Error, Result};
use crate::kind::{KindSpec, Prop, TAGS, Tagged, Ty, def, key, new, p, req};
use crate::provider::Live;

const RULES: &[Prop] = &[
    key(req(p("name", Ty::Str, "rule name"))),
    def(
        p("schedule", Ty::Str, "when, as a cron expression in UTC"),
        "\"cron(0 5 ? * * *)\"",
    ),
    req(p("vault_name", Ty::Str, "the vault recovery points go to")),
    def(
        p(
            "delete_after_days",
            Ty::Int,
            "days a recovery point is kept",
        ),
        "35",
    ),
    def(
        p(
            "copy_to_vault_arn",
            Ty::Str,
            "ARN of a vault (in another region: the standby's) each recovery point is copied \
             to, kept as long; empty: none",
        ),
        "\"\"",
    ),
];

static SPEC: KindSpec = KindSpec {
    outputs: &["id", "arn", "version_id"],
    tagged: Some(Tagged {
        service: "backup",
        prefix: "backup-plan:",
        id_is_arn: false,
    }),
    refresh_cost: "2 calls per plan (GetBackupPlan, ListTags)",
    ..KindSpec::new(
        "backup.plan",
        "An AWS Backup plan: its rules say when to back up, how long to keep each recovery \
         point, and which vault in another region gets a copy. What it backs up is a \
         backup.selection's.",
        &[
            req(new(p("name", Ty::Str, "plan name"))),
            req(p("rules", Ty::ObjList(RULES), "the plan's rules")),
            TAGS,
        ],
    )
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    name: String,
    rules: Vec<RuleProps>,
    tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleProps {
    name: String,
    schedule: String,
    vault_name: String,
    delete_after_days: i64,
    copy_to_vault_arn: String,
}

impl RuleProps {
    fn of(r: &BackupRule) -> RuleProps {
        let copy = r.copy_actions().first();
        RuleProps {
            name: r.rule_name().to_string(),
            schedule: r.schedule_expression().unwrap_or_default().to_string(),
            vault_name: r.target_backup_vault_name().to_string(),
            delete_after_days: r
                .lifecycle()
                .and_then(|l| l.delete_after_days())
                .unwrap_or_default(),
            copy_to_vault_arn: copy
                .map(|c| c.destination_backup_vault_arn().to_string())
                .unwrap_or_default(),
        }
    }

    fn input(&self) -> Result<BackupRuleInput> {
        let keep = || {
            Lifecycle::builder()
                .delete_after_days(self.delete_after_days)
                .build()
        };
        let copy = (!self.copy_to_vault_arn.is_empty())
            .then(|| {
                CopyAction::builder()
                    .destination_backup_vault_arn(&self.copy_to_vault_arn)
                    .lifecycle(keep())
                    .build()
            })
            .transpose()
            .map_err(|e| Error::other(format!("backup rule {}: {e}", self.name)))?;
        BackupRuleInput::builder()
            .rule_name(&self.name)
            .target_backup_vault_name(&self.vault_name)
            .schedule_expression(&self.schedule)
            .lifecycle(keep())
            .set_copy_actions(copy.map(|c| vec![c]))
            .build()
            .map_err(|e| Error::other(format!("backup rule {}: {e}", self.name)))
    }
}

impl Props {
    fn input(&self) -> Result<BackupPlanInput> {
        let rules = self
            .rules
            .iter()
            .map(RuleProps::input)
            .collect::<Result<Vec<_>>>()?;
        BackupPlanInput::builder()
            .backup_plan_name(&self.name)
            .set_rules(Some(rules))
            .build()
            .map_err(|e| Error::other(format!("backup plan {}: {e}", self.name)))
    }
}

pub(crate) struct Plan(pub(crate) Backup);

impl Plan {
    /// Plans' ids; with `only`, of the plans of those names.
    async fn ids(&self, only: Option<&[String]>) -> Result<Vec<String>> {
        let s = &self.0;
        let all = pages!(s, "ListBackupPlans", list_backup_plans()).await?;
        Ok(all
            .iter()
            .filter(|p| {
                only.is_none_or(|o| {
                    p.backup_plan_name()
                        .is_some_and(|n| o.iter().any(|w| w == n))
                })
            })
            .filter_map(|p| p.backup_plan_id().map(str::to_string))
            .collect())
    }

    async fn get(&self, id: &str) -> Result<Option<Live>> {
        let s = &self.0;
        let r = match call!(s, read "GetBackupPlan", get_backup_plan().backup_plan_id(id)).await {
            Ok(r) => r,
            Err(e) if class_of(&e) == Class::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        // A deleted plan is still read for a while, with its deletion date.
        if r.deletion_date().is_some() {
            return Ok(None);
        }
        let Some(plan) = r.backup_plan() else {
            return Ok(None);
        };
        let arn = r.backup_plan_arn().unwrap_or_default().to_string();
        let p = Props {
            name: plan.backup_plan_name().to_string(),
            rules: plan.rules().iter().map(RuleProps::of).collect(),
            tags: self.0.tags(&arn).await?,
        };
        let outputs = [("arn", json!(arn)), ("version_id", json!(r.version_id()))];
        Ok(Some(live(&SPEC, id, &p, &outputs)))
    }

    async fn read_back(&self, id: &str) -> Result<Live> {
        self.get(id)
            .await?
            .ok_or_else(|| Error::other(format!("backup plan {id} is not visible")))
    }
}

#[async_trait]
impl Kind for Plan {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        Plan(c.backup.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        // The stack's own, by the names it gives: only those read.
        let only = match q {
            Query::Owned(_, wanted) => wanted_names(wanted, "name"),
            _ => None,
        };
        let ids = || self.ids(only.as_deref());
        one_call_each(q, ids, |id| async move { self.get(&id).await }).await
    }
    async fn create(&self, p: &Props, c: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        let input = p.input()?;
        let tags = to_map(&p.tags);
        // The token makes a repeat after a lost answer the same plan.
        let r = call!(s, write "CreateBackupPlan", create_backup_plan()
            .backup_plan(input.clone())
            .set_backup_plan_tags(Some(tags.clone()))
            .creator_request_id(c.token))
        .await?;
        let id = r
            .backup_plan_id()
            .ok_or_else(|| no_id("CreateBackupPlan"))?;
        self.read_back(id).await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        let s = &self.0;
        if before.rules != after.rules {
            let input = after.input()?;
            call!(s, write "UpdateBackupPlan", update_backup_plan()
                .backup_plan_id(id)
                .backup_plan(input.clone()))
            .await?;
        }
        if before.tags != after.tags {
            let arn = arn_of(self, id).await?;
            self.0.sync_tags(&arn, &before.tags, &after.tags).await?;
        }
        self.read_back(id).await
    }
    async fn delete(&self, id: &str, _: &Props, _: Duration) -> Result<()> {
        let s = &self.0;
        call!(s, delete "DeleteBackupPlan", delete_backup_plan().backup_plan_id(id))
            .await
            .map(drop)
    }
}
