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
use super::{Query, Svc, by_pages, each};
use crate::diag::Result;
use crate::provider::Live;

pub(crate) type Elb = Svc<Client>;

const PAGE: usize = 20;

tags::sdk_tag!(optional Tag);

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

/// Objects a describe listed, each with its tags (one DescribeTags per 20)
/// and one more read about it (`more`: attributes, registered targets). By
/// ARN (`owner` none) every one is wanted, and the reads all run at once;
/// looking for a stack's own, `more` is read only for those its tags claim.
async fn with_tags_and<'a, T, M, F, Fut>(
    s: &Elb,
    items: &'a [T],
    arn_of: fn(&T) -> &str,
    owner: Option<&str>,
    more: F,
) -> Result<Vec<(&'a T, Tags, M)>>
where
    F: Fn(&'a T) -> Fut,
    Fut: Future<Output = Result<M>>,
{
    let arns: Vec<String> = items.iter().map(|x| arn_of(x).to_string()).collect();
    let (mut tags, items, extra) = match owner {
        None => {
            let every: Vec<&T> = items.iter().collect();
            let reads: Vec<_> = every.iter().map(|x| more(x)).collect();
            let (tags, extra) = futures::future::try_join(tags_of(s, &arns), each(reads)).await?;
            (tags, every, extra)
        }
        Some(o) => {
            let tags = tags_of(s, &arns).await?;
            let claimed = |x: &&T| tags.get(arn_of(x)).is_some_and(|t| tags::owned_by(t, o));
            let mine: Vec<&T> = items.iter().filter(claimed).collect();
            let extra = each(mine.iter().map(|x| more(x)).collect::<Vec<_>>()).await?;
            (tags, mine, extra)
        }
    };
    Ok(items
        .into_iter()
        .zip(extra)
        .map(|(x, m)| (x, tags.remove(arn_of(x)).unwrap_or_default(), m))
        .collect())
}

/// Tags of up to 20 resources per call, by ARN.
async fn tags_of(s: &Elb, arns: &[String]) -> Result<HashMap<String, Tags>> {
    let mut out = HashMap::new();
    for chunk in arns.chunks(PAGE) {
        let r =
            call!(s, detail "DescribeTags", describe_tags().set_resource_arns(Some(chunk.to_vec())))
                .await?;
        for d in r.tag_descriptions() {
            out.insert(
                d.resource_arn().unwrap_or_default().to_string(),
                tags::from_sdk(d.tags()),
            );
        }
    }
    Ok(out)
}

tags::tagging!(Elb, by resource_arns,
    untag "RemoveTags" remove_tags,
    tag "AddTags" add_tags,
);

/// What CloudWatch names a load balancer or target group by: the ARN's
/// resource part after `after` (`app/NAME/ID`, `targetgroup/NAME/ID`).
pub(super) fn arn_suffix(arn: &str, after: &str) -> String {
    let resource = arn.splitn(6, ':').nth(5).unwrap_or_default();
    resource.strip_prefix(after).unwrap_or(resource).to_string()
}

#[cfg(test)]
mod suffix_tests {
    #[test]
    fn cloudwatch_dimensions_are_the_arns_resource_parts() {
        let lb =
            "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/eproc-alb/50dc6c495c0c9188";
        assert_eq!(
            super::arn_suffix(lb, "loadbalancer/"),
            "app/eproc-alb/50dc6c495c0c9188"
        );
        let tg = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/eproc-app/73e2d6bc24d8a067";
        assert_eq!(
            super::arn_suffix(tg, ""),
            "targetgroup/eproc-app/73e2d6bc24d8a067"
        );
    }
}
