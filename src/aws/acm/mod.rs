//! ACM: TLS certificates for the load balancer, validated through DNS.

pub(super) mod certificate;
pub(super) mod validation;

use aws_sdk_acm::Client;
use aws_sdk_acm::types::CertificateDetail;

use crate::aws::Svc;
use crate::aws::call::call;
use crate::aws::errors::{Class, is};
use crate::diag::Result;

pub(crate) type Acm = Svc<Client>;

/// A certificate as AWS describes it; `None` when it is gone.
pub(super) async fn describe(s: &Acm, arn: &str) -> Result<Option<CertificateDetail>> {
    match call!(s, read "DescribeCertificate", describe_certificate().certificate_arn(arn)).await {
        Err(e) if is(&e, Class::NotFound) => Ok(None),
        r => Ok(r?.certificate),
    }
}
