//! GuardDuty: the region's detector. There is at most one per account and
//! region, so `find_owned` offers the one that exists, whoever made it: the
//! plan adopts it instead of creating a second. Being the region's one is
//! its identity: it carries no ownership tags.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_guardduty::Client;
use aws_sdk_guardduty::types::{
    DetectorFeature, DetectorFeatureConfiguration, FeatureStatus, FindingPublishingFrequency,
};
use serde_json::{Value, json};

use super::{Resource, b, err, list, live_of, s};
use crate::diag::Result;
use crate::provider::{Live, Wanted};

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
                l.claimed_by = Some(w.address.clone());
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
