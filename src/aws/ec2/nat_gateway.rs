//! `ec2.nat_gateway`: a NAT gateway in a subnet, with an Elastic IP when
//! public. Creating one takes minutes on AWS: create waits for `available`
//! and fails at once on `failed`; delete waits for `deleted`.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    ConnectivityType, Filter, NatGateway as Nat, NatGatewayState, ResourceType,
};
use serde::{Deserialize, Serialize};

use super::{By, Ec2, filter, query, tag_spec};
use crate::aws::call::{call, pages};
use crate::aws::tags::{Tagging, Tags, from_sdk};
use crate::aws::wait::{self, Seen};
use crate::aws::{Clients, Create, Kind, Query, live, no_id, read_one};
use crate::diag::Result;
use crate::kind::{Container, Inside, KindSpec, TAGS, Takes, Ty, def, new, p, req};
use crate::provider::Live;

static SPEC: KindSpec = KindSpec {
    inside: Inside::Searched(Container::Vpc),
    outputs: &["id", "network_interface_id"],
    owned_by_filter: true,
    waits: "create until `available` (fails at once on `failed`, with AWS\'s failure message); delete until `deleted`.",
    refresh_cost: "1 DescribeNatGateways per 200 ids",
    // A NAT gateway is pending for one to two minutes and takes about a minute to go.
    takes: Takes::secs(120, 1, 60),
    ..KindSpec::new(
        "ec2.nat_gateway",
        "A NAT gateway in a subnet, with an Elastic IP when public.",
        &[
            req(new(p("subnet_id", Ty::Str, "the (public) subnet"))),
            new(p(
                "allocation_id",
                Ty::Str,
                "the Elastic IP's allocation id",
            )),
            def(
                new(p("connectivity_type", Ty::Str, "public or private")),
                "\"public\"",
            ),
            TAGS,
        ],
    )
};

/// How EC2 filters find its objects.
const BY: By = By {
    id: "nat-gateway-id",
    vpc: Some("vpc-id"),
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    subnet_id: String,
    allocation_id: Option<String>,
    connectivity_type: String,
    tags: Tags,
}

pub(crate) struct NatGateway(Ec2);

fn live_of(x: &Nat) -> Live {
    let p = Props {
        subnet_id: x.subnet_id().unwrap_or_default().into(),
        allocation_id: x
            .nat_gateway_addresses()
            .first()
            .and_then(|a| a.allocation_id())
            .map(str::to_string),
        connectivity_type: x
            .connectivity_type()
            .map(|c| c.as_str())
            .unwrap_or("public")
            .into(),
        tags: from_sdk(x.tags()),
    };
    let eni = x
        .nat_gateway_addresses()
        .first()
        .and_then(|a| a.network_interface_id());
    let outputs = [("network_interface_id", serde_json::json!(eni))];
    live(&SPEC, x.nat_gateway_id().unwrap_or_default(), &p, &outputs)
}

fn state(x: &Nat) -> NatGatewayState {
    x.state().cloned().unwrap_or(NatGatewayState::Pending)
}

impl NatGateway {
    /// Every NAT gateway matching, deleted ones included.
    async fn list_raw(&self, filters: Vec<Filter>) -> Result<Vec<Nat>> {
        let s = &self.0;
        pages!(
            s,
            "DescribeNatGateways",
            describe_nat_gateways().set_filter(Some(filters.clone()))
        )
        .await
    }

    async fn list(&self, filters: Vec<Filter>) -> Result<Vec<Live>> {
        use NatGatewayState::{Deleted, Deleting, Failed};
        let all = self.list_raw(filters).await?;
        let alive = all
            .iter()
            .filter(|x| !matches!(state(x), Deleted | Deleting | Failed));
        Ok(alive.map(live_of).collect())
    }

    async fn one(&self, id: &str) -> Result<Option<Nat>> {
        let mut found = self
            .list_raw(vec![filter("nat-gateway-id", &[id.to_string()])])
            .await?;
        Ok(found.pop())
    }

    /// AWS frees the Elastic IP as the gateway is deleted; the emulator never
    /// does (a gap of moto's): release an association left on the gateway's
    /// own interface, so a new gateway can take the address. A no-op on AWS.
    async fn free_address(&self, alloc: &str, eni: Option<&str>) -> Result<()> {
        let s = &self.0;
        let r =
            call!(s, read "DescribeAddresses", describe_addresses().allocation_ids(alloc)).await?;
        for a in r.addresses() {
            if let (Some(assoc), Some(on)) = (a.association_id(), a.network_interface_id())
                && eni == Some(on)
            {
                call!(s, delete "DisassociateAddress", disassociate_address().association_id(assoc))
                    .await?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Kind for NatGateway {
    type Props = Props;
    const SPEC: &'static KindSpec = &SPEC;
    fn new(c: &Clients) -> Self {
        NatGateway(c.ec2.clone())
    }
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>> {
        query(q, BY, |f| self.list(f)).await
    }
    async fn create(&self, p: &Props, c: &Create<'_>) -> Result<Live> {
        let s = &self.0;
        // One token for every attempt, in this run and the next: AWS itself
        // never makes a second gateway.
        let token = c.token;
        let kind = ConnectivityType::from(p.connectivity_type.as_str());
        let r = call!(s, write "CreateNatGateway", create_nat_gateway()
            .subnet_id(&p.subnet_id)
            .set_allocation_id(p.allocation_id.clone())
            .connectivity_type(kind.clone())
            .client_token(token)
            .tag_specifications(tag_spec(ResourceType::Natgateway, &p.tags)))
        .await?;
        let id = r
            .nat_gateway()
            .and_then(|x| x.nat_gateway_id())
            .ok_or_else(|| no_id("CreateNatGateway"))?;
        self.ready(id, c.timeout).await
    }
    async fn ready(&self, id: &str, timeout: Duration) -> Result<Live> {
        let what = format!("NAT gateway {id} to become available");
        wait::until(&what, timeout, || async {
            Ok(match self.one(id).await? {
                None => Seen::Pending("not visible yet".into()),
                Some(x) => match state(&x) {
                    NatGatewayState::Available => Seen::Ready(live_of(&x)),
                    NatGatewayState::Failed => {
                        Seen::Failed(x.failure_message().unwrap_or("no reason given").into())
                    }
                    other => Seen::Pending(other.as_str().into()),
                },
            })
        })
        .await
    }
    async fn update(&self, id: &str, before: &Props, after: &Props, _: Duration) -> Result<Live> {
        self.0.sync_tags(id, &before.tags, &after.tags).await?;
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, p: &Props, timeout: Duration) -> Result<()> {
        let Some(before) = self.one(id).await? else {
            return Ok(());
        };
        let eni = before
            .nat_gateway_addresses()
            .first()
            .and_then(|a| a.network_interface_id());
        let s = &self.0;
        call!(s, delete "DeleteNatGateway", delete_nat_gateway().nat_gateway_id(id)).await?;
        wait::gone(&format!("NAT gateway {id}"), timeout, || async {
            let st = self.one(id).await?.as_ref().map(state);
            Ok(st.is_some_and(|st| st != NatGatewayState::Deleted))
        })
        .await?;
        match &p.allocation_id {
            Some(alloc) => self.free_address(alloc, eni).await,
            None => Ok(()),
        }
    }
}
