//! [`AwsCloud`]: the engine's [`Cloud`] on AWS, over the registry of kinds;
//! and what drift and `import --discover` read beyond the kinds (network
//! interfaces, the tagging index, every untagged object).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use super::data::DataRead;
use super::typed::Resource;
use super::{
    CallCounter, Clients, Connect, KINDS, Svc, call, client, data_reads, ec2, implementations, tags,
};
use crate::diag::{Error, Result};
use crate::provider::{Cloud, Container, Intent, Live, Wanted};

pub struct AwsCloud {
    /// The SDK configuration of this region, from which another region's
    /// is made (the same credentials, endpoint and timeouts).
    sdk: aws_config::SdkConfig,
    /// The other regions the stack's objects live in, connected on first
    /// use; each lives as long as the process (at most one a region).
    others: std::sync::Mutex<HashMap<String, &'static AwsCloud>>,
    kinds: HashMap<&'static str, Box<dyn Resource>>,
    data: HashMap<&'static str, Box<dyn DataRead>>,
    ec2: ec2::Ec2,
    tagging: Svc<aws_sdk_resourcegroupstagging::Client>,
    pub counter: CallCounter,
    retries: std::sync::Arc<std::sync::Mutex<call::RetryCounts>>,
    pub region: String,
}

impl AwsCloud {
    pub async fn connect(opts: &Connect) -> Result<AwsCloud> {
        let sdk = client::sdk_config(opts).await?;
        AwsCloud::with_config(sdk)
    }

    /// The cloud of `region`, made from this one's configuration (no call:
    /// credentials were checked when this one connected).
    fn in_region(&self, region: &str) -> Result<AwsCloud> {
        let sdk = self
            .sdk
            .to_builder()
            .region(aws_config::Region::new(region.to_string()))
            .build();
        AwsCloud::with_config(sdk)
    }

    /// Another region's cloud, connected once.
    pub fn region(&self, region: &str) -> Result<&AwsCloud> {
        if region == self.region {
            return Ok(self);
        }
        let mut others = self.others.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = others.get(region) {
            return Ok(c);
        }
        // Leaked on purpose: a region's clients serve every call of the run,
        // and there are at most as many as AWS has regions.
        let c: &'static AwsCloud = Box::leak(Box::new(self.in_region(region)?));
        others.insert(region.to_string(), c);
        Ok(c)
    }

    /// The regions connected beside this one, with their clouds, by name.
    pub fn other_regions(&self) -> Vec<(String, &AwsCloud)> {
        let others = self.others.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<(String, &AwsCloud)> = others.iter().map(|(r, c)| (r.clone(), *c)).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    fn with_config(sdk: aws_config::SdkConfig) -> Result<AwsCloud> {
        let counter = CallCounter::default();
        let clients = Clients::new(&sdk, &counter)?;
        let kinds = implementations(&clients)
            .into_iter()
            .map(|r| (r.spec().name, r))
            .collect();
        let data = data_reads(&clients)
            .into_iter()
            .map(|r| (r.spec().name, r))
            .collect();
        Ok(AwsCloud {
            sdk,
            others: Default::default(),
            kinds,
            data,
            ec2: clients.ec2.clone(),
            tagging: clients.tagging.clone(),
            counter,
            retries: clients.retries,
            region: clients.region,
        })
    }

    /// Calls tried again so far, per (operation, why: Throttled, NotFound, Unknown).
    pub fn retries(&self) -> call::RetryCounts {
        self.retries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Network interfaces in these VPCs that are nobody's but their maker's:
    /// not made by AWS for a service (requester-managed, or of a service's
    /// type), not an instance's first, not one of `known` (the interfaces
    /// of NAT gateways and mount targets, which AWS names in their reads).
    /// Each with its `vpc_id`, `description` and tags, as the other objects
    /// drift looks at inside a VPC.
    pub async fn loose_interfaces(
        &self,
        vpcs: &[String],
        known: &std::collections::BTreeSet<String>,
    ) -> Result<Vec<(String, Live)>> {
        if vpcs.is_empty() {
            return Ok(vec![]);
        }
        let s = &self.ec2;
        let all = call::pages!(
            s,
            "DescribeNetworkInterfaces",
            describe_network_interfaces().filters(ec2::filter("vpc-id", vpcs))
        )
        .await?;
        Ok(all
            .iter()
            .filter(|n| n.requester_managed() != Some(true))
            .filter(|n| n.interface_type().is_none_or(|t| t.as_str() == "interface"))
            .filter(|n| n.attachment().and_then(|a| a.device_index()) != Some(0))
            .filter_map(|n| {
                let id = n.network_interface_id()?.to_string();
                let tags = tags::from_pairs(
                    n.tag_set()
                        .iter()
                        .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default()))),
                );
                let props = serde_json::json!({
                    "vpc_id": n.vpc_id(),
                    "subnet_id": n.subnet_id(),
                    "description": n.description().unwrap_or_default(),
                    "tags": tags,
                });
                let l = Live {
                    id,
                    props,
                    outputs: serde_json::Map::new(),
                    unobserved: vec![],
                    claimed_by: None,
                };
                (!known.contains(&l.id)).then(|| (ec2::NETWORK_INTERFACE.to_string(), l))
            })
            .collect())
    }

    /// Resources without ownership tags, of every kind that can list itself,
    /// or (`only`) of these kinds: only their services are called.
    pub async fn discover(&self, only: Option<&[&str]>) -> Result<Vec<(String, Live)>> {
        let kinds = KINDS
            .iter()
            .filter(|k| only.is_none_or(|o| o.contains(&k.name)))
            .filter_map(|k| Some((k.name, self.kinds.get(k.name)?)));
        let reads = kinds.map(|(name, r)| async move { (name, r.discover().await) });
        let mut out = Vec::new();
        for (name, found) in futures::future::join_all(reads).await {
            for l in found? {
                if l.props
                    .get("tags")
                    .and_then(|t| t.get(crate::stack::TAG_STACK))
                    .is_none()
                {
                    out.push((name.to_string(), l));
                }
            }
        }
        Ok(out)
    }

    /// The stack's objects of one kind that the tagging index lists (the
    /// ARNs carrying the stack's tag, of the kind's service), but for the
    /// `known` ids, read by id: the index finds candidates at the cost of the
    /// stack's size, not the account's; what it lists that is gone, or no
    /// longer the stack's, is dropped by the read, which is the authority.
    async fn owned_by_index(
        &self,
        r: &dyn Resource,
        t: &crate::kind::Tagged,
        stack: &str,
        known: &[String],
    ) -> Result<Vec<Live>> {
        use aws_sdk_resourcegroupstagging::types::TagFilter;
        let s = &self.tagging;
        let filter = TagFilter::builder()
            .key(crate::stack::TAG_STACK)
            .values(stack)
            .build();
        let found = call::pages!(
            s,
            "GetResources",
            get_resources()
                .tag_filters(filter.clone())
                .resource_type_filters(t.service)
                .resources_per_page(100)
        )
        .await?;
        let ids: Vec<String> = found
            .iter()
            .filter_map(|m| t.id_of(m.resource_arn()?))
            .filter(|id| !known.contains(id))
            .collect();
        let live = r.read(&ids).await?;
        Ok(live
            .into_iter()
            .filter(|l| l.props["tags"][crate::stack::TAG_STACK] == stack)
            .collect())
    }

    fn kind(&self, kind: &str) -> Result<&dyn Resource> {
        self.kinds
            .get(kind)
            .map(|k| k.as_ref())
            .ok_or_else(|| Error::other(format!("kind {kind} has no AWS implementation")))
    }
}

#[async_trait]
impl Cloud for AwsCloud {
    fn at(&self, region: Option<&str>) -> Result<&dyn Cloud> {
        match region {
            None => Ok(self),
            Some(r) => Ok(self.region(r)?),
        }
    }
    async fn read(&self, kind: &str, ids: &[String]) -> Result<Vec<Live>> {
        self.kind(kind)?.read(ids).await
    }
    async fn read_recorded(&self, kind: &str, recorded: &[(&str, &Value)]) -> Result<Vec<Live>> {
        self.kind(kind)?.read_recorded(recorded).await
    }
    async fn find_owned(&self, kind: &str, stack: &str, wanted: &[Wanted]) -> Result<Vec<Live>> {
        self.kind(kind)?.find_owned(stack, wanted).await
    }
    /// Through the tagging index where the kind cannot filter by tag itself.
    async fn find_orphans(&self, kind: &str, stack: &str, known: &[String]) -> Result<Vec<Live>> {
        let r = self.kind(kind)?;
        match r.spec().tagged {
            Some(t) => self.owned_by_index(r, &t, stack, known).await,
            None => r.find_owned(stack, &[]).await,
        }
    }
    async fn inside(&self, kind: &str, c: Container, ids: &[String]) -> Result<Vec<Live>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        self.kind(kind)?.inside(c, ids).await
    }
    async fn create(
        &self,
        kind: &str,
        props: &Value,
        timeout: Duration,
        intent: &Intent,
    ) -> Result<Live> {
        self.kind(kind)?.create(props, timeout, intent).await
    }
    async fn read_data(&self, kind: &str, props: &Value) -> Result<Value> {
        let r = self.data.get(kind).ok_or_else(|| {
            Error::other(format!("data source kind {kind} has no AWS implementation"))
        })?;
        r.read(props).await
    }
    async fn update(
        &self,
        kind: &str,
        id: &str,
        before: &Value,
        after: &Value,
        timeout: Duration,
    ) -> Result<Live> {
        self.kind(kind)?.update(id, before, after, timeout).await
    }
    async fn delete_blocker(&self, kind: &str, id: &str, props: &Value) -> Result<Option<String>> {
        self.kind(kind)?.delete_blocker(id, props).await
    }
    async fn create_blocker(&self, kind: &str, props: &Value) -> Result<Option<String>> {
        self.kind(kind)?.create_blocker(props).await
    }
    fn settle(&self) -> Duration {
        super::call::settle()
    }
    async fn name_taken(&self, kind: &str, props: &Value) -> Result<Option<String>> {
        self.kind(kind)?.name_taken(props).await
    }
    async fn delete(
        &self,
        kind: &str,
        id: &str,
        props: &Value,
        timeout: Duration,
        in_use: Option<Duration>,
    ) -> Result<()> {
        self.kind(kind)?.delete(id, props, timeout, in_use).await
    }
}
