//! `elbv2.listener`: a listener that forwards to a target group, or
//! redirects HTTP to HTTPS.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, Listener as L, ProtocolEnum, RedirectActionConfig,
    RedirectActionStatusCodeEnum,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Elb, query, tags_of};
use crate::aws::call::{call, pages};
use crate::aws::tags::{Tagging, to_sdk};
use crate::aws::tags::{Tags, owned_by, owns};
use crate::aws::{Clients, Create, Kind, Query, each, live, no_id, read_one};
use crate::diag::Result;
use crate::kind::{Container, Inside, KindSpec, TAGS, Takes, Ty, def, new, p, req};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    inside: Inside::Searched(Container::LoadBalancer),
    outputs: &["id", "arn"],
    refresh_cost: "1 DescribeListeners + 1 DescribeTags per 20",
    takes: Takes::secs(2, 2, 2),
    ..KindSpec::new(
        "elbv2.listener",
        "A listener: forward to a target group, or redirect HTTP to HTTPS.",
        &[
            req(new(p("load_balancer_arn", Ty::Str, "the load balancer"))),
            req(p("port", Ty::Int, "80, 443, ...")),
            def(p("protocol", Ty::Str, "HTTP or HTTPS"), "\"HTTP\""),
            p("certificate_arn", Ty::Str, "ACM certificate (HTTPS)"),
            p("ssl_policy", Ty::Str, "TLS policy (HTTPS)"),
            p("forward_to", Ty::Str, "target group ARN to forward to"),
            def(
                p(
                    "redirect_to_https",
                    Ty::Bool,
                    "answer 301 to https://...:443",
                ),
                "false",
            ),
            TAGS,
        ],
    )
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    load_balancer_arn: String,
    port: i32,
    protocol: String,
    certificate_arn: Option<String>,
    ssl_policy: Option<String>,
    forward_to: Option<String>,
    redirect_to_https: bool,
    tags: Tags,
}

impl Props {
    /// Everything but the tags (and the load balancer, which never changes).
    fn settings(&self) -> serde_json::Value {
        let mut v = json!(self);
        if let Some(o) = v.as_object_mut() {
            o.remove("tags");
        }
        v
    }

    fn certificates(&self) -> Option<Vec<Certificate>> {
        self.certificate_arn
            .as_ref()
            .map(|c| vec![Certificate::builder().certificate_arn(c).build()])
    }

    fn default_action(&self) -> Action {
        if self.redirect_to_https {
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
                .set_target_group_arn(self.forward_to.clone())
                .build()
        }
    }
}

fn props_of(l: &L, tags: Tags) -> Props {
    let action = l.default_actions().first();
    Props {
        load_balancer_arn: l.load_balancer_arn().unwrap_or_default().into(),
        port: l.port().unwrap_or_default(),
        protocol: l.protocol().map(|x| x.as_str()).unwrap_or_default().into(),
        certificate_arn: l
            .certificates()
            .first()
            .and_then(|c| c.certificate_arn())
            .map(str::to_string),
        ssl_policy: l.ssl_policy().map(str::to_string),
        forward_to: action
            .and_then(|a| a.target_group_arn())
            .map(str::to_string),
        redirect_to_https: action
            .and_then(|a| a.redirect_config())
            .is_some_and(|r| r.protocol() == Some("HTTPS") && r.port() == Some("443")),
        tags,
    }
}

pub(crate) struct Listener(Elb);

impl Listener {
    async fn list(&self, arns: Option<Vec<String>>, lb: Option<&str>) -> Result<Vec<Live>> {
        let s = &self.0;
        let items = pages!(
            s,
            "DescribeListeners",
            describe_listeners()
                .set_listener_arns(arns.clone())
                .set_load_balancer_arn(lb.map(str::to_string))
        )
        .await?;
        let all: Vec<String> = items
            .iter()
            .filter_map(|l| l.listener_arn().map(str::to_string))
            .collect();
        let mut tags = tags_of(s, &all).await?;
        Ok(items
            .iter()
            .map(|l| {
                let arn = l.listener_arn().unwrap_or_default();
                let t = tags.remove(arn).unwrap_or_default();
                live(&SPEC, arn, &props_of(l, t), &[("arn", json!(arn))])
            })
            .collect())
    }

    /// Listeners are listed per load balancer: the stack's own carry its listeners.
    async fn owned(&self, stack: &str) -> Result<Vec<Live>> {
        let s = &self.0;
        let lbs = pages!(s, "DescribeLoadBalancers", describe_load_balancers()).await?;
        let arns: Vec<String> = lbs
            .iter()
            .filter_map(|l| l.load_balancer_arn().map(str::to_string))
            .collect();
        let tags = tags_of(s, &arns).await?;
        let mut out = Vec::new();
        for lb in arns
            .iter()
            .filter(|a| tags.get(*a).is_some_and(|t| owned_by(t, stack)))
        {
            let found = self.list(None, Some(lb)).await?;
            out.extend(found.into_iter().filter(|l| owns(stack, l)));
        }
        Ok(out)
    }
}

#[async_trait]
impl Kind for Listener {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        Listener(c.elbv2.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        match q {
            Query::Owned(stack, _) => self.owned(stack).await,
            Query::Inside(Container::LoadBalancer, lbs) => {
                let found = each(
                    lbs.iter()
                        .map(|lb| self.list(None, Some(lb)))
                        .collect::<Vec<_>>(),
                )
                .await?;
                Ok(found.into_iter().flatten().collect())
            }
            q => query(q, |arns, _| self.list(arns, None)).await,
        }
    }
    async fn create(&self, p: &Props, _: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        // CreateListener is idempotent for the same port and settings.
        let r = call!(s, write "CreateListener", create_listener()
            .load_balancer_arn(&p.load_balancer_arn)
            .port(p.port)
            .protocol(ProtocolEnum::from(p.protocol.as_str()))
            .set_certificates(p.certificates())
            .set_ssl_policy(p.ssl_policy.clone())
            .default_actions(p.default_action())
            .set_tags(Some(to_sdk(&p.tags))))
        .await?;
        let arn = r
            .listeners()
            .first()
            .and_then(|l| l.listener_arn())
            .ok_or_else(|| no_id("CreateListener"))?;
        read_one(self, arn).await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        let s = &self.0;
        if before.settings() != after.settings() {
            call!(s, write "ModifyListener", modify_listener()
                .listener_arn(id)
                .port(after.port)
                .protocol(ProtocolEnum::from(after.protocol.as_str()))
                .set_certificates(after.certificates())
                .set_ssl_policy(after.ssl_policy.clone())
                .default_actions(after.default_action()))
            .await?;
        }
        s.sync_tags(id, &before.tags, &after.tags).await?;
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Props, _: Duration) -> Result<()> {
        let s = &self.0;
        call!(s, delete "DeleteListener", delete_listener().listener_arn(id))
            .await
            .map(drop)
    }
}
