//! The AWS implementation of [`Cloud`]. The only module that imports `aws-*`.
//!
//! One kind, one file: `<service>/<kind>.rs` holds the kind's spec, its typed
//! properties and its calls (a [`Kind`]). The `kinds!` list below is the one
//! registry: the validator's table, the docs and [`AwsCloud`] come from it.
//! Every call goes through the service's `call::Api` (retries, throttling);
//! `errors` classifies AWS's codes; `wait` waits; `tags` syncs tags.

pub mod call;
mod client;
mod errors;
mod subnet_group;
mod tags;
mod wait;

mod acm;
mod ec2;
mod efs;
mod elasticache;
mod elbv2;
mod guardduty;
mod rds;
mod route53;
mod s3;
mod shield;
mod wafv2;

#[cfg(test)]
mod mock_tests;
pub mod state_s3;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use client::{CallCounter, CallCounts, Connect};
pub(crate) use client::{Clients, Svc};

use crate::diag::{Error, Result};
use crate::kind::KindSpec;
use crate::provider::{Cloud, Container, Intent, Live, Wanted};

/// Declares the kinds: `KINDS` (their specs, in the order of
/// docs/resources.md) and the registry of their implementations.
macro_rules! kinds {
    ($($k:ty),* $(,)?) => {
        /// Every kind provision knows.
        pub static KINDS: &[&KindSpec] = &[$(<$k as Kind>::SPEC),*];

        fn implementations(c: &Clients) -> Vec<Box<dyn Resource>> {
            vec![$(Box::new(Typed(<$k as Kind>::new(c)))),*]
        }

        #[cfg(test)]
        fn round_trip_every_kind() {
            $(tests::round_trip::<$k>();)*
        }
    };
}

kinds![
    ec2::vpc::Vpc,
    ec2::subnet::Subnet,
    ec2::internet_gateway::InternetGateway,
    ec2::eip::Eip,
    ec2::nat_gateway::NatGateway,
    ec2::route_table::RouteTable,
    ec2::security_group::SecurityGroup,
    ec2::launch_template::LaunchTemplate,
    ec2::instance::Instance,
    elbv2::load_balancer::LoadBalancer,
    elbv2::target_group::TargetGroup,
    elbv2::listener::Listener,
    rds::db_subnet_group::DbSubnetGroup,
    rds::cluster::Cluster,
    rds::instance::DbInstance,
    elasticache::subnet_group::CacheSubnetGroup,
    elasticache::replication_group::ReplicationGroup,
    efs::file_system::FileSystem,
    efs::mount_target::MountTarget,
    s3::bucket::Bucket,
    wafv2::web_acl::WebAcl,
    wafv2::web_acl_association::WebAclAssociation,
    shield::protection::Protection,
    route53::zone::Zone,
    route53::zone_lookup::ZoneLookup,
    route53::record::Record,
    route53::health_check::HealthCheck,
    guardduty::detector::Detector,
    acm::certificate::Certificate,
    acm::validation::Validation,
];

/// What a read asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Query<'a> {
    /// The objects with these ids that exist.
    Ids(&'a [String]),
    /// Objects of this stack that state does not record: by the ownership
    /// tag, or, where AWS keeps no tags, by the names `wanted` gives.
    Owned(&'a str, &'a [Wanted]),
    /// Everything of the kind in the region (for `import --discover`).
    All,
    /// Everything of the kind inside these containers, whoever made it,
    /// minus what AWS makes itself (a VPC's default group and main route
    /// table, a zone's SOA and NS): for `drift`, which reports what was added
    /// by hand inside what the state manages.
    Inside(Container, &'a [String]),
}

/// One kind's calls to AWS, on its typed properties.
///
/// `create`, `update` and `delete` must be safe to run again after a failure:
/// creates tag in the create call itself (or use a name or token AWS keeps)
/// so that `Query::Owned` finds an object whose answer was lost; deleting
/// what is gone succeeds.
#[async_trait]
pub(crate) trait Kind: Send + Sync + Sized + 'static {
    /// The properties in canonical form: every spec property is a field.
    type Props: Serialize + DeserializeOwned + Send + Sync;
    const SPEC: &'static KindSpec;
    fn new(c: &Clients) -> Self;
    /// Reads what the query asks for, batched wherever AWS allows. A kind
    /// that cannot answer a query (no tags to find its own by, no way to
    /// list the region) answers it with nothing.
    async fn describe(&self, q: Query<'_>) -> Result<Vec<Live>>;
    /// Reads what state records, knowing what it recorded of each: for
    /// kinds AWS reads fastest by a parent those properties name. The rest
    /// read by id.
    async fn describe_recorded(&self, recorded: &[(&str, &Value)]) -> Result<Vec<Live>> {
        let ids: Vec<String> = recorded.iter().map(|r| r.0.to_string()).collect();
        self.describe(Query::Ids(&ids)).await
    }
    async fn create(&self, p: &Self::Props, c: &Create<'_>) -> Result<Live>;
    /// Waits until an object created moments ago (or found again after a
    /// lost answer) is usable, and reads it. Kinds with nothing to wait for
    /// read it.
    async fn ready(&self, id: &str, _timeout: Duration) -> Result<Live> {
        read_one(self, id).await
    }
    async fn update(
        &self,
        id: &str,
        before: &Self::Props,
        after: &Self::Props,
        timeout: Duration,
    ) -> Result<Live>;
    async fn delete(&self, id: &str, p: &Self::Props, timeout: Duration) -> Result<()>;
    /// Why this object cannot be deleted now, if something stops it.
    async fn delete_blocker(&self, _id: &str, _p: &Self::Props) -> Result<Option<String>> {
        Ok(None)
    }
    /// Why this object will not be created, if something stops it.
    async fn create_blocker(&self, _p: &Self::Props) -> Result<Option<String>> {
        Ok(None)
    }
}

/// What a kind's create is given besides the properties.
pub(crate) struct Create<'a> {
    /// How long to wait for the new object to be usable.
    pub timeout: Duration,
    /// The idempotency token, for the APIs that take one: the same for every
    /// attempt of this create, in this run and the next.
    pub token: &'a str,
    /// An earlier attempt (an answer lost, or a run that ended in the
    /// create) may have made the object.
    pub retry: bool,
}

/// Creates tried at most, when answers are lost and nothing is found.
const CREATE_ATTEMPTS: u32 = 3;

/// A kind behind the untyped interface the engine speaks.
#[async_trait]
trait Resource: Send + Sync {
    fn spec(&self) -> &'static KindSpec;
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>>;
    async fn read_recorded(&self, recorded: &[(&str, &Value)]) -> Result<Vec<Live>>;
    async fn find_owned(&self, stack: &str, wanted: &[Wanted]) -> Result<Vec<Live>>;
    async fn create(&self, props: &Value, timeout: Duration, intent: &Intent) -> Result<Live>;
    async fn update(&self, id: &str, b: &Value, a: &Value, timeout: Duration) -> Result<Live>;
    async fn delete(
        &self,
        id: &str,
        props: &Value,
        t: Duration,
        in_use: Option<Duration>,
    ) -> Result<()>;
    async fn delete_blocker(&self, id: &str, props: &Value) -> Result<Option<String>>;
    async fn create_blocker(&self, props: &Value) -> Result<Option<String>>;
    async fn discover(&self) -> Result<Vec<Live>>;
    async fn inside(&self, c: Container, ids: &[String]) -> Result<Vec<Live>>;
}

struct Typed<K>(K);

impl<K: Kind> Typed<K> {
    /// The object an earlier attempt of this create made, if AWS shows one:
    /// looked for by its ownership (tags, or the name or token AWS keeps)
    /// for a few seconds, as tags become visible to filters.
    async fn made_before(&self, props: &Value, intent: &Intent) -> Result<Option<Live>> {
        let wanted = [Wanted {
            address: intent.address.clone(),
            props: props.clone(),
        }];
        let mut every = Duration::from_millis(500);
        for _ in 0..4 {
            let found = self
                .0
                .describe(Query::Owned(&intent.stack, &wanted))
                .await?;
            // This state's lineage; or no lineage (a name or token AWS
            // keeps), when an earlier attempt may have made it.
            let retry = intent.resumed || intent.in_doubt();
            let mine = found.into_iter().find(|l| {
                let lineage = l.props["tags"][crate::stack::TAG_LINEAGE].as_str();
                l.address().as_deref() == Some(intent.address.as_str())
                    && lineage.map_or(retry, |x| x == intent.lineage)
            });
            if mine.is_some() {
                return Ok(mine);
            }
            tokio::time::sleep(every).await;
            every *= 2;
        }
        Ok(None)
    }

    /// Whether a read still finds the object, after a moment.
    async fn still_there(&self, id: &str) -> Result<bool> {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let found = self.0.describe(Query::Ids(&[id.to_string()])).await;
        Ok(found.is_ok_and(|f| f.iter().any(|l| l.id == id)))
    }
}

/// Properties as the kind's struct; a mismatch is a bug of provision's.
fn typed<P: DeserializeOwned>(spec: &KindSpec, props: &Value) -> Result<P> {
    let mut v = crate::kind::canonical(spec, props);
    if spec.has_tags()
        && let Value::Object(o) = &mut v
    {
        o.entry("tags")
            .or_insert_with(|| Value::Object(Default::default()));
    }
    serde_json::from_value(v).map_err(|e| {
        Error::other(format!(
            "internal: properties of {} do not fit its kind: {e}",
            spec.name
        ))
    })
}

#[async_trait]
impl<K: Kind> Resource for Typed<K> {
    fn spec(&self) -> &'static KindSpec {
        K::SPEC
    }
    async fn read(&self, ids: &[String]) -> Result<Vec<Live>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        self.0.describe(Query::Ids(ids)).await
    }
    async fn read_recorded(&self, recorded: &[(&str, &Value)]) -> Result<Vec<Live>> {
        if recorded.is_empty() {
            return Ok(vec![]);
        }
        self.0.describe_recorded(recorded).await
    }
    async fn find_owned(&self, stack: &str, wanted: &[Wanted]) -> Result<Vec<Live>> {
        self.0.describe(Query::Owned(stack, wanted)).await
    }
    /// Creates, and when an answer is lost or AWS says the object exists,
    /// looks for what an earlier attempt made before trying again: an
    /// object is never made twice, and one that is not this state's is never
    /// taken.
    async fn create(&self, props: &Value, timeout: Duration, intent: &Intent) -> Result<Live> {
        let p = typed(K::SPEC, props)?;
        let start = std::time::Instant::now();
        let left = || timeout.saturating_sub(start.elapsed());
        for attempt in 1.. {
            let c = Create {
                timeout: left(),
                token: &intent.token,
                retry: intent.resumed || intent.in_doubt(),
            };
            let e = match self.0.create(&p, &c).await {
                Ok(l) => return Ok(l),
                Err(e) => e,
            };
            let class = errors::class_of(&e);
            if !matches!(class, errors::Class::Unknown | errors::Class::Duplicate) {
                return Err(e);
            }
            if class == errors::Class::Unknown {
                intent.doubted();
            }
            if let Some(l) = self.made_before(props, intent).await? {
                tracing::info!(
                    kind = K::SPEC.name,
                    id = l.id,
                    "found what an earlier attempt made ({e})"
                );
                // The create may have stopped short of the calls after it
                // (attributes, rules, attachments): bring it to what is wanted.
                let l = self.0.ready(&l.id, left()).await?;
                let mut have = l.props.clone();
                for p in &l.unobserved {
                    have[*p] = props[*p].clone();
                }
                let have = typed(K::SPEC, &have)?;
                return self.0.update(&l.id, &have, &p, left()).await;
            }
            if class == errors::Class::Duplicate {
                return Err(e.context(
                    "it exists, and provision did not create it: import it or choose another name",
                ));
            }
            if attempt >= CREATE_ATTEMPTS {
                return Err(e.context(&format!(
                    "{attempt} attempts, outcome unknown; nothing of this stack found"
                )));
            }
        }
        unreachable!("the attempts loop returns")
    }
    async fn update(&self, id: &str, b: &Value, a: &Value, timeout: Duration) -> Result<Live> {
        let (b, a) = (typed(K::SPEC, b)?, typed(K::SPEC, a)?);
        self.0.update(id, &b, &a, timeout).await
    }
    /// Deletes, trying again while AWS says something still uses the object
    /// (for `in_use`, or the kind's default), within the delete's timeout.
    async fn delete(
        &self,
        id: &str,
        props: &Value,
        t: Duration,
        in_use: Option<Duration>,
    ) -> Result<()> {
        let p = typed(K::SPEC, props)?;
        let window = in_use.unwrap_or(Duration::from_secs(K::SPEC.in_use)).min(t);
        let start = std::time::Instant::now();
        let mut every = Duration::from_secs(1);
        loop {
            match self
                .0
                .delete(id, &p, t.saturating_sub(start.elapsed()))
                .await
            {
                // Gone, unless a read still finds it (a delete moments after
                // the create may not see it yet): then the delete goes on.
                Err(e) if errors::is(&e, errors::Class::NotFound) => {
                    if !self.still_there(id).await? {
                        return Ok(());
                    }
                    tracing::debug!(kind = K::SPEC.name, id, "not found, yet still there: {e}");
                    tokio::time::sleep(every).await;
                }
                Err(e) if errors::is(&e, errors::Class::InUse) && start.elapsed() < window => {
                    tracing::debug!(kind = K::SPEC.name, id, "in use, trying again: {e}");
                    tokio::time::sleep(every.min(window.saturating_sub(start.elapsed()))).await;
                    every = (every * 2).min(Duration::from_secs(15));
                }
                Err(e) if errors::is(&e, errors::Class::InUse) => {
                    let waited =
                        humantime::format_duration(Duration::from_secs(start.elapsed().as_secs()));
                    return Err(e.context(&format!("still in use after {waited} of retries")));
                }
                r => return r,
            }
        }
    }
    async fn delete_blocker(&self, id: &str, props: &Value) -> Result<Option<String>> {
        self.0.delete_blocker(id, &typed(K::SPEC, props)?).await
    }
    async fn create_blocker(&self, props: &Value) -> Result<Option<String>> {
        self.0.create_blocker(&typed(K::SPEC, props)?).await
    }
    async fn discover(&self) -> Result<Vec<Live>> {
        self.0.describe(Query::All).await
    }
    async fn inside(&self, c: Container, ids: &[String]) -> Result<Vec<Live>> {
        self.0.describe(Query::Inside(c, ids)).await
    }
}

/// A live object from its properties (brought to canonical form) and outputs.
pub(crate) fn live(
    spec: &KindSpec,
    id: &str,
    props: &impl Serialize,
    outputs: &[(&str, Value)],
) -> Live {
    let mut o = serde_json::Map::new();
    o.insert("id".into(), Value::String(id.to_string()));
    for (k, v) in outputs {
        if !v.is_null() {
            o.insert(k.to_string(), v.clone());
        }
    }
    let raw = serde_json::to_value(props).unwrap_or(Value::Null);
    Live {
        id: id.to_string(),
        props: crate::kind::canonical(spec, &raw),
        outputs: o,
        unobserved: vec![],
        claimed_by: None,
    }
}

/// Per-object reads a few at a time, answers in their order: a
/// refresh then waits for about the slowest read, not their sum. The reads
/// share their service's throttling budget (`call.rs`). Collect the futures
/// into a `Vec` first: in an `async_trait` method the compiler cannot prove a
/// lazy `map` over borrowed ids `Send`.
pub(crate) async fn each<T, Fut>(reads: impl IntoIterator<Item = Fut>) -> Result<Vec<T>>
where
    Fut: std::future::Future<Output = Result<T>>,
{
    use futures::{StreamExt, TryStreamExt};
    futures::stream::iter(reads)
        .buffered(READS_AT_ONCE)
        .try_collect()
        .await
}

/// Reads of one kind in flight at once (kinds are refreshed concurrently too).
const READS_AT_ONCE: usize = 8;

/// A kind AWS reads one object per call and cannot filter by tag: by id
/// (`get`; `None` when gone), or, for the stack's own, every id `all` lists,
/// read and kept when its tags say it is the stack's.
pub(crate) async fn one_call_each<G, GFut, A, AFut>(
    q: Query<'_>,
    all: A,
    get: G,
) -> Result<Vec<Live>>
where
    G: Fn(String) -> GFut,
    GFut: std::future::Future<Output = Result<Option<Live>>>,
    A: FnOnce() -> AFut,
    AFut: std::future::Future<Output = Result<Vec<String>>>,
{
    let ids = match q {
        Query::Ids(ids) => ids.to_vec(),
        Query::Owned(..) => all().await?,
        Query::All | Query::Inside(..) => vec![],
    };
    let found = each(ids.into_iter().map(get).collect::<Vec<_>>()).await?;
    let found = found.into_iter().flatten();
    Ok(match q {
        Query::Owned(stack, _) => found.filter(|l| tags::owns(stack, l)).collect(),
        _ => found.collect(),
    })
}

/// Up to this many objects are read one call each rather than by listing
/// the region, for APIs that take one id or none.
pub(crate) const ONE_BY_ONE: usize = 10;

/// Objects by id (or name) for APIs that take one id or none: a few are read
/// one call each, concurrently (`one`; an id that is gone gives nothing), so
/// the cost does not grow with the account's other objects; more than
/// [`ONE_BY_ONE`], by listing the region once (`all`) and keeping these ids.
pub(crate) async fn one_by_one_or_all<T, One, OneFut, All, AllFut>(
    ids: &[String],
    one: One,
    all: All,
    id_of: impl Fn(&T) -> &str,
) -> Result<Vec<T>>
where
    One: Fn(String) -> OneFut,
    OneFut: std::future::Future<Output = Result<Vec<T>>>,
    All: FnOnce() -> AllFut,
    AllFut: std::future::Future<Output = Result<Vec<T>>>,
{
    if ids.is_empty() {
        return Ok(vec![]);
    }
    if ids.len() <= ONE_BY_ONE {
        let reads: Vec<_> = ids
            .iter()
            .map(|id| {
                let f = one(id.clone());
                async move {
                    match f.await {
                        Err(e) if errors::is(&e, errors::Class::NotFound) => Ok(vec![]),
                        r => r,
                    }
                }
            })
            .collect();
        return Ok(each(reads).await?.into_iter().flatten().collect());
    }
    let every = all().await?;
    Ok(every
        .into_iter()
        .filter(|x| ids.iter().any(|i| i == id_of(x)))
        .collect())
}

/// An object's read (`main`: `None` when it is gone) and a read of more
/// about it (`detail`: its tags, say) at once, so a refresh waits for the
/// slower, not both. When `main` finds nothing, the detail is dropped with
/// whatever it was still waiting for (a detail read retries NotFound for a
/// while) and its answer does not count.
pub(crate) async fn with_detail<A, B>(
    main: impl std::future::Future<Output = Result<Option<A>>>,
    detail: impl std::future::Future<Output = Result<B>>,
) -> Result<Option<(A, B)>> {
    use futures::future::{Either, select};
    let (main, detail) = (std::pin::pin!(main), std::pin::pin!(detail));
    match select(main, detail).await {
        Either::Left((found, detail)) => match found? {
            None => Ok(None),
            Some(a) => Ok(Some((a, detail.await?))),
        },
        Either::Right((more, main)) => match main.await? {
            None => Ok(None),
            Some(a) => Ok(Some((a, more?))),
        },
    }
}

/// Reads ids a page at a time with `f`. APIs that take a list of ids fail the
/// whole call when one of them is gone: such a page is read id by id.
pub(crate) async fn by_pages<F, Fut>(ids: &[String], page: usize, f: F) -> Result<Vec<Live>>
where
    F: Fn(Vec<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Live>>>,
{
    let mut out = Vec::new();
    for chunk in ids.chunks(page) {
        match f(chunk.to_vec()).await {
            Ok(found) => out.extend(found),
            Err(e) if errors::is(&e, errors::Class::NotFound) => {
                for id in chunk {
                    match f(vec![id.clone()]).await {
                        Ok(found) => out.extend(found),
                        Err(e) if errors::is(&e, errors::Class::NotFound) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Reads back one object that must exist (right after creating or changing
/// it), waiting out eventual consistency for at most the settle window.
pub(crate) async fn read_one<K: Kind>(k: &K, id: &str) -> Result<Live> {
    let start = std::time::Instant::now();
    let mut every = Duration::from_millis(100);
    loop {
        let found = match k.describe(Query::Ids(&[id.to_string()])).await {
            Err(e) if errors::is(&e, errors::Class::NotFound) => None,
            r => r?.into_iter().find(|l| l.id == id),
        };
        if let Some(l) = found {
            return Ok(l);
        }
        if start.elapsed() >= call::settle() {
            return Err(Error::other(format!(
                "{} {id} vanished right after it was changed",
                K::SPEC.name
            )));
        }
        tokio::time::sleep(every).await;
        every = (every * 2).min(Duration::from_secs(5));
    }
}

/// The `arn` output of an object that must exist (for the APIs that tag by ARN).
pub(crate) async fn arn_of<K: Kind>(k: &K, id: &str) -> Result<String> {
    let l = read_one(k, id).await?;
    Ok(l.outputs["arn"].as_str().unwrap_or_default().to_string())
}

/// Waits until a read of `id` finds nothing (after a delete).
pub(crate) async fn gone<K: Kind>(k: &K, id: &str, timeout: Duration) -> Result<()> {
    let what = format!("{} {id}", K::SPEC.name);
    wait::gone(&what, timeout, || async {
        let found = k.describe(Query::Ids(&[id.to_string()])).await?;
        Ok(!found.is_empty())
    })
    .await
}

/// A create whose answer said nothing about what it made.
pub(crate) fn no_id(op: &str) -> Error {
    Error::other(format!("AWS {op} answered without the new object's id"))
}

pub struct AwsCloud {
    kinds: HashMap<&'static str, Box<dyn Resource>>,
    ec2: ec2::Ec2,
    tagging: Svc<aws_sdk_resourcegroupstagging::Client>,
    pub counter: CallCounter,
    retries: std::sync::Arc<std::sync::Mutex<call::RetryCounts>>,
    pub region: String,
}

impl AwsCloud {
    pub async fn connect(opts: &Connect) -> Result<AwsCloud> {
        let sdk = client::sdk_config(opts).await?;
        let counter = CallCounter::default();
        let clients = Clients::new(&sdk, &counter)?;
        let kinds = implementations(&clients)
            .into_iter()
            .map(|r| (r.spec().name, r))
            .collect();
        Ok(AwsCloud {
            kinds,
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
    ) -> Result<Vec<Live>> {
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
                    "description": n.description().unwrap_or_default(),
                    "tags": tags,
                });
                (!known.contains(&id)).then(|| Live {
                    id,
                    props,
                    outputs: serde_json::Map::new(),
                    unobserved: vec![],
                    claimed_by: None,
                })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::Ty;

    /// A value of the property's type, for the round trip below.
    fn sample(ty: &Ty) -> Value {
        match ty {
            Ty::Str => Value::from("x"),
            Ty::Bool => Value::from(true),
            Ty::Int => Value::from(1),
            Ty::Cidr => Value::from("10.0.0.0/16"),
            Ty::StrList { .. } => serde_json::json!(["a"]),
            Ty::Tags => serde_json::json!({"k": "v"}),
            Ty::ObjList(_) | Ty::Rules(_) => serde_json::json!([]),
        }
    }

    pub(super) fn round_trip<K: Kind>() {
        let spec = K::SPEC;
        let full: serde_json::Map<String, Value> = spec
            .props
            .iter()
            .map(|p| (p.name.to_string(), sample(&p.ty)))
            .collect();
        let p: K::Props = serde_json::from_value(Value::Object(full.clone()))
            .unwrap_or_else(|e| panic!("{}: every spec property must be a field: {e}", spec.name));
        let back = serde_json::to_value(&p).unwrap();
        let mut fields: Vec<&String> = back.as_object().unwrap().keys().collect();
        let mut props: Vec<&String> = full.keys().collect();
        fields.sort();
        props.sort();
        assert_eq!(fields, props, "{}: fields and spec differ", spec.name);
    }

    /// Each kind's typed properties and its spec name the same properties.
    #[test]
    fn typed_properties_match_the_specs() {
        round_trip_every_kind();
    }

    #[test]
    fn kind_names_are_unique_and_well_formed() {
        let mut names: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), KINDS.len());
        assert!(names.iter().all(|n| n.split('.').count() == 2));
    }
}
