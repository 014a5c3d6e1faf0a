//! CloudWatch: metric alarms.

pub(super) mod alarm;

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::Tag;

use super::Svc;
use super::tags::{self, sdk_tag};

pub(crate) type CloudWatch = Svc<Client>;

sdk_tag!(optional Tag);

tags::tagging!(CloudWatch, by resource_arn,
    untag "UntagResource" untag_resource,
    tag "TagResource" tag_resource,
    read "ListTagsForResource" list_tags_for_resource, |t| t.tags(),
);
