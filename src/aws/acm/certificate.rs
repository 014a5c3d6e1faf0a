//! `acm.certificate`: a public certificate requested from ACM with DNS
//! validation. Its outputs are the DNS record that proves the domain is
//! ours (a `route53.record` writes it); `acm.certificate_validation` waits
//! until ACM has seen it and issued the certificate.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_acm::types::{Tag, ValidationMethod};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Acm, describe};
use crate::aws::call::{call, pages};
use crate::aws::tags::{Tagging, Tags, to_sdk};
use crate::aws::wait::{Seen, until};
use crate::aws::{Clients, Create, Kind, Query, live, one_call_each, read_one, with_detail};
use crate::diag::Result;
use crate::kind::{KindSpec, TAGS, Tagged, Takes, Ty, def, new, p, req};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    tagged: Some(Tagged {
        service: "acm",
        prefix: "certificate/",
        id_is_arn: true,
    }),
    outputs: &[
        "id",
        "arn",
        "validation_record_name",
        "validation_record_type",
        "validation_record_value",
    ],
    refresh_cost: "1 DescribeCertificate + 1 ListTagsForCertificate per certificate",
    waits: "create waits until ACM names the DNS validation record (seconds).",
    takes: Takes::secs(10, 2, 5),
    ..KindSpec::new(
        "acm.certificate",
        "A public TLS certificate from ACM, validated through DNS: write its \
         `validation_record_*` outputs with a `route53.record`, then wait for it with \
         `acm.certificate_validation`.",
        &[
            req(new(p(
                "domain_name",
                Ty::Str,
                "the name the certificate is for",
            ))),
            def(
                new(p(
                    "subject_alternative_names",
                    Ty::StrList { set: true },
                    "other names it also covers",
                )),
                "[]",
            ),
            TAGS,
        ],
    )
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    domain_name: String,
    subject_alternative_names: Vec<String>,
    tags: Tags,
}

pub(crate) struct Certificate(Acm);

impl Certificate {
    /// The certificate with its tags and validation record; `None` when gone.
    async fn get(&self, arn: &str) -> Result<Option<Live>> {
        let Some((c, tags)) = with_detail(describe(&self.0, arn), self.0.tags(arn)).await? else {
            return Ok(None);
        };
        let domain = c.domain_name().unwrap_or_default().to_string();
        let p = Props {
            subject_alternative_names: c
                .subject_alternative_names()
                .iter()
                .filter(|n| **n != domain)
                .cloned()
                .collect(),
            domain_name: domain,
            tags,
        };
        let record = c
            .domain_validation_options()
            .first()
            .and_then(|o| o.resource_record());
        let outputs = [
            ("arn", json!(arn)),
            // Route 53 records are named without the final dot.
            (
                "validation_record_name",
                json!(record.map(|r| r.name().trim_end_matches('.'))),
            ),
            (
                "validation_record_type",
                json!(record.map(|r| r.r#type().as_str())),
            ),
            ("validation_record_value", json!(record.map(|r| r.value()))),
        ];
        Ok(Some(live(&SPEC, arn, &p, &outputs)))
    }

    async fn arns(&self) -> Result<Vec<String>> {
        let s = &self.0;
        let list = pages!(s, "ListCertificates", list_certificates()).await?;
        Ok(list
            .iter()
            .filter_map(|c| c.certificate_arn().map(str::to_string))
            .collect())
    }
}

#[async_trait]
impl Kind for Certificate {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        Certificate(c.acm.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        // ListCertificates takes no tag filter: the stack's own are found
        // by reading each certificate's tags.
        one_call_each(q, || self.arns(), |a| async move { self.get(&a).await }).await
    }
    async fn create(&self, p: &Props, c: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        // ACM's token: at most 32 letters and digits; a repeat within an
        // hour returns the same certificate.
        let token: String = c
            .token
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(32)
            .collect();
        let tags: Vec<Tag> = to_sdk(&p.tags);
        let sans = (!p.subject_alternative_names.is_empty()).then(|| {
            let mut all = vec![p.domain_name.clone()];
            all.extend(p.subject_alternative_names.iter().cloned());
            all
        });
        let r = call!(s, write "RequestCertificate", request_certificate()
            .domain_name(&p.domain_name)
            .validation_method(ValidationMethod::Dns)
            .set_subject_alternative_names(sans.clone())
            .idempotency_token(&token)
            .set_tags(Some(tags.clone())))
        .await?;
        let arn = r
            .certificate_arn()
            .ok_or_else(|| crate::aws::no_id("RequestCertificate"))?;
        self.ready(arn, c.timeout).await
    }
    /// ACM names the validation record a few seconds after the request.
    async fn ready(&self, arn: &str, timeout: Duration) -> Result<Live> {
        let wait = timeout.min(Duration::from_secs(300));
        until("the certificate's validation record", wait, || async {
            Ok(match self.get(arn).await? {
                Some(l) if l.outputs["validation_record_name"].is_string() => Seen::Ready(l),
                Some(_) => Seen::Pending("no validation record yet".into()),
                None => Seen::Pending("not visible yet".into()),
            })
        })
        .await
    }
    async fn update(&self, arn: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        let s = &self.0;
        s.sync_tags(arn, &before.tags, &after.tags).await?;
        read_one(self, arn).await
    }
    async fn delete(&self, arn: &str, _: &Props, _: Duration) -> Result<()> {
        let s = &self.0;
        match call!(s, delete "DeleteCertificate", delete_certificate().certificate_arn(arn)).await
        {
            Err(e) if crate::aws::errors::is(&e, crate::aws::errors::Class::NotFound) => Ok(()),
            r => r.map(drop),
        }
    }
}
