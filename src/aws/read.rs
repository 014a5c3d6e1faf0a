//! The read verbs every service repeats: a live object from typed
//! properties, reads a few at a time, by pages of ids, one call each or the
//! region's list, an object with more about it, and the waits right after a
//! write (read back, gone).

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::kind::{Kind, Query};
use super::{call, errors, tags, wait};
use crate::diag::{Error, Result};
use crate::kind::KindSpec;
use crate::provider::Live;

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

/// The names a `Query::Owned` wants (property `prop` of each wanted
/// object, where known): `None` when none is wanted (drift's orphan search),
/// which looks at every object of the kind.
pub(crate) fn wanted_names(wanted: &[crate::provider::Wanted], prop: &str) -> Option<Vec<String>> {
    (!wanted.is_empty()).then(|| {
        wanted
            .iter()
            .filter_map(|w| w.props[prop].as_str())
            .filter(|n| !crate::expr::contains_unknown(&Value::from(*n)))
            .map(str::to_string)
            .collect()
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

/// One object's read waiting to be carried out with others of its kind.
type Waiter<T> = (String, tokio::sync::oneshot::Sender<Result<Option<T>>>);

/// The reads of one kind waiting at the same time: whoever's turn comes
/// reads every id queued by then in one call and answers them all, so
/// that objects made (or waited for) together are read together, one call
/// per round rather than one per object, and one read at most is in flight
/// per kind.
struct Batch<T> {
    queue: std::sync::Mutex<Vec<Waiter<T>>>,
    turn: tokio::sync::Mutex<()>,
}

impl<T> Default for Batch<T> {
    fn default() -> Self {
        Batch {
            queue: std::sync::Mutex::default(),
            turn: tokio::sync::Mutex::default(),
        }
    }
}

/// Batches by what they read (a kind, or a kind's raw objects), the
/// kind's instance (its clients: one region) and the answer's type.
type Batches = std::collections::HashMap<
    (&'static str, usize, std::any::TypeId),
    std::sync::Arc<dyn std::any::Any + Send + Sync>,
>;
static BATCHES: std::sync::LazyLock<std::sync::Mutex<Batches>> =
    std::sync::LazyLock::new(Default::default);

/// Reads `id` (`None`: not seen) with `many`, in one call with every other
/// id that `owner`'s reads of `what` are waiting for at the same time.
/// `many` answers the ids it found, each with its id.
pub(crate) async fn shared<O, T, F, Fut>(
    owner: &O,
    what: &'static str,
    id: &str,
    many: F,
) -> Result<Option<T>>
where
    T: Clone + Send + Sync + 'static,
    F: Fn(Vec<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<(String, T)>>>,
{
    let key = (
        what,
        std::ptr::from_ref(owner) as *const () as usize,
        std::any::TypeId::of::<T>(),
    );
    let any = BATCHES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(key)
        .or_insert_with(|| std::sync::Arc::new(Batch::<T>::default()))
        .clone();
    let Ok(batch) = any.downcast::<Batch<T>>() else {
        return Err(Error::other(format!(
            "internal: the reads of {what} are of another type"
        )));
    };
    loop {
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        batch
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((id.to_string(), tx));
        let turn = batch.turn.lock().await;
        match rx.try_recv() {
            Ok(r) => return r,
            // The read that had taken it was dropped (interrupted): again.
            Err(tokio::sync::oneshot::error::TryRecvError::Closed) => continue,
            Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {}
        }
        let waiting = std::mem::take(&mut *batch.queue.lock().unwrap_or_else(|p| p.into_inner()));
        let ids: Vec<String> = waiting
            .iter()
            .map(|(i, _)| i.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let found = match many(ids).await {
            Err(e) if errors::is(&e, errors::Class::NotFound) => Ok(vec![]),
            r => r,
        };
        for (i, tx) in waiting {
            let answer = match &found {
                Ok(all) => Ok(all.iter().find(|(x, _)| *x == i).map(|(_, t)| t.clone())),
                Err(e) => Err(e.clone()),
            };
            let _ = tx.send(answer);
        }
        drop(turn);
        match rx.try_recv() {
            Ok(r) => return r,
            Err(_) => continue,
        }
    }
}

/// Reads `id` (`None`: not seen) in one Describe with every other id of the
/// kind waiting to be read at the same time.
pub(crate) async fn read_shared<K: Kind>(k: &K, id: &str) -> Result<Option<Live>> {
    shared(k, K::SPEC.name, id, |ids| async move {
        let found = k.describe(Query::Ids(&ids)).await?;
        Ok(found.into_iter().map(|l| (l.id.clone(), l)).collect())
    })
    .await
}

/// Reads back one object that must exist (right after creating or changing
/// it), waiting out eventual consistency for at most the settle window;
/// objects of a kind read back at the same time share their reads.
pub(crate) async fn read_one<K: Kind>(k: &K, id: &str) -> Result<Live> {
    let start = std::time::Instant::now();
    let mut every = Duration::from_millis(100);
    loop {
        let found = read_shared(k, id).await?;
        if let Some(l) = found {
            return Ok(l);
        }
        if start.elapsed() >= call::settle() {
            return Err(Error::other(format!(
                "{} {id} vanished right after it was changed",
                K::SPEC.name
            )));
        }
        crate::interrupt::pause(
            every,
            &format!("waiting for {} {id} to be seen", K::SPEC.name),
        )
        .await?;
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
        Ok(read_shared(k, id).await?.is_some())
    })
    .await
}

/// A create whose answer said nothing about what it made.
pub(crate) fn no_id(op: &str) -> Error {
    Error::other(format!("AWS {op} answered without the new object's id"))
}
