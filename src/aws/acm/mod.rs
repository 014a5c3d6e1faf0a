//! ACM: TLS certificates for the load balancer, validated through DNS.

pub(super) mod certificate;
pub(super) mod validation;

use aws_sdk_acm::Client;
use aws_sdk_acm::types::{CertificateDetail, Tag};

use crate::aws::Svc;
use crate::aws::call::call;
use crate::aws::errors::{Class, is};
use crate::aws::tags::{self, Tagging, Tags};
use crate::diag::Result;

pub(crate) type Acm = Svc<Client>;

tags::sdk_tag!(required_key Tag);

/// ACM's tag calls, by certificate ARN.
#[async_trait::async_trait]
impl Tagging for Acm {
    async fn untag(&self, arn: &str, keys: Vec<String>) -> Result<()> {
        let s = self;
        let keys: Vec<Tag> = keys
            .iter()
            .filter_map(|k| Tag::builder().key(k).build().ok())
            .collect();
        call!(s, write "RemoveTagsFromCertificate", remove_tags_from_certificate()
            .certificate_arn(arn)
            .set_tags(Some(keys.clone())))
        .await
        .map(drop)
    }
    async fn tag(&self, arn: &str, tags: &Tags) -> Result<()> {
        let s = self;
        let set: Vec<Tag> = tags::to_sdk(tags);
        call!(s, write "AddTagsToCertificate", add_tags_to_certificate()
            .certificate_arn(arn)
            .set_tags(Some(set.clone())))
        .await
        .map(drop)
    }
    async fn tags(&self, arn: &str) -> Result<Tags> {
        let s = self;
        let t = call!(s, detail "ListTagsForCertificate", list_tags_for_certificate()
            .certificate_arn(arn))
        .await?;
        Ok(tags::from_sdk(t.tags()))
    }
}

/// A certificate as AWS describes it; `None` when it is gone.
pub(super) async fn describe(s: &Acm, arn: &str) -> Result<Option<CertificateDetail>> {
    match call!(s, read "DescribeCertificate", describe_certificate().certificate_arn(arn)).await {
        Err(e) if is(&e, Class::NotFound) => Ok(None),
        r => Ok(r?.certificate),
    }
}
