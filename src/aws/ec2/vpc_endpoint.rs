//! `ec2.vpc_endpoint`: a gateway endpoint (S3, DynamoDB) on route tables:
//! private subnets reach the service without the NAT gateways (which AWS
//! bills per GB). Interface endpoints are not this kind.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, ResourceType, VpcEndpointType};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{By, Ec2, query, tag_spec};
use crate::aws::call::{call, pages};
use crate::aws::errors::{Class, has_code, is};
use crate::aws::tags::{Tagging, Tags, from_sdk};
use crate::aws::{Clients, Create, Kind, Query, live, no_id, one_by_one_or_all, read_one};
use crate::diag::{Error, Result};
use crate::kind::{Container, Inside, KindSpec, TAGS, Takes, Ty, document, new, p, req};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    inside: Inside::Searched(Container::Vpc),
    owned_by_filter: true,
    refresh_cost: "1 DescribeVpcEndpoints per endpoint (up to 10; more: 1 for the region)",
    takes: Takes::secs(5, 3, 5),
    ..KindSpec::new(
        "ec2.vpc_endpoint",
        "A gateway VPC endpoint (S3 or DynamoDB) on route tables.",
        &[
            req(new(p("vpc_id", Ty::Str, "the VPC"))),
            req(new(p(
                "service_name",
                Ty::Str,
                "for example com.amazonaws.us-east-1.s3",
            ))),
            p(
                "route_table_ids",
                Ty::StrList { set: true },
                "the route tables that get a route to the service",
            ),
            p(
                "policy",
                Ty::Policy,
                "who may use the endpoint for what (AWS's default: everything)",
            ),
            TAGS,
        ],
    )
};

/// How EC2 filters find its objects.
const BY: By = By {
    id: "vpc-endpoint-id",
    vpc: Some("vpc-id"),
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    vpc_id: String,
    service_name: String,
    #[serde(default)]
    route_table_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    policy: Option<Value>,
    tags: Tags,
}

pub(crate) struct VpcEndpoint(Ec2);

impl VpcEndpoint {
    async fn list(&self, filters: Vec<Filter>, ids: Option<Vec<String>>) -> Result<Vec<Live>> {
        let s = &self.0;
        let items = pages!(
            s,
            "DescribeVpcEndpoints",
            describe_vpc_endpoints()
                .set_filters(Some(filters.clone()))
                .set_vpc_endpoint_ids(ids.clone())
        )
        .await?;
        Ok(items
            .iter()
            .filter(|e| {
                !matches!(
                    e.state()
                        .map(|s| s.as_str().to_ascii_lowercase())
                        .as_deref(),
                    Some("deleted" | "deleting")
                )
            })
            .map(|e| {
                let mut rts = e.route_table_ids().to_vec();
                rts.sort();
                let p = Props {
                    vpc_id: e.vpc_id().unwrap_or_default().into(),
                    service_name: e.service_name().unwrap_or_default().into(),
                    route_table_ids: rts,
                    policy: e.policy_document().map(document::from_aws),
                    tags: from_sdk(e.tags()),
                };
                live(&SPEC, e.vpc_endpoint_id().unwrap_or_default(), &p, &[])
            })
            .collect())
    }
}

#[async_trait]
impl Kind for VpcEndpoint {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        VpcEndpoint(c.ec2.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        match q {
            // By the ids parameter, one call each (a VPC has a few): the
            // emulator does not take the `vpc-endpoint-id` filter AWS has.
            Query::Ids(ids) => {
                one_by_one_or_all(
                    ids,
                    |id| self.list(vec![], Some(vec![id])),
                    || self.list(vec![], None),
                    |l| &l.id,
                )
                .await
            }
            q => query(q, BY, |f| self.list(f, None)).await,
        }
    }
    async fn create(&self, p: &Props, c: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        let tags = tag_spec(ResourceType::VpcEndpoint, &p.tags);
        let policy = p.policy.as_ref().map(document::to_aws);
        // The client token makes a repeated create answer with the first.
        let r = call!(s, write "CreateVpcEndpoint", create_vpc_endpoint()
            .vpc_endpoint_type(VpcEndpointType::Gateway)
            .vpc_id(&p.vpc_id)
            .service_name(&p.service_name)
            .set_route_table_ids(Some(p.route_table_ids.clone()))
            .set_policy_document(policy.clone())
            .client_token(c.token)
            .tag_specifications(tags.clone()))
        .await?;
        let id = r
            .vpc_endpoint()
            .and_then(|e| e.vpc_endpoint_id())
            .ok_or_else(|| no_id("CreateVpcEndpoint"))?;
        read_one(self, id).await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        let s = &self.0;
        let add: Vec<String> = after
            .route_table_ids
            .iter()
            .filter(|r| !before.route_table_ids.contains(r))
            .cloned()
            .collect();
        let remove: Vec<String> = before
            .route_table_ids
            .iter()
            .filter(|r| !after.route_table_ids.contains(r))
            .cloned()
            .collect();
        let policy_changed = before.policy != after.policy;
        if !add.is_empty() || !remove.is_empty() || policy_changed {
            let policy = after.policy.as_ref().map(document::to_aws);
            let reset = policy_changed && policy.is_none();
            call!(s, write "ModifyVpcEndpoint", modify_vpc_endpoint()
                .vpc_endpoint_id(id)
                .set_add_route_table_ids((!add.is_empty()).then(|| add.clone()))
                .set_remove_route_table_ids((!remove.is_empty()).then(|| remove.clone()))
                .set_policy_document(policy.clone().filter(|_| policy_changed))
                .set_reset_policy(reset.then_some(true)))
            .await?;
        }
        self.0.sync_tags(id, &before.tags, &after.tags).await?;
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Props, _: Duration) -> Result<()> {
        let s = &self.0;
        let r =
            match call!(s, delete "DeleteVpcEndpoints", delete_vpc_endpoints().vpc_endpoint_ids(id))
                .await
            {
                Ok(r) => r,
                // Only the endpoint's own NotFound means it is gone; another
                // (a route of its, as the emulator answers) is a refusal.
                Err(e)
                    if is(&e, Class::NotFound)
                        && !has_code(&e, &["InvalidVpcEndpointId.NotFound"]) =>
                {
                    return Err(Error::other(format!("the endpoint was not deleted: {e}")));
                }
                Err(e) => return Err(e),
            };
        // Refusals come in the answer, one per endpoint; one already gone is done.
        match r.unsuccessful().iter().find_map(|u| u.error()) {
            Some(e) if !e.code().unwrap_or_default().contains("NotFound") => Err(Error::Aws {
                address: None,
                operation: "DeleteVpcEndpoints".into(),
                code: e.code().unwrap_or_default().into(),
                message: e.message().unwrap_or_default().into(),
            }),
            _ => Ok(()),
        }
    }
}
