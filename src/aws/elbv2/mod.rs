//! Load balancing (ELBv2): application load balancer, target group, listener.
//!
//! Reads take up to 20 ARNs per call (DescribeLoadBalancers, DescribeTags);
//! a call naming an ARN that is gone fails whole, so that page is then read
//! ARN by ARN (`by_pages`). Tags are set in the create calls.

pub(super) mod listener;
pub(super) mod load_balancer;
pub(super) mod target_group;

use std::collections::HashMap;

use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::Tag;

use super::Svc;
use super::tags::{self, Tags};
use crate::diag::Result;

pub(crate) type Elb = Svc<Client>;

const PAGE: usize = 20;

fn tag_list(t: &Tags) -> Vec<Tag> {
    t.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Tags of up to 20 resources per call, by ARN.
async fn tags_of(s: &Elb, arns: &[String]) -> Result<HashMap<String, Tags>> {
    let mut out = HashMap::new();
    for chunk in arns.chunks(PAGE) {
        let r = s
            .api
            .read("DescribeTags", || {
                s.c.describe_tags()
                    .set_resource_arns(Some(chunk.to_vec()))
                    .send()
            })
            .await?;
        for d in r.tag_descriptions() {
            let t = tags::from_pairs(
                d.tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default()))),
            );
            out.insert(d.resource_arn().unwrap_or_default().to_string(), t);
        }
    }
    Ok(out)
}

async fn sync_tags(s: &Elb, arn: &str, before: &Tags, after: &Tags) -> Result<()> {
    tags::sync(
        before,
        after,
        |keys| async move {
            s.api
                .write("RemoveTags", || {
                    s.c.remove_tags()
                        .resource_arns(arn)
                        .set_tag_keys(Some(keys.clone()))
                        .send()
                })
                .await
                .map(|_| ())
        },
        |set| async move {
            let set: Tags = set.into_iter().collect();
            s.api
                .write("AddTags", || {
                    s.c.add_tags()
                        .resource_arns(arn)
                        .set_tags(Some(tag_list(&set)))
                        .send()
                })
                .await
                .map(|_| ())
        },
    )
    .await
}
