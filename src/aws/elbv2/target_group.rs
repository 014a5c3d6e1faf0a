//! `elbv2.target_group`: a target group with a health check; `targets` are
//! the registered instances (authoritative).

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    Matcher, ProtocolEnum, TargetDescription, TargetGroup as Group, TargetTypeEnum,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Elb, query, with_tags_and};
use crate::aws::call::{call, pages};
use crate::aws::tags::Tags;
use crate::aws::tags::{Tagging, to_sdk};
use crate::aws::{Clients, Create, Kind, Query, live, no_id, read_one};
use crate::diag::Result;
use crate::kind::{Container, Inside, KindSpec, TAGS, Ty, def, new, p, req};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    inside: Inside::NotSearched(
        Container::Vpc,
        "target groups made by hand in the VPC are not looked for yet",
    ),
    coexist: true,
    unique: Some(("name", 32)),
    outputs: &["id", "arn", "arn_suffix"],
    refresh_cost: "1 DescribeTargetGroups + 1 DescribeTags per 20, 1 DescribeTargetHealth per group",
    ..KindSpec::new(
        "elbv2.target_group",
        "A target group with a health check; `targets` are registered (authoritative).",
        &[
            req(new(p("name", Ty::Str, "at most 32 characters"))),
            def(new(p("protocol", Ty::Str, "HTTP or HTTPS")), "\"HTTP\""),
            req(new(p("port", Ty::Int, "the targets' port"))),
            req(new(p("vpc_id", Ty::Str, "the VPC"))),
            def(
                new(p("target_type", Ty::Str, "instance or ip")),
                "\"instance\"",
            ),
            def(p("health_check_path", Ty::Str, "path probed"), "\"/\""),
            def(
                p(
                    "health_check_matcher",
                    Ty::Str,
                    "HTTP codes counted healthy",
                ),
                "\"200\"",
            ),
            def(
                p("health_check_interval", Ty::Int, "seconds between probes"),
                "30",
            ),
            def(
                p("healthy_threshold", Ty::Int, "probes to become healthy"),
                "5",
            ),
            def(
                p("unhealthy_threshold", Ty::Int, "probes to become unhealthy"),
                "2",
            ),
            def(
                p(
                    "targets",
                    Ty::StrList { set: true },
                    "instance ids registered",
                ),
                "[]",
            ),
            TAGS,
        ],
    )
};

/// Health-check settings absent from AWS's answer take their defaults.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    name: String,
    protocol: String,
    port: i32,
    vpc_id: String,
    target_type: String,
    health_check_path: Option<String>,
    health_check_matcher: Option<String>,
    health_check_interval: Option<i32>,
    healthy_threshold: Option<i32>,
    unhealthy_threshold: Option<i32>,
    targets: Vec<String>,
    tags: Tags,
}

impl Props {
    #[allow(clippy::type_complexity)]
    fn health_check(
        &self,
    ) -> (
        Option<&str>,
        Option<&str>,
        Option<i32>,
        Option<i32>,
        Option<i32>,
    ) {
        (
            self.health_check_path.as_deref(),
            self.health_check_matcher.as_deref(),
            self.health_check_interval,
            self.healthy_threshold,
            self.unhealthy_threshold,
        )
    }

    fn matcher(&self) -> Option<Matcher> {
        self.health_check_matcher
            .as_ref()
            .map(|m| Matcher::builder().http_code(m).build())
    }
}

pub(crate) struct TargetGroup(Elb);

impl TargetGroup {
    /// Target groups by ARN, or all (`None`); with `owner`, only that stack's
    /// (their registered targets are read for those alone).
    async fn list(&self, arns: Option<Vec<String>>, owner: Option<&str>) -> Result<Vec<Live>> {
        let s = &self.0;
        let groups = pages!(
            s,
            "DescribeTargetGroups",
            describe_target_groups().set_target_group_arns(arns.clone())
        )
        .await?;
        let found = with_tags_and(s, &groups, group_arn, owner, |g| self.targets(g)).await?;
        Ok(found
            .into_iter()
            .map(|(g, t, targets)| live_of(g, t, targets))
            .collect())
    }

    /// Registered targets (not draining): one DescribeTargetHealth per group.
    async fn targets(&self, g: &Group) -> Result<Vec<String>> {
        let s = &self.0;
        let health = call!(s, read "DescribeTargetHealth", describe_target_health()
            .target_group_arn(group_arn(g)))
        .await?;
        Ok(health
            .target_health_descriptions()
            .iter()
            .filter(|d| {
                d.target_health()
                    .and_then(|h| h.state())
                    .map(|s| s.as_str())
                    != Some("draining")
            })
            .filter_map(|d| d.target().and_then(|t| t.id()).map(str::to_string))
            .collect())
    }
}

fn group_arn(g: &Group) -> &str {
    g.target_group_arn().unwrap_or_default()
}

fn live_of(g: &Group, tags: Tags, targets: Vec<String>) -> Live {
    let arn = group_arn(g);
    let p = Props {
        name: g.target_group_name().unwrap_or_default().into(),
        protocol: g.protocol().map(|x| x.as_str()).unwrap_or_default().into(),
        port: g.port().unwrap_or_default(),
        vpc_id: g.vpc_id().unwrap_or_default().into(),
        target_type: g
            .target_type()
            .map(|x| x.as_str())
            .unwrap_or_default()
            .into(),
        health_check_path: g.health_check_path().map(str::to_string),
        health_check_matcher: g.matcher().and_then(|m| m.http_code()).map(str::to_string),
        health_check_interval: g.health_check_interval_seconds(),
        healthy_threshold: g.healthy_threshold_count(),
        unhealthy_threshold: g.unhealthy_threshold_count(),
        targets,
        tags,
    };
    // CloudWatch's TargetGroup dimension: `targetgroup/NAME/ID`.
    let suffix = super::arn_suffix(arn, "");
    live(
        &SPEC,
        arn,
        &p,
        &[("arn", json!(arn)), ("arn_suffix", json!(suffix))],
    )
}

impl TargetGroup {
    /// Registers first: the group never goes empty while instances are replaced.
    async fn set_targets(
        &self,
        arn: &str,
        have: &[String],
        want: &[String],
        port: i32,
    ) -> Result<()> {
        let t = |id: &String| TargetDescription::builder().id(id).port(port).build();
        let add: Vec<_> = want.iter().filter(|x| !have.contains(x)).map(t).collect();
        let remove: Vec<_> = have.iter().filter(|x| !want.contains(x)).map(t).collect();
        let s = &self.0;
        if !add.is_empty() {
            call!(s, write "RegisterTargets", register_targets()
                .target_group_arn(arn)
                .set_targets(Some(add.clone())))
            .await?;
        }
        if !remove.is_empty() {
            call!(s, delete "DeregisterTargets", deregister_targets()
                .target_group_arn(arn)
                .set_targets(Some(remove.clone())))
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Kind for TargetGroup {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        TargetGroup(c.elbv2.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        query(q, |arns, owner| self.list(arns, owner)).await
    }
    async fn create(&self, p: &Props, _: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        // CreateTargetGroup is idempotent by name with the same settings.
        let r = call!(s, write "CreateTargetGroup", create_target_group()
            .name(&p.name)
            .protocol(ProtocolEnum::from(p.protocol.as_str()))
            .port(p.port)
            .vpc_id(&p.vpc_id)
            .target_type(TargetTypeEnum::from(p.target_type.as_str()))
            .set_health_check_path(p.health_check_path.clone())
            .set_health_check_interval_seconds(p.health_check_interval)
            .set_healthy_threshold_count(p.healthy_threshold)
            .set_unhealthy_threshold_count(p.unhealthy_threshold)
            .set_matcher(p.matcher())
            .set_tags(Some(to_sdk(&p.tags))))
        .await?;
        let arn = r
            .target_groups()
            .first()
            .and_then(|g| g.target_group_arn())
            .ok_or_else(|| no_id("CreateTargetGroup"))?;
        self.set_targets(arn, &[], &p.targets, p.port).await?;
        read_one(self, arn).await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        let s = &self.0;
        if before.health_check() != after.health_check() {
            call!(s, write "ModifyTargetGroup", modify_target_group()
                .target_group_arn(id)
                .set_health_check_path(after.health_check_path.clone())
                .set_health_check_interval_seconds(after.health_check_interval)
                .set_healthy_threshold_count(after.healthy_threshold)
                .set_unhealthy_threshold_count(after.unhealthy_threshold)
                .set_matcher(after.matcher()))
            .await?;
        }
        self.set_targets(id, &before.targets, &after.targets, after.port)
            .await?;
        s.sync_tags(id, &before.tags, &after.tags).await?;
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Props, _: Duration) -> Result<()> {
        let s = &self.0;
        call!(s, delete "DeleteTargetGroup", delete_target_group().target_group_arn(id))
            .await
            .map(drop)
    }
}
