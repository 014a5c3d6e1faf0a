//! Databases (RDS/Aurora): DB subnet group, cluster, instance.
//!
//! The cluster's master password is created and kept by Secrets Manager
//! (`ManageMasterUserPassword`): provision never sees it, only the secret's
//! ARN. Clusters and instances are read in batches with `db-*-id` filters.

pub(super) mod cluster;
pub(super) mod db_subnet_group;
pub(super) mod instance;

use aws_sdk_rds::Client;
use aws_sdk_rds::types::{Filter, Tag};

use super::Svc;
use super::tags::{self, Tags};
use crate::diag::Result;

pub(crate) type Rds = Svc<Client>;

const PAGE: usize = 100;

fn tag_list(t: &Tags) -> Vec<Tag> {
    t.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn tags_of(t: &[Tag]) -> Tags {
    tags::from_pairs(
        t.iter()
            .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default()))),
    )
}

fn filter(name: &str, values: &[String]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.to_vec()))
        .build()
}

async fn sync_tags(s: &Rds, arn: &str, before: &Tags, after: &Tags) -> Result<()> {
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

/// Deletion protection, as a reason not to delete.
fn protected(on: bool) -> Option<String> {
    on.then(|| "deletion protection is on: set deletion_protection: false and apply first".into())
}
