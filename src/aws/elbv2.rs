//! Load balancing (ELBv2): application load balancer, target group, listener.
//!
//! Reads take up to 20 ARNs per call (DescribeLoadBalancers, DescribeTags);
//! a call naming an ARN that is gone fails whole, so that page is then read
//! ARN by ARN. Tags are set in the create calls.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, LoadBalancerAttribute, LoadBalancerSchemeEnum,
    LoadBalancerStateEnum, LoadBalancerTypeEnum, Matcher, ProtocolEnum, RedirectActionConfig,
    RedirectActionStatusCodeEnum, Tag, TargetDescription, TargetTypeEnum,
};
use serde_json::{Value, json};

use super::{
    Resource, b, by_pages, err, i, list, live_of, owned_by, s, tag_changes, tag_pairs, wait_for,
};
use crate::diag::{Error, Result};
use crate::provider::{Live, Wanted};

const PAGE: usize = 20;

pub(super) fn register(c: &Client, kinds: &mut HashMap<&'static str, Box<dyn Resource>>) {
    kinds.insert("elbv2.load_balancer", Box::new(LoadBalancer(c.clone())));
    kinds.insert("elbv2.target_group", Box::new(TargetGroup(c.clone())));
    kinds.insert("elbv2.listener", Box::new(Listener(c.clone())));
}

fn tags(props: &Value) -> Vec<Tag> {
    tag_pairs(props)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Tags of up to 20 resources per call.
async fn tags_of(c: &Client, arns: &[String]) -> Result<HashMap<String, Value>> {
    let mut out = HashMap::new();
    for chunk in arns.chunks(PAGE) {
        let r = c
            .describe_tags()
            .set_resource_arns(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| err("DescribeTags", e))?;
        for d in r.tag_descriptions() {
            let t = super::tags_from(
                d.tags()
                    .iter()
                    .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
            );
            out.insert(d.resource_arn().unwrap_or_default().to_string(), t);
        }
    }
    Ok(out)
}

async fn sync_tags(c: &Client, arn: &str, before: &Value, after: &Value) -> Result<()> {
    let (set, removed) = tag_changes(before, after);
    if !removed.is_empty() {
        c.remove_tags()
            .resource_arns(arn)
            .set_tag_keys(Some(removed))
            .send()
            .await
            .map_err(|e| err("RemoveTags", e))?;
    }
    if !set.is_empty() {
        c.add_tags()
            .resource_arns(arn)
            .set_tags(Some(
                set.into_iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await
            .map_err(|e| err("AddTags", e))?;
    }
    Ok(())
}

// ---------------------------------------------------------------- Load balancer

struct LoadBalancer(Client);

const LB_ATTRS: &[(&str, &str)] = &[
    ("idle_timeout", "idle_timeout.timeout_seconds"),
    ("deletion_protection", "deletion_protection.enabled"),
    ("http2", "routing.http2.enabled"),
    (
        "drop_invalid_headers",
        "routing.http.drop_invalid_header_fields.enabled",
    ),
];

impl LoadBalancer {
    /// Load balancers by ARN, or all of them (`None`), with tags and attributes;
    /// with `owner`, only that stack's (attributes are read for those alone).
    async fn describe(
        &self,
        arns: Option<Vec<String>>,
        owner: Option<&str>,
    ) -> Result<Vec<(Live, LoadBalancerStateEnum)>> {
        let lbs: Vec<_> = self
            .0
            .describe_load_balancers()
            .set_load_balancer_arns(arns)
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| err("DescribeLoadBalancers", e))?;
        let all: Vec<String> = lbs
            .iter()
            .filter_map(|l| l.load_balancer_arn().map(str::to_string))
            .collect();
        let tags = tags_of(&self.0, &all).await?;
        let mut out = Vec::new();
        for lb in lbs {
            let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
            let t = tags.get(&arn).cloned().unwrap_or(json!({}));
            if owner.is_some_and(|o| !owned_by(&t, o)) {
                continue;
            }
            // Attributes have no batch read: one call per load balancer.
            let attrs = self
                .0
                .describe_load_balancer_attributes()
                .load_balancer_arn(&arn)
                .send()
                .await
                .map_err(|e| err("DescribeLoadBalancerAttributes", e))?;
            let attr = |k: &str| {
                attrs
                    .attributes()
                    .iter()
                    .find(|a| a.key() == Some(k))
                    .and_then(|a| a.value())
                    .map(str::to_string)
            };
            let boolean = |k: &str| attr(k).map(|v| v == "true");
            let raw = json!({
                "name": lb.load_balancer_name(),
                "scheme": lb.scheme().map(|x| x.as_str()),
                "subnet_ids": lb.availability_zones().iter().filter_map(|z| z.subnet_id()).collect::<Vec<_>>(),
                "security_group_ids": lb.security_groups(),
                "idle_timeout": attr("idle_timeout.timeout_seconds").and_then(|v| v.parse::<i64>().ok()),
                "deletion_protection": boolean("deletion_protection.enabled"),
                "http2": boolean("routing.http2.enabled"),
                "drop_invalid_headers": boolean("routing.http.drop_invalid_header_fields.enabled"),
                "tags": t,
            });
            let state = lb
                .state()
                .and_then(|s| s.code())
                .cloned()
                .unwrap_or(LoadBalancerStateEnum::Provisioning);
            out.push((
                live_of(
                    "elbv2.load_balancer",
                    &arn,
                    raw,
                    &[
                        ("arn", json!(arn)),
                        ("dns_name", json!(lb.dns_name())),
                        ("zone_id", json!(lb.canonical_hosted_zone_id())),
                    ],
                ),
                state,
            ));
        }
        Ok(out)
    }

    async fn set_attributes(&self, arn: &str, before: Option<&Value>, after: &Value) -> Result<()> {
        let attrs: Vec<LoadBalancerAttribute> = LB_ATTRS
            .iter()
            .filter(|(p, _)| before.is_none_or(|b| b.get(*p) != after.get(*p)))
            .filter_map(|(p, key)| {
                let v = after.get(*p)?;
                let text = match v {
                    Value::Bool(x) => x.to_string(),
                    Value::Number(n) => n.to_string(),
                    _ => return None,
                };
                Some(
                    LoadBalancerAttribute::builder()
                        .key(*key)
                        .value(text)
                        .build(),
                )
            })
            .collect();
        if !attrs.is_empty() {
            self.0
                .modify_load_balancer_attributes()
                .load_balancer_arn(arn)
                .set_attributes(Some(attrs))
                .send()
                .await
                .map_err(|e| err("ModifyLoadBalancerAttributes", e))?;
        }
        Ok(())
    }
}

#[async_trait]
impl Resource for LoadBalancer {
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        by_pages(ids, PAGE, |page| async move {
            Ok(self
                .describe(Some(page), None)
                .await?
                .into_iter()
                .map(|x| x.0)
                .collect())
        })
        .await
    }
    async fn find_owned(&self, stack: &str, _: &[Wanted]) -> Result<Vec<Live>> {
        Ok(self
            .describe(None, Some(stack))
            .await?
            .into_iter()
            .map(|x| x.0)
            .collect())
    }
    async fn create(&self, p: &Value, timeout: Duration) -> Result<Live> {
        let r = self
            .0
            .create_load_balancer()
            .name(s(p, "name").unwrap_or_default())
            .r#type(LoadBalancerTypeEnum::Application)
            .scheme(LoadBalancerSchemeEnum::from(
                s(p, "scheme").unwrap_or_default().as_str(),
            ))
            .set_subnets(Some(list(p, "subnet_ids")))
            .set_security_groups(Some(list(p, "security_group_ids")))
            .set_tags(Some(tags(p)))
            .send()
            .await
            .map_err(|e| err("CreateLoadBalancer", e))?;
        let arn = r
            .load_balancers()
            .first()
            .and_then(|l| l.load_balancer_arn())
            .unwrap_or_default()
            .to_string();
        self.set_attributes(&arn, None, p).await?;
        wait_for(
            &format!("load balancer {arn} to become active"),
            timeout,
            || async {
                match self.describe(Some(vec![arn.clone()]), None).await?.pop() {
                    Some((l, LoadBalancerStateEnum::Active)) => Ok(Some(l)),
                    Some((_, LoadBalancerStateEnum::Failed)) => {
                        Err(Error::other(format!("load balancer {arn} failed")))
                    }
                    _ => Ok(None),
                }
            },
        )
        .await
    }
    async fn update(&self, id: &str, before: &Value, after: &Value, _: Duration) -> Result<Live> {
        if before.get("subnet_ids") != after.get("subnet_ids") {
            self.0
                .set_subnets()
                .load_balancer_arn(id)
                .set_subnets(Some(list(after, "subnet_ids")))
                .send()
                .await
                .map_err(|e| err("SetSubnets", e))?;
        }
        if before.get("security_group_ids") != after.get("security_group_ids") {
            self.0
                .set_security_groups()
                .load_balancer_arn(id)
                .set_security_groups(Some(list(after, "security_group_ids")))
                .send()
                .await
                .map_err(|e| err("SetSecurityGroups", e))?;
        }
        self.set_attributes(id, Some(before), after).await?;
        sync_tags(&self.0, id, before, after).await?;
        super::read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Value, timeout: Duration) -> Result<()> {
        self.0
            .delete_load_balancer()
            .load_balancer_arn(id)
            .send()
            .await
            .map_err(|e| err("DeleteLoadBalancer", e))?;
        wait_for(
            &format!("load balancer {id} to be deleted"),
            timeout,
            || async { Ok(self.read(&[id.to_string()]).await?.is_empty().then_some(())) },
        )
        .await
    }
    async fn delete_blocker(&self, _: &str, props: &Value) -> Result<Option<String>> {
        Ok(b(props, "deletion_protection").then(|| {
            "deletion protection is on: set deletion_protection: false and apply first".to_string()
        }))
    }
}

// ---------------------------------------------------------------- Target group

struct TargetGroup(Client);

impl TargetGroup {
    /// Target groups by ARN, or all (`None`); with `owner`, only that stack's
    /// (their registered targets are read for those alone).
    async fn describe(&self, arns: Option<Vec<String>>, owner: Option<&str>) -> Result<Vec<Live>> {
        let groups: Vec<_> = self
            .0
            .describe_target_groups()
            .set_target_group_arns(arns)
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| err("DescribeTargetGroups", e))?;
        let all: Vec<String> = groups
            .iter()
            .filter_map(|g| g.target_group_arn().map(str::to_string))
            .collect();
        let tags = tags_of(&self.0, &all).await?;
        let mut out = Vec::new();
        for g in groups {
            let arn = g.target_group_arn().unwrap_or_default().to_string();
            let t = tags.get(&arn).cloned().unwrap_or(json!({}));
            if owner.is_some_and(|o| !owned_by(&t, o)) {
                continue;
            }
            // Registered targets: one DescribeTargetHealth per group.
            let health = self
                .0
                .describe_target_health()
                .target_group_arn(&arn)
                .send()
                .await
                .map_err(|e| err("DescribeTargetHealth", e))?;
            let targets: Vec<&str> = health
                .target_health_descriptions()
                .iter()
                .filter(|d| {
                    d.target_health()
                        .and_then(|h| h.state())
                        .map(|s| s.as_str())
                        != Some("draining")
                })
                .filter_map(|d| d.target().and_then(|t| t.id()))
                .collect();
            let raw = json!({
                "name": g.target_group_name(),
                "protocol": g.protocol().map(|x| x.as_str()),
                "port": g.port(),
                "vpc_id": g.vpc_id(),
                "target_type": g.target_type().map(|x| x.as_str()),
                "health_check_path": g.health_check_path(),
                "health_check_matcher": g.matcher().and_then(|m| m.http_code()),
                "health_check_interval": g.health_check_interval_seconds(),
                "healthy_threshold": g.healthy_threshold_count(),
                "unhealthy_threshold": g.unhealthy_threshold_count(),
                "targets": targets,
                "tags": t,
            });
            out.push(live_of(
                "elbv2.target_group",
                &arn,
                raw,
                &[("arn", json!(arn))],
            ));
        }
        Ok(out)
    }

    async fn set_targets(
        &self,
        arn: &str,
        have: &[String],
        want: &[String],
        port: Option<i32>,
    ) -> Result<()> {
        let t = |id: &String| TargetDescription::builder().id(id).set_port(port).build();
        let add: Vec<_> = want.iter().filter(|x| !have.contains(x)).map(t).collect();
        let remove: Vec<_> = have.iter().filter(|x| !want.contains(x)).map(t).collect();
        // Register first: the group never goes empty while instances are replaced.
        if !add.is_empty() {
            self.0
                .register_targets()
                .target_group_arn(arn)
                .set_targets(Some(add))
                .send()
                .await
                .map_err(|e| err("RegisterTargets", e))?;
        }
        if !remove.is_empty() {
            self.0
                .deregister_targets()
                .target_group_arn(arn)
                .set_targets(Some(remove))
                .send()
                .await
                .map_err(|e| err("DeregisterTargets", e))?;
        }
        Ok(())
    }
}

#[async_trait]
impl Resource for TargetGroup {
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        by_pages(ids, PAGE, |page| async move {
            self.describe(Some(page), None).await
        })
        .await
    }
    async fn find_owned(&self, stack: &str, _: &[Wanted]) -> Result<Vec<Live>> {
        self.describe(None, Some(stack)).await
    }
    async fn create(&self, p: &Value, _: Duration) -> Result<Live> {
        let r = self
            .0
            .create_target_group()
            .name(s(p, "name").unwrap_or_default())
            .protocol(ProtocolEnum::from(
                s(p, "protocol").unwrap_or_default().as_str(),
            ))
            .set_port(i(p, "port"))
            .set_vpc_id(s(p, "vpc_id"))
            .target_type(TargetTypeEnum::from(
                s(p, "target_type").unwrap_or_default().as_str(),
            ))
            .set_health_check_path(s(p, "health_check_path"))
            .set_health_check_interval_seconds(i(p, "health_check_interval"))
            .set_healthy_threshold_count(i(p, "healthy_threshold"))
            .set_unhealthy_threshold_count(i(p, "unhealthy_threshold"))
            .set_matcher(
                s(p, "health_check_matcher").map(|m| Matcher::builder().http_code(m).build()),
            )
            .set_tags(Some(tags(p)))
            .send()
            .await
            .map_err(|e| err("CreateTargetGroup", e))?;
        let arn = r
            .target_groups()
            .first()
            .and_then(|g| g.target_group_arn())
            .unwrap_or_default()
            .to_string();
        self.set_targets(&arn, &[], &list(p, "targets"), i(p, "port"))
            .await?;
        super::read_one(self, &arn).await
    }
    async fn update(&self, id: &str, before: &Value, after: &Value, _: Duration) -> Result<Live> {
        let hc = [
            "health_check_path",
            "health_check_matcher",
            "health_check_interval",
            "healthy_threshold",
            "unhealthy_threshold",
        ];
        if hc.iter().any(|k| before.get(*k) != after.get(*k)) {
            self.0
                .modify_target_group()
                .target_group_arn(id)
                .set_health_check_path(s(after, "health_check_path"))
                .set_health_check_interval_seconds(i(after, "health_check_interval"))
                .set_healthy_threshold_count(i(after, "healthy_threshold"))
                .set_unhealthy_threshold_count(i(after, "unhealthy_threshold"))
                .set_matcher(
                    s(after, "health_check_matcher")
                        .map(|m| Matcher::builder().http_code(m).build()),
                )
                .send()
                .await
                .map_err(|e| err("ModifyTargetGroup", e))?;
        }
        self.set_targets(
            id,
            &list(before, "targets"),
            &list(after, "targets"),
            i(after, "port"),
        )
        .await?;
        sync_tags(&self.0, id, before, after).await?;
        super::read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Value, _: Duration) -> Result<()> {
        self.0
            .delete_target_group()
            .target_group_arn(id)
            .send()
            .await
            .map_err(|e| err("DeleteTargetGroup", e))?;
        Ok(())
    }
}

// ---------------------------------------------------------------- Listener

struct Listener(Client);

fn default_action(p: &Value) -> Action {
    if b(p, "redirect_to_https") {
        Action::builder()
            .r#type(ActionTypeEnum::Redirect)
            .redirect_config(
                RedirectActionConfig::builder()
                    .protocol("HTTPS")
                    .port("443")
                    .status_code(RedirectActionStatusCodeEnum::Http301)
                    .build(),
            )
            .build()
    } else {
        Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .set_target_group_arn(s(p, "forward_to"))
            .build()
    }
}

impl Listener {
    async fn describe_of(
        &self,
        arns: Option<Vec<String>>,
        lb: Option<String>,
    ) -> Result<Vec<Live>> {
        let items: Vec<_> = self
            .0
            .describe_listeners()
            .set_listener_arns(arns)
            .set_load_balancer_arn(lb)
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| err("DescribeListeners", e))?;
        let all: Vec<String> = items
            .iter()
            .filter_map(|l| l.listener_arn().map(str::to_string))
            .collect();
        let tags = tags_of(&self.0, &all).await?;
        Ok(items
            .iter()
            .map(|l| {
                let arn = l.listener_arn().unwrap_or_default();
                let action = l.default_actions().first();
                let redirect = action
                    .and_then(|a| a.redirect_config())
                    .is_some_and(|r| r.protocol() == Some("HTTPS") && r.port() == Some("443"));
                let raw = json!({
                    "load_balancer_arn": l.load_balancer_arn(),
                    "port": l.port(),
                    "protocol": l.protocol().map(|x| x.as_str()),
                    "certificate_arn": l.certificates().first().and_then(|c| c.certificate_arn()),
                    "ssl_policy": l.ssl_policy(),
                    "forward_to": action.and_then(|a| a.target_group_arn()),
                    "redirect_to_https": redirect,
                    "tags": tags.get(arn).cloned().unwrap_or(json!({})),
                });
                live_of("elbv2.listener", arn, raw, &[("arn", json!(arn))])
            })
            .collect())
    }
}

#[async_trait]
impl Resource for Listener {
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        by_pages(ids, PAGE, |page| async move {
            self.describe_of(Some(page), None).await
        })
        .await
    }
    async fn find_owned(&self, stack: &str, _: &[Wanted]) -> Result<Vec<Live>> {
        // Listeners are listed per load balancer.
        let lbs: Vec<_> = self
            .0
            .describe_load_balancers()
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| err("DescribeLoadBalancers", e))?;
        // Only the stack's own load balancers carry its listeners.
        let arns: Vec<String> = lbs
            .iter()
            .filter_map(|l| l.load_balancer_arn().map(str::to_string))
            .collect();
        let tags = tags_of(&self.0, &arns).await?;
        let mut out = Vec::new();
        for lb in arns
            .into_iter()
            .filter(|a| tags.get(a).is_some_and(|t| owned_by(t, stack)))
        {
            let found = self.describe_of(None, Some(lb)).await?;
            out.extend(
                found
                    .into_iter()
                    .filter(|l| owned_by(&l.props["tags"], stack)),
            );
        }
        Ok(out)
    }
    async fn create(&self, p: &Value, _: Duration) -> Result<Live> {
        let r = self
            .0
            .create_listener()
            .set_load_balancer_arn(s(p, "load_balancer_arn"))
            .set_port(i(p, "port"))
            .protocol(ProtocolEnum::from(
                s(p, "protocol").unwrap_or_default().as_str(),
            ))
            .set_certificates(
                s(p, "certificate_arn")
                    .map(|c| vec![Certificate::builder().certificate_arn(c).build()]),
            )
            .set_ssl_policy(s(p, "ssl_policy"))
            .default_actions(default_action(p))
            .set_tags(Some(tags(p)))
            .send()
            .await
            .map_err(|e| err("CreateListener", e))?;
        let arn = r
            .listeners()
            .first()
            .and_then(|l| l.listener_arn())
            .unwrap_or_default()
            .to_string();
        super::read_one(self, &arn).await
    }
    async fn update(&self, id: &str, before: &Value, after: &Value, _: Duration) -> Result<Live> {
        let settings = crate::plan::changed_props(before, after)
            .iter()
            .any(|p| p != "tags");
        if settings {
            self.0
                .modify_listener()
                .listener_arn(id)
                .set_port(i(after, "port"))
                .protocol(ProtocolEnum::from(
                    s(after, "protocol").unwrap_or_default().as_str(),
                ))
                .set_certificates(
                    s(after, "certificate_arn")
                        .map(|c| vec![Certificate::builder().certificate_arn(c).build()]),
                )
                .set_ssl_policy(s(after, "ssl_policy"))
                .default_actions(default_action(after))
                .send()
                .await
                .map_err(|e| err("ModifyListener", e))?;
        }
        sync_tags(&self.0, id, before, after).await?;
        super::read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Value, _: Duration) -> Result<()> {
        self.0
            .delete_listener()
            .listener_arn(id)
            .send()
            .await
            .map_err(|e| err("DeleteListener", e))?;
        Ok(())
    }
}
