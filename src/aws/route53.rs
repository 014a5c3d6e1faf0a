//! Route 53: hosted zone (created, or an existing one looked up by name),
//! records (alias or values; every change waits for INSYNC), health checks.
//!
//! Zones and health checks are made with a CallerReference of
//! `provision/STACK/ADDRESS/...`, which is how a zone whose create answer was
//! lost is found again (CreateHostedZone takes no tags). Records have no
//! tags: they are written with UPSERT, so writing one again is harmless.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_route53::Client;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ChangeStatus, HealthCheckConfig,
    HealthCheckType, HostedZoneConfig, ResourceRecord, ResourceRecordSet, RrType, Tag,
    TagResourceType,
};
use aws_smithy_types::error::operation::BuildError;
use serde_json::{Value, json};

use super::{Resource, b, err, i, list, live_of, s, tag_changes, wait_for};
use crate::diag::{Error, Result};
use crate::provider::{Live, Wanted};
use crate::stack::{TAG_ADDRESS, TAG_STACK};

pub(crate) fn register(c: &Client, kinds: &mut HashMap<&'static str, Box<dyn Resource>>) {
    kinds.insert(
        "route53.zone",
        Box::new(Zone {
            c: c.clone(),
            lookup: false,
        }),
    );
    kinds.insert(
        "route53.zone_lookup",
        Box::new(Zone {
            c: c.clone(),
            lookup: true,
        }),
    );
    kinds.insert("route53.record", Box::new(Record(c.clone())));
    kinds.insert("route53.health_check", Box::new(HealthCheck(c.clone())));
}

fn built<T>(r: std::result::Result<T, BuildError>) -> Result<T> {
    r.map_err(|e| Error::other(format!("internal: {e}")))
}

fn bare_id(id: &str) -> String {
    id.rsplit('/').next().unwrap_or(id).to_string()
}

/// Domain names end with a dot in Route 53's answers; the stack may omit it.
fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

/// Names as the stack writes them: no trailing dot, lower case.
fn plain(name: &str) -> String {
    name.trim_end_matches('.').to_lowercase()
}

fn caller_reference(p: &Value) -> String {
    let tag = |k: &str| p["tags"][k].as_str().unwrap_or("").to_string();
    format!(
        "provision/{}/{}/{}",
        tag(TAG_STACK),
        tag(TAG_ADDRESS),
        uuid::Uuid::new_v4()
    )
}

async fn tags_of(
    c: &Client,
    kind: TagResourceType,
    ids: &[String],
) -> Result<HashMap<String, Value>> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(10) {
        let r = c
            .list_tags_for_resources()
            .resource_type(kind.clone())
            .set_resource_ids(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| err("ListTagsForResources", e))?;
        for t in r.resource_tag_sets() {
            let tags = super::tags_from(
                t.tags()
                    .iter()
                    .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
            );
            out.insert(t.resource_id().unwrap_or_default().to_string(), tags);
        }
    }
    Ok(out)
}

async fn sync_tags(
    c: &Client,
    kind: TagResourceType,
    id: &str,
    before: &Value,
    after: &Value,
) -> Result<()> {
    let (set, removed) = tag_changes(before, after);
    if set.is_empty() && removed.is_empty() {
        return Ok(());
    }
    c.change_tags_for_resource()
        .resource_type(kind)
        .resource_id(id)
        .set_add_tags((!set.is_empty()).then(|| {
            set.into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect()
        }))
        .set_remove_tag_keys((!removed.is_empty()).then_some(removed))
        .send()
        .await
        .map_err(|e| err("ChangeTagsForResource", e))?;
    Ok(())
}

/// Waits until a change is INSYNC (propagated to every Route 53 name server).
async fn wait_insync(c: &Client, change_id: &str, timeout: Duration) -> Result<()> {
    wait_for(
        &format!("Route 53 change {change_id} to be INSYNC"),
        timeout,
        || async {
            let r = c
                .get_change()
                .id(change_id)
                .send()
                .await
                .map_err(|e| err("GetChange", e))?;
            Ok((r.change_info().map(|i| i.status()) == Some(&ChangeStatus::Insync)).then_some(()))
        },
    )
    .await
}

// ---------------------------------------------------------------- Zone

struct Zone {
    c: Client,
    /// A zone found by name, never created or deleted.
    lookup: bool,
}

impl Zone {
    fn kind(&self) -> &'static str {
        if self.lookup {
            "route53.zone_lookup"
        } else {
            "route53.zone"
        }
    }

    async fn get(&self, id: &str) -> Result<Option<(Live, String)>> {
        let r = match self.c.get_hosted_zone().id(id).send().await {
            Ok(r) => r,
            Err(e) => {
                let e = err("GetHostedZone", e);
                return if super::is_not_found(&e)
                    || matches!(&e, Error::Aws { code, .. } if code == "NoSuchHostedZone")
                {
                    Ok(None)
                } else {
                    Err(e)
                };
            }
        };
        let Some(z) = r.hosted_zone() else {
            return Ok(None);
        };
        let zid = bare_id(z.id());
        let mut raw = json!({"name": plain(z.name())});
        if !self.lookup {
            raw["comment"] = json!(z.config().and_then(|c| c.comment()).unwrap_or(""));
            raw["tags"] = tags_of(
                &self.c,
                TagResourceType::Hostedzone,
                std::slice::from_ref(&zid),
            )
            .await?
            .remove(&zid)
            .unwrap_or(json!({}));
        }
        let ns: Vec<&str> = r
            .delegation_set()
            .map(|d| d.name_servers().iter().map(String::as_str).collect())
            .unwrap_or_default();
        Ok(Some((
            live_of(self.kind(), &zid, raw, &[("name_servers", json!(ns))]),
            z.caller_reference().to_string(),
        )))
    }

    async fn by_name(&self, name: &str) -> Result<Vec<(String, String)>> {
        let r = self
            .c
            .list_hosted_zones_by_name()
            .dns_name(fqdn(name))
            .send()
            .await
            .map_err(|e| err("ListHostedZonesByName", e))?;
        Ok(r.hosted_zones()
            .iter()
            .filter(|z| z.name() == fqdn(name))
            .filter(|z| !z.config().is_some_and(|c| c.private_zone()))
            .map(|z| (bare_id(z.id()), z.caller_reference().to_string()))
            .collect())
    }
}

#[async_trait]
impl Resource for Zone {
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        // GetHostedZone takes one zone: one call per zone.
        let mut out = Vec::new();
        for id in ids {
            out.extend(self.get(id).await?.map(|x| x.0));
        }
        Ok(out)
    }
    async fn find_owned(&self, stack: &str, wanted: &[Wanted]) -> Result<Vec<Live>> {
        if self.lookup {
            return Ok(vec![]);
        }
        let mut out = Vec::new();
        for w in wanted {
            let Some(name) = s(&w.props, "name") else {
                continue;
            };
            for (id, reference) in self.by_name(&name).await? {
                let ours = format!(
                    "provision/{stack}/{}/",
                    crate::stack::address_tag(&w.address)
                );
                if reference.starts_with(&ours)
                    && let Some((mut l, _)) = self.get(&id).await?
                {
                    l.claimed_by = Some(w.address.clone());
                    out.push(l);
                }
            }
        }
        Ok(out)
    }
    async fn create(&self, p: &Value, _: Duration) -> Result<Live> {
        let name = s(p, "name").unwrap_or_default();
        if self.lookup {
            let found = self.by_name(&name).await?;
            let (id, _) = found.first().ok_or_else(|| {
                Error::other(format!(
                    "no public hosted zone named {name} in this account"
                ))
            })?;
            return super::read_one(self, id).await;
        }
        let r = self
            .c
            .create_hosted_zone()
            .name(&name)
            .caller_reference(caller_reference(p))
            .hosted_zone_config(
                HostedZoneConfig::builder()
                    .set_comment(s(p, "comment"))
                    .private_zone(false)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| err("CreateHostedZone", e))?;
        let id = r.hosted_zone().map(|z| bare_id(z.id())).unwrap_or_default();
        // CreateHostedZone takes no tags: they follow at once.
        sync_tags(&self.c, TagResourceType::Hostedzone, &id, &json!({}), p).await?;
        super::read_one(self, &id).await
    }
    async fn update(&self, id: &str, before: &Value, after: &Value, _: Duration) -> Result<Live> {
        if self.lookup {
            return super::read_one(self, id).await;
        }
        if before.get("comment") != after.get("comment") {
            self.c
                .update_hosted_zone_comment()
                .id(id)
                .set_comment(s(after, "comment"))
                .send()
                .await
                .map_err(|e| err("UpdateHostedZoneComment", e))?;
        }
        sync_tags(&self.c, TagResourceType::Hostedzone, id, before, after).await?;
        super::read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Value, _: Duration) -> Result<()> {
        if self.lookup {
            // Not ours to delete: forgetting it is all.
            return Ok(());
        }
        self.c
            .delete_hosted_zone()
            .id(id)
            .send()
            .await
            .map_err(|e| err("DeleteHostedZone", e))?;
        Ok(())
    }
}

// ---------------------------------------------------------------- Record

struct Record(Client);

/// Record ids are `ZONE_ID|NAME.|TYPE`.
fn record_id(zone: &str, name: &str, ty: &str) -> String {
    format!("{zone}|{}|{ty}", fqdn(name))
}

fn record_set(p: &Value) -> Result<ResourceRecordSet> {
    let mut r = ResourceRecordSet::builder()
        .name(fqdn(&s(p, "name").unwrap_or_default()))
        .r#type(RrType::from(s(p, "type").unwrap_or_default().as_str()));
    if let Some(dns) = s(p, "alias_dns_name") {
        r = r.alias_target(built(
            AliasTarget::builder()
                .dns_name(dns)
                .hosted_zone_id(s(p, "alias_zone_id").unwrap_or_default())
                .evaluate_target_health(b(p, "evaluate_target_health"))
                .build(),
        )?);
    } else {
        r = r.set_ttl(i(p, "ttl").map(i64::from));
        for v in list(p, "values") {
            r = r.resource_records(built(ResourceRecord::builder().value(v).build())?);
        }
    }
    built(r.build())
}

impl Record {
    async fn get(&self, id: &str) -> Result<Option<Live>> {
        let mut parts = id.splitn(3, '|');
        let (Some(zone), Some(name), Some(ty)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Error::other(format!(
                "{id} is not a record id (ZONE|NAME|TYPE)"
            )));
        };
        let r = match self
            .0
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .start_record_name(name)
            .start_record_type(RrType::from(ty))
            .max_items(1)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                let e = err("ListResourceRecordSets", e);
                return if matches!(&e, Error::Aws { code, .. } if code == "NoSuchHostedZone") {
                    Ok(None)
                } else {
                    Err(e)
                };
            }
        };
        let Some(rr) = r
            .resource_record_sets()
            .iter()
            .find(|x| x.name() == name && x.r#type().as_str() == ty)
        else {
            return Ok(None);
        };
        let alias = rr.alias_target();
        let raw = json!({
                        "zone_id": zone,
            "name": plain(name),
            "type": ty,
            "ttl": rr.ttl(),
            "values": rr.resource_records().iter().map(|v| v.value()).collect::<Vec<_>>(),
                        "alias_dns_name": alias.map(|a| plain(a.dns_name())),
            "alias_zone_id": alias.map(|a| a.hosted_zone_id()),
            "evaluate_target_health": alias.map(|a| a.evaluate_target_health()).unwrap_or(false),
        });
        Ok(Some(live_of(
            "route53.record",
            id,
            raw,
            &[("fqdn", json!(plain(name)))],
        )))
    }

    async fn change(
        &self,
        zone: &str,
        action: ChangeAction,
        set: ResourceRecordSet,
        timeout: Duration,
    ) -> Result<()> {
        let r = self
            .0
            .change_resource_record_sets()
            .hosted_zone_id(zone)
            .change_batch(built(
                ChangeBatch::builder()
                    .comment("provision")
                    .changes(built(
                        Change::builder()
                            .action(action)
                            .resource_record_set(set)
                            .build(),
                    )?)
                    .build(),
            )?)
            .send()
            .await
            .map_err(|e| err("ChangeResourceRecordSets", e))?;
        let change_id = r
            .change_info()
            .map(|c| c.id().to_string())
            .unwrap_or_default();
        wait_insync(&self.0, &change_id, timeout).await
    }
}

#[async_trait]
impl Resource for Record {
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        let mut out = Vec::new();
        for id in ids {
            out.extend(self.get(id).await?);
        }
        Ok(out)
    }
    async fn find_owned(&self, _: &str, _: &[Wanted]) -> Result<Vec<Live>> {
        Ok(vec![])
    }
    async fn create(&self, p: &Value, timeout: Duration) -> Result<Live> {
        let zone = s(p, "zone_id").unwrap_or_default();
        self.change(&zone, ChangeAction::Upsert, record_set(p)?, timeout)
            .await?;
        let id = record_id(
            &zone,
            &s(p, "name").unwrap_or_default(),
            &s(p, "type").unwrap_or_default(),
        );
        self.get(&id).await?.ok_or_else(|| super::gone(&id))
    }
    async fn update(&self, id: &str, _: &Value, after: &Value, timeout: Duration) -> Result<Live> {
        let zone = s(after, "zone_id").unwrap_or_default();
        self.change(&zone, ChangeAction::Upsert, record_set(after)?, timeout)
            .await?;
        self.get(id).await?.ok_or_else(|| super::gone(id))
    }
    async fn delete(&self, id: &str, _: &Value, timeout: Duration) -> Result<()> {
        // DELETE must name the record exactly as it is now.
        let Some(now) = self.get(id).await? else {
            return Ok(());
        };
        let zone = s(&now.props, "zone_id").unwrap_or_default();
        self.change(
            &zone,
            ChangeAction::Delete,
            record_set(&now.props)?,
            timeout,
        )
        .await
    }
}

// ---------------------------------------------------------------- Health check

struct HealthCheck(Client);

impl HealthCheck {
    async fn all(&self) -> Result<Vec<(Live, String)>> {
        let items: Vec<_> = self
            .0
            .list_health_checks()
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| err("ListHealthChecks", e))?;
        let ids: Vec<String> = items.iter().map(|h| h.id().to_string()).collect();
        let tags = tags_of(&self.0, TagResourceType::Healthcheck, &ids).await?;
        Ok(items
            .iter()
            .map(|h| {
                let c = h.health_check_config();
                let raw = json!({
                    "fqdn": c.and_then(|c| c.fully_qualified_domain_name()),
                    "type": c.map(|c| c.r#type().as_str()),
                    "port": c.and_then(|c| c.port()),
                    "resource_path": c.and_then(|c| c.resource_path()),
                    "request_interval": c.and_then(|c| c.request_interval()),
                    "failure_threshold": c.and_then(|c| c.failure_threshold()),
                    "tags": tags.get(h.id()).cloned().unwrap_or(json!({})),
                });
                (
                    live_of("route53.health_check", h.id(), raw, &[]),
                    h.caller_reference().to_string(),
                )
            })
            .collect())
    }
}

#[async_trait]
impl Resource for HealthCheck {
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        Ok(self
            .all()
            .await?
            .into_iter()
            .map(|x| x.0)
            .filter(|l| ids.contains(&l.id))
            .collect())
    }
    async fn find_owned(&self, stack: &str, _: &[Wanted]) -> Result<Vec<Live>> {
        Ok(self
            .all()
            .await?
            .into_iter()
            .filter(|(l, reference)| {
                super::owned_by(&l.props["tags"], stack)
                    || reference.starts_with(&format!("provision/{stack}/"))
            })
            .map(|x| x.0)
            .collect())
    }
    async fn create(&self, p: &Value, _: Duration) -> Result<Live> {
        let config = HealthCheckConfig::builder()
            .r#type(HealthCheckType::from(
                s(p, "type").unwrap_or_default().as_str(),
            ))
            .set_fully_qualified_domain_name(s(p, "fqdn"))
            .set_port(i(p, "port"))
            .set_resource_path(s(p, "resource_path"))
            .set_request_interval(i(p, "request_interval"))
            .set_failure_threshold(i(p, "failure_threshold"))
            // Stated, not left to defaults: every answer then carries them.
            .measure_latency(false)
            .inverted(false)
            .disabled(false)
            .enable_sni(s(p, "type").as_deref() == Some("HTTPS"))
            .build();
        let r = self
            .0
            .create_health_check()
            .caller_reference(caller_reference(p))
            .health_check_config(built(config)?)
            .send()
            .await
            .map_err(|e| err("CreateHealthCheck", e))?;
        let id = r
            .health_check()
            .map(|h| h.id().to_string())
            .unwrap_or_default();
        sync_tags(&self.0, TagResourceType::Healthcheck, &id, &json!({}), p).await?;
        super::read_one(self, &id).await
    }
    async fn update(&self, id: &str, before: &Value, after: &Value, _: Duration) -> Result<Live> {
        if crate::plan::changed_props(before, after)
            .iter()
            .any(|p| p != "tags")
        {
            self.0
                .update_health_check()
                .health_check_id(id)
                .set_fully_qualified_domain_name(s(after, "fqdn"))
                .set_port(i(after, "port"))
                .set_resource_path(s(after, "resource_path"))
                .set_failure_threshold(i(after, "failure_threshold"))
                .send()
                .await
                .map_err(|e| err("UpdateHealthCheck", e))?;
        }
        sync_tags(&self.0, TagResourceType::Healthcheck, id, before, after).await?;
        super::read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Value, _: Duration) -> Result<()> {
        self.0
            .delete_health_check()
            .health_check_id(id)
            .send()
            .await
            .map_err(|e| err("DeleteHealthCheck", e))?;
        Ok(())
    }
}
