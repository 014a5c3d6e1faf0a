//! SNS: the topic alarms notify.

pub(super) mod topic;

use aws_sdk_sns::Client;
use aws_sdk_sns::types::Tag;

use super::Svc;
use super::tags::{self, sdk_tag};

pub(crate) type Sns = Svc<Client>;

sdk_tag!(required Tag);

tags::tagging!(Sns, by resource_arn,
    untag "UntagResource" untag_resource,
    tag "TagResource" tag_resource,
    read "ListTagsForResource" list_tags_for_resource, |t| t.tags(),
);
