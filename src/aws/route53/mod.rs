//! Route 53: hosted zone (created, or an existing one looked up by name),
//! records (alias or values; every change waits for INSYNC), health checks.
//!
//! Zones and health checks are made with a CallerReference of
//! `provision/STACK/ADDRESS/...`, which is how one whose create answer was
//! lost is found again (CreateHostedZone takes no tags). Records have no
//! tags: they are written with UPSERT, so writing one again is harmless.

pub(super) mod health_check;
pub(super) mod record;
pub(super) mod zone;
pub(super) mod zone_lookup;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_route53::Client;
use aws_sdk_route53::types::{ChangeStatus, Tag, TagResourceType};
use aws_smithy_types::error::operation::BuildError;

use super::Svc;
use super::call::call;
use super::errors::{Class, has_code, is};
use super::tags::{self, Tags};
use super::wait::{self, Seen};
use crate::diag::{Error, Result};
use crate::stack::{TAG_ADDRESS, TAG_STACK};

pub(crate) type R53 = Svc<Client>;

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

/// `provision/STACK/ADDRESS/TOKEN`: who made it, kept by Route 53 for ever;
/// the create's token makes a repeat of it the same create.
fn caller_reference(t: &Tags, token: &str) -> String {
    let tag = |k: &str| t.get(k).cloned().unwrap_or_default();
    format!("provision/{}/{}/{token}", tag(TAG_STACK), tag(TAG_ADDRESS))
}

tags::sdk_tag!(optional Tag);

/// Tags of up to 10 zones or health checks per call.
async fn tags_of(s: &R53, kind: TagResourceType, ids: &[String]) -> Result<HashMap<String, Tags>> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(10) {
        let r = call!(s, detail "ListTagsForResources", list_tags_for_resources()
            .resource_type(kind.clone())
            .set_resource_ids(Some(chunk.to_vec())))
        .await?;
        for t in r.resource_tag_sets() {
            let tags = tags::from_sdk(t.tags());
            out.insert(t.resource_id().unwrap_or_default().to_string(), tags);
        }
    }
    Ok(out)
}

async fn sync_tags(
    s: &R53,
    kind: TagResourceType,
    id: &str,
    before: &Tags,
    after: &Tags,
) -> Result<()> {
    let (set, removed) = tags::changes(before, after);
    if set.is_empty() && removed.is_empty() {
        return Ok(());
    }
    // One call does both.
    let add: Option<Vec<Tag>> = (!set.is_empty()).then(|| tags::to_sdk(&set.into_iter().collect()));
    let remove = (!removed.is_empty()).then_some(removed);
    call!(s, write "ChangeTagsForResource", change_tags_for_resource()
        .resource_type(kind.clone())
        .resource_id(id)
        .set_add_tags(add.clone())
        .set_remove_tag_keys(remove.clone()))
    .await?;
    Ok(())
}

/// Waits until a change is INSYNC (propagated to every Route 53 name server).
async fn wait_insync(s: &R53, change_id: &str, timeout: Duration) -> Result<()> {
    wait::until(
        &format!("Route 53 change {change_id} to be INSYNC"),
        timeout,
        || async {
            let r = call!(s, read "GetChange", get_change().id(change_id)).await?;
            Ok(match r.change_info().map(|i| i.status()) {
                Some(ChangeStatus::Insync) => Seen::Ready(()),
                other => Seen::Pending(other.map(|s| s.as_str()).unwrap_or("PENDING").into()),
            })
        },
    )
    .await
}

/// A hosted zone as GetHostedZone answers.
struct ZoneInfo {
    id: String,
    name: String,
    comment: String,
    name_servers: Vec<String>,
}

async fn get_zone(s: &R53, id: &str) -> Result<Option<ZoneInfo>> {
    let r = match call!(s, read "GetHostedZone", get_hosted_zone().id(id)).await {
        Err(e) if is(&e, Class::NotFound) || has_code(&e, &["NoSuchHostedZone"]) => {
            return Ok(None);
        }
        r => r?,
    };
    let Some(z) = r.hosted_zone() else {
        return Ok(None);
    };
    Ok(Some(ZoneInfo {
        id: bare_id(z.id()),
        name: plain(z.name()),
        comment: z
            .config()
            .and_then(|c| c.comment())
            .unwrap_or("")
            .to_string(),
        name_servers: r
            .delegation_set()
            .map(|d| d.name_servers().to_vec())
            .unwrap_or_default(),
    }))
}

/// Public zones with exactly this name: (id, caller reference).
async fn zones_named(s: &R53, name: &str) -> Result<Vec<(String, String)>> {
    let r =
        call!(s, read "ListHostedZonesByName", list_hosted_zones_by_name().dns_name(fqdn(name)))
            .await?;
    Ok(r.hosted_zones()
        .iter()
        .filter(|z| z.name() == fqdn(name))
        .filter(|z| !z.config().is_some_and(|c| c.private_zone()))
        .map(|z| (bare_id(z.id()), z.caller_reference().to_string()))
        .collect())
}
