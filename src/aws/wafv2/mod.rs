//! WAF (WAFv2, REGIONAL): web ACL and its association with a load balancer.

pub(super) mod web_acl;
pub(super) mod web_acl_association;

use aws_sdk_wafv2::Client;

use super::Svc;

pub(crate) type Waf = Svc<Client>;

/// WAF names its codes both with and without a prefix; match the end.
fn is_code(e: &crate::diag::Error, code: &str) -> bool {
    matches!(e, crate::diag::Error::Aws { code: c, .. } if c == code || c.ends_with(code))
}
