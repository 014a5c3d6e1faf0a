//! `route53.zone`: a public hosted zone created by the stack.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_route53::types::{HostedZoneConfig, TagResourceType};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{R53, bare_id, caller_reference, get_zone, sync_tags, tags_of, zones_named};
use crate::aws::call::call;
use crate::aws::errors::has_code;
use crate::aws::tags::Tags;
use crate::aws::{Clients, Create, Kind, Query, each, live, no_id, read_one};
use crate::diag::Result;
use crate::kind::{KindSpec, TAGS, Takes, Ty, def, new, p, req};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    outputs: &["id", "name_servers"],
    refresh_cost: "1 GetHostedZone per zone + 1 ListTagsForResources per 10 zones",
    // A zone is PENDING until it reaches every name server.
    takes: Takes::secs(40, 5, 40),
    ..KindSpec::new(
        "route53.zone",
        "A public hosted zone created by the stack.",
        &[
            req(new(p("name", Ty::Str, "domain name"))),
            def(p("comment", Ty::Str, "comment"), "\"Managed by provision\""),
            TAGS,
        ],
    )
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    name: String,
    comment: String,
    tags: Tags,
}

pub(crate) struct Zone(R53);

impl Zone {
    async fn get(&self, id: &str) -> Result<Option<Live>> {
        let Some(z) = get_zone(&self.0, id).await? else {
            return Ok(None);
        };
        let mut tags = tags_of(
            &self.0,
            TagResourceType::Hostedzone,
            std::slice::from_ref(&z.id),
        )
        .await?;
        let p = Props {
            name: z.name.clone(),
            comment: z.comment.clone(),
            tags: tags.remove(&z.id).unwrap_or_default(),
        };
        Ok(Some(live(
            &SPEC,
            &z.id,
            &p,
            &[("name_servers", json!(z.name_servers))],
        )))
    }
}

#[async_trait]
impl Kind for Zone {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        Zone(c.route53.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        let mut out = Vec::new();
        match q {
            // GetHostedZone takes one zone: one call per zone.
            Query::Ids(ids) => {
                out.extend(
                    each(ids.iter().map(|id| self.get(id)).collect::<Vec<_>>())
                        .await?
                        .into_iter()
                        .flatten(),
                );
            }
            // CreateHostedZone takes no tags: our zones are known by their caller reference.
            Query::Owned(stack, wanted) => {
                for w in wanted {
                    let Some(name) = w.props["name"].as_str() else {
                        continue;
                    };
                    let ours = format!(
                        "provision/{stack}/{}/",
                        crate::stack::address_tag(&w.address)
                    );
                    for (id, reference) in zones_named(&self.0, name).await? {
                        if reference.starts_with(&ours)
                            && let Some(mut l) = self.get(&id).await?
                        {
                            l.claimed_by = Some(w.address.clone());
                            out.push(l);
                        }
                    }
                }
            }
            Query::All | Query::Inside(..) => {}
        }
        Ok(out)
    }
    async fn create(&self, p: &Props, c: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        let reference = caller_reference(&p.tags, c.token);
        // The caller reference makes a repeat safe: Route 53 answers
        // HostedZoneAlreadyExists for one it has seen.
        let made = call!(s, write "CreateHostedZone", create_hosted_zone()
            .name(&p.name)
            .caller_reference(&reference)
            .hosted_zone_config(HostedZoneConfig::builder().comment(&p.comment).private_zone(false).build(),))
            .await;
        let id = match made {
            Ok(r) => r.hosted_zone().map(|z| bare_id(z.id())),
            // An earlier attempt of this very create went through.
            Err(e) if has_code(&e, &["HostedZoneAlreadyExists"]) => zones_named(s, &p.name)
                .await?
                .into_iter()
                .find(|(_, r)| *r == reference)
                .map(|(id, _)| id),
            Err(e) => return Err(e),
        }
        .ok_or_else(|| no_id("CreateHostedZone"))?;
        // CreateHostedZone takes no tags: they follow at once.
        sync_tags(s, TagResourceType::Hostedzone, &id, &Tags::new(), &p.tags).await?;
        read_one(self, &id).await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        let s = &self.0;
        if before.comment != after.comment {
            call!(s, write "UpdateHostedZoneComment", update_hosted_zone_comment()
                .id(id)
                .comment(&after.comment))
            .await?;
        }
        sync_tags(
            s,
            TagResourceType::Hostedzone,
            id,
            &before.tags,
            &after.tags,
        )
        .await?;
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Props, _: Duration) -> Result<()> {
        let s = &self.0;
        call!(s, delete "DeleteHostedZone", delete_hosted_zone().id(id)).await?;
        Ok(())
    }
}
