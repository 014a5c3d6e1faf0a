//! `kms.alias`: a name for a key (`alias/...`), moved to another key in
//! place. Aliases carry no tags: one is never adopted; a create that finds
//! its name taken is refused, unless the alias already names the key it
//! was to name (an earlier attempt's, whose answer was lost).

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Kms;
use crate::aws::call::{call, pages};
use crate::aws::errors::{Class, class_of};
use crate::aws::{Clients, Create, Kind, Query, live};
use crate::diag::{Error, Result};
use crate::kind::{KindSpec, Ty, new, p, req};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    outputs: &["id", "arn"],
    refresh_cost: "1 ListAliases per 100 aliases of the region",
    ..KindSpec::new(
        "kms.alias",
        "A name for a KMS key (alias/...).",
        &[
            req(new(p("name", Ty::Str, "alias/ and a name"))),
            req(p("target_key_id", Ty::Str, "the key it names")),
        ],
    )
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    name: String,
    target_key_id: String,
}

pub(crate) struct Alias(pub(crate) Kms);

impl Alias {
    async fn all(&self) -> Result<Vec<Live>> {
        let s = &self.0;
        let aliases = pages!(s, "ListAliases", list_aliases()).await?;
        Ok(aliases
            .iter()
            // AWS's own (alias/aws/...) name AWS-managed keys.
            .filter(|a| !a.alias_name().is_some_and(|n| n.starts_with("alias/aws/")))
            .filter_map(|a| {
                let p = Props {
                    name: a.alias_name()?.to_string(),
                    target_key_id: a.target_key_id()?.to_string(),
                };
                Some(live(&SPEC, &p.name, &p, &[("arn", json!(a.alias_arn()))]))
            })
            .collect())
    }
}

#[async_trait]
impl Kind for Alias {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        Alias(c.kms.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        match q {
            Query::Ids(ids) => Ok(self
                .all()
                .await?
                .into_iter()
                .filter(|l| ids.contains(&l.id))
                .collect()),
            Query::All => self.all().await,
            Query::Owned(..) | Query::Inside(..) => Ok(vec![]),
        }
    }
    async fn create(&self, p: &Props, _: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        if !p.name.starts_with("alias/") || p.name.starts_with("alias/aws/") {
            return Err(Error::other(format!(
                "`{}`: an alias's name starts with alias/ (and not alias/aws/)",
                p.name
            )));
        }
        let made = call!(s, create "CreateAlias", create_alias()
            .alias_name(&p.name)
            .target_key_id(&p.target_key_id))
        .await;
        match made {
            Ok(_) => {}
            Err(e) if class_of(&e) == Class::Duplicate => {
                let same = self.all().await?.into_iter().any(|l| {
                    l.id == p.name && l.props["target_key_id"] == p.target_key_id.as_str()
                });
                if !same {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
        let found = self
            .describe(Query::Ids(std::slice::from_ref(&p.name)))
            .await?;
        let arn = found
            .first()
            .and_then(|l| l.outputs.get("arn").cloned())
            .unwrap_or_default();
        Ok(live(&SPEC, &p.name, p, &[("arn", arn)]))
    }
    async fn update(&self, id: &str, _: &Props, after: &Props, _: Duration) -> Result<Live> {
        let s = &self.0;
        call!(s, write "UpdateAlias", update_alias()
            .alias_name(id)
            .target_key_id(&after.target_key_id))
        .await?;
        let found = self.describe(Query::Ids(&[id.to_string()])).await?;
        let arn = found
            .first()
            .and_then(|l| l.outputs.get("arn").cloned())
            .unwrap_or_default();
        Ok(live(&SPEC, id, after, &[("arn", arn)]))
    }
    async fn delete(&self, id: &str, _: &Props, _: Duration) -> Result<()> {
        let s = &self.0;
        call!(s, delete "DeleteAlias", delete_alias().alias_name(id))
            .await
            .map(drop)
    }
}
