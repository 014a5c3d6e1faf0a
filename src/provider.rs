//! The boundary between the engine and a cloud.
//!
//! The engine (planner, executor) knows this trait and nothing of AWS. The AWS
//! implementation is in `aws/`; unit tests use the in-memory one in `fake.rs`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::diag::Result;
pub use crate::kind::Container;

/// A resource as read from the cloud.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub id: String,
    /// Canonical properties, in the shape of the kind's schema.
    pub props: Value,
    /// Outputs such as `id` and `arn`.
    pub outputs: Map<String, Value>,
    /// Properties the read could not observe; the engine keeps them as
    /// recorded in state (or as desired, when adopting).
    pub unobserved: Vec<&'static str>,
    /// The address `find_owned` matched this object to by something other
    /// than its ownership tag (a bucket's name, a zone's CallerReference, the
    /// region's one GuardDuty detector).
    pub claimed_by: Option<String>,
}

impl Live {
    /// The address this object belongs to: as claimed, else as its ownership tag says.
    pub fn address(&self) -> Option<String> {
        if let Some(a) = &self.claimed_by {
            return Some(a.clone());
        }
        let tag = self
            .props
            .get("tags")?
            .get(crate::stack::TAG_ADDRESS)?
            .as_str()?;
        Some(crate::stack::address_from_tag(tag))
    }
}

/// What a cloud must do for the engine. Every method names the kind, so one
/// implementation serves all kinds through its own registry.
///
/// `create`, `update` and `delete` must be safe to retry after a failure:
/// `create` tags in the create call itself (so a lost answer is found again
/// by `find_owned`), `delete` of something already gone succeeds.
#[async_trait]
pub trait Cloud: Send + Sync {
    /// The cloud of one region (`None`: the stack's own). Every other
    /// method speaks to one region; the engine routes each object's calls
    /// by the region its instance or record names. Fails for a region the
    /// cloud was not connected to.
    fn at(&self, region: Option<&str>) -> Result<&dyn Cloud>;

    /// Reads the resources of one kind with these ids, batched: one call per
    /// page of ids, never one call per resource. Ids that no longer exist are
    /// absent from the answer.
    async fn read(&self, kind: &str, ids: &[String]) -> Result<Vec<Live>>;

    /// How long the cloud may take to show a new object to reads (AWS's
    /// eventual consistency): a recorded object made less than this ago that
    /// a read misses is read again before it is taken as gone.
    fn settle(&self) -> Duration {
        Duration::ZERO
    }

    /// Reads what state records, given the properties it recorded of each:
    /// a kind that AWS reads fastest by a parent those name (EFS mount
    /// targets by their file system) uses them; the rest read by id.
    async fn read_recorded(&self, kind: &str, recorded: &[(&str, &Value)]) -> Result<Vec<Live>> {
        let ids: Vec<String> = recorded.iter().map(|r| r.0.to_string()).collect();
        self.read(kind, &ids).await
    }

    /// Resources of one kind that belong to this stack though state does not
    /// record them: by the ownership tag, or, for kinds whose identity is a
    /// name (S3 buckets, EFS creation tokens), by the names in `wanted`.
    async fn find_owned(&self, kind: &str, stack: &str, wanted: &[Wanted]) -> Result<Vec<Live>>;

    /// Objects of one kind that carry the stack's ownership tag, when no
    /// address is missing and no create of the kind is in doubt (drift and
    /// destroy looking for orphans): a cloud may answer from an index that
    /// can lag behind the last minutes, since nothing was just created.
    /// `known` are the ids state records (read apart): a cloud that reads
    /// candidates one by one need not read those again.
    async fn find_orphans(&self, kind: &str, stack: &str, _known: &[String]) -> Result<Vec<Live>> {
        self.find_owned(kind, stack, &[]).await
    }

    /// Every object of one kind inside these containers (VPCs, zones, load
    /// balancers), whoever made it, minus what AWS makes itself (a default
    /// group, a main route table, a zone's SOA and NS records); nothing for
    /// kinds that do not live in that kind of container.
    async fn inside(&self, _kind: &str, _c: Container, _ids: &[String]) -> Result<Vec<Live>> {
        Ok(vec![])
    }

    /// Creates a resource with these canonical properties (tags included)
    /// and waits until it is usable, at most `timeout`. When an answer is
    /// lost (the call may have been carried out), the object is looked for
    /// by its ownership and taken if found, never made twice; the intent
    /// then says the outcome was in doubt.
    async fn create(
        &self,
        kind: &str,
        props: &Value,
        timeout: Duration,
        intent: &Intent,
    ) -> Result<Live>;

    /// Changes the properties that differ between `before` and `after`.
    /// Changes the properties that differ between `before` and `after`, and
    /// waits for the change to settle, at most `timeout`.
    async fn update(
        &self,
        kind: &str,
        id: &str,
        before: &Value,
        after: &Value,
        timeout: Duration,
    ) -> Result<Live>;

    /// Deletes a resource and waits until it is gone, at most `timeout`.
    /// While AWS answers that something still uses it, the delete is tried
    /// again for `in_use` (the kind's own default when `None`).
    async fn delete(
        &self,
        kind: &str,
        id: &str,
        props: &Value,
        timeout: Duration,
        in_use: Option<Duration>,
    ) -> Result<()>;

    /// Why this object cannot be deleted now (deletion protection on, a
    /// bucket that still holds objects), if anything stops it.
    async fn delete_blocker(
        &self,
        _kind: &str,
        _id: &str,
        _props: &Value,
    ) -> Result<Option<String>> {
        Ok(None)
    }

    /// Reads a data source: its attributes, from what its filters select.
    async fn read_data(&self, kind: &str, _props: &Value) -> Result<Value> {
        Err(crate::diag::Error::other(format!(
            "data source kind {kind} cannot be read here"
        )))
    }

    /// Why this object will not be created (a paid subscription it needs is
    /// missing), if anything stops it. Such a create is shown and skipped.
    async fn create_blocker(&self, _kind: &str, _props: &Value) -> Result<Option<String>> {
        Ok(None)
    }

    /// Who already holds the name this create would take (another stack's
    /// bucket, one made by hand, another account's), if anyone: the plan
    /// shows it and apply refuses the plan before any write.
    async fn name_taken(&self, _kind: &str, _props: &Value) -> Result<Option<String>> {
        Ok(None)
    }
}

/// A desired resource missing from state, for `find_owned`.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub address: String,
    /// Desired properties (parts may be unknown).
    pub props: Value,
}

/// Who asks for a create, and the token that makes a repeat of it the same
/// create.
#[derive(Debug, Default)]
pub struct Intent {
    pub stack: String,
    /// The state's lineage: objects carry it, so that two states of one
    /// stack name never take each other's.
    pub lineage: String,
    pub address: String,
    /// The idempotency token: the same for every attempt, in this run and
    /// the next, until state records the object.
    pub token: String,
    /// An earlier run began this create (and may have made the object).
    pub resumed: bool,
    /// Set when an attempt's outcome was unknown (an answer lost): another
    /// object may have been made, so the next plan looks for orphans.
    pub doubt: std::sync::atomic::AtomicBool,
}

impl Intent {
    pub fn in_doubt(&self) -> bool {
        self.doubt.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn doubted(&self) {
        self.doubt.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

tokio::task_local! {
    /// What the operation running in this task waits on, as AWS last said.
    static WAITING_ON: Arc<std::sync::Mutex<Option<String>>>;
}

/// Says what the running operation waits on (AWS's words: an in-use
/// refusal), for its progress line; nothing outside an operation.
pub fn note_waiting(why: &str) {
    let _ = WAITING_ON.try_with(|w| {
        *w.lock().unwrap_or_else(|p| p.into_inner()) = Some(why.to_string());
    });
}

/// Runs an operation with `cell` receiving what it waits on.
pub async fn noting_waits<F: std::future::Future>(
    cell: Arc<std::sync::Mutex<Option<String>>>,
    f: F,
) -> F::Output {
    WAITING_ON.scope(cell, f).await
}

/// One of the executor's `--parallelism` slots, held by the operation
/// running in a task. `--parallelism` bounds the operations at work with
/// AWS: an operation waiting for a token of AWS's request buckets
/// ([`pace`]) gives its slot back meanwhile, so that operations spending
/// other buckets go on (a thousand subnets waiting on CreateSubnet's bucket
/// do not keep their route tables from CreateRouteTable's).
pub struct Slot {
    slots: Arc<tokio::sync::Semaphore>,
    held: std::sync::Mutex<Option<tokio::sync::OwnedSemaphorePermit>>,
}

impl Slot {
    pub fn new(
        slots: Arc<tokio::sync::Semaphore>,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> Arc<Slot> {
        Arc::new(Slot {
            slots,
            held: std::sync::Mutex::new(Some(permit)),
        })
    }

    /// Whether the operation holds its slot now (it is not waiting for
    /// AWS's request rate).
    pub fn held(&self) -> bool {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    fn put(&self, p: Option<tokio::sync::OwnedSemaphorePermit>) {
        *self.held.lock().unwrap_or_else(|p| p.into_inner()) = p;
    }
}

tokio::task_local! {
    /// The slot of the operation running in this task.
    static SLOT: Arc<Slot>;
}

/// Runs an operation in its slot.
pub async fn in_slot<F: std::future::Future>(slot: Arc<Slot>, f: F) -> F::Output {
    SLOT.scope(slot, f).await
}

/// Waits `d` for AWS's request rate (what: for the interrupt's message),
/// without the executor's slot: it is given back for the wait and taken
/// again, in turn, before the call goes on. Outside an operation, a plain
/// wait.
pub async fn pace(d: Duration, what: &str) -> Result<()> {
    let slot = SLOT.try_with(Arc::clone).ok();
    if let Some(s) = &slot {
        s.put(None);
    }
    crate::interrupt::pause(d, what).await?;
    if let Some(s) = slot {
        // Closed only when the executor is gone: then no slot bounds anything.
        s.put(s.slots.clone().acquire_owned().await.ok());
    }
    Ok(())
}
