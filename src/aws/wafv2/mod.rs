//! WAF (WAFv2, REGIONAL): web ACL and its association with a load balancer.

pub(super) mod web_acl;
pub(super) mod web_acl_association;

use aws_sdk_wafv2::Client;
use aws_sdk_wafv2::types::Tag;

use super::Svc;
use super::tags::{self};

pub(crate) type Waf = Svc<Client>;

tags::sdk_tag!(required Tag);

tags::tagging!(Waf, by resource_arn,
    untag "UntagResource" untag_resource,
    tag "TagResource" tag_resource,
    read "ListTagsForResource" list_tags_for_resource,
        |t| t.tag_info_for_resource().map(|i| i.tag_list()).unwrap_or_default(),
);

/// WAF names its codes both with and without a prefix; match the end.
fn is_code(e: &crate::diag::Error, code: &str) -> bool {
    matches!(e, crate::diag::Error::Aws { code: c, .. } if c == code || c.ends_with(code))
}
