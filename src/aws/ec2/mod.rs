//! EC2: networking (VPC, subnet, internet gateway, Elastic IP, NAT gateway,
//! route table, security group) and compute (launch template, instance).
//!
//! What every EC2 kind shares: queries as filters (one Describe with an id
//! filter per page of ids: filters never fail on ids that are gone, unlike
//! the `*Ids` parameters), tags in the create call (TagSpecifications), tag
//! sync.

pub(super) mod eip;
pub(super) mod instance;
pub(super) mod internet_gateway;
pub(super) mod launch_template;
pub(super) mod nat_gateway;
pub(super) mod route_table;
pub(super) mod security_group;
pub(super) mod subnet;
pub(super) mod vpc;

use std::future::Future;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{AttributeBooleanValue, Filter, ResourceType, Tag, TagSpecification};

use super::call::call;
use super::tags::{self, Tags};
use super::{Query, Svc, by_pages};
use crate::diag::Result;
use crate::provider::{Container, Live};
use crate::stack::TAG_STACK;

pub(crate) type Ec2 = Svc<Client>;

/// Ids per Describe call: AWS accepts up to 1000 filter values; 200 keeps
/// requests small.
const PAGE: usize = 200;

pub(super) fn filter(name: &str, values: &[String]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.to_vec()))
        .build()
}

/// A query as EC2 filters: ids a page at a time by `id_filter`, the stack's
/// own by its ownership tag, or everything.
pub(super) async fn query<F, Fut>(q: Query<'_>, id_filter: &str, list: F) -> Result<Vec<Live>>
where
    F: Fn(Vec<Filter>) -> Fut,
    Fut: Future<Output = Result<Vec<Live>>>,
{
    match q {
        Query::Ids(ids) => by_pages(ids, PAGE, |page| list(vec![filter(id_filter, &page)])).await,
        Query::Owned(stack, _) => {
            list(vec![filter(
                &format!("tag:{TAG_STACK}"),
                &[stack.to_string()],
            )])
            .await
        }
        Query::All => list(vec![]).await,
        Query::Inside(Container::Vpc, vpcs) => match in_vpc_filter(id_filter) {
            Some(f) => list(vec![filter(f, vpcs)]).await,
            None => Ok(vec![]),
        },
        Query::Inside(..) => Ok(vec![]),
    }
}

/// The filter that finds a kind's objects by their VPC, for the kinds that
/// live inside one (named by their id filter).
fn in_vpc_filter(id_filter: &str) -> Option<&'static str> {
    match id_filter {
        "subnet-id" | "route-table-id" | "group-id" | "instance-id" | "nat-gateway-id" => {
            Some("vpc-id")
        }
        "internet-gateway-id" => Some("attachment.vpc-id"),
        _ => None,
    }
}

pub(super) fn tags_of(tags: &[Tag]) -> Tags {
    tags::from_pairs(
        tags.iter()
            .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default()))),
    )
}

fn tag_list(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The tags of a create call.
pub(super) fn tag_spec(rt: ResourceType, tags: &Tags) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(rt)
        .set_tags(Some(tag_list(tags)))
        .build()
}

pub(super) fn flag(v: bool) -> AttributeBooleanValue {
    AttributeBooleanValue::builder().value(v).build()
}

/// Makes the tags of `id` go from `before` to `after`.
pub(super) async fn sync_tags(s: &Ec2, id: &str, before: &Tags, after: &Tags) -> Result<()> {
    tags::sync(
        before,
        after,
        |keys| async move {
            let keys: Vec<Tag> = keys.iter().map(|k| Tag::builder().key(k).build()).collect();
            call!(s, write "DeleteTags", delete_tags().resources(id).set_tags(Some(keys.clone())))
                .await
                .map(drop)
        },
        |set| async move {
            let set = tag_list(&set.into_iter().collect());
            call!(s, write "CreateTags", create_tags().resources(id).set_tags(Some(set.clone())))
                .await
                .map(drop)
        },
    )
    .await
}
