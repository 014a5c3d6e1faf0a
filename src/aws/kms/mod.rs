//! KMS: customer-managed keys and their aliases.

pub(crate) mod alias;
pub(super) mod key;

use aws_sdk_kms::Client;
use aws_sdk_kms::types::Tag;

use super::Svc;
use super::tags::{self, SdkTag};

pub(crate) type Kms = Svc<Client>;

// KMS names a tag's parts TagKey and TagValue.
impl SdkTag for Tag {
    fn pair(&self) -> Option<(&str, &str)> {
        Some((self.tag_key(), self.tag_value()))
    }
    fn of(key: &str, value: &str) -> Option<Self> {
        Tag::builder().tag_key(key).tag_value(value).build().ok()
    }
}

// A key's tag calls name it by `key_id`: the key kind tags through this
// view of the client with the shared `Tagging`.
tags::tag_view!(KeyTags, Kms);

tags::tagging!(KeyTags<'_>, by key_id,
    untag "UntagResource" untag_resource,
    tag "TagResource" tag_resource,
);
