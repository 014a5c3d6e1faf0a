//! Caches (ElastiCache): cache subnet group and replication group.

pub(super) mod replication_group;
pub(super) mod subnet_group;

use aws_sdk_elasticache::Client;
use aws_sdk_elasticache::types::Tag;

use super::Svc;
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
    let t = s
        .api
        .read("ListTagsForResource", || {
            s.c.list_tags_for_resource().resource_name(arn).send()
        })
        .await?;
    Ok(tags::from_pairs(t.tag_list().iter().filter_map(|t| {
        Some((t.key()?, t.value().unwrap_or_default()))
    })))
}

async fn sync_tags(s: &Cache, arn: &str, before: &Tags, after: &Tags) -> Result<()> {
    tags::sync(
        before,
        after,
        |keys| async move {
            s.api
                .write("RemoveTagsFromResource", || {
                    s.c.remove_tags_from_resource()
                        .resource_name(arn)
                        .set_tag_keys(Some(keys.clone()))
                        .send()
                })
                .await
                .map(|_| ())
        },
        |set| async move {
            let set: Tags = set.into_iter().collect();
            s.api
                .write("AddTagsToResource", || {
                    s.c.add_tags_to_resource()
                        .resource_name(arn)
                        .set_tags(Some(tag_list(&set)))
                        .send()
                })
                .await
                .map(|_| ())
        },
    )
    .await
}
