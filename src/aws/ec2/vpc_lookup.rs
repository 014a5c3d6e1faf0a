//! Data source `ec2.vpc`: an existing VPC, by id, tags or its block.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Ec2, filter};
use crate::aws::Clients;
use crate::aws::call::call;
use crate::aws::data::{DataKind, one_of, tag_filters, text};
use crate::diag::Result;
use crate::kind::{DataSpec, TAGS, Ty, p};

static SPEC: DataSpec = DataSpec {
    name: "ec2.vpc",
    doc: "An existing VPC: exactly one must match the filters.",
    props: &[
        p("id", Ty::Str, "the VPC's id"),
        p("cidr_block", Ty::Cidr, "its primary block"),
        p("default", Ty::Bool, "the region's default VPC"),
        TAGS,
    ],
    attrs: &[("id", "the VPC's id"), ("cidr_block", "its primary block")],
};

pub(crate) struct VpcLookup(Ec2);

#[async_trait]
impl DataKind for VpcLookup {
    const SPEC: &'static DataSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        VpcLookup(c.ec2.clone())
    }
    async fn read(&self, props: &Value) -> Result<Value> {
        let s = &self.0;
        let mut filters = Vec::new();
        if let Some(id) = text(props, "id") {
            filters.push(filter("vpc-id", &[id.to_string()]));
        }
        if let Some(c) = text(props, "cidr_block") {
            filters.push(filter("cidr", &[c.to_string()]));
        }
        if let Some(d) = props.get("default").and_then(Value::as_bool) {
            filters.push(filter("is-default", &[d.to_string()]));
        }
        for (k, v) in tag_filters(props) {
            filters.push(filter(&format!("tag:{k}"), &[v]));
        }
        let r = call!(s, read "DescribeVpcs", describe_vpcs().set_filters(Some(filters.clone())))
            .await?;
        let found: Vec<(String, String)> = r
            .vpcs()
            .iter()
            .filter_map(|v| {
                Some((
                    v.vpc_id()?.to_string(),
                    v.cidr_block().unwrap_or_default().to_string(),
                ))
            })
            .collect();
        let (id, cidr) = one_of(&SPEC, "VPC", found)?;
        Ok(json!({"id": id, "cidr_block": cidr}))
    }
}
