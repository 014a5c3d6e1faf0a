//! `route53.health_check`: an HTTPS health check of an endpoint.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_route53::types::{
    HealthCheck as Check, HealthCheckConfig, HealthCheckType, TagResourceType,
};
use serde::{Deserialize, Serialize};

use super::{R53, built, caller_reference, sync_tags, tags_of};
use crate::aws::call::{call, pages};
use crate::aws::tags::{Tags, owns};
use crate::aws::{Clients, Create, Kind, Query, live, no_id, one_by_one_or_all, read_one};
use crate::diag::Result;
use crate::kind::{KindSpec, TAGS, Ty, def, new, p, req};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    coexist: true,
    refresh_cost: "1 GetHealthCheck per check (up to 10; beyond, 1 ListHealthChecks per 100 in the account) + 1 ListTagsForResources per 10 checks",
    ..KindSpec::new(
        "route53.health_check",
        "An HTTPS health check of an endpoint.",
        &[
            req(p("fqdn", Ty::Str, "host name checked")),
            def(new(p("type", Ty::Str, "HTTPS, HTTP or TCP")), "\"HTTPS\""),
            def(p("port", Ty::Int, "port"), "443"),
            def(p("resource_path", Ty::Str, "path requested"), "\"/\""),
            def(
                new(p("request_interval", Ty::Int, "10 or 30 seconds")),
                "30",
            ),
            def(
                p("failure_threshold", Ty::Int, "failures before unhealthy"),
                "3",
            ),
            TAGS,
        ],
    )
};

/// Settings absent from AWS's answer take their defaults.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    fqdn: Option<String>,
    r#type: Option<String>,
    port: Option<i32>,
    resource_path: Option<String>,
    request_interval: Option<i32>,
    failure_threshold: Option<i32>,
    tags: Tags,
}

impl Props {
    /// What UpdateHealthCheck changes.
    fn settings(&self) -> serde_json::Value {
        serde_json::json!([
            self.fqdn,
            self.port,
            self.resource_path,
            self.failure_threshold
        ])
    }
}

pub(crate) struct HealthCheck(pub(crate) R53);

impl HealthCheck {
    /// Health checks with their tags and caller references: these ids
    /// (read one by one when few, so the cost does not grow with the
    /// account), or (`None`) those whose caller reference says provision made
    /// them for `stack`, or every one.
    async fn listed(
        &self,
        ids: Option<&[String]>,
        stack: Option<&str>,
    ) -> Result<Vec<(Live, String)>> {
        let s = &self.0;
        let all = || pages!(s, "ListHealthChecks", list_health_checks());
        let items: Vec<Check> = match ids {
            Some(ids) => {
                let one = |id: String| async move {
                    let r =
                        call!(s, read "GetHealthCheck", get_health_check().health_check_id(&id))
                            .await?;
                    Ok(r.health_check().into_iter().cloned().collect())
                };
                one_by_one_or_all(ids, one, all, |h: &Check| h.id()).await?
            }
            None => {
                let mine = stack.map(|st| format!("provision/{st}/"));
                let every = all().await?;
                every
                    .into_iter()
                    .filter(|h| {
                        mine.as_ref()
                            .is_none_or(|m| h.caller_reference().starts_with(m))
                    })
                    .collect()
            }
        };
        let ids: Vec<String> = items.iter().map(|h| h.id().to_string()).collect();
        let mut tags = tags_of(s, TagResourceType::Healthcheck, &ids).await?;
        Ok(items
            .iter()
            .map(|h| {
                let t = tags.remove(h.id()).unwrap_or_default();
                (live_of(h, t), h.caller_reference().to_string())
            })
            .collect())
    }
}

fn live_of(h: &Check, tags: Tags) -> Live {
    let c = h.health_check_config();
    let p = Props {
        fqdn: c
            .and_then(|c| c.fully_qualified_domain_name())
            .map(str::to_string),
        r#type: c.map(|c| c.r#type().as_str().to_string()),
        port: c.and_then(|c| c.port()),
        resource_path: c.and_then(|c| c.resource_path()).map(str::to_string),
        request_interval: c.and_then(|c| c.request_interval()),
        failure_threshold: c.and_then(|c| c.failure_threshold()),
        tags,
    };
    live(&SPEC, h.id(), &p, &[])
}

#[async_trait]
impl Kind for HealthCheck {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        HealthCheck(c.route53.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        Ok(match q {
            Query::Ids(ids) => {
                let found = self.listed(Some(ids), None).await?;
                found.into_iter().map(|x| x.0).collect()
            }
            Query::Owned(stack, _) => {
                let all = self.listed(None, Some(stack)).await?;
                // Tagged after the create (CreateHealthCheck takes no tags):
                // one whose tags were never set is known by its reference,
                // `provision/STACK/ADDRESS/TOKEN`.
                let mine = format!("provision/{stack}/");
                let mut out = Vec::new();
                for (mut l, reference) in all {
                    let by_reference = reference
                        .strip_prefix(&mine)
                        .and_then(|r| r.rsplit_once('/'))
                        .map(|(addr, _)| crate::stack::address_from_tag(addr));
                    if l.address().is_none() {
                        l.claimed_by = by_reference.clone();
                    }
                    if owns(stack, &l) || by_reference.is_some() {
                        out.push(l);
                    }
                }
                out
            }
            Query::All | Query::Inside(..) => vec![],
        })
    }
    async fn create(&self, p: &Props, c: &Create<'_>) -> Result<Live> {
        let config = built(
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::from(
                    p.r#type.as_deref().unwrap_or("HTTPS"),
                ))
                .set_fully_qualified_domain_name(p.fqdn.clone())
                .set_port(p.port)
                .set_resource_path(p.resource_path.clone())
                .set_request_interval(p.request_interval)
                .set_failure_threshold(p.failure_threshold)
                // Stated, not left to defaults: every answer then carries them.
                .measure_latency(false)
                .inverted(false)
                .disabled(false)
                .enable_sni(p.r#type.as_deref() == Some("HTTPS"))
                .build(),
        )?;
        let reference = caller_reference(&p.tags, c.token);
        let s = &self.0;
        // The caller reference makes a repeat safe: Route 53 returns the same check.
        let r = call!(s, write "CreateHealthCheck", create_health_check()
            .caller_reference(&reference)
            .health_check_config(config.clone()))
        .await?;
        let id = r
            .health_check()
            .map(|h| h.id())
            .ok_or_else(|| no_id("CreateHealthCheck"))?;
        sync_tags(s, TagResourceType::Healthcheck, id, &Tags::new(), &p.tags).await?;
        read_one(self, id).await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        let s = &self.0;
        if before.settings() != after.settings() {
            call!(s, write "UpdateHealthCheck", update_health_check()
                .health_check_id(id)
                .set_fully_qualified_domain_name(after.fqdn.clone())
                .set_port(after.port)
                .set_resource_path(after.resource_path.clone())
                .set_failure_threshold(after.failure_threshold))
            .await?;
        }
        sync_tags(
            s,
            TagResourceType::Healthcheck,
            id,
            &before.tags,
            &after.tags,
        )
        .await?;
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Props, _: Duration) -> Result<()> {
        let s = &self.0;
        call!(s, delete "DeleteHealthCheck", delete_health_check().health_check_id(id)).await?;
        Ok(())
    }
}
