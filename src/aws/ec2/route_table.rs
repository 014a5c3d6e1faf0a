//! `ec2.route_table`: a route table, its routes and its subnet associations,
//! all authoritative: what the stack does not name is removed.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, ResourceType, RouteTable as Table};
use serde::{Deserialize, Serialize};

use super::{By, Ec2, filter, query, tag_spec};
use crate::aws::call::{call, pages};
use crate::aws::tags::{Tagging, Tags, from_sdk};
use crate::aws::{Clients, Create, Kind, Query, live, no_id};
use crate::diag::{Error, Result};
use crate::kind::{Container, Inside, KindSpec, Prop, TAGS, Ty, def, key, new, p, req};
use crate::provider::Live;

const ROUTE: &[Prop] = &[
    key(req(p("destination", Ty::Cidr, "destination CIDR block"))),
    p("gateway_id", Ty::Str, "an internet gateway"),
    p("nat_gateway_id", Ty::Str, "a NAT gateway"),
];

static SPEC: KindSpec = KindSpec {
    inside: Inside::Searched(Container::Vpc),
    owned_by_filter: true,
    refresh_cost: "1 DescribeRouteTables per 200 ids",
    ..KindSpec::new(
        "ec2.route_table",
        "A route table, its routes and its subnet associations (all authoritative).",
        &[
            req(new(p("vpc_id", Ty::Str, "the VPC"))),
            def(
                p("routes", Ty::ObjList(ROUTE), "routes besides the local one"),
                "[]",
            ),
            def(
                p(
                    "subnet_ids",
                    Ty::StrList { set: true },
                    "subnets associated",
                ),
                "[]",
            ),
            TAGS,
        ],
    )
};

/// How EC2 filters find its objects.
const BY: By = By {
    id: "route-table-id",
    vpc: None,
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    vpc_id: String,
    routes: Vec<Route>,
    subnet_ids: Vec<String>,
    tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Route {
    destination: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nat_gateway_id: Option<String>,
}

/// A table as AWS has it: its properties and its association ids.
struct Now {
    props: Props,
    /// subnet id -> association id
    assoc: BTreeMap<String, String>,
}

fn now_of(x: &Table) -> Now {
    let routes = x
        .routes()
        .iter()
        .filter(|r| r.gateway_id() != Some("local"))
        .filter(|r| r.origin().map(|o| o.as_str()) != Some("CreateRouteTable"))
        .filter_map(|r| {
            Some(Route {
                destination: r.destination_cidr_block()?.to_string(),
                gateway_id: r.gateway_id().map(str::to_string),
                nat_gateway_id: r.nat_gateway_id().map(str::to_string),
            })
        })
        .collect();
    let assoc: BTreeMap<String, String> = x
        .associations()
        .iter()
        .filter(|a| !a.main().unwrap_or(false))
        .filter_map(|a| {
            Some((
                a.subnet_id()?.to_string(),
                a.route_table_association_id()?.to_string(),
            ))
        })
        .collect();
    Now {
        props: Props {
            vpc_id: x.vpc_id().unwrap_or_default().into(),
            routes,
            subnet_ids: assoc.keys().cloned().collect(),
            tags: from_sdk(x.tags()),
        },
        assoc,
    }
}

pub(crate) struct RouteTable(Ec2);

impl RouteTable {
    async fn list_raw(&self, filters: Vec<Filter>) -> Result<Vec<Table>> {
        let s = &self.0;
        pages!(
            s,
            "DescribeRouteTables",
            describe_route_tables().set_filters(Some(filters.clone()))
        )
        .await
    }

    async fn list(&self, filters: Vec<Filter>) -> Result<Vec<Live>> {
        let all = self.list_raw(filters).await?;
        Ok(all.iter().map(|x| now_of(x).live(x)).collect())
    }

    /// The table as AWS has it now, waiting out eventual consistency right
    /// after its create; `None` when it is gone.
    async fn now(&self, id: &str, settle: bool) -> Result<Option<Now>> {
        let start = std::time::Instant::now();
        loop {
            let found = self
                .list_raw(vec![filter("route-table-id", &[id.to_string()])])
                .await?;
            if let Some(t) = found.first() {
                return Ok(Some(now_of(t)));
            }
            if !settle || start.elapsed() >= self.0.api.settle() {
                return Ok(None);
            }
            crate::interrupt::pause(
                Duration::from_millis(500),
                "waiting for a new route table to be seen",
            )
            .await?;
        }
    }

    /// Makes routes and associations equal to `want`'s, then reads the table.
    async fn converge(&self, id: &str, want: &Props) -> Result<Live> {
        let gone = || Error::other(format!("route table {id} vanished"));
        let now = self.now(id, true).await?.ok_or_else(gone)?;
        self.make(id, &now, want).await?;
        let after = self.now(id, true).await?.ok_or_else(gone)?;
        Ok(live(&SPEC, id, &after.props, &[]))
    }

    /// Changes the table from `now` to `want`: routes, then associations.
    async fn make(&self, id: &str, now: &Now, want: &Props) -> Result<()> {
        self.routes(id, &now.props.routes, &want.routes).await?;
        let s = &self.0;
        for (_, assoc) in now
            .assoc
            .iter()
            .filter(|(k, _)| !want.subnet_ids.contains(k))
        {
            call!(s, delete "DisassociateRouteTable", disassociate_route_table().association_id(assoc))
                .await?;
        }
        for subnet in want
            .subnet_ids
            .iter()
            .filter(|x| !now.assoc.contains_key(*x))
        {
            call!(s, ensure "AssociateRouteTable", associate_route_table()
                .route_table_id(id)
                .subnet_id(subnet))
            .await?;
        }
        Ok(())
    }

    async fn routes(&self, id: &str, have: &[Route], want: &[Route]) -> Result<()> {
        let s = &self.0;
        let wanted = |r: &Route| want.iter().any(|w| w.destination == r.destination);
        for r in have.iter().filter(|r| !wanted(r)) {
            call!(s, delete "DeleteRoute", delete_route()
                .route_table_id(id)
                .destination_cidr_block(&r.destination))
            .await?;
        }
        for w in want.iter().filter(|w| !have.contains(w)) {
            let (gw, nat) = (w.gateway_id.clone(), w.nat_gateway_id.clone());
            if have.iter().any(|r| r.destination == w.destination) {
                call!(s, write "ReplaceRoute", replace_route()
                    .route_table_id(id)
                    .destination_cidr_block(&w.destination)
                    .set_gateway_id(gw.clone())
                    .set_nat_gateway_id(nat.clone()))
                .await?;
            } else {
                call!(s, ensure "CreateRoute", create_route()
                    .route_table_id(id)
                    .destination_cidr_block(&w.destination)
                    .set_gateway_id(gw.clone())
                    .set_nat_gateway_id(nat.clone()))
                .await?;
            }
        }
        Ok(())
    }
}

impl Now {
    fn live(&self, t: &Table) -> Live {
        live(
            &SPEC,
            t.route_table_id().unwrap_or_default(),
            &self.props,
            &[],
        )
    }
}

#[async_trait]
impl Kind for RouteTable {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        RouteTable(c.ec2.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        match q {
            Query::All => Ok(vec![]),
            // A VPC's main route table is AWS's.
            Query::Inside(Container::Vpc, vpcs) => {
                let all = self.list_raw(vec![filter("vpc-id", vpcs)]).await?;
                Ok(all
                    .iter()
                    .filter(|t| !t.associations().iter().any(|a| a.main() == Some(true)))
                    .map(|x| now_of(x).live(x))
                    .collect())
            }
            q => query(q, BY, |f| self.list(f)).await,
        }
    }
    async fn create(&self, p: &Props, c: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        let tags = tag_spec(ResourceType::RouteTable, &p.tags);
        // The token makes a repeat the same create.
        let r = call!(s, write "CreateRouteTable", create_route_table()
            .vpc_id(&p.vpc_id)
            .client_token(c.token)
            .tag_specifications(tags.clone()))
        .await?;
        let made = r.route_table().ok_or_else(|| no_id("CreateRouteTable"))?;
        let id = made
            .route_table_id()
            .ok_or_else(|| no_id("CreateRouteTable"))?;
        // The answer is the new table (its local route, no associations):
        // the routes and associations are made from it, each call naming
        // the new id retried while AWS does not see it yet; every one
        // succeeded, so the table is as asked, and not read back.
        let now = now_of(made);
        self.make(id, &now, p).await?;
        let mut done = now.props;
        done.routes = p.routes.clone();
        done.subnet_ids = p.subnet_ids.clone();
        Ok(live(&SPEC, id, &done, &[]))
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        self.0.sync_tags(id, &before.tags, &after.tags).await?;
        self.converge(id, after).await
    }
    async fn delete(&self, id: &str, _: &Props, _: Duration) -> Result<()> {
        let Some(now) = self.now(id, false).await? else {
            return Ok(());
        };
        let s = &self.0;
        for assoc in now.assoc.values() {
            call!(s, delete "DisassociateRouteTable", disassociate_route_table().association_id(assoc))
                .await?;
        }
        call!(s, delete "DeleteRouteTable", delete_route_table().route_table_id(id))
            .await
            .map(drop)
    }
}
