//! `kms.key`: a customer-managed symmetric key, with its rotation and key
//! policy. KMS never deletes a key at once: a delete schedules it, after a
//! waiting period (`deletion_window_days`), and a key pending deletion
//! counts as gone. Reads cost a call each (DescribeKey, rotation, tags,
//! and the policy when the stack sets one).

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

    /// The key's description and ARN when it is a customer-managed key
    /// not on its way out (one DescribeKey).
    async fn metadata(&self, id: &str) -> Result<Option<aws_sdk_kms::types::KeyMetadata>> {
        let s = &self.0;
        let d = match call!(s, read "DescribeKey", describe_key().key_id(id)).await {
            Ok(d) => d,
            Err(e) if class_of(&e) == Class::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(d.key_metadata().cloned().filter(|m| {
            let state = m.key_state().map(|s| s.as_str()).unwrap_or_default();
            m.key_manager().is_some_and(|k| k.as_str() == "CUSTOMER")
                && !matches!(state, "PendingDeletion" | "PendingReplicaDeletion")
        }))
    }

    /// A customer-managed key that is not on its way out, read in full.
    async fn get(&self, id: &str) -> Result<Option<Live>> {
        let s = &self.0;
        let Some(m) = self.metadata(id).await? else {
            return Ok(None);
        };
        let (rotation, t, policy) = tokio::try_join!(
            call!(s, read "GetKeyRotationStatus", get_key_rotation_status().key_id(id)),
            call!(s, read "ListResourceTags", list_resource_tags().key_id(id)),
            call!(s, read "GetKeyPolicy", get_key_policy().key_id(id).policy_name("default")),
        )?;
        let p = Props {
            description: m.description().unwrap_or_default().to_string(),
            rotation: rotation.key_rotation_enabled(),
            policy: policy.policy().map(document::from_aws),
            deletion_window_days: 30,
            tags: tags::from_sdk(t.tags()),
        };
        Ok(Some(live(
            &SPEC,
            m.key_id(),
            &p,
            &[("arn", json!(m.arn()))],
        )))
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

    async fn read_back(&self, id: &str) -> Result<Live> {
        self.get(id)
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
        one_call_each(q, || self.ids(), |id| async move { self.get(&id).await }).await
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
        self.read_back(&id).await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        let s = &self.0;
        if before.description != after.description {
            call!(s, write "UpdateKeyDescription", update_key_description()
                .key_id(id)
                .description(&after.description))
            .await?;
        }
        if before.rotation != after.rotation {
            self.set_rotation(id, after.rotation).await?;
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
        // Already on its way out (a delete whose answer was lost): done.
        if self.metadata(id).await?.is_none() {
            return Ok(());
        }
        call!(s, delete "ScheduleKeyDeletion", schedule_key_deletion()
            .key_id(id)
            .pending_window_in_days(p.deletion_window_days.clamp(7, 30)))
        .await
        .map(drop)
    }
}
