//! Shield Advanced protections, only with a subscription the account already has.
//!
//! provision never subscribes (a paid, one-year commitment): without a
//! subscription, `create_blocker` says so and the protection is not attempted.
//! The subscription is read with DescribeSubscription (GetSubscriptionState
//! would do, but moto lacks it; both are read-only).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_shield::Client;
use aws_sdk_shield::types::Tag;
use serde_json::{Value, json};

use super::{Resource, err, live_of, owned_by, s, tag_changes, tag_pairs};
use crate::diag::{Error, Result};
use crate::provider::{Live, Wanted};

pub(super) fn register(c: &Client, kinds: &mut HashMap<&'static str, Box<dyn Resource>>) {
    kinds.insert("shield.protection", Box::new(Protection(c.clone())));
}

pub(crate) struct Protection(pub(crate) Client);

fn is_code(e: &Error, code: &str) -> bool {
    matches!(e, Error::Aws { code: c, .. } if c == code)
}

impl Protection {
    /// Every protection, or only those with these ids (tags cost a call each).
    async fn all(&self, only: Option<&[String]>) -> Result<Vec<Live>> {
        let items: Vec<_> = match self
            .0
            .list_protections()
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
        {
            Ok(x) => x,
            Err(e) => {
                let e = err("ListProtections", e);
                // No protection at all is answered as "not found".
                return if is_code(&e, "ResourceNotFoundException") {
                    Ok(vec![])
                } else {
                    Err(e)
                };
            }
        };
        let mut out = Vec::new();
        for p in items
            .into_iter()
            .filter(|p| only.is_none_or(|o| o.iter().any(|i| Some(i.as_str()) == p.id())))
        {
            let arn = p.protection_arn().unwrap_or_default().to_string();
            let tags = self
                .0
                .list_tags_for_resource()
                .resource_arn(&arn)
                .send()
                .await
                .map_err(|e| err("ListTagsForResource", e))?;
            let raw = json!({
                "name": p.name(),
                "resource_arn": p.resource_arn(),
                "tags": super::tags_from(tags.tags().iter().map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))),
            });
            out.push(live_of(
                "shield.protection",
                p.id().unwrap_or_default(),
                raw,
                &[("arn", json!(arn))],
            ));
        }
        Ok(out)
    }
}

#[async_trait]
impl Resource for Protection {
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        self.all(Some(ids)).await
    }
    async fn find_owned(&self, stack: &str, _: &[Wanted]) -> Result<Vec<Live>> {
        Ok(self
            .all(None)
            .await?
            .into_iter()
            .filter(|l| owned_by(&l.props["tags"], stack))
            .collect())
    }
    async fn create_blocker(&self, _: &Value) -> Result<Option<String>> {
        match self.0.describe_subscription().send().await {
            Ok(r) if r.subscription().is_some() => Ok(None),
            Ok(_) => Ok(Some(no_subscription())),
            Err(e) => {
                let e = err("DescribeSubscription", e);
                if is_code(&e, "ResourceNotFoundException") {
                    Ok(Some(no_subscription()))
                } else {
                    Err(e)
                }
            }
        }
    }
    async fn create(&self, p: &Value, _: Duration) -> Result<Live> {
        let tags = tag_pairs(p)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let r = self
            .0
            .create_protection()
            .set_name(s(p, "name"))
            .set_resource_arn(s(p, "resource_arn"))
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| err("CreateProtection", e))?;
        let id = r.protection_id().unwrap_or_default().to_string();
        super::read_one(self, &id).await
    }
    async fn update(&self, id: &str, before: &Value, after: &Value, _: Duration) -> Result<Live> {
        let l = super::read_one(self, id).await?;
        let arn = l.outputs["arn"].as_str().unwrap_or_default().to_string();
        let (set, removed) = tag_changes(before, after);
        if !removed.is_empty() {
            self.0
                .untag_resource()
                .resource_arn(&arn)
                .set_tag_keys(Some(removed))
                .send()
                .await
                .map_err(|e| err("UntagResource", e))?;
        }
        if !set.is_empty() {
            self.0
                .tag_resource()
                .resource_arn(&arn)
                .set_tags(Some(
                    set.into_iter()
                        .map(|(k, v)| Tag::builder().key(k).value(v).build())
                        .collect(),
                ))
                .send()
                .await
                .map_err(|e| err("TagResource", e))?;
        }
        super::read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Value, _: Duration) -> Result<()> {
        self.0
            .delete_protection()
            .protection_id(id)
            .send()
            .await
            .map_err(|e| err("DeleteProtection", e))?;
        Ok(())
    }
}

fn no_subscription() -> String {
    "this account has no Shield Advanced subscription; provision never subscribes (a paid, \
     one-year commitment): subscribe in the Shield console, then plan again"
        .to_string()
}
