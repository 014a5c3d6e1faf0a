//! Load balancing (ELBv2): application load balancer, target group, listener.
//!
//! Reads take up to 20 ARNs per call (DescribeLoadBalancers, DescribeTags);
//! a call naming an ARN that is gone fails whole, so that page is then read
//! ARN by ARN (`by_pages`). Tags are set in the create calls.

pub(super) mod listener;
pub(super) mod load_balancer;
pub(super) mod target_group;

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::Tag;

use super::call::call;
use super::tags::{self, Tags};
use super::{Query, Svc, by_pages};
use crate::diag::Result;
use crate::provider::Live;

pub(crate) type Elb = Svc<Client>;

const PAGE: usize = 20;

fn tag_list(t: &Tags) -> Vec<Tag> {
    t.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// A query as ELBv2 reads: ARNs 20 at a time (`list(Some(arns), None)`),
/// or the stack's own (`list(None, Some(stack))`); the region's are not listed.
async fn query<'q, F, Fut>(q: Query<'q>, list: F) -> Result<Vec<Live>>
where
    F: Fn(Option<Vec<String>>, Option<&'q str>) -> Fut,
    Fut: Future<Output = Result<Vec<Live>>>,
{
    match q {
        Query::Ids(ids) => by_pages(ids, PAGE, |page| list(Some(page), None)).await,
        Query::Owned(stack, _) => list(None, Some(stack)).await,
        Query::All | Query::Inside(..) => Ok(vec![]),
    }
}

/// Tags of up to 20 resources per call, by ARN.
async fn tags_of(s: &Elb, arns: &[String]) -> Result<HashMap<String, Tags>> {
    let mut out = HashMap::new();
    for chunk in arns.chunks(PAGE) {
        let r =
            call!(s, detail "DescribeTags", describe_tags().set_resource_arns(Some(chunk.to_vec())))
                .await?;
        for d in r.tag_descriptions() {
            let pairs = d
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default())));
            out.insert(
                d.resource_arn().unwrap_or_default().to_string(),
                tags::from_pairs(pairs),
            );
        }
    }
    Ok(out)
}

async fn sync_tags(s: &Elb, arn: &str, before: &Tags, after: &Tags) -> Result<()> {
    tags::sync(
        before,
        after,
        |keys| async move {
            call!(s, write "RemoveTags", remove_tags().resource_arns(arn).set_tag_keys(Some(keys.clone())))
                .await
                .map(drop)
        },
        |set| async move {
            let set = tag_list(&set.into_iter().collect());
            call!(s, write "AddTags", add_tags().resource_arns(arn).set_tags(Some(set.clone())))
                .await
                .map(drop)
        },
    )
    .await
}
