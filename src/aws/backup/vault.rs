//! `backup.vault`: where AWS Backup keeps recovery points, encrypted with a
//! key of its region. A vault that holds recovery points cannot be deleted
//! (AWS refuses; they expire by their plan's lifecycle, or are deleted by
//! hand), and provision never deletes them: the plan of a destroy says so
//! (DescribeBackupVault counts them), the vault and its key stay, and the
//! rest goes.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Backup, to_map};
use crate::aws::call::{call, pages};
use crate::aws::errors::{Class, class_of};
use crate::aws::tags::{Tagging, Tags};
use crate::aws::{Clients, Create, Kind, Query, arn_of, live, one_call_each, wanted_names};
use crate::diag::Result;
use crate::kind::{KindSpec, TAGS, Tagged, Ty, def, new, p, req};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    outputs: &["id", "arn"],
    tagged: Some(Tagged {
        service: "backup",
        prefix: "backup-vault:",
        id_is_arn: false,
    }),
    refresh_cost: "2 calls per vault (DescribeBackupVault, ListTags)",
    // Just after its recovery points are deleted AWS may refuse a moment more.
    in_use: 60,
    ..KindSpec::new(
        "backup.vault",
        "An AWS Backup vault: where recovery points are kept, encrypted with a key of its \
         region. AWS refuses to delete one that holds recovery points.",
        &[
            req(new(p("name", Ty::Str, "vault name (unique in the region)"))),
            def(
                new(p(
                    "kms_key_id",
                    Ty::Str,
                    "ARN of the key recovery points are encrypted with; empty: AWS Backup's",
                )),
                "\"\"",
            ),
            TAGS,
        ],
    )
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    name: String,
    kms_key_id: String,
    tags: Tags,
}

pub(crate) struct Vault(Backup);

impl Vault {
    async fn names(&self) -> Result<Vec<String>> {
        let s = &self.0;
        let all = pages!(s, "ListBackupVaults", list_backup_vaults()).await?;
        Ok(all
            .iter()
            .filter_map(|v| v.backup_vault_name().map(str::to_string))
            .collect())
    }

    /// DescribeBackupVault's answer; `None` when the vault does not exist.
    async fn describe_one(
        &self,
        name: &str,
    ) -> Result<Option<aws_sdk_backup::operation::describe_backup_vault::DescribeBackupVaultOutput>>
    {
        let s = &self.0;
        match call!(s, read "DescribeBackupVault", describe_backup_vault()
            .backup_vault_name(name))
        .await
        {
            Ok(v) => Ok(Some(v)),
            Err(e) if class_of(&e) == Class::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn get(&self, name: &str) -> Result<Option<Live>> {
        let Some(v) = self.describe_one(name).await? else {
            return Ok(None);
        };
        let arn = v.backup_vault_arn().unwrap_or_default().to_string();
        let p = Props {
            name: v.backup_vault_name().unwrap_or(name).to_string(),
            kms_key_id: v.encryption_key_arn().unwrap_or_default().to_string(),
            tags: self.0.tags(&arn).await?,
        };
        let mut l = live(&SPEC, &p.name, &p, &[("arn", json!(arn))]);
        if p.kms_key_id.is_empty() {
            // AWS names the key it picked; the stack left it to AWS.
            l.unobserved.push("kms_key_id");
        }
        Ok(Some(l))
    }

    async fn read_back(&self, name: &str) -> Result<Live> {
        self.get(name)
            .await?
            .ok_or_else(|| crate::diag::Error::other(format!("backup vault {name} is not visible")))
    }
}

#[async_trait]
impl Kind for Vault {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        Vault(c.backup.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        // The stack's own, by the names it gives (its id): only those read.
        let only = match q {
            Query::Owned(_, wanted) => wanted_names(wanted, "name"),
            _ => None,
        };
        let names = || async {
            let all = self.names().await?;
            Ok(match &only {
                Some(only) => all.into_iter().filter(|n| only.contains(n)).collect(),
                None => all,
            })
        };
        one_call_each(q, names, |n| async move { self.get(&n).await }).await
    }
    async fn create(&self, p: &Props, c: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        let key = Some(p.kms_key_id.clone()).filter(|k| !k.is_empty());
        let tags = to_map(&p.tags);
        call!(s, write "CreateBackupVault", create_backup_vault()
            .backup_vault_name(&p.name)
            .set_encryption_key_arn(key.clone())
            .set_backup_vault_tags(Some(tags.clone()))
            .creator_request_id(c.token))
        .await?;
        self.read_back(&p.name).await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        let arn = arn_of(self, id).await?;
        self.0.sync_tags(&arn, &before.tags, &after.tags).await?;
        self.read_back(id).await
    }
    async fn delete_blocker(&self, id: &str, _: &Props) -> Result<Option<String>> {
        let Some(v) = self.describe_one(id).await? else {
            return Ok(None);
        };
        let n = v.number_of_recovery_points();
        Ok((n > 0).then(|| {
            format!(
                "the vault holds {n} recovery point{}: AWS deletes a vault only once they are \
                 gone (expired by their plan's lifecycle, or deleted by hand); provision never \
                 deletes backups",
                if n == 1 { "" } else { "s" }
            )
        }))
    }
    async fn delete(&self, id: &str, _: &Props, _: Duration) -> Result<()> {
        let s = &self.0;
        call!(s, delete "DeleteBackupVault", delete_backup_vault().backup_vault_name(id))
            .await
            .map(drop)
    }
}
