//! GuardDuty: the region's detector. There is at most one per account and
//! region, so `find_owned` offers the one that exists, whoever made it: the
//! plan adopts it instead of creating a second.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_guardduty::Client;
use aws_sdk_guardduty::types::{
    DetectorFeature, DetectorFeatureConfiguration, FeatureStatus, FindingPublishingFrequency,
};
use serde_json::{Value, json};

use super::{Resource, b, err, list, live_of, s, tag_changes, tag_pairs};
use crate::diag::Result;
use crate::provider::{Live, Wanted};
use crate::stack::{TAG_ADDRESS, address_tag};

pub(super) fn register(c: &Client, kinds: &mut HashMap<&'static str, Box<dyn Resource>>) {
    kinds.insert("guardduty.detector", Box::new(Detector(c.clone())));
}

pub(crate) struct Detector(pub(crate) Client);

fn features(p: &Value) -> Vec<DetectorFeatureConfiguration> {
    list(p, "features")
        .into_iter()
        .map(|f| {
            DetectorFeatureConfiguration::builder()
                .name(DetectorFeature::from(f.as_str()))
                .status(FeatureStatus::Enabled)
                .build()
        })
        .collect()
}

impl Detector {
    async fn get(&self, id: &str) -> Result<Option<Live>> {
        let r = match self.0.get_detector().detector_id(id).send().await {
            Ok(r) => r,
            Err(e) => {
                let e = err("GetDetector", e);
                return if super::is_not_found(&e)
                    || matches!(&e, crate::diag::Error::Aws { code, .. } if code == "BadRequestException")
                {
                    Ok(None)
                } else {
                    Err(e)
                };
            }
        };
        let raw = json!({
            "enable": r.status().map(|s| s.as_str()) == Some("ENABLED"),
            "finding_publishing_frequency": r.finding_publishing_frequency().map(|f| f.as_str()),
            "features": r.features().iter()
                .filter(|f| f.status().map(|s| s.as_str()) == Some("ENABLED"))
                .filter_map(|f| f.name().map(|n| n.as_str().to_string()))
                .collect::<Vec<_>>(),
            "tags": super::tags_from(r.tags().map(|t| t.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>()).unwrap_or_default()),
        });
        Ok(Some(live_of("guardduty.detector", id, raw, &[])))
    }

    async fn ids(&self) -> Result<Vec<String>> {
        let r: Vec<String> = self
            .0
            .list_detectors()
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| err("ListDetectors", e))?;
        Ok(r)
    }
}

#[async_trait]
impl Resource for Detector {
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        let mut out = Vec::new();
        for id in ids {
            out.extend(self.get(id).await?);
        }
        Ok(out)
    }
    async fn find_owned(&self, _: &str, wanted: &[Wanted]) -> Result<Vec<Live>> {
        // Whatever detector the region has is the one the stack means.
        let Some(w) = wanted.first() else {
            return Ok(vec![]);
        };
        let mut out = Vec::new();
        for id in self.ids().await?.into_iter().take(1) {
            if let Some(mut l) = self.get(&id).await? {
                l.props["tags"][TAG_ADDRESS] = json!(address_tag(&w.address));
                out.push(l);
            }
        }
        Ok(out)
    }
    async fn create(&self, p: &Value, _: Duration) -> Result<Live> {
        let r = self
            .0
            .create_detector()
            .enable(b(p, "enable"))
            .set_finding_publishing_frequency(
                s(p, "finding_publishing_frequency")
                    .map(|f| FindingPublishingFrequency::from(f.as_str())),
            )
            .set_features(Some(features(p)))
            .set_tags(Some(tag_pairs(p).into_iter().collect()))
            .send()
            .await
            .map_err(|e| err("CreateDetector", e))?;
        let id = r.detector_id().unwrap_or_default().to_string();
        super::read_one(self, &id).await
    }
    async fn update(&self, id: &str, before: &Value, after: &Value, _: Duration) -> Result<Live> {
        if crate::plan::changed_props(before, after)
            .iter()
            .any(|p| p != "tags")
        {
            self.0
                .update_detector()
                .detector_id(id)
                .enable(b(after, "enable"))
                .set_finding_publishing_frequency(
                    s(after, "finding_publishing_frequency")
                        .map(|f| FindingPublishingFrequency::from(f.as_str())),
                )
                .set_features(Some(features(after)))
                .send()
                .await
                .map_err(|e| err("UpdateDetector", e))?;
        }
        let (set, removed) = tag_changes(before, after);
        if !set.is_empty() || !removed.is_empty() {
            let account_arn = self.detector_arn(id).await?;
            if !removed.is_empty() {
                self.0
                    .untag_resource()
                    .resource_arn(&account_arn)
                    .set_tag_keys(Some(removed))
                    .send()
                    .await
                    .map_err(|e| err("UntagResource", e))?;
            }
            if !set.is_empty() {
                self.0
                    .tag_resource()
                    .resource_arn(&account_arn)
                    .set_tags(Some(set.into_iter().collect()))
                    .send()
                    .await
                    .map_err(|e| err("TagResource", e))?;
            }
        }
        super::read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Value, _: Duration) -> Result<()> {
        self.0
            .delete_detector()
            .detector_id(id)
            .send()
            .await
            .map_err(|e| err("DeleteDetector", e))?;
        Ok(())
    }
}

impl Detector {
    /// The detector's ARN, which tagging needs: `arn:aws:guardduty:REGION:ACCOUNT:detector/ID`.
    async fn detector_arn(&self, id: &str) -> Result<String> {
        let region = self
            .0
            .config()
            .region()
            .map(|r| r.to_string())
            .unwrap_or_default();
        // The service role ARN names the account.
        let r = self
            .0
            .get_detector()
            .detector_id(id)
            .send()
            .await
            .map_err(|e| err("GetDetector", e))?;
        let account = r
            .service_role()
            .unwrap_or_default()
            .split(':')
            .nth(4)
            .unwrap_or_default()
            .to_string();
        Ok(format!(
            "arn:aws:guardduty:{region}:{account}:detector/{id}"
        ))
    }
}
