//! A typed [`Kind`] behind the untyped interface the engine speaks
//! ([`Resource`]): properties to and from the kind's struct, and the rules
//! every kind shares: a create whose answer was lost looks for what it made
//! before trying again; a delete retries while AWS says the object is in
//! use, and counts as done only when a read no longer finds it.

use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::errors;
use super::kind::{Create, Kind, Query};
use crate::diag::{Error, Result};
use crate::kind::KindSpec;
use crate::provider::{Container, Intent, Live, Wanted};

/// Creates tried at most, when answers are lost and nothing is found.
const CREATE_ATTEMPTS: u32 = 3;

/// A kind behind the untyped interface the engine speaks.
#[async_trait]
pub(super) trait Resource: Send + Sync {
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
    async fn name_taken(&self, props: &Value) -> Result<Option<String>>;
    async fn discover(&self) -> Result<Vec<Live>>;
    async fn inside(&self, c: Container, ids: &[String]) -> Result<Vec<Live>>;
}

pub(super) struct Typed<K>(pub(super) K);

impl<K: Kind> Typed<K> {
    /// The object an earlier attempt of this create made, if AWS shows one:
    /// looked for by its ownership (tags, or the name or token AWS keeps)
    /// for a few seconds, as tags become visible to filters.
    async fn made_before(
        &self,
        props: &Value,
        intent: &Intent,
        patience: Duration,
    ) -> Result<Option<Live>> {
        let wanted = [Wanted {
            address: intent.address.clone(),
            props: props.clone(),
        }];
        let start = std::time::Instant::now();
        let mut every = Duration::from_millis(500);
        loop {
            let found = self
                .0
                .describe(Query::Owned(&intent.stack, &wanted))
                .await?;
            // This state's lineage; or, for an object found by a name or
            // token AWS keeps (it may carry no tags yet), none when an
            // earlier attempt may have made it.
            let retry = intent.resumed || intent.in_doubt();
            let mine = found.into_iter().find(|l| {
                let lineage = l.props["tags"][crate::stack::TAG_LINEAGE].as_str();
                l.address().as_deref() == Some(intent.address.as_str())
                    && match lineage {
                        Some(x) => x == intent.lineage,
                        None => retry && l.claimed_by.is_some(),
                    }
            });
            if mine.is_some() {
                return Ok(mine);
            }
            let elapsed = start.elapsed();
            if elapsed >= patience {
                return Ok(None);
            }
            crate::interrupt::pause(
                every.min(patience - elapsed),
                "looking for what an earlier attempt made",
            )
            .await?;
            every = (every * 2).min(Duration::from_secs(5));
        }
    }

    /// Whether a read still finds the object, after a moment.
    async fn still_there(&self, id: &str) -> Result<bool> {
        crate::interrupt::pause(Duration::from_millis(500), "deleting").await?;
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
        let mut token = intent.token.clone();
        for attempt in 1.. {
            let c = Create {
                timeout: left(),
                token: &token,
                retry: intent.resumed || intent.in_doubt(),
            };
            let e = match self.0.create(&p, &c).await {
                Ok(l) => return Ok(l),
                Err(e) => e,
            };
            // AWS remembers the token with other parameters (a create begun
            // by an earlier run, the stack changed since): what that made
            // carries this state's tags; if nothing of it is found, the
            // token is spent and a new one makes the object.
            if errors::has_code(&e, &["IdempotentParameterMismatch"]) {
                if let Some(l) = self
                    .made_before(props, intent, Duration::from_millis(7500))
                    .await?
                {
                    let l = self.0.ready(&l.id, left()).await?;
                    let have = typed(K::SPEC, &l.props)?;
                    return self.0.update(&l.id, &have, &p, left()).await;
                }
                if attempt >= CREATE_ATTEMPTS {
                    return Err(e);
                }
                token = uuid::Uuid::new_v4().to_string();
                continue;
            }
            let class = errors::class_of(&e);
            if !matches!(class, errors::Class::Unknown | errors::Class::Duplicate) {
                return Err(e);
            }
            if class == errors::Class::Unknown {
                intent.doubted();
            }
            // After a lost answer, as long as a lagging read could still
            // hide what the attempt made (repeating a create that takes no
            // token would make a second); after "exists", a few seconds.
            let patience = if class == errors::Class::Unknown {
                super::call::settle()
            } else {
                Duration::from_millis(7500)
            };
            if let Some(l) = self.made_before(props, intent, patience).await? {
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
                    if start.elapsed() >= t {
                        return Err(e.context("AWS says it is gone, yet reads still find it"));
                    }
                    tracing::debug!(kind = K::SPEC.name, id, "not found, yet still there: {e}");
                    crate::interrupt::pause(every, "deleting").await?;
                }
                Err(e) if errors::is(&e, errors::Class::InUse) && start.elapsed() < window => {
                    tracing::debug!(kind = K::SPEC.name, id, "in use, trying again: {e}");
                    crate::provider::note_waiting(&format!("AWS says it is in use ({e})"));
                    crate::interrupt::pause(
                        every.min(window.saturating_sub(start.elapsed())),
                        "waiting for what uses it to let go",
                    )
                    .await?;
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
    async fn name_taken(&self, props: &Value) -> Result<Option<String>> {
        self.0.name_taken(&typed(K::SPEC, props)?).await
    }
    async fn discover(&self) -> Result<Vec<Live>> {
        self.0.describe(Query::All).await
    }
    async fn inside(&self, c: Container, ids: &[String]) -> Result<Vec<Live>> {
        self.0.describe(Query::Inside(c, ids)).await
    }
}
