//! EC2 networking kinds: VPC, subnet, internet gateway, Elastic IP, NAT
//! gateway, route table, security group.
//!
//! Reads are batched: one Describe call with an id filter per page (filters
//! never fail on ids that are gone, unlike the `*Ids` parameters). Every
//! create tags in the create call itself (TagSpecifications).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, ConnectivityType, DomainType, Filter, IpPermission, IpRange,
    NatGatewayState, ResourceType, Tag, TagSpecification, UserIdGroupPair, VpcAttributeName,
};
use serde_json::{Map, Value, json};

use super::{Resource, b, err, live_of, read_one, s, wait_for};
use crate::diag::{Error, Result};
use crate::provider::{Live, Wanted};
use crate::stack::TAG_STACK;

/// Ids per Describe call: AWS accepts up to 1000 filter values; 200 keeps
/// requests small.
pub(super) const PAGE: usize = 200;

pub(super) fn register(c: &Client, kinds: &mut HashMap<&'static str, Box<dyn Resource>>) {
    kinds.insert("ec2.vpc", Box::new(Vpc(c.clone())));
    kinds.insert("ec2.subnet", Box::new(Subnet(c.clone())));
    kinds.insert("ec2.internet_gateway", Box::new(Igw(c.clone())));
    kinds.insert("ec2.eip", Box::new(Eip(c.clone())));
    kinds.insert("ec2.nat_gateway", Box::new(Nat(c.clone())));
    kinds.insert("ec2.route_table", Box::new(RouteTable(c.clone())));
    kinds.insert("ec2.security_group", Box::new(SecurityGroup(c.clone())));
}

pub(super) fn filter(name: &str, values: &[String]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.to_vec()))
        .build()
}

pub(super) fn owner_filter(stack: &str) -> Filter {
    filter(&format!("tag:{TAG_STACK}"), &[stack.to_string()])
}

pub(super) fn tags_value(tags: &[Tag]) -> Value {
    let mut m = Map::new();
    for t in tags {
        if let (Some(k), Some(v)) = (t.key(), t.value())
            && !k.starts_with("aws:")
        {
            m.insert(k.to_string(), json!(v));
        }
    }
    Value::Object(m)
}

pub(super) fn tag_list(props: &Value) -> Vec<Tag> {
    props
        .get("tags")
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    Tag::builder()
                        .key(k)
                        .value(v.as_str().unwrap_or_default())
                        .build()
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn tag_spec(rt: ResourceType, props: &Value) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(rt)
        .set_tags(Some(tag_list(props)))
        .build()
}

pub(super) fn flag(v: bool) -> AttributeBooleanValue {
    AttributeBooleanValue::builder().value(v).build()
}

/// Makes the tags of `id` equal to `after`'s.
pub(super) async fn sync_tags(c: &Client, id: &str, before: &Value, after: &Value) -> Result<()> {
    let empty = Map::new();
    let bt = before
        .get("tags")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let at = after
        .get("tags")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let removed: Vec<Tag> = bt
        .keys()
        .filter(|k| !at.contains_key(*k))
        .map(|k| Tag::builder().key(k).build())
        .collect();
    let set: Vec<Tag> = at
        .iter()
        .filter(|(k, v)| bt.get(*k) != Some(v))
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v.as_str().unwrap_or_default())
                .build()
        })
        .collect();
    if !removed.is_empty() {
        c.delete_tags()
            .resources(id)
            .set_tags(Some(removed))
            .send()
            .await
            .map_err(|e| err("DeleteTags", e))?;
    }
    if !set.is_empty() {
        c.create_tags()
            .resources(id)
            .set_tags(Some(set))
            .send()
            .await
            .map_err(|e| err("CreateTags", e))?;
    }
    Ok(())
}

pub(super) fn changed(before: &Value, after: &Value, k: &str) -> bool {
    before.get(k) != after.get(k)
}

// ---------------------------------------------------------------- VPC

struct Vpc(Client);

impl Vpc {
    async fn describe(&self, filters: Vec<Filter>) -> Result<Vec<Live>> {
        let vpcs: Vec<_> = self
            .0
            .describe_vpcs()
            .set_filters(Some(filters))
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| err("DescribeVpcs", e))?;
        let mut out = Vec::new();
        for v in vpcs {
            let id = v.vpc_id().unwrap_or_default().to_string();
            // DescribeVpcAttribute has no batch form: two calls per VPC.
            let (support, hostnames) = tokio::try_join!(
                self.attr(&id, VpcAttributeName::EnableDnsSupport),
                self.attr(&id, VpcAttributeName::EnableDnsHostnames)
            )?;
            let raw = json!({
                "cidr_block": v.cidr_block(),
                "enable_dns_support": support,
                "enable_dns_hostnames": hostnames,
                "instance_tenancy": v.instance_tenancy().map(|t| t.as_str()),
                "tags": tags_value(v.tags()),
            });
            out.push(live_of("ec2.vpc", &id, raw, &[]));
        }
        Ok(out)
    }

    async fn attr(&self, id: &str, a: VpcAttributeName) -> Result<bool> {
        let r = self
            .0
            .describe_vpc_attribute()
            .vpc_id(id)
            .attribute(a.clone())
            .send()
            .await
            .map_err(|e| err("DescribeVpcAttribute", e))?;
        Ok(match a {
            VpcAttributeName::EnableDnsSupport => r.enable_dns_support().and_then(|x| x.value()),
            _ => r.enable_dns_hostnames().and_then(|x| x.value()),
        }
        .unwrap_or(false))
    }

    async fn set_attrs(&self, id: &str, before: &Value, after: &Value) -> Result<()> {
        // One attribute per ModifyVpcAttribute call, as the API requires.
        if changed(before, after, "enable_dns_support") {
            self.0
                .modify_vpc_attribute()
                .vpc_id(id)
                .enable_dns_support(flag(b(after, "enable_dns_support")))
                .send()
                .await
                .map_err(|e| err("ModifyVpcAttribute", e))?;
        }
        if changed(before, after, "enable_dns_hostnames") {
            self.0
                .modify_vpc_attribute()
                .vpc_id(id)
                .enable_dns_hostnames(flag(b(after, "enable_dns_hostnames")))
                .send()
                .await
                .map_err(|e| err("ModifyVpcAttribute", e))?;
        }
        Ok(())
    }
}

#[async_trait]
impl Resource for Vpc {
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        super::by_pages(ids, PAGE, |page| async move {
            self.describe(vec![filter("vpc-id", &page)]).await
        })
        .await
    }
    async fn find_owned(&self, stack: &str, _: &[Wanted]) -> Result<Vec<Live>> {
        self.describe(vec![owner_filter(stack)]).await
    }
    async fn discover(&self) -> Result<Vec<Live>> {
        self.describe(vec![]).await
    }
    async fn create(&self, p: &Value, _: Duration) -> Result<Live> {
        let r = self
            .0
            .create_vpc()
            .cidr_block(s(p, "cidr_block").unwrap_or_default())
            .instance_tenancy(
                s(p, "instance_tenancy")
                    .unwrap_or_else(|| "default".into())
                    .as_str()
                    .into(),
            )
            .tag_specifications(tag_spec(ResourceType::Vpc, p))
            .send()
            .await
            .map_err(|e| err("CreateVpc", e))?;
        let id = r
            .vpc()
            .and_then(|v| v.vpc_id())
            .unwrap_or_default()
            .to_string();
        // A new VPC has DNS support on and hostnames off.
        let fresh = json!({"enable_dns_support": true, "enable_dns_hostnames": false});
        self.set_attrs(&id, &fresh, p).await?;
        read_one(self, &id).await
    }
    async fn update(&self, id: &str, before: &Value, after: &Value, _: Duration) -> Result<Live> {
        self.set_attrs(id, before, after).await?;
        sync_tags(&self.0, id, before, after).await?;
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Value, _: Duration) -> Result<()> {
        self.0
            .delete_vpc()
            .vpc_id(id)
            .send()
            .await
            .map_err(|e| err("DeleteVpc", e))?;
        Ok(())
    }
}

// ---------------------------------------------------------------- Subnet

struct Subnet(Client);

impl Subnet {
    async fn describe(&self, filters: Vec<Filter>) -> Result<Vec<Live>> {
        let items: Vec<_> = self
            .0
            .describe_subnets()
            .set_filters(Some(filters))
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| err("DescribeSubnets", e))?;
        Ok(items
            .iter()
            .map(|x| {
                let id = x.subnet_id().unwrap_or_default();
                let raw = json!({
                    "vpc_id": x.vpc_id(),
                    "cidr_block": x.cidr_block(),
                    "availability_zone": x.availability_zone(),
                    "map_public_ip_on_launch": x.map_public_ip_on_launch().unwrap_or(false),
                    "tags": tags_value(x.tags()),
                });
                live_of("ec2.subnet", id, raw, &[("arn", json!(x.subnet_arn()))])
            })
            .collect())
    }
}

#[async_trait]
impl Resource for Subnet {
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        super::by_pages(ids, PAGE, |page| async move {
            self.describe(vec![filter("subnet-id", &page)]).await
        })
        .await
    }
    async fn find_owned(&self, stack: &str, _: &[Wanted]) -> Result<Vec<Live>> {
        self.describe(vec![owner_filter(stack)]).await
    }
    async fn discover(&self) -> Result<Vec<Live>> {
        self.describe(vec![]).await
    }
    async fn create(&self, p: &Value, _: Duration) -> Result<Live> {
        let r = self
            .0
            .create_subnet()
            .vpc_id(s(p, "vpc_id").unwrap_or_default())
            .cidr_block(s(p, "cidr_block").unwrap_or_default())
            .availability_zone(s(p, "availability_zone").unwrap_or_default())
            .tag_specifications(tag_spec(ResourceType::Subnet, p))
            .send()
            .await
            .map_err(|e| err("CreateSubnet", e))?;
        let id = r
            .subnet()
            .and_then(|x| x.subnet_id())
            .unwrap_or_default()
            .to_string();
        if b(p, "map_public_ip_on_launch") {
            self.0
                .modify_subnet_attribute()
                .subnet_id(&id)
                .map_public_ip_on_launch(flag(true))
                .send()
                .await
                .map_err(|e| err("ModifySubnetAttribute", e))?;
        }
        read_one(self, &id).await
    }
    async fn update(&self, id: &str, before: &Value, after: &Value, _: Duration) -> Result<Live> {
        if changed(before, after, "map_public_ip_on_launch") {
            self.0
                .modify_subnet_attribute()
                .subnet_id(id)
                .map_public_ip_on_launch(flag(b(after, "map_public_ip_on_launch")))
                .send()
                .await
                .map_err(|e| err("ModifySubnetAttribute", e))?;
        }
        sync_tags(&self.0, id, before, after).await?;
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Value, _: Duration) -> Result<()> {
        self.0
            .delete_subnet()
            .subnet_id(id)
            .send()
            .await
            .map_err(|e| err("DeleteSubnet", e))?;
        Ok(())
    }
}

// ---------------------------------------------------------------- Internet gateway

struct Igw(Client);

impl Igw {
    async fn describe(&self, filters: Vec<Filter>) -> Result<Vec<Live>> {
        let items: Vec<_> = self
            .0
            .describe_internet_gateways()
            .set_filters(Some(filters))
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| err("DescribeInternetGateways", e))?;
        Ok(items
            .iter()
            .map(|x| {
                let id = x.internet_gateway_id().unwrap_or_default();
                let raw = json!({
                    "vpc_id": x.attachments().first().and_then(|a| a.vpc_id()),
                    "tags": tags_value(x.tags()),
                });
                live_of("ec2.internet_gateway", id, raw, &[])
            })
            .collect())
    }

    async fn attach(&self, id: &str, vpc: &str) -> Result<()> {
        self.0
            .attach_internet_gateway()
            .internet_gateway_id(id)
            .vpc_id(vpc)
            .send()
            .await
            .map_err(|e| err("AttachInternetGateway", e))?;
        Ok(())
    }

    async fn detach(&self, id: &str, vpc: &str) -> Result<()> {
        match self
            .0
            .detach_internet_gateway()
            .internet_gateway_id(id)
            .vpc_id(vpc)
            .send()
            .await
            .map_err(|e| err("DetachInternetGateway", e))
        {
            Err(e) if matches!(&e, Error::Aws { code, .. } if code == "Gateway.NotAttached") => {
                Ok(())
            }
            r => r.map(|_| ()),
        }
    }
}

#[async_trait]
impl Resource for Igw {
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        super::by_pages(ids, PAGE, |page| async move {
            self.describe(vec![filter("internet-gateway-id", &page)])
                .await
        })
        .await
    }
    async fn find_owned(&self, stack: &str, _: &[Wanted]) -> Result<Vec<Live>> {
        self.describe(vec![owner_filter(stack)]).await
    }
    async fn discover(&self) -> Result<Vec<Live>> {
        self.describe(vec![]).await
    }
    async fn create(&self, p: &Value, _: Duration) -> Result<Live> {
        let r = self
            .0
            .create_internet_gateway()
            .tag_specifications(tag_spec(ResourceType::InternetGateway, p))
            .send()
            .await
            .map_err(|e| err("CreateInternetGateway", e))?;
        let id = r
            .internet_gateway()
            .and_then(|x| x.internet_gateway_id())
            .unwrap_or_default()
            .to_string();
        if let Some(vpc) = s(p, "vpc_id") {
            self.attach(&id, &vpc).await?;
        }
        read_one(self, &id).await
    }
    async fn update(&self, id: &str, before: &Value, after: &Value, _: Duration) -> Result<Live> {
        if changed(before, after, "vpc_id") {
            if let Some(old) = s(before, "vpc_id") {
                self.detach(id, &old).await?;
            }
            if let Some(new) = s(after, "vpc_id") {
                self.attach(id, &new).await?;
            }
        }
        sync_tags(&self.0, id, before, after).await?;
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, p: &Value, _: Duration) -> Result<()> {
        // Detach from whatever VPC it is attached to now, not only the recorded one.
        let now = self.read(&[id.to_string()]).await?;
        for l in &now {
            if let Some(vpc) = s(&l.props, "vpc_id") {
                self.detach(id, &vpc).await?;
            }
        }
        if now.is_empty() && s(p, "vpc_id").is_some() {
            return Ok(());
        }
        self.0
            .delete_internet_gateway()
            .internet_gateway_id(id)
            .send()
            .await
            .map_err(|e| err("DeleteInternetGateway", e))?;
        Ok(())
    }
}

// ---------------------------------------------------------------- Elastic IP

struct Eip(Client);

impl Eip {
    async fn describe(&self, filters: Vec<Filter>) -> Result<Vec<Live>> {
        // DescribeAddresses is not paginated: one call answers for all.
        let r = self
            .0
            .describe_addresses()
            .set_filters(Some(filters))
            .send()
            .await
            .map_err(|e| err("DescribeAddresses", e))?;
        Ok(r.addresses()
            .iter()
            .map(|a| {
                let id = a.allocation_id().unwrap_or_default();
                live_of(
                    "ec2.eip",
                    id,
                    json!({"tags": tags_value(a.tags())}),
                    &[("public_ip", json!(a.public_ip()))],
                )
            })
            .collect())
    }
}

#[async_trait]
impl Resource for Eip {
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        super::by_pages(ids, PAGE, |page| async move {
            self.describe(vec![filter("allocation-id", &page)]).await
        })
        .await
    }
    async fn find_owned(&self, stack: &str, _: &[Wanted]) -> Result<Vec<Live>> {
        self.describe(vec![owner_filter(stack)]).await
    }
    async fn discover(&self) -> Result<Vec<Live>> {
        self.describe(vec![]).await
    }
    async fn create(&self, p: &Value, _: Duration) -> Result<Live> {
        let r = self
            .0
            .allocate_address()
            .domain(DomainType::Vpc)
            .tag_specifications(tag_spec(ResourceType::ElasticIp, p))
            .send()
            .await
            .map_err(|e| err("AllocateAddress", e))?;
        let id = r.allocation_id().unwrap_or_default();
        Ok(live_of(
            "ec2.eip",
            id,
            json!({"tags": p.get("tags")}),
            &[("public_ip", json!(r.public_ip()))],
        ))
    }
    async fn update(&self, id: &str, before: &Value, after: &Value, _: Duration) -> Result<Live> {
        sync_tags(&self.0, id, before, after).await?;
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Value, _: Duration) -> Result<()> {
        self.0
            .release_address()
            .allocation_id(id)
            .send()
            .await
            .map_err(|e| err("ReleaseAddress", e))?;
        Ok(())
    }
}

// ---------------------------------------------------------------- NAT gateway

struct Nat(Client);

impl Nat {
    /// All NAT gateways matching, with their state; deleted ones included.
    async fn describe_raw(
        &self,
        filters: Vec<Filter>,
    ) -> Result<Vec<(Live, NatGatewayState, String)>> {
        let items: Vec<_> = self
            .0
            .describe_nat_gateways()
            .set_filter(Some(filters))
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| err("DescribeNatGateways", e))?;
        Ok(items
            .iter()
            .map(|x| {
                let id = x.nat_gateway_id().unwrap_or_default();
                let raw = json!({
                    "subnet_id": x.subnet_id(),
                    "allocation_id": x.nat_gateway_addresses().first().and_then(|a| a.allocation_id()),
                    "connectivity_type": x.connectivity_type().map(|c| c.as_str()),
                    "tags": tags_value(x.tags()),
                });
                (
                    live_of("ec2.nat_gateway", id, raw, &[]),
                    x.state().cloned().unwrap_or(NatGatewayState::Pending),
                    x.failure_message().unwrap_or_default().to_string(),
                )
            })
            .collect())
    }

    async fn describe(&self, filters: Vec<Filter>) -> Result<Vec<Live>> {
        Ok(self
            .describe_raw(filters)
            .await?
            .into_iter()
            .filter(|(_, st, _)| {
                !matches!(
                    st,
                    NatGatewayState::Deleted | NatGatewayState::Deleting | NatGatewayState::Failed
                )
            })
            .map(|(l, _, _)| l)
            .collect())
    }

    async fn state_of(&self, id: &str) -> Result<Option<(Live, NatGatewayState, String)>> {
        Ok(self
            .describe_raw(vec![filter("nat-gateway-id", &[id.to_string()])])
            .await?
            .pop())
    }
}

#[async_trait]
impl Resource for Nat {
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        super::by_pages(ids, PAGE, |page| async move {
            self.describe(vec![filter("nat-gateway-id", &page)]).await
        })
        .await
    }
    async fn find_owned(&self, stack: &str, _: &[Wanted]) -> Result<Vec<Live>> {
        self.describe(vec![owner_filter(stack)]).await
    }
    async fn discover(&self) -> Result<Vec<Live>> {
        self.describe(vec![]).await
    }
    async fn create(&self, p: &Value, timeout: Duration) -> Result<Live> {
        let ct = s(p, "connectivity_type").unwrap_or_else(|| "public".into());
        let r = self
            .0
            .create_nat_gateway()
            .subnet_id(s(p, "subnet_id").unwrap_or_default())
            .set_allocation_id(s(p, "allocation_id"))
            .connectivity_type(ConnectivityType::from(ct.as_str()))
            .tag_specifications(tag_spec(ResourceType::Natgateway, p))
            .send()
            .await
            .map_err(|e| err("CreateNatGateway", e))?;
        let id = r
            .nat_gateway()
            .and_then(|x| x.nat_gateway_id())
            .unwrap_or_default()
            .to_string();
        wait_for(
            &format!("NAT gateway {id} to become available"),
            timeout,
            || async {
                match self.state_of(&id).await? {
                    Some((l, NatGatewayState::Available, _)) => Ok(Some(l)),
                    Some((_, NatGatewayState::Failed, why)) => {
                        Err(Error::other(format!("NAT gateway {id} failed: {why}")))
                    }
                    _ => Ok(None),
                }
            },
        )
        .await
    }
    async fn update(&self, id: &str, before: &Value, after: &Value, _: Duration) -> Result<Live> {
        sync_tags(&self.0, id, before, after).await?;
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, p: &Value, timeout: Duration) -> Result<()> {
        let eni_of_nat = self
            .0
            .describe_nat_gateways()
            .filter(filter("nat-gateway-id", &[id.to_string()]))
            .send()
            .await
            .map_err(|e| err("DescribeNatGateways", e))?
            .nat_gateways()
            .first()
            .and_then(|n| n.nat_gateway_addresses().first())
            .and_then(|a| a.network_interface_id())
            .map(str::to_string);
        self.0
            .delete_nat_gateway()
            .nat_gateway_id(id)
            .send()
            .await
            .map_err(|e| err("DeleteNatGateway", e))?;
        wait_for(
            &format!("NAT gateway {id} to be deleted"),
            timeout,
            || async {
                Ok(match self.state_of(id).await? {
                    None | Some((_, NatGatewayState::Deleted, _)) => Some(()),
                    _ => None,
                })
            },
        )
        .await?;
        // The Elastic IP must be free before a new NAT gateway can take it. AWS
        // frees it as the gateway is deleted; moto never does (a gap of the
        // emulator), so release an association left on the gateway's interface.
        if let Some(alloc) = s(p, "allocation_id") {
            let r = self
                .0
                .describe_addresses()
                .allocation_ids(&alloc)
                .send()
                .await
                .map_err(|e| err("DescribeAddresses", e))?;
            for a in r.addresses() {
                if let (Some(assoc), Some(eni)) = (a.association_id(), a.network_interface_id())
                    && eni_of_nat.as_deref() == Some(eni)
                {
                    self.0
                        .disassociate_address()
                        .association_id(assoc)
                        .send()
                        .await
                        .map_err(|e| err("DisassociateAddress", e))?;
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- Route table

struct RouteTable(Client);

struct RtLive {
    live: Live,
    /// subnet id -> association id
    assoc: BTreeMap<String, String>,
}

impl RouteTable {
    async fn describe_full(&self, filters: Vec<Filter>) -> Result<Vec<RtLive>> {
        let items: Vec<_> = self
            .0
            .describe_route_tables()
            .set_filters(Some(filters))
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| err("DescribeRouteTables", e))?;
        Ok(items
            .iter()
            .map(|x| {
                let id = x.route_table_id().unwrap_or_default();
                let routes: Vec<Value> = x
                    .routes()
                    .iter()
                    .filter(|r| r.gateway_id() != Some("local"))
                    .filter(|r| r.origin().map(|o| o.as_str()) != Some("CreateRouteTable"))
                    .filter_map(|r| {
                        let mut o = json!({"destination": r.destination_cidr_block()?});
                        if let Some(g) = r.gateway_id() {
                            o["gateway_id"] = json!(g);
                        }
                        if let Some(n) = r.nat_gateway_id() {
                            o["nat_gateway_id"] = json!(n);
                        }
                        Some(o)
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
                let raw = json!({
                    "vpc_id": x.vpc_id(),
                    "routes": routes,
                    "subnet_ids": assoc.keys().collect::<Vec<_>>(),
                    "tags": tags_value(x.tags()),
                });
                RtLive {
                    live: live_of("ec2.route_table", id, raw, &[]),
                    assoc,
                }
            })
            .collect())
    }

    async fn describe(&self, filters: Vec<Filter>) -> Result<Vec<Live>> {
        Ok(self
            .describe_full(filters)
            .await?
            .into_iter()
            .map(|r| r.live)
            .collect())
    }

    async fn one(&self, id: &str) -> Result<Option<RtLive>> {
        Ok(self
            .describe_full(vec![filter("route-table-id", &[id.to_string()])])
            .await?
            .pop())
    }

    /// Makes routes and associations equal to `after`'s.
    async fn converge(&self, id: &str, after: &Value) -> Result<Live> {
        let now = self.one(id).await?.ok_or_else(|| super::gone(id))?;
        let empty = vec![];
        let want: Vec<Value> = after
            .get("routes")
            .and_then(Value::as_array)
            .unwrap_or(&empty)
            .clone();
        let have: Vec<Value> = now
            .live
            .props
            .get("routes")
            .and_then(Value::as_array)
            .unwrap_or(&empty)
            .clone();
        let dest = |r: &Value| s(r, "destination").unwrap_or_default();
        for r in have
            .iter()
            .filter(|r| !want.iter().any(|w| dest(w) == dest(r)))
        {
            self.0
                .delete_route()
                .route_table_id(id)
                .destination_cidr_block(dest(r))
                .send()
                .await
                .map_err(|e| err("DeleteRoute", e))?;
        }
        for w in want.iter().filter(|w| !have.contains(w)) {
            let existing = have.iter().any(|r| dest(r) == dest(w));
            if existing {
                self.0
                    .replace_route()
                    .route_table_id(id)
                    .destination_cidr_block(dest(w))
                    .set_gateway_id(s(w, "gateway_id"))
                    .set_nat_gateway_id(s(w, "nat_gateway_id"))
                    .send()
                    .await
                    .map_err(|e| err("ReplaceRoute", e))?;
            } else {
                self.0
                    .create_route()
                    .route_table_id(id)
                    .destination_cidr_block(dest(w))
                    .set_gateway_id(s(w, "gateway_id"))
                    .set_nat_gateway_id(s(w, "nat_gateway_id"))
                    .send()
                    .await
                    .map_err(|e| err("CreateRoute", e))?;
            }
        }
        let want_subnets: Vec<String> = after
            .get("subnet_ids")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        for (subnet, assoc) in &now.assoc {
            if !want_subnets.contains(subnet) {
                self.0
                    .disassociate_route_table()
                    .association_id(assoc)
                    .send()
                    .await
                    .map_err(|e| err("DisassociateRouteTable", e))?;
            }
        }
        for subnet in want_subnets.iter().filter(|x| !now.assoc.contains_key(*x)) {
            self.0
                .associate_route_table()
                .route_table_id(id)
                .subnet_id(subnet)
                .send()
                .await
                .map_err(|e| err("AssociateRouteTable", e))?;
        }
        Ok(self.one(id).await?.ok_or_else(|| super::gone(id))?.live)
    }
}

#[async_trait]
impl Resource for RouteTable {
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        super::by_pages(ids, PAGE, |page| async move {
            self.describe(vec![filter("route-table-id", &page)]).await
        })
        .await
    }
    async fn find_owned(&self, stack: &str, _: &[Wanted]) -> Result<Vec<Live>> {
        self.describe(vec![owner_filter(stack)]).await
    }
    async fn create(&self, p: &Value, _: Duration) -> Result<Live> {
        let r = self
            .0
            .create_route_table()
            .vpc_id(s(p, "vpc_id").unwrap_or_default())
            .tag_specifications(tag_spec(ResourceType::RouteTable, p))
            .send()
            .await
            .map_err(|e| err("CreateRouteTable", e))?;
        let id = r
            .route_table()
            .and_then(|x| x.route_table_id())
            .unwrap_or_default()
            .to_string();
        self.converge(&id, p).await
    }
    async fn update(&self, id: &str, before: &Value, after: &Value, _: Duration) -> Result<Live> {
        sync_tags(&self.0, id, before, after).await?;
        self.converge(id, after).await
    }
    async fn delete(&self, id: &str, _: &Value, _: Duration) -> Result<()> {
        let Some(now) = self.one(id).await? else {
            return Ok(());
        };
        for assoc in now.assoc.values() {
            self.0
                .disassociate_route_table()
                .association_id(assoc)
                .send()
                .await
                .map_err(|e| err("DisassociateRouteTable", e))?;
        }
        self.0
            .delete_route_table()
            .route_table_id(id)
            .send()
            .await
            .map_err(|e| err("DeleteRouteTable", e))?;
        Ok(())
    }
}

// ---------------------------------------------------------------- Security group

struct SecurityGroup(Client);

fn rules_value(perms: &[IpPermission]) -> Value {
    let mut out = Vec::new();
    for p in perms {
        let proto = p.ip_protocol().unwrap_or("-1");
        let base = json!({
            "protocol": proto,
            "from_port": p.from_port().unwrap_or(-1),
            "to_port": p.to_port().unwrap_or(-1),
        });
        for r in p.ip_ranges() {
            let mut o = base.clone();
            o["cidr_block"] = json!(r.cidr_ip());
            if let Some(d) = r.description() {
                o["description"] = json!(d);
            }
            out.push(o);
        }
        for g in p.user_id_group_pairs() {
            let mut o = base.clone();
            o["security_group_id"] = json!(g.group_id());
            if let Some(d) = g.description() {
                o["description"] = json!(d);
            }
            out.push(o);
        }
    }
    Value::Array(out)
}

/// One IpPermission for one canonical rule.
fn permission(rule: &Value) -> IpPermission {
    let proto = s(rule, "protocol").unwrap_or_else(|| "-1".into());
    let mut p = IpPermission::builder().ip_protocol(&proto);
    if proto != "-1" {
        let port = |k: &str| rule.get(k).and_then(Value::as_i64).map(|x| x as i32);
        p = p
            .set_from_port(port("from_port"))
            .set_to_port(port("to_port"));
    }
    let desc = s(rule, "description");
    if let Some(c) = s(rule, "cidr_block") {
        p = p.ip_ranges(IpRange::builder().cidr_ip(c).set_description(desc).build());
    } else if let Some(g) = s(rule, "security_group_id") {
        p = p.user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(g)
                .set_description(desc)
                .build(),
        );
    }
    p.build()
}

impl SecurityGroup {
    async fn describe(&self, filters: Vec<Filter>) -> Result<Vec<Live>> {
        let items: Vec<_> = self
            .0
            .describe_security_groups()
            .set_filters(Some(filters))
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| err("DescribeSecurityGroups", e))?;
        Ok(items
            .iter()
            .map(|x| {
                let id = x.group_id().unwrap_or_default();
                let raw = json!({
                    "name": x.group_name(),
                    "description": x.description(),
                    "vpc_id": x.vpc_id(),
                    "ingress": rules_value(x.ip_permissions()),
                    "egress": rules_value(x.ip_permissions_egress()),
                    "tags": tags_value(x.tags()),
                });
                let arn = x.security_group_arn().map(str::to_string);
                live_of("ec2.security_group", id, raw, &[("arn", json!(arn))])
            })
            .collect())
    }

    /// Makes one direction's rules equal to `want`: revoke what is extra, then authorize what is missing.
    async fn converge(&self, id: &str, egress: bool, have: &Value, want: &Value) -> Result<()> {
        let empty = vec![];
        let have = have.as_array().unwrap_or(&empty);
        let want = want.as_array().unwrap_or(&empty);
        let extra: Vec<IpPermission> = have
            .iter()
            .filter(|r| !want.contains(r))
            .map(permission)
            .collect();
        let missing: Vec<IpPermission> = want
            .iter()
            .filter(|r| !have.contains(r))
            .map(permission)
            .collect();
        if !extra.is_empty() {
            if egress {
                self.0
                    .revoke_security_group_egress()
                    .group_id(id)
                    .set_ip_permissions(Some(extra))
                    .send()
                    .await
                    .map_err(|e| err("RevokeSecurityGroupEgress", e))?;
            } else {
                self.0
                    .revoke_security_group_ingress()
                    .group_id(id)
                    .set_ip_permissions(Some(extra))
                    .send()
                    .await
                    .map_err(|e| err("RevokeSecurityGroupIngress", e))?;
            }
        }
        if !missing.is_empty() {
            if egress {
                self.0
                    .authorize_security_group_egress()
                    .group_id(id)
                    .set_ip_permissions(Some(missing))
                    .send()
                    .await
                    .map_err(|e| err("AuthorizeSecurityGroupEgress", e))?;
            } else {
                self.0
                    .authorize_security_group_ingress()
                    .group_id(id)
                    .set_ip_permissions(Some(missing))
                    .send()
                    .await
                    .map_err(|e| err("AuthorizeSecurityGroupIngress", e))?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Resource for SecurityGroup {
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        super::by_pages(ids, PAGE, |page| async move {
            self.describe(vec![filter("group-id", &page)]).await
        })
        .await
    }
    async fn find_owned(&self, stack: &str, _: &[Wanted]) -> Result<Vec<Live>> {
        self.describe(vec![owner_filter(stack)]).await
    }
    async fn discover(&self) -> Result<Vec<Live>> {
        Ok(self
            .describe(vec![])
            .await?
            .into_iter()
            .filter(|l| l.props["name"] != "default")
            .collect())
    }
    async fn create(&self, p: &Value, _: Duration) -> Result<Live> {
        let r = self
            .0
            .create_security_group()
            .group_name(s(p, "name").unwrap_or_default())
            .description(s(p, "description").unwrap_or_default())
            .vpc_id(s(p, "vpc_id").unwrap_or_default())
            .tag_specifications(tag_spec(ResourceType::SecurityGroup, p))
            .send()
            .await
            .map_err(|e| err("CreateSecurityGroup", e))?;
        let id = r.group_id().unwrap_or_default().to_string();
        // A new group allows all egress; read what it has and converge from there.
        let now = read_one(self, &id).await?;
        self.converge(&id, false, &now.props["ingress"], &p["ingress"])
            .await?;
        self.converge(&id, true, &now.props["egress"], &p["egress"])
            .await?;
        read_one(self, &id).await
    }
    async fn update(&self, id: &str, before: &Value, after: &Value, _: Duration) -> Result<Live> {
        let now = read_one(self, id).await?;
        self.converge(id, false, &now.props["ingress"], &after["ingress"])
            .await?;
        self.converge(id, true, &now.props["egress"], &after["egress"])
            .await?;
        sync_tags(&self.0, id, before, after).await?;
        read_one(self, id).await
    }
    async fn delete(&self, id: &str, _: &Value, _: Duration) -> Result<()> {
        self.0
            .delete_security_group()
            .group_id(id)
            .send()
            .await
            .map_err(|e| err("DeleteSecurityGroup", e))?;
        Ok(())
    }
}
