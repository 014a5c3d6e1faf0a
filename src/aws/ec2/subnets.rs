//! Data source `ec2.subnets`: existing subnets by VPC, tags or zone.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Ec2, filter};
use crate::aws::Clients;
use crate::aws::call::call;
use crate::aws::data::{DataKind, tag_filters, text, texts};
use crate::diag::{Error, Result};
use crate::kind::{DataSpec, TAGS, Ty, p};

static SPEC: DataSpec = DataSpec {
    name: "ec2.subnets",
    doc: "Existing subnets, by VPC, tags and zones; at least one must match.",
    props: &[
        p("vpc_id", Ty::Str, "the VPC they are in"),
        p(
            "availability_zones",
            Ty::StrList { set: true },
            "only in these zones",
        ),
        TAGS,
    ],
    attrs: &[
        ("ids", "their ids, sorted by zone then id"),
        ("cidr_blocks", "their blocks, in the same order"),
    ],
};

pub(crate) struct Subnets(Ec2);

#[async_trait]
impl DataKind for Subnets {
    const SPEC: &'static DataSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        Subnets(c.ec2.clone())
    }
    async fn read(&self, props: &Value) -> Result<Value> {
        let s = &self.0;
        let mut filters = Vec::new();
        if let Some(v) = text(props, "vpc_id") {
            filters.push(filter("vpc-id", &[v.to_string()]));
        }
        let zones = texts(props, "availability_zones");
        if !zones.is_empty() {
            filters.push(filter("availability-zone", &zones));
        }
        for (k, v) in tag_filters(props) {
            filters.push(filter(&format!("tag:{k}"), &[v]));
        }
        let r =
            call!(s, read "DescribeSubnets", describe_subnets().set_filters(Some(filters.clone())))
                .await?;
        let mut found: Vec<(String, String, String)> = r
            .subnets()
            .iter()
            .filter_map(|x| {
                Some((
                    x.availability_zone().unwrap_or_default().to_string(),
                    x.subnet_id()?.to_string(),
                    x.cidr_block().unwrap_or_default().to_string(),
                ))
            })
            .collect();
        if found.is_empty() {
            return Err(Error::other(format!("{} found no subnet", SPEC.name)));
        }
        found.sort();
        let ids: Vec<&str> = found.iter().map(|f| f.1.as_str()).collect();
        let blocks: Vec<&str> = found.iter().map(|f| f.2.as_str()).collect();
        Ok(json!({"ids": ids, "cidr_blocks": blocks}))
    }
}
