//! `route53.zone_lookup`: an existing public hosted zone, found by name;
//! never created or deleted by provision.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{R53, get_zone, zones_named};
use crate::aws::{Clients, Create, Kind, Query, each, live, read_one};
use crate::diag::{Error, Result};
use crate::kind::{KindSpec, Ty, new, p, req};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    outputs: &["id", "name_servers"],
    refresh_cost: "1 GetHostedZone per zone",
    ..KindSpec::new(
        "route53.zone_lookup",
        "An existing public hosted zone, found by name; never created or deleted.",
        &[req(new(p("name", Ty::Str, "domain name")))],
    )
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    name: String,
}

pub(crate) struct ZoneLookup(R53);

#[async_trait]
impl Kind for ZoneLookup {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        ZoneLookup(c.route53.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        let Query::Ids(ids) = q else {
            return Ok(vec![]);
        };
        let zones = each(
            ids.iter()
                .map(|id| get_zone(&self.0, id))
                .collect::<Vec<_>>(),
        )
        .await?;
        let mut out = Vec::new();
        for z in zones.into_iter().flatten() {
            let p = Props { name: z.name };
            out.push(live(
                &SPEC,
                &z.id,
                &p,
                &[("name_servers", json!(z.name_servers))],
            ));
        }
        Ok(out)
    }
    /// Finds the zone: "creating" a lookup records it, touching nothing.
    async fn create(&self, p: &Props, _: &Create<'_>) -> Result<Live> {
        let found = zones_named(&self.0, &p.name).await?;
        let (id, _) = found.first().ok_or_else(|| {
            Error::other(format!(
                "no public hosted zone named {} in this account",
                p.name
            ))
        })?;
        read_one(self, id).await
    }
    async fn update(&self, id: &str, _: &Props, _: &Props, _: Duration) -> Result<Live> {
        read_one(self, id).await
    }
    /// Not ours to delete: forgetting it is all.
    async fn delete(&self, _: &str, _: &Props, _: Duration) -> Result<()> {
        Ok(())
    }
}
