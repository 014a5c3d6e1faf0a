//! `iam.instance_profile`: what an EC2 instance carries to assume a role.
//! Read one call each (GetInstanceProfile: IAM's listings leave tags out).

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Iam, ProfileTags};
use crate::aws::call::call;
use crate::aws::errors::{Class, class_of};
use crate::aws::tags::{self, Tagging, Tags};
use crate::aws::{Clients, Create, Kind, Query, each, live};
use crate::diag::Result;
use crate::kind::{KindSpec, TAGS, Takes, Ty, new, p, req};
use crate::provider::Live;
use crate::stack::TAG_STACK;

static SPEC: KindSpec = KindSpec {
    outputs: &["id", "arn", "name"],
    refresh_cost: "1 GetInstanceProfile per profile",
    takes: Takes::secs(3, 2, 2),
    in_use: 60,
    ..KindSpec::new(
        "iam.instance_profile",
        "An instance profile: the role an EC2 instance (its launch template) assumes.",
        &[
            req(new(p(
                "name",
                Ty::Str,
                "the profile's name, unique in the account",
            ))),
            p("role", Ty::Str, "the name of the role it carries"),
            TAGS,
        ],
    )
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    role: Option<String>,
    tags: Tags,
}

pub(crate) struct InstanceProfile(Iam);

impl InstanceProfile {
    async fn read(&self, name: &str) -> Result<Option<Live>> {
        let s = &self.0;
        let r = match call!(s, read "GetInstanceProfile", get_instance_profile().instance_profile_name(name))
            .await
        {
            Ok(r) => r,
            Err(e) if class_of(&e) == Class::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(ip) = r.instance_profile() else {
            return Ok(None);
        };
        let p = Props {
            name: ip.instance_profile_name().to_string(),
            role: ip.roles().first().map(|r| r.role_name().to_string()),
            tags: tags::from_sdk(ip.tags()),
        };
        Ok(Some(live(
            &SPEC,
            name,
            &p,
            &[("arn", json!(ip.arn())), ("name", json!(name))],
        )))
    }

    async fn add_role(&self, name: &str, role: &str) -> Result<()> {
        let s = &self.0;
        call!(s, write "AddRoleToInstanceProfile", add_role_to_instance_profile()
            .instance_profile_name(name)
            .role_name(role))
        .await
        .map(drop)
    }

    async fn remove_role(&self, name: &str, role: &str) -> Result<()> {
        let s = &self.0;
        call!(s, delete "RemoveRoleFromInstanceProfile", remove_role_from_instance_profile()
            .instance_profile_name(name)
            .role_name(role))
        .await
        .map(drop)
    }
}

#[async_trait]
impl Kind for InstanceProfile {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        InstanceProfile(c.iam.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        match q {
            Query::Ids(ids) => Ok(each(ids.iter().map(|n| self.read(n)).collect::<Vec<_>>())
                .await?
                .into_iter()
                .flatten()
                .collect()),
            // By the names the stack wants: this stack's, or untagged (made
            // by an attempt whose answer was lost).
            Query::Owned(stack, wanted) => {
                let names: Vec<(&str, &str)> = wanted
                    .iter()
                    .filter_map(|w| Some((w.props["name"].as_str()?, w.address.as_str())))
                    .collect();
                let found =
                    each(names.iter().map(|(n, _)| self.read(n)).collect::<Vec<_>>()).await?;
                Ok(found
                    .into_iter()
                    .zip(names)
                    .filter_map(|(l, (_, address))| {
                        let mut l = l?;
                        match l.props["tags"].get(TAG_STACK) {
                            Some(o) if o == stack => Some(l),
                            Some(_) => None,
                            None => {
                                l.claimed_by = Some(address.to_string());
                                Some(l)
                            }
                        }
                    })
                    .collect())
            }
            Query::All | Query::Inside(..) => Ok(vec![]),
        }
    }
    async fn create(&self, p: &Props, _: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        let t: Vec<aws_sdk_iam::types::Tag> = tags::to_sdk(&p.tags);
        let r = call!(s, create "CreateInstanceProfile", create_instance_profile()
            .instance_profile_name(&p.name)
            .set_tags(Some(t.clone())))
        .await?;
        if let Some(role) = &p.role {
            self.add_role(&p.name, role).await?;
        }
        let arn = r
            .instance_profile()
            .map(|i| i.arn().to_string())
            .unwrap_or_default();
        Ok(live(
            &SPEC,
            &p.name,
            p,
            &[("arn", json!(arn)), ("name", json!(p.name))],
        ))
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        if before.role != after.role {
            if let Some(old) = &before.role {
                self.remove_role(id, old).await?;
            }
            if let Some(new) = &after.role {
                self.add_role(id, new).await?;
            }
        }
        ProfileTags(&self.0)
            .sync_tags(id, &before.tags, &after.tags)
            .await?;
        let arn = self
            .read(id)
            .await?
            .and_then(|l| l.outputs.get("arn").cloned())
            .unwrap_or_default();
        Ok(live(&SPEC, id, after, &[("arn", arn), ("name", json!(id))]))
    }
    async fn delete(&self, id: &str, _: &Props, _: Duration) -> Result<()> {
        let s = &self.0;
        // The roles it carries now, whoever added them.
        if let Some(l) = self.read(id).await?
            && let Some(role) = l.props["role"].as_str()
        {
            self.remove_role(id, role).await?;
        }
        call!(s, delete "DeleteInstanceProfile", delete_instance_profile().instance_profile_name(id))
            .await
            .map(drop)
    }
}
