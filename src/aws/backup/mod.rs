//! AWS Backup: vaults, plans (their rules, and copies to a vault in another
//! region) and selections (what a plan backs up).

pub(super) mod plan;
pub(super) mod selection;
pub(super) mod vault;

use std::collections::HashMap;

use aws_sdk_backup::Client;

use super::Svc;
use super::call::call;
use super::tags::{self, Tagging, Tags};
use crate::diag::Result;

pub(crate) type Backup = Svc<Client>;

// Backup's tags are a map, named by the object's ARN.
#[async_trait::async_trait]
impl Tagging for Backup {
    async fn untag(&self, arn: &str, keys: Vec<String>) -> Result<()> {
        let s = self;
        call!(s, write "UntagResource", untag_resource()
            .resource_arn(arn)
            .set_tag_key_list(Some(keys.clone())))
        .await
        .map(drop)
    }
    async fn tag(&self, arn: &str, t: &Tags) -> Result<()> {
        let s = self;
        let map = to_map(t);
        call!(s, write "TagResource", tag_resource()
            .resource_arn(arn)
            .set_tags(Some(map.clone())))
        .await
        .map(drop)
    }
    async fn tags(&self, arn: &str) -> Result<Tags> {
        let s = self;
        // `/tags/ARN/`, as the service's own model and boto3 write it
        // (AWS takes both; moto 5.1.22 reads the ARN before a last slash).
        let r = call!(s, detail "ListTags", list_tags()
        .resource_arn(arn)
        .customize()
        .mutate_request(|r| {
            let (path, query) = r.uri().split_once('?').unwrap_or((r.uri(), ""));
            if !path.ends_with('/') {
                let q = if query.is_empty() { String::new() } else { format!("?{query}") };
                let uri = format!("{path}/{q}");
                let _ = r.set_uri(uri);
            }
        }))
        .await?;
        Ok(tags::from_pairs(
            r.tags()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        ))
    }
}

fn to_map(t: &Tags) -> HashMap<String, String> {
    t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}
