//! `ec2.route_table`: a route table, its routes and its subnet associations,
//! all authoritative: what the stack does not name is removed.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, ResourceType, RouteTable as Table};
use serde::{Deserialize, Serialize};

use super::{Ec2, PAGE, filter, owner_filter, sync_tags, tag_spec, tags_of};
use crate::aws::tags::Tags;
use crate::aws::{Clients, Kind, by_pages, live, no_id};
use crate::diag::{Error, Result};
use crate::kind::{KindSpec, Prop, TAGS, Ty, def, new, p, req};
use crate::provider::{Live, Wanted};

const ROUTE: &[Prop] = &[
    req(p("destination", Ty::Cidr, "destination CIDR block")),
    p("gateway_id", Ty::Str, "an internet gateway"),
    p("nat_gateway_id", Ty::Str, "a NAT gateway"),
];

static SPEC: KindSpec = KindSpec {
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
            tags: tags_of(x.tags()),
        },
        assoc,
    }
}

pub(crate) struct RouteTable(Ec2);

impl RouteTable {
    async fn describe_raw(&self, filters: Vec<Filter>) -> Result<Vec<Table>> {
        let s = &self.0;
        s.api
            .read("DescribeRouteTables", || {
                s.c.describe_route_tables()
                    .set_filters(Some(filters.clone()))
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
            })
            .await
    }

    async fn describe(&self, filters: Vec<Filter>) -> Result<Vec<Live>> {
        Ok(self
            .describe_raw(filters)
            .await?
            .iter()
            .map(|x| {
                live(
                    &SPEC,
                    x.route_table_id().unwrap_or_default(),
                    &now_of(x).props,
                    &[],
                )
            })
            .collect())
    }

    async fn now(&self, id: &str) -> Result<Option<Now>> {
        Ok(self
            .describe_raw(vec![filter("route-table-id", &[id.to_string()])])
            .await?
            .first()
            .map(now_of))
    }

    /// Makes routes and associations equal to `want`'s, then reads the table.
    async fn converge(&self, id: &str, want: &Props) -> Result<Live> {
        let now = self.settled(id).await?;
        self.routes(id, &now.props.routes, &want.routes).await?;
        let s = &self.0;
        for (subnet, assoc) in &now.assoc {
            if !want.subnet_ids.contains(subnet) {
                s.api
                    .delete("DisassociateRouteTable", || {
                        s.c.disassociate_route_table().association_id(assoc).send()
                    })
                    .await?;
            }
        }
        for subnet in want
            .subnet_ids
            .iter()
            .filter(|x| !now.assoc.contains_key(*x))
        {
            s.api
                .write("AssociateRouteTable", || {
                    s.c.associate_route_table()
                        .route_table_id(id)
                        .subnet_id(subnet)
                        .send()
                })
                .await?;
        }
        let after = self.settled(id).await?;
        Ok(live(&SPEC, id, &after.props, &[]))
    }

    /// The table, waiting out eventual consistency right after its create.
    async fn settled(&self, id: &str) -> Result<Now> {
        let start = std::time::Instant::now();
        loop {
            if let Some(n) = self.now(id).await? {
                return Ok(n);
            }
            if start.elapsed() >= self.0.api.settle() {
                return Err(Error::other(format!("route table {id} vanished")));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn routes(&self, id: &str, have: &[Route], want: &[Route]) -> Result<()> {
        let s = &self.0;
        for r in have
            .iter()
            .filter(|r| !want.iter().any(|w| w.destination == r.destination))
        {
            s.api
                .delete("DeleteRoute", || {
                    s.c.delete_route()
                        .route_table_id(id)
                        .destination_cidr_block(&r.destination)
                        .send()
                })
                .await?;
        }
        for w in want.iter().filter(|w| !have.contains(w)) {
            if have.iter().any(|r| r.destination == w.destination) {
                s.api
                    .write("ReplaceRoute", || {
                        s.c.replace_route()
                            .route_table_id(id)
                            .destination_cidr_block(&w.destination)
                            .set_gateway_id(w.gateway_id.clone())
                            .set_nat_gateway_id(w.nat_gateway_id.clone())
                            .send()
                    })
                    .await?;
            } else {
                s.api
                    .write("CreateRoute", || {
                        s.c.create_route()
                            .route_table_id(id)
                            .destination_cidr_block(&w.destination)
                            .set_gateway_id(w.gateway_id.clone())
                            .set_nat_gateway_id(w.nat_gateway_id.clone())
                            .send()
                    })
                    .await?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Kind for RouteTable {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        RouteTable(c.ec2.clone())
    }
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        by_pages(ids, PAGE, |page| async move {
            self.describe(vec![filter("route-table-id", &page)]).await
        })
        .await
    }
    async fn find_owned(&self, stack: &str, _: &[Wanted]) -> Result<Vec<Live>> {
        self.describe(vec![owner_filter(stack)]).await
    }
    async fn create(&self, p: &Props, _: Duration) -> Result<Live> {
        let s = &self.0;
        let r = s
            .api
            .create("CreateRouteTable", || {
                s.c.create_route_table()
                    .vpc_id(&p.vpc_id)
                    .tag_specifications(tag_spec(ResourceType::RouteTable, &p.tags))
                    .send()
            })
            .await?;
        let id = r
            .route_table()
            .and_then(|x| x.route_table_id())
            .ok_or_else(|| no_id("CreateRouteTable"))?;
        self.converge(id, p).await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        sync_tags(&self.0, id, &before.tags, &after.tags).await?;
        self.converge(id, after).await
    }
    async fn delete(&self, id: &str, _: &Props, _: Duration) -> Result<()> {
        let Some(now) = self.now(id).await? else {
            return Ok(());
        };
        let s = &self.0;
        for assoc in now.assoc.values() {
            s.api
                .delete("DisassociateRouteTable", || {
                    s.c.disassociate_route_table().association_id(assoc).send()
                })
                .await?;
        }
        s.api
            .delete("DeleteRouteTable", || {
                s.c.delete_route_table().route_table_id(id).send()
            })
            .await?;
        Ok(())
    }
}
