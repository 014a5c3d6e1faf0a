//! A named group of subnets with a description and tags. RDS's DB subnet
//! group and ElastiCache's cache subnet group behave alike: each service
//! supplies its calls (a [`Service`]); the kind's logic is here, once. The
//! group's name is its id.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::tags::{Tagging, Tags, owns};
use super::{Clients, Create, Kind, Query, arn_of, each, live, one_by_one_or_all, read_one};
use crate::diag::Result;
use crate::kind::{KindSpec, Prop, TAGS, Ty, def, new, p, req};
use crate::provider::Live;

/// The properties of every subnet group kind, with the name's own doc.
pub(crate) const fn props(name_doc: &'static str) -> [Prop; 4] {
    [
        req(new(p("name", Ty::Str, name_doc))),
        def(
            p("description", Ty::Str, "description"),
            "\"Managed by provision\"",
        ),
        req(p(
            "subnet_ids",
            Ty::StrList { set: true },
            "subnets in several AZs",
        )),
        TAGS,
    ]
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub name: String,
    pub description: String,
    pub subnet_ids: Vec<String>,
    pub tags: Tags,
}

/// A group as a service lists it.
pub(crate) struct Group {
    pub props: Props,
    pub arn: String,
}

/// One service's subnet group calls.
#[async_trait]
pub(crate) trait Service: Send + Sync + 'static {
    const SPEC: &'static KindSpec;
    fn new(c: &Clients) -> Self;
    /// The group with this name (an error when it does not exist), or the
    /// region's groups (the lists take no other filter), tags left empty.
    async fn list(&self, name: Option<&str>) -> Result<Vec<Group>>;
    /// The service's tag calls (the lists carry no tags: a call each).
    fn tagging(&self) -> &dyn Tagging;
    async fn create(&self, p: &Props) -> Result<()>;
    async fn modify(&self, p: &Props) -> Result<()>;
    async fn delete(&self, name: &str) -> Result<()>;
}

pub(crate) struct SubnetGroup<S>(pub(crate) S);

impl<S: Service> SubnetGroup<S> {
    /// The groups with these names, with their tags. A few names are read
    /// one by one (the cost does not grow with the account's other groups);
    /// many, or all (`None`), by listing the region.
    async fn named(&self, names: Option<&[String]>) -> Result<Vec<Live>> {
        let groups: Vec<Group> = match names {
            Some(n) => {
                let one = |name: String| async move { self.0.list(Some(&name)).await };
                one_by_one_or_all(n, one, || self.0.list(None), |g| &g.props.name).await?
            }
            None => self.0.list(None).await?,
        };
        let tags = each(
            groups
                .iter()
                .map(|g| self.0.tagging().tags(&g.arn))
                .collect::<Vec<_>>(),
        )
        .await?;
        Ok(groups
            .into_iter()
            .zip(tags)
            .map(|(mut g, t)| {
                g.props.tags = t;
                live(S::SPEC, &g.props.name, &g.props, &[("arn", json!(g.arn))])
            })
            .collect())
    }
}

#[async_trait]
impl<S: Service> Kind for SubnetGroup<S> {
    type Props = Props;
    const SPEC: &'static KindSpec = S::SPEC;
    fn new(c: &Clients) -> Self {
        SubnetGroup(S::new(c))
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        match q {
            Query::Ids(ids) => self.named(Some(ids)).await,
            // Names are the identity; with none wanted (drift), look at every group.
            Query::Owned(stack, wanted) => {
                let names = super::wanted_names(wanted, "name");
                let found = self.named(names.as_deref()).await?;
                Ok(found.into_iter().filter(|l| owns(stack, l)).collect())
            }
            Query::All | Query::Inside(..) => Ok(vec![]),
        }
    }
    async fn create(&self, p: &Props, _: &Create<'_>) -> Result<Live> {
        self.0.create(p).await?;
        read_one(self, &p.name).await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        if before.subnet_ids != after.subnet_ids || before.description != after.description {
            self.0.modify(after).await?;
        }
        if before.tags != after.tags {
            let arn = arn_of(self, id).await?;
            self.0
                .tagging()
                .sync_tags(&arn, &before.tags, &after.tags)
                .await?;
        }
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Props, _: Duration) -> Result<()> {
        self.0.delete(id).await
    }
}
