//! `iam.role`: a role with its trust policy, inline policies and attached
//! managed policies. One GetAccountAuthorizationDetails (a page per 1,000
//! roles) reads every role of the account with all of that and its tags,
//! where reading roles one by one would cost four calls and more a role.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_iam::types::{EntityType, RoleDetail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Iam, RoleTags};
use crate::aws::call::{answers, call};
use crate::aws::tags::{self, Tagging, Tags};
use crate::aws::{Clients, Create, Kind, Query, live};
use crate::diag::Result;
use crate::kind::document;
use crate::kind::{KindSpec, Prop, TAGS, Takes, Ty, key, new, p, req};
use crate::provider::Live;
use crate::stack::TAG_STACK;

const INLINE: &[Prop] = &[
    key(req(p("name", Ty::Str, "the policy's name in the role"))),
    req(p("document", Ty::Policy, "the policy document")),
];

static SPEC: KindSpec = KindSpec {
    outputs: &["id", "arn", "name"],
    refresh_cost: "1 GetAccountAuthorizationDetails per 1,000 roles of the account (trust, inline and managed policies and tags in one read)",
    // IAM is eventually consistent: a new role is refused by other
    // services for seconds.
    takes: Takes::secs(3, 2, 2),
    in_use: 60,
    ..KindSpec::new(
        "iam.role",
        "An IAM role: who may assume it (its trust policy) and what it may do (inline and managed policies).",
        &[
            req(new(p(
                "name",
                Ty::Str,
                "the role's name, unique in the account",
            ))),
            req(p(
                "assume_role_policy",
                Ty::Policy,
                "the trust policy: who may assume the role",
            )),
            p("policies", Ty::ObjList(INLINE), "inline policies, by name"),
            p(
                "managed_policy_arns",
                Ty::StrList { set: true },
                "managed policies attached to the role",
            ),
            TAGS,
        ],
    )
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Inline {
    name: String,
    document: Value,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    name: String,
    assume_role_policy: Value,
    #[serde(default)]
    policies: Vec<Inline>,
    #[serde(default)]
    managed_policy_arns: Vec<String>,
    tags: Tags,
}

pub(crate) struct Role(Iam);

/// A role as its detail reads: what the stack manages of it, and its ARN.
fn from_detail(r: &RoleDetail) -> Option<Live> {
    let name = r.role_name()?;
    let mut policies: Vec<Inline> = r
        .role_policy_list()
        .iter()
        .filter_map(|p| {
            Some(Inline {
                name: p.policy_name()?.to_string(),
                document: document::from_aws(p.policy_document()?),
            })
        })
        .collect();
    policies.sort_by(|a, b| a.name.cmp(&b.name));
    let mut managed: Vec<String> = r
        .attached_managed_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_string))
        .collect();
    managed.sort();
    let p = Props {
        name: name.to_string(),
        assume_role_policy: r
            .assume_role_policy_document()
            .map_or_else(document::none, document::from_aws),
        policies,
        managed_policy_arns: managed,
        tags: tags::from_sdk(r.tags()),
    };
    let arn = r.arn().unwrap_or_default();
    Some(live(
        &SPEC,
        name,
        &p,
        &[("arn", json!(arn)), ("name", json!(name))],
    ))
}

impl Role {
    /// Every role of the account, read in full.
    async fn all(&self) -> Result<Vec<Live>> {
        let s = &self.0;
        let pages = answers!(
            s,
            "GetAccountAuthorizationDetails",
            get_account_authorization_details().filter(EntityType::Role)
        )
        .await?;
        Ok(pages
            .iter()
            .flat_map(|p| p.role_detail_list())
            // Roles AWS makes for its services are no one's to manage here.
            .filter(|r| {
                !r.path()
                    .is_some_and(|p| p.starts_with("/aws-service-role/"))
            })
            .filter_map(from_detail)
            .collect())
    }

    async fn put_inline(&self, role: &str, p: &Inline) -> Result<()> {
        let s = &self.0;
        let doc = document::to_aws(&p.document);
        call!(s, write "PutRolePolicy", put_role_policy()
            .role_name(role)
            .policy_name(&p.name)
            .policy_document(&doc))
        .await
        .map(drop)
    }

    async fn attach(&self, role: &str, arn: &str) -> Result<()> {
        let s = &self.0;
        call!(s, write "AttachRolePolicy", attach_role_policy().role_name(role).policy_arn(arn))
            .await
            .map(drop)
    }

    async fn detach(&self, role: &str, arn: &str) -> Result<()> {
        let s = &self.0;
        call!(s, delete "DetachRolePolicy", detach_role_policy().role_name(role).policy_arn(arn))
            .await
            .map(drop)
    }

    async fn delete_inline(&self, role: &str, name: &str) -> Result<()> {
        let s = &self.0;
        call!(s, delete "DeleteRolePolicy", delete_role_policy().role_name(role).policy_name(name))
            .await
            .map(drop)
    }

    /// Makes the role's policies go from `before` to `after`: inline ones
    /// put or deleted by name, managed ones attached or detached.
    async fn sync_policies(&self, role: &str, before: &Props, after: &Props) -> Result<()> {
        let was: BTreeMap<&str, &Inline> = before
            .policies
            .iter()
            .map(|p| (p.name.as_str(), p))
            .collect();
        for p in &after.policies {
            if was.get(p.name.as_str()) != Some(&p) {
                self.put_inline(role, p).await?;
            }
        }
        for p in &before.policies {
            if !after.policies.iter().any(|a| a.name == p.name) {
                self.delete_inline(role, &p.name).await?;
            }
        }
        for arn in &after.managed_policy_arns {
            if !before.managed_policy_arns.contains(arn) {
                self.attach(role, arn).await?;
            }
        }
        for arn in &before.managed_policy_arns {
            if !after.managed_policy_arns.contains(arn) {
                self.detach(role, arn).await?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Kind for Role {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        Role(c.iam.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        match q {
            Query::Ids(ids) => {
                let all = self.all().await?;
                Ok(all.into_iter().filter(|l| ids.contains(&l.id)).collect())
            }
            // By the ownership tag, or a wanted name without one (made by
            // an attempt whose answer was lost, before its tags were seen).
            Query::Owned(stack, wanted) => {
                let all = self.all().await?;
                Ok(all
                    .into_iter()
                    .filter_map(|mut l| {
                        let owner = l.props["tags"].get(TAG_STACK).cloned();
                        if owner.as_ref().is_some_and(|o| o == stack) {
                            return Some(l);
                        }
                        let w = wanted.iter().find(|w| w.props["name"] == l.id.as_str())?;
                        owner.is_none().then(|| {
                            l.claimed_by = Some(w.address.clone());
                            l
                        })
                    })
                    .collect())
            }
            Query::All => self.all().await,
            Query::Inside(..) => Ok(vec![]),
        }
    }
    async fn create(&self, p: &Props, _: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        let trust = document::to_aws(&p.assume_role_policy);
        let t: Vec<aws_sdk_iam::types::Tag> = tags::to_sdk(&p.tags);
        let r = call!(s, create "CreateRole", create_role()
            .role_name(&p.name)
            .assume_role_policy_document(&trust)
            .set_tags(Some(t.clone())))
        .await?;
        let arn = r.role().map(|r| r.arn().to_string()).unwrap_or_default();
        let none = Props {
            name: p.name.clone(),
            assume_role_policy: p.assume_role_policy.clone(),
            policies: vec![],
            managed_policy_arns: vec![],
            tags: p.tags.clone(),
        };
        self.sync_policies(&p.name, &none, p).await?;
        // IAM's reads lag its writes: the answer and the properties are the
        // object as made.
        Ok(live(
            &SPEC,
            &p.name,
            p,
            &[("arn", json!(arn)), ("name", json!(p.name))],
        ))
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        let s = &self.0;
        if before.assume_role_policy != after.assume_role_policy {
            let trust = document::to_aws(&after.assume_role_policy);
            call!(s, write "UpdateAssumeRolePolicy", update_assume_role_policy()
                .role_name(id)
                .policy_document(&trust))
            .await?;
        }
        self.sync_policies(id, before, after).await?;
        RoleTags(&self.0)
            .sync_tags(id, &before.tags, &after.tags)
            .await?;
        // The ARN from the role alone, not from a read of every role.
        let r = call!(s, read "GetRole", get_role().role_name(id)).await?;
        let arn = r.role().map(|r| r.arn().to_string()).unwrap_or_default();
        Ok(live(
            &SPEC,
            id,
            after,
            &[("arn", json!(arn)), ("name", json!(id))],
        ))
    }
    async fn delete(&self, id: &str, _: &Props, _: Duration) -> Result<()> {
        let s = &self.0;
        // What is attached now, not what was recorded: a policy added by
        // hand would keep the role from going.
        let inline =
            call!(s, delete "ListRolePolicies", list_role_policies().role_name(id)).await?;
        for name in inline.policy_names() {
            self.delete_inline(id, name).await?;
        }
        let attached =
            call!(s, delete "ListAttachedRolePolicies", list_attached_role_policies().role_name(id))
                .await?;
        for arn in attached
            .attached_policies()
            .iter()
            .filter_map(|a| a.policy_arn())
        {
            self.detach(id, arn).await?;
        }
        call!(s, delete "DeleteRole", delete_role().role_name(id))
            .await
            .map(drop)
    }
}
