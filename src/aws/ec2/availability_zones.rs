//! Data source `ec2.availability_zones`: the region's Availability Zones.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Ec2, filter};
use crate::aws::Clients;
use crate::aws::call::call;
use crate::aws::data::{DataKind, text, texts};
use crate::diag::{Error, Result};
use crate::kind::{DataSpec, Ty, def, p};

static SPEC: DataSpec = DataSpec {
    name: "ec2.availability_zones",
    doc: "The region's Availability Zones (zones only, no Local or Wavelength Zones), sorted by name.",
    props: &[
        def(
            p(
                "state",
                Ty::Str,
                "available, information, impaired or unavailable",
            ),
            "\"available\"",
        ),
        def(
            p(
                "exclude_names",
                Ty::StrList { set: true },
                "zones to leave out",
            ),
            "[]",
        ),
    ],
    attrs: &[
        ("names", "zone names, sorted (us-east-1a, ...)"),
        ("zone_ids", "zone ids in the same order (use1-az1, ...)"),
        ("region", "the region the zones are in (us-east-1)"),
    ],
};

pub(crate) struct AvailabilityZones(Ec2);

#[async_trait]
impl DataKind for AvailabilityZones {
    const SPEC: &'static DataSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        AvailabilityZones(c.ec2.clone())
    }
    async fn read(&self, props: &Value) -> Result<Value> {
        let s = &self.0;
        let state = text(props, "state").unwrap_or("available").to_string();
        let filters = vec![
            filter("state", &[state]),
            filter("zone-type", &["availability-zone".to_string()]),
        ];
        let r = call!(s, read "DescribeAvailabilityZones", describe_availability_zones()
            .set_filters(Some(filters.clone())))
        .await?;
        let exclude = texts(props, "exclude_names");
        let region = r
            .availability_zones()
            .iter()
            .find_map(|z| z.region_name())
            .unwrap_or_default()
            .to_string();
        let mut zones: Vec<(String, String)> = r
            .availability_zones()
            .iter()
            .filter_map(|z| {
                let name = z.zone_name()?.to_string();
                (!exclude.contains(&name))
                    .then(|| (name, z.zone_id().unwrap_or_default().to_string()))
            })
            .collect();
        zones.sort();
        if zones.is_empty() {
            return Err(Error::other(format!("{} found no zone", SPEC.name)));
        }
        let (names, ids): (Vec<String>, Vec<String>) = zones.into_iter().unzip();
        Ok(json!({"names": names, "zone_ids": ids, "region": region}))
    }
}
