//! Databases (RDS/Aurora): DB subnet group, cluster, instance.
//!
//! The cluster's master password is created and kept by Secrets Manager
//! (`ManageMasterUserPassword`): provision never sees it, only the secret's
//! ARN. Clusters and instances are read in batches with `db-*-id` filters.

pub(super) mod cluster;
pub(super) mod db_subnet_group;
pub(super) mod instance;

use std::future::Future;

use aws_sdk_rds::Client;
use aws_sdk_rds::types::{Filter, Tag};

use super::tags::{self, owns};
use super::{Query, Svc};
use crate::diag::Result;
use crate::provider::Live;

pub(crate) type Rds = Svc<Client>;

const PAGE: usize = 100;

fn filter(name: &str, values: &[String]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.to_vec()))
        .build()
}

tags::sdk_tag!(optional Tag);

tags::tagging!(Rds, by resource_name,
    untag "RemoveTagsFromResource" remove_tags_from_resource,
    tag "AddTagsToResource" add_tags_to_resource,
    read "ListTagsForResource" list_tags_for_resource, |t| t.tag_list(),
);

/// A query as RDS reads: ids 100 at a time by the `id_filter`, or every
/// object of the region filtered by the stack's tag (RDS filters take no tags).
async fn query<F, Fut>(q: Query<'_>, id_filter: &str, list: F) -> Result<Vec<Live>>
where
    F: Fn(Option<Vec<Filter>>) -> Fut,
    Fut: Future<Output = Result<Vec<Live>>>,
{
    match q {
        Query::Ids(ids) => {
            let mut out = Vec::new();
            for chunk in ids.chunks(PAGE) {
                out.extend(list(Some(vec![filter(id_filter, chunk)])).await?);
            }
            Ok(out)
        }
        Query::Owned(stack, _) => {
            let all = list(None).await?;
            Ok(all.into_iter().filter(|l| owns(stack, l)).collect())
        }
        Query::All | Query::Inside(..) => Ok(vec![]),
    }
}

/// Deletion protection, as a reason not to delete.
fn protected(on: bool) -> Option<String> {
    on.then(|| "deletion protection is on: set deletion_protection: false and apply first".into())
}
