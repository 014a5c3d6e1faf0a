//! Caches (ElastiCache): cache subnet group and replication group.

pub(super) mod replication_group;
pub(super) mod subnet_group;

use aws_sdk_elasticache::Client;
use aws_sdk_elasticache::types::Tag;

use super::Svc;
use super::call::call;
use super::tags::{self, Tags};
use crate::diag::Result;

pub(crate) type Cache = Svc<Client>;

fn tag_list(t: &Tags) -> Vec<Tag> {
    t.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// One resource's tags (ElastiCache lists carry none: one call each).
async fn tags_of(s: &Cache, arn: &str) -> Result<Tags> {
    let t =
        call!(s, detail "ListTagsForResource", list_tags_for_resource().resource_name(arn)).await?;
    let pairs = t
        .tag_list()
        .iter()
        .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default())));
    Ok(tags::from_pairs(pairs))
}

async fn sync_tags(s: &Cache, arn: &str, before: &Tags, after: &Tags) -> Result<()> {
    tags::sync(
        before,
        after,
        |keys| async move {
            call!(s, write "RemoveTagsFromResource", remove_tags_from_resource()
                .resource_name(arn)
                .set_tag_keys(Some(keys.clone())))
            .await
            .map(drop)
        },
        |set| async move {
            let set = tag_list(&set.into_iter().collect());
            call!(s, write "AddTagsToResource", add_tags_to_resource()
                .resource_name(arn)
                .set_tags(Some(set.clone())))
            .await
            .map(drop)
        },
    )
    .await
}
