//! `elbv2.load_balancer`: an Application Load Balancer. Its settings are
//! attributes, read one call per load balancer (no batch form).

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    LoadBalancer as Lb, LoadBalancerAttribute, LoadBalancerSchemeEnum, LoadBalancerStateEnum,
    LoadBalancerTypeEnum,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Elb, query, with_tags_and};
use crate::aws::call::{call, pages};
use crate::aws::errors::{Class, is};
use crate::aws::tags::Tags;
use crate::aws::tags::{Tagging, to_sdk};
use crate::aws::wait;
use crate::aws::{Clients, Create, Kind, Query, gone, live, no_id, read_one};
use crate::diag::Result;
use crate::kind::{
    Container, Inside, KindSpec, SECURITY_GROUPS, TAGS, Takes, Ty, def, new, p, req,
};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    inside: Inside::NotSearched(
        Container::Vpc,
        "load balancers made by hand in the VPC are not looked for yet",
    ),
    waits: "create until `active` (fails at once on `failed`); delete until it is gone.",
    coexist: true,
    unique: Some(("name", 32)),
    outputs: &["id", "arn", "dns_name", "zone_id", "arn_suffix"],
    refresh_cost: "1 DescribeLoadBalancers + 1 DescribeTags per 20, 1 DescribeLoadBalancerAttributes per ALB",
    // A load balancer is provisioning for about three minutes.
    takes: Takes::secs(180, 5, 30),
    ..KindSpec::new(
        "elbv2.load_balancer",
        "An Application Load Balancer.",
        &[
            req(new(p("name", Ty::Str, "at most 32 characters"))),
            def(
                new(p("scheme", Ty::Str, "internet-facing or internal")),
                "\"internet-facing\"",
            ),
            req(p(
                "subnet_ids",
                Ty::StrList { set: true },
                "subnets in at least two AZs",
            )),
            SECURITY_GROUPS,
            def(p("idle_timeout", Ty::Int, "seconds"), "60"),
            def(
                p("deletion_protection", Ty::Bool, "refuse deletion while on"),
                "false",
            ),
            def(p("http2", Ty::Bool, "HTTP/2"), "true"),
            def(
                p(
                    "drop_invalid_headers",
                    Ty::Bool,
                    "drop invalid header fields",
                ),
                "false",
            ),
            TAGS,
        ],
    )
};

/// Attributes absent from AWS's answer take their defaults.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    name: String,
    scheme: String,
    subnet_ids: Vec<String>,
    security_group_ids: Vec<String>,
    idle_timeout: Option<i64>,
    deletion_protection: Option<bool>,
    http2: Option<bool>,
    drop_invalid_headers: Option<bool>,
    tags: Tags,
}

impl Props {
    /// The attributes as AWS names them, with their values as text.
    fn attributes(&self) -> [(&'static str, Option<String>); 4] {
        let text = |v: Option<bool>| v.map(|b| b.to_string());
        [
            (
                "idle_timeout.timeout_seconds",
                self.idle_timeout.map(|v| v.to_string()),
            ),
            (
                "deletion_protection.enabled",
                text(self.deletion_protection),
            ),
            ("routing.http2.enabled", text(self.http2)),
            (
                "routing.http.drop_invalid_header_fields.enabled",
                text(self.drop_invalid_headers),
            ),
        ]
    }
}

pub(crate) struct LoadBalancer(Elb);

fn state(lb: &Lb) -> LoadBalancerStateEnum {
    lb.state()
        .and_then(|s| s.code())
        .cloned()
        .unwrap_or(LoadBalancerStateEnum::Provisioning)
}

impl LoadBalancer {
    /// Load balancers by ARN, or all (`None`); with `owner`, only that stack's
    /// (attributes cost a call each: read for those kept only).
    async fn list(&self, arns: Option<Vec<String>>, owner: Option<&str>) -> Result<Vec<Live>> {
        Ok(self
            .list_with_state(arns, owner)
            .await?
            .into_iter()
            .map(|x| x.0)
            .collect())
    }

    async fn list_with_state(
        &self,
        arns: Option<Vec<String>>,
        owner: Option<&str>,
    ) -> Result<Vec<(Live, LoadBalancerStateEnum)>> {
        let s = &self.0;
        let lbs = pages!(
            s,
            "DescribeLoadBalancers",
            describe_load_balancers().set_load_balancer_arns(arns.clone())
        )
        .await?;
        let found = with_tags_and(s, &lbs, lb_arn, owner, |lb| self.attributes(lb_arn(lb))).await?;
        Ok(found
            .into_iter()
            .map(|(lb, t, a)| (live_of(lb, t, &a), state(lb)))
            .collect())
    }

    async fn attributes(&self, arn: &str) -> Result<Vec<LoadBalancerAttribute>> {
        let s = &self.0;
        let r = call!(s, read "DescribeLoadBalancerAttributes", describe_load_balancer_attributes()
            .load_balancer_arn(arn))
        .await?;
        Ok(r.attributes().to_vec())
    }
}

fn lb_arn(lb: &Lb) -> &str {
    lb.load_balancer_arn().unwrap_or_default()
}

fn live_of(lb: &Lb, tags: Tags, attrs: &[LoadBalancerAttribute]) -> Live {
    let arn = lb.load_balancer_arn().unwrap_or_default();
    let attr = |k: &str| {
        let a = attrs.iter().find(|a| a.key() == Some(k));
        a.and_then(|a| a.value())
    };
    let boolean = |k: &str| attr(k).map(|v| v == "true");
    let subnets = lb.availability_zones().iter().filter_map(|z| z.subnet_id());
    let p = Props {
        name: lb.load_balancer_name().unwrap_or_default().into(),
        scheme: lb.scheme().map(|x| x.as_str()).unwrap_or_default().into(),
        subnet_ids: subnets.map(str::to_string).collect(),
        security_group_ids: lb.security_groups().to_vec(),
        idle_timeout: attr("idle_timeout.timeout_seconds").and_then(|v| v.parse().ok()),
        deletion_protection: boolean("deletion_protection.enabled"),
        http2: boolean("routing.http2.enabled"),
        drop_invalid_headers: boolean("routing.http.drop_invalid_header_fields.enabled"),
        tags,
    };
    let outputs = [
        ("arn", json!(arn)),
        // CloudWatch's LoadBalancer dimension: `app/NAME/ID`.
        ("arn_suffix", json!(super::arn_suffix(arn, "loadbalancer/"))),
        ("dns_name", json!(lb.dns_name())),
        ("zone_id", json!(lb.canonical_hosted_zone_id())),
    ];
    live(&SPEC, arn, &p, &outputs)
}

impl LoadBalancer {
    /// Sets the attributes that differ from `before` (all of them without one).
    async fn set_attributes(&self, arn: &str, before: Option<&Props>, after: &Props) -> Result<()> {
        let old = before.map(Props::attributes);
        let attrs: Vec<LoadBalancerAttribute> = after
            .attributes()
            .into_iter()
            .enumerate()
            .filter(|(i, a)| old.as_ref().is_none_or(|o| o[*i].1 != a.1))
            .filter_map(|(_, (key, v))| {
                Some(LoadBalancerAttribute::builder().key(key).value(v?).build())
            })
            .collect();
        if attrs.is_empty() {
            return Ok(());
        }
        let s = &self.0;
        call!(s, write "ModifyLoadBalancerAttributes", modify_load_balancer_attributes()
            .load_balancer_arn(arn)
            .set_attributes(Some(attrs.clone())))
        .await
        .map(drop)
    }
}

#[async_trait]
impl Kind for LoadBalancer {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        LoadBalancer(c.elbv2.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        query(q, |arns, owner| self.list(arns, owner)).await
    }
    async fn create(&self, p: &Props, c: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        // CreateLoadBalancer is idempotent by name with the same settings.
        let r = call!(s, write "CreateLoadBalancer", create_load_balancer()
            .name(&p.name)
            .r#type(LoadBalancerTypeEnum::Application)
            .scheme(LoadBalancerSchemeEnum::from(p.scheme.as_str()))
            .set_subnets(Some(p.subnet_ids.clone()))
            .set_security_groups(Some(p.security_group_ids.clone()))
            .set_tags(Some(to_sdk(&p.tags))))
        .await?;
        let arn = r
            .load_balancers()
            .first()
            .and_then(|l| l.load_balancer_arn())
            .ok_or_else(|| no_id("CreateLoadBalancer"))?;
        self.set_attributes(arn, None, p).await?;
        self.ready(arn, c.timeout).await
    }
    async fn ready(&self, arn: &str, timeout: Duration) -> Result<Live> {
        let what = format!("load balancer {arn} to become active");
        wait::for_status(&what, timeout, &["active"], &["failed"], || async {
            let found = match self
                .list_with_state(Some(vec![arn.to_string()]), None)
                .await
            {
                Err(e) if is(&e, Class::NotFound) => vec![],
                r => r?,
            };
            Ok(found
                .into_iter()
                .next()
                .map(|(l, st)| (st.as_str().to_string(), l)))
        })
        .await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        let s = &self.0;
        if before.subnet_ids != after.subnet_ids {
            call!(s, write "SetSubnets", set_subnets()
                .load_balancer_arn(id)
                .set_subnets(Some(after.subnet_ids.clone())))
            .await?;
        }
        if before.security_group_ids != after.security_group_ids {
            call!(s, write "SetSecurityGroups", set_security_groups()
                .load_balancer_arn(id)
                .set_security_groups(Some(after.security_group_ids.clone())))
            .await?;
        }
        self.set_attributes(id, Some(before), after).await?;
        s.sync_tags(id, &before.tags, &after.tags).await?;
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Props, timeout: Duration) -> Result<()> {
        let s = &self.0;
        call!(s, delete "DeleteLoadBalancer", delete_load_balancer().load_balancer_arn(id)).await?;
        gone(self, id, timeout).await
    }
    async fn delete_blocker(&self, _: &str, p: &Props) -> Result<Option<String>> {
        Ok((p.deletion_protection == Some(true)).then(|| {
            "deletion protection is on: set deletion_protection: false and apply first".to_string()
        }))
    }
}
