//! `route53.record`: a DNS record, an alias (to a load balancer) or plain
//! values. Its id is `ZONE_ID|NAME.|TYPE`. Changes wait for INSYNC.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{R53, built, fqdn, plain, wait_insync};
use crate::aws::call::call;
use crate::aws::errors::has_code;
use crate::aws::{Clients, Create, Kind, Query, each, live, read_one};
use crate::diag::{Error, Result};
use crate::kind::{Container, Inside, KindSpec, Takes, Ty, def, new, p, req};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    inside: Inside::Searched(Container::Zone),
    waits: "every change until Route 53 says `INSYNC`.",
    outputs: &["id", "fqdn"],
    refresh_cost: "1 ListResourceRecordSets per zone (300 records a page), or per record where that is fewer",
    // A change is PENDING until INSYNC, about a minute.
    takes: Takes::secs(60, 60, 60),
    ..KindSpec::new(
        "route53.record",
        "A DNS record: an alias (to a load balancer) or plain values. Changes wait for INSYNC.",
        &[
            req(new(p("zone_id", Ty::Str, "the hosted zone"))),
            req(new(p("name", Ty::Str, "fully qualified name"))),
            req(new(p("type", Ty::Str, "A, AAAA, CNAME, TXT, ..."))),
            p("ttl", Ty::Int, "seconds (not for aliases)"),
            def(
                p(
                    "values",
                    Ty::StrList { set: true },
                    "record values (not for aliases)",
                ),
                "[]",
            ),
            p(
                "alias_dns_name",
                Ty::Str,
                "alias target, for example the ALB's dns_name",
            ),
            p(
                "alias_zone_id",
                Ty::Str,
                "alias target's hosted zone, for example the ALB's zone_id",
            ),
            def(
                p(
                    "evaluate_target_health",
                    Ty::Bool,
                    "answer only while the target is healthy",
                ),
                "false",
            ),
        ],
    )
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    zone_id: String,
    name: String,
    r#type: String,
    ttl: Option<i64>,
    values: Vec<String>,
    alias_dns_name: Option<String>,
    alias_zone_id: Option<String>,
    evaluate_target_health: bool,
}

/// Record ids are `ZONE_ID|NAME.|TYPE`.
fn record_id(zone: &str, name: &str, ty: &str) -> String {
    format!("{zone}|{}|{ty}", fqdn(name))
}

fn record_set(p: &Props) -> Result<ResourceRecordSet> {
    let mut r = ResourceRecordSet::builder()
        .name(fqdn(&p.name))
        .r#type(RrType::from(p.r#type.as_str()));
    if let Some(dns) = &p.alias_dns_name {
        r = r.alias_target(built(
            AliasTarget::builder()
                .dns_name(dns)
                .hosted_zone_id(p.alias_zone_id.clone().unwrap_or_default())
                .evaluate_target_health(p.evaluate_target_health)
                .build(),
        )?);
    } else {
        r = r.set_ttl(p.ttl);
        for v in &p.values {
            r = r.resource_records(built(ResourceRecord::builder().value(v).build())?);
        }
    }
    built(r.build())
}

/// A record as AWS lists it, with its id (`ZONE|NAME.|TYPE`).
fn live_of(zone: &str, rr: &aws_sdk_route53::types::ResourceRecordSet) -> Live {
    let name = rr.name();
    let ty = rr.r#type().as_str();
    let alias = rr.alias_target();
    let p = Props {
        zone_id: zone.into(),
        name: plain(name),
        r#type: ty.into(),
        ttl: rr.ttl(),
        values: rr
            .resource_records()
            .iter()
            .map(|v| v.value().to_string())
            .collect(),
        alias_dns_name: alias.map(|a| plain(a.dns_name())),
        alias_zone_id: alias.map(|a| a.hosted_zone_id().to_string()),
        evaluate_target_health: alias.is_some_and(|a| a.evaluate_target_health()),
    };
    let id = record_id(zone, name, ty);
    live(&SPEC, &id, &p, &[("fqdn", json!(plain(name)))])
}

pub(crate) struct Record(R53);

impl Record {
    async fn get(&self, id: &str) -> Result<Option<Live>> {
        let mut parts = id.splitn(3, '|');
        let (Some(zone), Some(name), Some(ty)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Error::other(format!(
                "{id} is not a record id (ZONE|NAME|TYPE)"
            )));
        };
        let s = &self.0;
        let r = match call!(s, read "ListResourceRecordSets", list_resource_record_sets()
            .hosted_zone_id(zone)
            .start_record_name(name)
            .start_record_type(RrType::from(ty))
            .max_items(1))
        .await
        {
            Err(e) if has_code(&e, &["NoSuchHostedZone"]) => return Ok(None),
            r => r?,
        };
        let Some(rr) = r
            .resource_record_sets()
            .iter()
            .find(|x| x.name() == name && x.r#type().as_str() == ty)
        else {
            return Ok(None);
        };
        Ok(Some(live_of(zone, rr)))
    }

    /// Every record of a zone but its SOA and NS, which AWS makes; `None`
    /// when that takes more than `pages` pages (of 300 records).
    async fn all_in(&self, zone: &str, pages: usize) -> Result<Option<Vec<Live>>> {
        let s = &self.0;
        let mut out = Vec::new();
        let mut next: Option<(String, RrType)> = None;
        for _ in 0..pages {
            let (name, ty) = next.clone().unzip();
            let r = match call!(s, read "ListResourceRecordSets", list_resource_record_sets()
                .hosted_zone_id(zone)
                .set_start_record_name(name.clone())
                .set_start_record_type(ty.clone()))
            .await
            {
                Err(e) if has_code(&e, &["NoSuchHostedZone"]) => return Ok(Some(out)),
                r => r?,
            };
            out.extend(
                r.resource_record_sets()
                    .iter()
                    .filter(|rr| !matches!(rr.r#type(), RrType::Soa | RrType::Ns))
                    .map(|rr| live_of(zone, rr)),
            );
            match (r.is_truncated(), r.next_record_name(), r.next_record_type()) {
                (true, Some(n), Some(t)) => next = Some((n.to_string(), t.clone())),
                _ => return Ok(Some(out)),
            }
        }
        Ok(None)
    }

    /// Records by id: a zone holding several of them is listed whole when
    /// that takes fewer calls than reading them one by one (a page holds
    /// 300 records), else each is read by name and type.
    async fn by_ids(&self, ids: &[String]) -> Result<Vec<Live>> {
        let mut by_zone: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
        for id in ids {
            by_zone
                .entry(id.split('|').next().unwrap_or_default())
                .or_default()
                .push(id);
        }
        let zones = by_zone.into_iter().map(|(zone, ids)| async move {
            if ids.len() >= 2
                && let Some(all) = self.all_in(zone, ids.len() - 1).await?
            {
                let wanted: BTreeSet<&str> = ids.iter().map(|i| i.as_str()).collect();
                return Ok(all
                    .into_iter()
                    .filter(|l| wanted.contains(l.id.as_str()))
                    .collect());
            }
            let found = each(ids.iter().map(|id| self.get(id)).collect::<Vec<_>>()).await?;
            Ok::<_, Error>(found.into_iter().flatten().collect::<Vec<_>>())
        });
        let found = each(zones.collect::<Vec<_>>()).await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn change(
        &self,
        zone: &str,
        action: ChangeAction,
        set: ResourceRecordSet,
        timeout: Duration,
    ) -> Result<()> {
        let batch = built(
            ChangeBatch::builder()
                .comment("provision")
                .changes(built(
                    Change::builder()
                        .action(action)
                        .resource_record_set(set)
                        .build(),
                )?)
                .build(),
        )?;
        let s = &self.0;
        let r = call!(s, write "ChangeResourceRecordSets", change_resource_record_sets()
            .hosted_zone_id(zone)
            .change_batch(batch.clone()))
        .await?;
        let change_id = r.change_info().map(|c| c.id()).unwrap_or_default();
        wait_insync(s, change_id, timeout).await
    }
}

#[async_trait]
impl Kind for Record {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        Record(c.route53.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        // Records have no tags: written with UPSERT, writing one again is harmless.
        match q {
            Query::Ids(ids) => self.by_ids(ids).await,
            Query::Inside(Container::Zone, zones) => {
                let every = zones.iter().map(|z| self.all_in(z, usize::MAX));
                let all = each(every.collect::<Vec<_>>()).await?;
                Ok(all.into_iter().flatten().flatten().collect())
            }
            _ => Ok(vec![]),
        }
    }
    async fn create(&self, p: &Props, c: &Create<'_>) -> Result<Live> {
        let timeout = c.timeout;
        self.change(&p.zone_id, ChangeAction::Upsert, record_set(p)?, timeout)
            .await?;
        let id = record_id(&p.zone_id, &p.name, &p.r#type);
        read_one(self, &id).await
    }
    async fn update(&self, id: &str, _: &Props, after: &Props, timeout: Duration) -> Result<Live> {
        self.change(
            &after.zone_id,
            ChangeAction::Upsert,
            record_set(after)?,
            timeout,
        )
        .await?;
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Props, timeout: Duration) -> Result<()> {
        // DELETE must name the record exactly as it is now.
        let Some(now) = self.get(id).await? else {
            return Ok(());
        };
        let now: Props = serde_json::from_value(now.props)
            .map_err(|e| Error::other(format!("internal: {e}")))?;
        self.change(
            &now.zone_id,
            ChangeAction::Delete,
            record_set(&now)?,
            timeout,
        )
        .await
    }
}
