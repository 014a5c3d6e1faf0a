//! `guardduty.detector`: the region's GuardDuty detector. There is at most
//! one per account and region, so `find_owned` offers the one that exists,
//! whoever made it: the plan adopts it instead of creating a second. Being
//! the region's one is its identity: it carries no ownership tags.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_guardduty::Client;
use aws_sdk_guardduty::types::{
    DetectorFeature, DetectorFeatureConfiguration, FeatureStatus, FindingPublishingFrequency,
};
use serde::{Deserialize, Serialize};

use crate::aws::call::{call, pages};
use crate::aws::errors::{Class, has_code, is};
use crate::aws::{Clients, Create, Kind, Query, Svc, live, no_id, read_one};
use crate::diag::Result;
use crate::kind::{KindSpec, Ty, def, p};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    refresh_cost: "1 GetDetector per detector (one per region)",
    ..KindSpec::new(
        "guardduty.detector",
        "The region's GuardDuty detector. There is at most one per account and region: one \
         that exists already is adopted, never duplicated. It is known by being the region's \
         one, so it carries no ownership tags.",
        &[
            def(p("enable", Ty::Bool, "detector on"), "true"),
            def(
                p(
                    "finding_publishing_frequency",
                    Ty::Str,
                    "FIFTEEN_MINUTES, ONE_HOUR or SIX_HOURS",
                ),
                "\"FIFTEEN_MINUTES\"",
            ),
            def(
                p("features", Ty::StrList { set: true }, "features enabled"),
                r#"["EBS_MALWARE_PROTECTION","RDS_LOGIN_EVENTS","S3_DATA_EVENTS"]"#,
            ),
        ],
    )
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    enable: bool,
    finding_publishing_frequency: Option<String>,
    features: Vec<String>,
}

impl Props {
    fn features(&self) -> Vec<DetectorFeatureConfiguration> {
        self.features
            .iter()
            .map(|f| {
                DetectorFeatureConfiguration::builder()
                    .name(DetectorFeature::from(f.as_str()))
                    .status(FeatureStatus::Enabled)
                    .build()
            })
            .collect()
    }

    fn frequency(&self) -> Option<FindingPublishingFrequency> {
        self.finding_publishing_frequency
            .as_deref()
            .map(FindingPublishingFrequency::from)
    }
}

pub(crate) struct Detector(pub(crate) Svc<Client>);

impl Detector {
    async fn get(&self, id: &str) -> Result<Option<Live>> {
        let s = &self.0;
        let r = match call!(s, read "GetDetector", get_detector().detector_id(id)).await {
            // GuardDuty answers a detector that is gone with BadRequestException.
            Err(e) if is(&e, Class::NotFound) || has_code(&e, &["BadRequestException"]) => {
                return Ok(None);
            }
            r => r?,
        };
        let enabled = |s: Option<&str>| s == Some("ENABLED");
        let p = Props {
            enable: enabled(r.status().map(|s| s.as_str())),
            finding_publishing_frequency: r
                .finding_publishing_frequency()
                .map(|f| f.as_str().into()),
            features: r
                .features()
                .iter()
                .filter(|f| enabled(f.status().map(|s| s.as_str())))
                .filter_map(|f| f.name().map(|n| n.as_str().to_string()))
                .collect(),
        };
        Ok(Some(live(&SPEC, id, &p, &[])))
    }
}

#[async_trait]
impl Kind for Detector {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        Detector(c.guardduty.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        let s = &self.0;
        let (ids, claim) = match q {
            Query::Ids(ids) => (ids.to_vec(), None),
            // The region's one detector, for the address that wants one: the
            // engine takes it only where a create of that address was begun
            // (detectors are not tagged: ownership is state's record).
            Query::Owned(_, [w, ..]) => {
                let region: Vec<String> = pages!(s, "ListDetectors", list_detectors()).await?;
                (region.into_iter().take(1).collect(), Some(&w.address))
            }
            Query::Owned(..) | Query::All | Query::Inside(..) => (vec![], None),
        };
        let mut out = Vec::new();
        for id in &ids {
            out.extend(self.get(id).await?.map(|mut l| {
                l.claimed_by = claim.cloned();
                l
            }));
        }
        Ok(out)
    }
    async fn create(&self, p: &Props, c: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        // The token makes a repeat the same create.
        let r = call!(s, write "CreateDetector", create_detector()
            .client_token(c.token)
            .enable(p.enable)
            .set_finding_publishing_frequency(p.frequency())
            .set_features(Some(p.features())))
        .await?;
        let id = r.detector_id().ok_or_else(|| no_id("CreateDetector"))?;
        read_one(self, id).await
    }
    /// A region has one detector: one provision did not create is never
    /// taken (nor, later, deleted); it can be imported.
    async fn create_blocker(&self, _: &Props) -> Result<Option<String>> {
        let s = &self.0;
        let region: Vec<String> = pages!(s, "ListDetectors", list_detectors()).await?;
        Ok(region.first().map(|id| {
            format!(
                "the region already has GuardDuty detector {id}, which provision did not create; \
                 `provision import ADDRESS {id}` manages it (an imported detector is never deleted)"
            )
        }))
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        let s = &self.0;
        let same = before.enable == after.enable
            && before.finding_publishing_frequency == after.finding_publishing_frequency
            && before.features == after.features;
        if !same {
            call!(s, write "UpdateDetector", update_detector()
                .detector_id(id)
                .enable(after.enable)
                .set_finding_publishing_frequency(after.frequency())
                .set_features(Some(after.features())))
            .await?;
        }
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Props, _: Duration) -> Result<()> {
        let s = &self.0;
        call!(s, delete "DeleteDetector", delete_detector().detector_id(id))
            .await
            .map(drop)
    }
}
