//! Caches (ElastiCache): cache subnet group and replication group.

pub(super) mod replication_group;
pub(super) mod subnet_group;

use aws_sdk_elasticache::Client;
use aws_sdk_elasticache::types::Tag;

use super::Svc;
use super::tags::{self};

pub(crate) type Cache = Svc<Client>;

tags::sdk_tag!(optional Tag);

tags::tagging!(Cache, by resource_name,
    untag "RemoveTagsFromResource" remove_tags_from_resource,
    tag "AddTagsToResource" add_tags_to_resource,
    read "ListTagsForResource" list_tags_for_resource, |t| t.tag_list(),
);
