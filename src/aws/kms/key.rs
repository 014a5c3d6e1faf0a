//! `kms.key`: a customer-managed symmetric key, with its rotation, key
//! policy and state. KMS never deletes a key at once: a delete schedules
//! it, after a waiting period (`deletion_window_days`). A key of the
//! stack's found pending deletion (scheduled by hand) is drift, not gone:
//! everything encrypted with it would be lost with it, and a new key
//! cannot read it, so the plan brings it back (CancelKeyDeletion, then
//! EnableKey) instead of making another and replacing what uses it. A key
//! provision deleted is gone: searches pass over keys pending deletion.
//! Reads cost a call each (DescribeKey, rotation, tags, policy).

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{KeyTags, Kms};
use crate::aws::call::{call, pages};
use crate::aws::errors::{Class, class_of};
use crate::aws::tags::{self, Tagging, Tags};
use crate::aws::{Clients, Create, Kind, Query, live, no_id, one_call_each};
use crate::diag::Result;
use crate::kind::{KindSpec, TAGS, Tagged, Takes, Ty, def, document, local, p};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    outputs: &["id", "arn"],
    tagged: Some(Tagged {
        service: "kms",
        prefix: "key/",
        id_is_arn: false,
    }),
    refresh_cost: "4 calls per key (DescribeKey, GetKeyRotationStatus, ListResourceTags, GetKeyPolicy)",
    takes: Takes::secs(2, 2, 1),
    explain_update: Some(brought_back),
    ..KindSpec::new(
        "kms.key",
        "A customer-managed KMS key (symmetric, for encryption), rotated yearly unless told otherwise.",
        &[
            def(p("description", Ty::Str, "what the key is for"), "\"\""),
            def(
                p("rotation", Ty::Bool, "rotate the key material yearly"),
                "true",
            ),
            p(
                "policy",
                Ty::Policy,
                "the key policy (AWS's default: the account's IAM decides)",
            ),
            def(
                p(
                    "state",
                    Ty::OneOf(&["Enabled", "Disabled"]),
                    "Disabled: nothing can be encrypted or decrypted with it (a key thought \
                     compromised); a key found PendingDeletion is brought back to this state \
                     (its deletion cancelled)",
                ),
                "\"Enabled\"",
            ),
            local(def(
                p(
                    "deletion_window_days",
                    Ty::Int,
                    "days between a delete and the key's end (7 to 30)",
                ),
                "30",
            )),
            TAGS,
        ],
    )
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    description: String,
    rotation: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    policy: Option<Value>,
    /// Recorded before keys had a state: Enabled.
    #[serde(default = "enabled")]
    state: String,
    deletion_window_days: i32,
    tags: Tags,
}

pub(crate) struct Key(Kms);

impl Key {
    async fn ids(&self) -> Result<Vec<String>> {
        let s = &self.0;
        let keys = pages!(s, "ListKeys", list_keys()).await?;
        Ok(keys
            .iter()
            .filter_map(|k| k.key_id().map(str::to_string))
            .collect())
    }

    /// The key's description, ARN and state when it is a customer-managed
    /// key (one DescribeKey); with `pending`, also when it is on its way
    /// out.
    async fn metadata(
        &self,
        id: &str,
        pending: bool,
    ) -> Result<Option<aws_sdk_kms::types::KeyMetadata>> {
        let s = &self.0;
        let d = match call!(s, read "DescribeKey", describe_key().key_id(id)).await {
            Ok(d) => d,
            Err(e) if class_of(&e) == Class::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(d.key_metadata().cloned().filter(|m| {
            m.key_manager().is_some_and(|k| k.as_str() == "CUSTOMER")
                && (pending || !on_its_way_out(m))
        }))
    }

    /// A customer-managed key, read in full; with `pending`, also one
    /// pending deletion (its state says so).
    async fn get(&self, id: &str, pending: bool) -> Result<Option<Live>> {
        let s = &self.0;
        let Some(m) = self.metadata(id, pending).await? else {
            return Ok(None);
        };
        // KMS answers no rotation status for a key pending deletion: state
        // keeps the recorded one (the update that brings it back sets it).
        let pending_deletion = on_its_way_out(&m);
        let rotation = async {
            if pending_deletion {
                return Ok(None);
            }
            let r = call!(s, read "GetKeyRotationStatus", get_key_rotation_status().key_id(id));
            r.await.map(|r| Some(r.key_rotation_enabled()))
        };
        let (rotation, t, policy) = tokio::try_join!(
            rotation,
            call!(s, read "ListResourceTags", list_resource_tags().key_id(id)),
            call!(s, read "GetKeyPolicy", get_key_policy().key_id(id).policy_name("default")),
        )?;
        let p = Props {
            description: m.description().unwrap_or_default().to_string(),
            rotation: rotation.unwrap_or(true),
            policy: policy.policy().map(document::from_aws),
            state: m.key_state().map_or("Enabled", |s| s.as_str()).to_string(),
            deletion_window_days: 30,
            tags: tags::from_sdk(t.tags()),
        };
        let mut l = live(&SPEC, m.key_id(), &p, &[("arn", json!(m.arn()))]);
        if rotation.is_none() {
            l.unobserved.push("rotation");
        }
        Ok(Some(l))
    }

    async fn set_rotation(&self, id: &str, on: bool) -> Result<()> {
        let s = &self.0;
        if on {
            call!(s, write "EnableKeyRotation", enable_key_rotation().key_id(id)).await?;
        } else {
            call!(s, write "DisableKeyRotation", disable_key_rotation().key_id(id)).await?;
        }
        Ok(())
    }

    /// Brings the key to `want` (Enabled or Disabled) from `now`: a key
    /// pending deletion has its deletion cancelled first (it is Disabled
    /// then), before anything else is asked of it (KMS refuses a key
    /// pending deletion every other change).
    async fn set_state(&self, id: &str, now: &str, want: &str) -> Result<()> {
        let s = &self.0;
        let mut now = now;
        if now == "PendingDeletion" {
            let cancelled =
                call!(s, write "CancelKeyDeletion", cancel_key_deletion().key_id(id)).await;
            // A retry after a lost answer is refused (the key is no longer
            // pending): what counts is whether it still is.
            if let Err(e) = cancelled {
                let m = self.metadata(id, true).await?;
                if m.as_ref().is_none_or(on_its_way_out) {
                    return Err(e);
                }
            }
            now = "Disabled";
        }
        match (now, want) {
            (n, w) if n == w => {}
            (_, "Enabled") => {
                call!(s, write "EnableKey", enable_key().key_id(id)).await?;
            }
            _ => {
                call!(s, write "DisableKey", disable_key().key_id(id)).await?;
            }
        }
        Ok(())
    }

    async fn read_back(&self, id: &str) -> Result<Live> {
        self.get(id, true)
            .await?
            .ok_or_else(|| crate::diag::Error::other(format!("key {id} is not visible")))
    }
}

#[async_trait]
impl Kind for Key {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        Key(c.kms.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        // ListKeys takes no tag filter: the stack's own are found by
        // reading each key (the tagging index narrows orphan searches).
        // Keys pending deletion are passed over: one provision deleted is
        // gone, and a lost create's or an orphan's search must not find it.
        one_call_each(
            q,
            || self.ids(),
            |id| async move { self.get(&id, false).await },
        )
        .await
    }
    async fn describe_recorded(&self, recorded: &[(&str, &Value)]) -> Result<Vec<Live>> {
        // The stack's own keys are read in any state: one pending deletion
        // is drift to undo, not an object to replace.
        let ids: Vec<String> = recorded.iter().map(|r| r.0.to_string()).collect();
        one_call_each(
            Query::Ids(&ids),
            || self.ids(),
            |id| async move { self.get(&id, true).await },
        )
        .await
    }
    async fn create(&self, p: &Props, _: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        let t: Vec<aws_sdk_kms::types::Tag> = tags::to_sdk(&p.tags);
        let policy = p.policy.as_ref().map(document::to_aws);
        let r = call!(s, create "CreateKey", create_key()
            .description(&p.description)
            .set_policy(policy.clone())
            .set_tags(Some(t.clone())))
        .await?;
        let id = r
            .key_metadata()
            .map(|m| m.key_id().to_string())
            .ok_or_else(|| no_id("CreateKey"))?;
        if p.rotation {
            self.set_rotation(&id, true).await?;
        }
        self.set_state(&id, "Enabled", &p.state).await?;
        self.read_back(&id).await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        let s = &self.0;
        if before.state != after.state {
            self.set_state(id, &before.state, &after.state).await?;
        }
        // A key back from pending deletion keeps the rotation it is told.
        let back = before.state == "PendingDeletion";
        if before.rotation != after.rotation || (back && after.rotation) {
            self.set_rotation(id, after.rotation).await?;
        }
        if before.description != after.description {
            call!(s, write "UpdateKeyDescription", update_key_description()
                .key_id(id)
                .description(&after.description))
            .await?;
        }
        if let Some(doc) = after
            .policy
            .as_ref()
            .filter(|d| before.policy.as_ref() != Some(*d))
        {
            let doc = document::to_aws(doc);
            call!(s, write "PutKeyPolicy", put_key_policy()
                .key_id(id)
                .policy_name("default")
                .policy(&doc))
            .await?;
        }
        KeyTags(&self.0)
            .sync_tags(id, &before.tags, &after.tags)
            .await?;
        self.read_back(id).await
    }
    async fn delete(&self, id: &str, p: &Props, _: Duration) -> Result<()> {
        let s = &self.0;
        // Already on its way out (a delete whose answer was lost, or one
        // scheduled by hand): done.
        if self.metadata(id, false).await?.is_none() {
            return Ok(());
        }
        call!(s, delete "ScheduleKeyDeletion", schedule_key_deletion()
            .key_id(id)
            .pending_window_in_days(p.deletion_window_days.clamp(7, 30)))
        .await
        .map(drop)
    }
}

fn enabled() -> String {
    "Enabled".into()
}

/// Whether a key is on its way out (scheduled for deletion).
fn on_its_way_out(m: &aws_sdk_kms::types::KeyMetadata) -> bool {
    matches!(
        m.key_state().map(|s| s.as_str()),
        Some("PendingDeletion" | "PendingReplicaDeletion")
    )
}

/// A key brought back from pending deletion, in words.
fn brought_back(before: &Value, after: &Value) -> Option<String> {
    (before["state"] == "PendingDeletion" && after["state"] != "PendingDeletion").then(|| {
        "cancels the key's scheduled deletion (CancelKeyDeletion) before any other change: \
         what it encrypted stays readable"
            .to_string()
    })
}
