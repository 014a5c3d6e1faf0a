//! `sns.topic`: a topic alarms notify (subscriptions are people's: made by
//! hand, confirmed by mail, not managed here). Its id is its ARN. AWS's
//! CreateTopic hands back a topic of the same name that exists already, so
//! the plan checks the name first (`name_taken`): another's is never taken.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Sns;
use crate::aws::call::{call, pages};
use crate::aws::errors::{Class, class_of};
use crate::aws::tags::{self, Tagging, Tags};
use crate::aws::{Clients, Create, Kind, Query, live, no_id, one_call_each, wanted_names};
use crate::diag::{Error, Result};
use crate::kind::{KindSpec, TAGS, Tagged, Ty, def, new, p, req};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    outputs: &["id", "arn", "name"],
    // ListTopics takes no tag filter: orphans are looked for in the
    // tagging index.
    tagged: Some(Tagged {
        service: "sns",
        prefix: "",
        id_is_arn: true,
    }),
    refresh_cost: "2 calls per topic (GetTopicAttributes, ListTagsForResource)",
    ..KindSpec::new(
        "sns.topic",
        "An SNS topic (alarms notify it; subscriptions are made by hand and confirmed by \
         their owners). Its id is its ARN.",
        &[
            req(new(p("name", Ty::Str, "topic name (unique in the region)"))),
            def(
                p("display_name", Ty::Str, "the sender's name in mail and SMS"),
                "\"\"",
            ),
            def(
                p(
                    "kms_key_id",
                    Ty::Str,
                    "key messages are encrypted with at rest; empty: none",
                ),
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
    display_name: String,
    kms_key_id: String,
    tags: Tags,
}

impl Props {
    fn attributes(&self) -> HashMap<String, String> {
        HashMap::from([
            ("DisplayName".to_string(), self.display_name.clone()),
            ("KmsMasterKeyId".to_string(), self.kms_key_id.clone()),
        ])
    }
}

pub(crate) struct Topic(pub(crate) Sns);

fn name_of(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

impl Topic {
    /// Topics' ARNs; with `only`, of the topics of those names.
    async fn arns(&self, only: Option<&[String]>) -> Result<Vec<String>> {
        let s = &self.0;
        let all = pages!(s, "ListTopics", list_topics()).await?;
        Ok(all
            .iter()
            .filter_map(|t| t.topic_arn().map(str::to_string))
            .filter(|a| only.is_none_or(|o| o.iter().any(|n| n == name_of(a))))
            .collect())
    }

    async fn get(&self, arn: &str) -> Result<Option<Live>> {
        let s = &self.0;
        let r = match call!(s, read "GetTopicAttributes", get_topic_attributes().topic_arn(arn))
            .await
        {
            Ok(r) => r,
            Err(e) if class_of(&e) == Class::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let a = r.attributes().cloned().unwrap_or_default();
        let attr = |k: &str| a.get(k).cloned().unwrap_or_default();
        let p = Props {
            name: name_of(arn).to_string(),
            display_name: attr("DisplayName"),
            kms_key_id: attr("KmsMasterKeyId"),
            tags: self.0.tags(arn).await?,
        };
        let outputs = [("arn", json!(arn)), ("name", json!(p.name))];
        Ok(Some(live(&SPEC, arn, &p, &outputs)))
    }

    async fn read_back(&self, arn: &str) -> Result<Live> {
        self.get(arn)
            .await?
            .ok_or_else(|| Error::other(format!("topic {arn} is not visible")))
    }
}

#[async_trait]
impl Kind for Topic {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        Topic(c.sns.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        // The stack's own, by the names it gives: only those read.
        let only = match q {
            Query::Owned(_, wanted) => wanted_names(wanted, "name"),
            _ => None,
        };
        let arns = || self.arns(only.as_deref());
        one_call_each(q, arns, |a| async move { self.get(&a).await }).await
    }
    async fn create(&self, p: &Props, _: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        let attrs: HashMap<String, String> = p
            .attributes()
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let t: Vec<aws_sdk_sns::types::Tag> = tags::to_sdk(&p.tags);
        // Safe to repeat: AWS answers a second CreateTopic of the same name
        // and settings with the same topic.
        let r = call!(s, write "CreateTopic", create_topic()
            .name(&p.name)
            .set_attributes(Some(attrs.clone()))
            .set_tags(Some(t.clone())))
        .await?;
        let arn = r.topic_arn().ok_or_else(|| no_id("CreateTopic"))?;
        self.read_back(arn).await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        let s = &self.0;
        let (b, a) = (before.attributes(), after.attributes());
        for (k, v) in &a {
            if b.get(k) != Some(v) {
                call!(s, write "SetTopicAttributes", set_topic_attributes()
                    .topic_arn(id)
                    .attribute_name(k)
                    .attribute_value(v))
                .await?;
            }
        }
        self.0.sync_tags(id, &before.tags, &after.tags).await?;
        self.read_back(id).await
    }
    async fn delete(&self, id: &str, _: &Props, _: Duration) -> Result<()> {
        let s = &self.0;
        call!(s, delete "DeleteTopic", delete_topic().topic_arn(id))
            .await
            .map(drop)
    }
    /// CreateTopic would hand back a topic of this name that exists:
    /// another's is named here, before any write.
    async fn name_taken(&self, p: &Props) -> Result<Option<String>> {
        let Some(arn) = self.arns(Some(std::slice::from_ref(&p.name))).await?.pop() else {
            return Ok(None);
        };
        let t = self.0.tags(&arn).await?;
        let what = format!("topic {}", p.name);
        Ok(Some(tags::held_by(&what, &arn, &t, &p.tags)))
    }
}
