//! `acm.certificate_validation`: waits until ACM has issued a certificate
//! (after its DNS validation record is written). Nothing is made in AWS: its
//! id is the certificate's ARN, its delete forgets it. A listener refers to
//! its `certificate_arn` so that it is created only once the certificate can
//! be used.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Acm, describe};
use crate::aws::wait::{Seen, until};
use crate::aws::{Clients, Create, Kind, Query, each, live};
use crate::diag::Result;
use crate::kind::{KindSpec, Takes, Ty, local, new, p, req};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    outputs: &["id", "certificate_arn"],
    refresh_cost: "1 DescribeCertificate per certificate",
    waits: "create waits until the certificate is ISSUED (ACM checks the DNS record: \
            minutes); a failed validation ends the wait with ACM's reason.",
    takes: Takes::secs(300, 0, 0),
    ..KindSpec::new(
        "acm.certificate_validation",
        "The wait for a certificate to be issued. Makes nothing in AWS; deleting it \
         forgets it.",
        &[
            req(new(p(
                "certificate_arn",
                Ty::Str,
                "the certificate (acm.certificate's arn)",
            ))),
            local(p(
                "validation_record_fqdns",
                Ty::StrList { set: true },
                "the validation records (refer to them so they are written first)",
            )),
        ],
    )
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    certificate_arn: String,
    validation_record_fqdns: Option<Vec<String>>,
}

pub(crate) struct Validation(Acm);

impl Validation {
    /// The certificate's status; `None` when it is gone.
    async fn status(&self, arn: &str) -> Result<Option<(String, Option<String>)>> {
        Ok(describe(&self.0, arn).await?.map(|c| {
            (
                c.status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                c.failure_reason().map(|r| r.as_str().to_string()),
            )
        }))
    }

    async fn get(&self, arn: &str) -> Result<Option<Live>> {
        Ok(match self.status(arn).await? {
            Some((status, _)) if status == "ISSUED" => {
                let p = Props {
                    certificate_arn: arn.to_string(),
                    validation_record_fqdns: None,
                };
                Some(live(&SPEC, arn, &p, &[("certificate_arn", json!(arn))]))
            }
            _ => None,
        })
    }
}

#[async_trait]
impl Kind for Validation {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        Validation(c.acm.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        let Query::Ids(ids) = q else {
            return Ok(vec![]);
        };
        let found = each(ids.iter().map(|a| self.get(a)).collect::<Vec<_>>()).await?;
        Ok(found.into_iter().flatten().collect())
    }
    async fn create(&self, p: &Props, c: &Create<'_>) -> Result<Live> {
        let arn = p.certificate_arn.as_str();
        until("the certificate to be issued", c.timeout, || async {
            Ok(match self.status(arn).await? {
                Some((s, _)) if s == "ISSUED" => Seen::Ready(()),
                Some((s, why)) if s == "FAILED" || s == "VALIDATION_TIMED_OUT" => {
                    Seen::Failed(why.unwrap_or(s))
                }
                Some((s, _)) => Seen::Pending(s),
                None => Seen::Pending("not visible yet".into()),
            })
        })
        .await?;
        let mut l = crate::aws::read_one(self, arn).await?;
        l.props["validation_record_fqdns"] = json!(p.validation_record_fqdns);
        Ok(l)
    }
    async fn update(&self, arn: &str, _: &Props, after: &Props, _: Duration) -> Result<Live> {
        let mut l = crate::aws::read_one(self, arn).await?;
        l.props["validation_record_fqdns"] = json!(after.validation_record_fqdns);
        Ok(l)
    }
    /// Nothing to delete: the certificate is `acm.certificate`'s.
    async fn delete(&self, _: &str, _: &Props, _: Duration) -> Result<()> {
        Ok(())
    }
}
