//! EC2: networking (VPC, subnet, internet gateway, Elastic IP, NAT gateway,
//! route table, security group) and compute (launch template, instance).
//!
//! What every EC2 kind shares: queries as filters (one Describe with an id
//! filter per page of ids: filters never fail on ids that are gone, unlike
//! the `*Ids` parameters), tags in the create call (TagSpecifications), tag
//! sync.

pub(super) mod ami;
pub(super) mod availability_zones;
pub(super) mod eip;
pub(super) mod instance;
pub(super) mod internet_gateway;
pub(super) mod launch_template;
pub(super) mod nat_gateway;
pub(super) mod route_table;
pub(super) mod security_group;
pub(super) mod subnet;
pub(super) mod subnets;
pub(super) mod vpc;
pub(super) mod vpc_endpoint;
pub(super) mod vpc_lookup;

use std::future::Future;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{AttributeBooleanValue, Filter, ResourceType, Tag, TagSpecification};

use super::call::call;
use super::tags::{self, Tagging, Tags};
use super::{Query, Svc, by_pages};
use crate::diag::Result;
use crate::provider::{Container, Live};
use crate::stack::TAG_STACK;

pub(crate) type Ec2 = Svc<Client>;

/// Network interfaces are no kind of provision's: drift reports those made
/// by hand in a managed VPC under this name.
pub(crate) const NETWORK_INTERFACE: &str = "ec2.network_interface";

/// Ids per Describe call: AWS accepts up to 1000 filter values; 200 keeps
/// requests small.
const PAGE: usize = 200;

pub(super) fn filter(name: &str, values: &[String]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.to_vec()))
        .build()
}

/// The filters a kind's objects are found by: their id, and (for kinds
/// that live in a VPC and are searched there, `Inside::Searched`) their VPC.
pub(super) struct By {
    pub id: &'static str,
    pub vpc: Option<&'static str>,
}

/// A query as EC2 filters: ids a page at a time by the id filter, the
/// stack's own by its ownership tag, everything, or what is inside VPCs.
pub(super) async fn query<F, Fut>(q: Query<'_>, by: By, list: F) -> Result<Vec<Live>>
where
    F: Fn(Vec<Filter>) -> Fut,
    Fut: Future<Output = Result<Vec<Live>>>,
{
    match q {
        Query::Ids(ids) => by_pages(ids, PAGE, |page| list(vec![filter(by.id, &page)])).await,
        // The tag filter narrows the answer; the tags themselves decide (an
        // emulator, or an API, that ignores the filter must not make
        // another stack's objects look like ours).
        Query::Owned(stack, _) => Ok(list(vec![filter(
            &format!("tag:{TAG_STACK}"),
            &[stack.to_string()],
        )])
        .await?
        .into_iter()
        .filter(|l| tags::owns(stack, l))
        .collect()),
        Query::All => list(vec![]).await,
        Query::Inside(Container::Vpc, vpcs) => match by.vpc {
            Some(f) => list(vec![filter(f, vpcs)]).await,
            None => Ok(vec![]),
        },
        Query::Inside(..) => Ok(vec![]),
    }
}

tags::sdk_tag!(optional Tag);

/// The tags of a create call.
pub(super) fn tag_spec(rt: ResourceType, tags: &Tags) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(rt)
        .set_tags(Some(tags::to_sdk(tags)))
        .build()
}

pub(super) fn flag(v: bool) -> AttributeBooleanValue {
    AttributeBooleanValue::builder().value(v).build()
}

#[async_trait::async_trait]
impl Tagging for Ec2 {
    async fn untag(&self, id: &str, keys: Vec<String>) -> Result<()> {
        let s = self;
        let keys: Vec<Tag> = keys.iter().map(|k| Tag::builder().key(k).build()).collect();
        call!(s, write "DeleteTags", delete_tags().resources(id).set_tags(Some(keys.clone())))
            .await
            .map(drop)
    }
    async fn tag(&self, id: &str, tags: &Tags) -> Result<()> {
        let s = self;
        let set: Vec<Tag> = tags::to_sdk(tags);
        call!(s, write "CreateTags", create_tags().resources(id).set_tags(Some(set.clone())))
            .await
            .map(drop)
    }
}
