//! `shield.protection`: a Shield Advanced protection.
//!
//! provision never subscribes (a paid, one-year commitment): without a
//! subscription, `create_blocker` says so and the protection is not attempted.
//! The subscription is read with DescribeSubscription (GetSubscriptionState
//! would do, but moto lacks it; both are read-only).

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_shield::Client;
use aws_sdk_shield::types::{Protection as P, Tag};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::aws::call::{call, pages};
use crate::aws::errors::has_code;
use crate::aws::tags::{self, Tagging, Tags, owns};
use crate::aws::{
    Clients, Create, Kind, Query, Svc, each, live, no_id, one_by_one_or_all, read_one,
};
use crate::diag::Result;
use crate::kind::{KindSpec, TAGS, Takes, Ty, new, p, req};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    outputs: &["id", "arn"],
    refresh_cost: "1 DescribeProtection per protection (up to 10; beyond, 1 ListProtections per 100 in the account) + 1 ListTagsForResource per protection",
    takes: Takes::secs(5, 5, 5),
    ..KindSpec::new(
        "shield.protection",
        "A Shield Advanced protection. Needs a Shield Advanced subscription (paid, one-year \
         commitment): provision never subscribes; without one the plan says so and does not \
         attempt the protection.",
        &[
            req(new(p("name", Ty::Str, "protection name"))),
            req(new(p(
                "resource_arn",
                Ty::Str,
                "the load balancer or hosted zone",
            ))),
            TAGS,
        ],
    )
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    name: String,
    resource_arn: String,
    tags: Tags,
}

tags::sdk_tag!(optional Tag);

tags::tagging!(Svc<Client>, by resource_arn,
    untag "UntagResource" untag_resource,
    tag "TagResource" tag_resource,
    read "ListTagsForResource" list_tags_for_resource, |t| t.tags(),
);

pub(crate) struct Protection(pub(crate) Svc<Client>);

impl Protection {
    /// Every protection, or only those with these ids (read one by one when
    /// few, so the cost does not grow with the account); tags cost a call
    /// each, at once.
    async fn all(&self, only: Option<&[String]>) -> Result<Vec<Live>> {
        let s = &self.0;
        let every = || async {
            match pages!(s, "ListProtections", list_protections()).await {
                // No protection at all is answered as "not found".
                Err(e) if has_code(&e, &["ResourceNotFoundException"]) => Ok(vec![]),
                r => r,
            }
        };
        let items: Vec<P> = match only {
            Some(ids) => {
                let one = |id: String| async move {
                    let r = call!(s, read "DescribeProtection", describe_protection().protection_id(&id))
                        .await?;
                    Ok(r.protection().into_iter().cloned().collect())
                };
                one_by_one_or_all(ids, one, every, |p: &P| p.id().unwrap_or_default()).await?
            }
            None => every().await?,
        };
        each(items.iter().map(|p| self.live_of(p)).collect::<Vec<_>>()).await
    }

    async fn live_of(&self, p: &P) -> Result<Live> {
        let s = &self.0;
        let arn = p.protection_arn().unwrap_or_default();
        let props = Props {
            name: p.name().unwrap_or_default().into(),
            resource_arn: p.resource_arn().unwrap_or_default().into(),
            tags: s.tags(arn).await?,
        };
        Ok(live(
            &SPEC,
            p.id().unwrap_or_default(),
            &props,
            &[("arn", json!(arn))],
        ))
    }
}

fn no_subscription() -> String {
    "this account has no Shield Advanced subscription; provision never subscribes (a paid, \
     one-year commitment): subscribe in the Shield console, then plan again"
        .to_string()
}

#[async_trait]
impl Kind for Protection {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        Protection(c.shield.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        match q {
            Query::Ids(ids) => self.all(Some(ids)).await,
            Query::Owned(stack, _) => {
                let all = self.all(None).await?;
                Ok(all.into_iter().filter(|l| owns(stack, l)).collect())
            }
            Query::All | Query::Inside(..) => Ok(vec![]),
        }
    }
    async fn create_blocker(&self, _: &Props) -> Result<Option<String>> {
        let s = &self.0;
        match call!(s, read "DescribeSubscription", describe_subscription()).await {
            Ok(r) if r.subscription().is_some() => Ok(None),
            Ok(_) => Ok(Some(no_subscription())),
            Err(e) if has_code(&e, &["ResourceNotFoundException"]) => Ok(Some(no_subscription())),
            Err(e) => Err(e),
        }
    }
    async fn create(&self, p: &Props, _: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        let r = call!(s, create "CreateProtection", create_protection()
            .name(&p.name)
            .resource_arn(&p.resource_arn)
            .set_tags(Some(tags::to_sdk(&p.tags))))
        .await?;
        let id = r.protection_id().ok_or_else(|| no_id("CreateProtection"))?;
        read_one(self, id).await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        let s = &self.0;
        let now = read_one(self, id).await?;
        let arn = now.outputs["arn"].as_str().unwrap_or_default();
        s.sync_tags(arn, &before.tags, &after.tags).await?;
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Props, _: Duration) -> Result<()> {
        let s = &self.0;
        call!(s, delete "DeleteProtection", delete_protection().protection_id(id)).await?;
        Ok(())
    }
}
