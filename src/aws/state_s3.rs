//! State in S3, locked with S3's own conditional writes.
//!
//! - The lock is an object `KEY.lock` written with `If-None-Match: *`: only
//!   one writer can create it. It holds who, what, when, a lock id and a
//!   lease: the holder renews it (conditional on the lock's ETag) while it
//!   works; a lock whose lease lapsed, or whose holder is a dead process of
//!   this host, is taken over by the next run (conditional on the ETag it
//!   read, so two runs never both take it). Unlock is conditional too.
//! - The state object is written with `If-Match: ETAG` of the version read
//!   (or `If-None-Match: *` when there was none): a writer that lost its lock
//!   gets HTTP 412 and overwrites nothing.
//! - A versioned bucket keeps every write: `state history`, `state pull`.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;

use super::errors::from_sdk;
use crate::diag::{Error, Result};
use crate::state::{FORMAT_VERSION, LockInfo, State, StateStore, Version, locked_message};

/// An S3 error of the state store, saying which bucket when S3 did not.
fn err<E>(
    bucket: &str,
    op: &str,
    e: aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> Error
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match from_sdk(op, e) {
        Error::Aws {
            address,
            operation,
            code,
            message,
        } if code == "NoSuchBucket" => Error::Aws {
            address,
            operation,
            code,
            message: format!(
                "the state's bucket {bucket} does not exist{}: create it (versioned) or check --state",
                if message.is_empty() {
                    String::new()
                } else {
                    format!(" ({message})")
                }
            ),
        },
        other => other,
    }
}

pub struct S3StateStore {
    c: Client,
    bucket: String,
    key: String,
    kms_key_id: Option<String>,
    /// ETag of the state object as last read or written.
    etag: Mutex<Option<String>>,
    /// ETag of the lock object while this process holds it, and the task
    /// that renews its lease.
    lock_etag: std::sync::Arc<Mutex<Option<String>>>,
    renewal: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Set when another run took the lock over: records are refused then.
    lost: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The journal this process appends to since its last whole write.
    journal: Mutex<Option<u64>>,
    /// Journal objects read or written since the last whole write: deleted
    /// once it holds them.
    records: Mutex<Vec<String>>,
}

/// How long a lock lasts unless renewed (`PROVISION_LOCK_LEASE`, default 2
/// minutes); it is renewed every quarter of that.
fn lease() -> Duration {
    std::env::var("PROVISION_LOCK_LEASE")
        .ok()
        .and_then(|v| humantime::parse_duration(&v).ok())
        .unwrap_or(Duration::from_secs(120))
}

fn with_lease(mut info: LockInfo) -> LockInfo {
    let until = std::time::SystemTime::now() + lease();
    info.expires = Some(humantime::format_rfc3339_seconds(until).to_string());
    info
}

/// `s3://bucket/key` into (bucket, key).
pub fn parse_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then(|| (bucket.to_string(), key.to_string()))
}

/// A conditional write S3 refused: the condition failed (412), or another
/// conditional write of the key was under way (409). Either may answer the
/// SDK's retry of a write that succeeded and whose answer was lost: what is
/// there is read before it is called someone else's.
fn is_412(e: &Error) -> bool {
    matches!(e, Error::Aws { code, .. }
        if code == "PreconditionFailed" || code == "412"
            || code == "ConditionalRequestConflict" || code == "409")
}

/// An object's body and ETag; `None` when there is none.
async fn get_object(
    c: &Client,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<Option<(Vec<u8>, Option<String>)>> {
    match c
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version.map(str::to_string))
        .send()
        .await
    {
        Ok(o) => {
            let etag = o.e_tag().map(str::to_string);
            let body = o
                .body
                .collect()
                .await
                .map_err(|e| Error::State(format!("cannot read s3://{bucket}/{key}: {e}")))?;
            Ok(Some((body.to_vec(), etag)))
        }
        Err(e) => {
            let e = err(bucket, "GetObject", e);
            if is_missing(&e) { Ok(None) } else { Err(e) }
        }
    }
}

/// Who holds the lock object at `key`, with its ETag.
async fn read_holder(
    c: &Client,
    bucket: &str,
    key: &str,
) -> Result<Option<(LockInfo, Option<String>)>> {
    Ok(get_object(c, bucket, key, None)
        .await?
        .and_then(|(b, etag)| serde_json::from_slice(&b).ok().map(|l| (l, etag))))
}

fn is_missing(e: &Error) -> bool {
    matches!(e, Error::Aws { code, .. } if code == "NoSuchKey" || code == "NotFound" || code == "NoSuchBucket")
}

impl S3StateStore {
    pub fn new(c: Client, bucket: String, key: String, kms_key_id: Option<String>) -> Self {
        S3StateStore {
            c,
            bucket,
            key,
            kms_key_id,
            etag: Mutex::new(None),
            lock_etag: Default::default(),
            renewal: Mutex::new(None),
            lost: Default::default(),
            journal: Mutex::new(None),
            records: Mutex::new(vec![]),
        }
    }

    /// `KEY.journal/`: the records of every base.
    fn journal_prefix(&self) -> String {
        format!("{}.journal/", self.key)
    }

    /// The record of serial `serial` on the whole state of serial `base`
    /// (zero-padded: keys list in order).
    fn record_key(&self, base: u64, serial: u64) -> String {
        format!("{}{base:020}/{serial:020}", self.journal_prefix())
    }

    /// Every journal object there is.
    async fn journal_keys(&self) -> Result<Vec<String>> {
        let mut keys = vec![];
        let mut token = None;
        loop {
            let o = self
                .c
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(self.journal_prefix())
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| err(&self.bucket, "ListObjectsV2", e))?;
            keys.extend(
                o.contents()
                    .iter()
                    .filter_map(|x| x.key().map(str::to_string)),
            );
            token = o.next_continuation_token().map(str::to_string);
            if token.is_none() {
                return Ok(keys);
            }
        }
    }

    /// Replays onto `st` the records of its base, remembering every journal
    /// object seen so that the next whole write deletes them.
    async fn replay_journal(&self, st: &mut State) -> Result<()> {
        let keys = self.journal_keys().await?;
        let mine = format!("{}{:020}/", self.journal_prefix(), st.serial);
        let mut records = vec![];
        for k in keys.iter().filter(|k| k.starts_with(&mine)) {
            if let Some((body, _)) = self.get(k, None).await? {
                let e: crate::journal::Entry = serde_json::from_slice(&body).map_err(|e| {
                    Error::State(format!(
                        "s3://{}/{k} is not a valid record: {e}",
                        self.bucket
                    ))
                })?;
                records.push(e);
            }
        }
        crate::journal::replay(st, records);
        *self.records.lock().expect("records lock") = keys;
        Ok(())
    }

    /// Deletes the journal objects the whole state now holds (a failure
    /// leaves records of an old base, which are never replayed).
    async fn forget_records(&self) {
        let keys = std::mem::take(&mut *self.records.lock().expect("records lock"));
        for chunk in keys.chunks(1000) {
            let objects: Vec<_> = chunk
                .iter()
                .filter_map(|k| {
                    aws_sdk_s3::types::ObjectIdentifier::builder()
                        .key(k)
                        .build()
                        .ok()
                })
                .collect();
            let Ok(del) = aws_sdk_s3::types::Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
            else {
                continue;
            };
            if let Err(e) = self
                .c
                .delete_objects()
                .bucket(&self.bucket)
                .delete(del)
                .send()
                .await
            {
                tracing::warn!("could not delete the state's old journal records: {e}");
            }
        }
    }

    /// Keeps renewing the lease of the lock this process holds, each write
    /// conditional on the last: if another run took the lock over, renewal
    /// stops and says so (state writes are conditional as well).
    fn renew(&self, info: LockInfo) {
        let (c, bucket, key) = (self.c.clone(), self.bucket.clone(), self.lock_key());
        let etag = self.lock_etag.clone();
        let lost = self.lost.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease() / 4).await;
                let Some(current) = etag.lock().unwrap_or_else(|p| p.into_inner()).clone() else {
                    return;
                };
                let body = serde_json::to_vec_pretty(&with_lease(info.clone())).unwrap_or_default();
                let r = c
                    .put_object()
                    .bucket(&bucket)
                    .key(&key)
                    .content_type("application/json")
                    .body(ByteStream::from(body))
                    .if_match(current)
                    .send()
                    .await;
                match r.map_err(|e| err(&bucket, "PutObject", e)) {
                    Ok(o) => {
                        *etag.lock().unwrap_or_else(|p| p.into_inner()) =
                            o.e_tag().map(str::to_string);
                    }
                    Err(e) if is_412(&e) => {
                        // Our own renewal, its answer lost? Then it holds.
                        if let Ok(Some((h, tag))) = read_holder(&c, &bucket, &key).await
                            && h.id == info.id
                        {
                            *etag.lock().unwrap_or_else(|p| p.into_inner()) = tag;
                            continue;
                        }
                        lost.store(true, std::sync::atomic::Ordering::SeqCst);
                        eprintln!(
                            "warning: the state lock s3://{bucket}/{key} was taken over by another run; this run's state writes will be refused"
                        );
                        return;
                    }
                    // A failed renewal is tried again at the next tick.
                    Err(_) => {}
                }
            }
        });
        *self.renewal.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
    }

    fn held(&self, etag: Option<&str>, info: &LockInfo) {
        *self.lock_etag.lock().unwrap_or_else(|p| p.into_inner()) = etag.map(str::to_string);
        self.renew(info.clone());
    }

    /// Deletes the lock object, only if it is still the one with this ETag.
    async fn delete_lock(&self, etag: Option<String>) -> Result<()> {
        match self
            .c
            .delete_object()
            .bucket(&self.bucket)
            .key(self.lock_key())
            .set_if_match(etag)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = err(&self.bucket, "DeleteObject", e);
                if is_412(&e) || is_missing(&e) {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }

    fn lock_key(&self) -> String {
        format!("{}.lock", self.key)
    }

    async fn get(
        &self,
        key: &str,
        version: Option<&str>,
    ) -> Result<Option<(Vec<u8>, Option<String>)>> {
        get_object(&self.c, &self.bucket, key, version).await
    }

    async fn holder(&self) -> Result<Option<(LockInfo, Option<String>)>> {
        read_holder(&self.c, &self.bucket, &self.lock_key()).await
    }

    fn put(
        &self,
        key: &str,
        body: Vec<u8>,
    ) -> aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder {
        let mut p = self
            .c
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body));
        if let Some(k) = &self.kms_key_id {
            p = p
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(k);
        }
        p
    }

    fn parse(&self, body: &[u8]) -> Result<State> {
        let st: State = serde_json::from_slice(body)
            .map_err(|e| Error::State(format!("{} is not valid state: {e}", self.describe())))?;
        if st.version > FORMAT_VERSION {
            return Err(Error::State(format!(
                "{} has format version {}, this provision reads up to {FORMAT_VERSION}",
                self.describe(),
                st.version
            )));
        }
        Ok(st)
    }
}

#[async_trait]
impl StateStore for S3StateStore {
    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    async fn load(&self) -> Result<Option<State>> {
        match self.get(&self.key, None).await? {
            Some((body, etag)) => {
                *self.etag.lock().expect("etag lock") = etag;
                let mut st = self.parse(&body)?;
                self.replay_journal(&mut st).await?;
                Ok(Some(st))
            }
            None => {
                *self.etag.lock().expect("etag lock") = None;
                Ok(None)
            }
        }
    }

    async fn save(&self, st: &mut State) -> Result<()> {
        st.serial += 1;
        let body = serde_json::to_vec_pretty(st).expect("state serializes");
        let etag = self.etag.lock().expect("etag lock").clone();
        let req = match &etag {
            Some(e) => self.put(&self.key, body.clone()).if_match(e),
            None => self.put(&self.key, body.clone()).if_none_match("*"),
        };
        match req.send().await {
            Ok(o) => {
                *self.etag.lock().expect("etag lock") = o.e_tag().map(str::to_string);
                *self.journal.lock().expect("journal lock") = None;
                self.forget_records().await;
                Ok(())
            }
            Err(e) => {
                let e = err(&self.bucket, "PutObject", e);
                if is_412(&e)
                    && let Some((there, etag)) = self.get(&self.key, None).await?
                    && there == body
                {
                    // Our own write (the very bytes), its answer lost and the
                    // retry refused; another writer's state differs (its
                    // serial, or what it records).
                    *self.etag.lock().expect("etag lock") = etag;
                    *self.journal.lock().expect("journal lock") = None;
                    self.forget_records().await;
                    return Ok(());
                }
                st.serial -= 1;
                if is_412(&e) {
                    Err(Error::State(format!(
                        "{} was written by someone else since this run read it: not overwritten \
                         (nothing is lost; the newer state stays). Run again to work from it.",
                        self.describe()
                    )))
                } else {
                    Err(e)
                }
            }
        }
    }

    /// A record is one small object, written only if its key is new; the
    /// first record of a run writes the whole state, on which the run's
    /// records build (a run that lost its lock writes on a base no one
    /// reads, and is refused once it knows).
    async fn append(&self, st: &mut State, address: &str, made: Option<&str>) -> Result<()> {
        if self.lost.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::State(format!(
                "the lock of {} was taken over by another run: this run's records are refused (nothing is lost; the newer state stays). Run again to work from it.",
                self.describe()
            )));
        }
        let base = *self.journal.lock().expect("journal lock");
        let Some(base) = base else {
            self.save(st).await?;
            *self.journal.lock().expect("journal lock") = Some(st.serial);
            return Ok(());
        };
        st.serial += 1;
        let key = self.record_key(base, st.serial);
        let body = serde_json::to_vec(&crate::journal::Entry::of(st, base, address, made))
            .expect("a record serializes");
        match self.put(&key, body.clone()).if_none_match("*").send().await {
            Ok(_) => {}
            Err(e) => {
                let e = err(&self.bucket, "PutObject", e);
                let ours = is_412(&e)
                    && self
                        .get(&key, None)
                        .await?
                        .is_some_and(|(there, _)| there == body);
                if !ours {
                    st.serial -= 1;
                    return Err(e);
                }
            }
        }
        self.records.lock().expect("records lock").push(key);
        Ok(())
    }

    async fn fold(&self, st: &mut State) -> Result<()> {
        let base = *self.journal.lock().expect("journal lock");
        match base {
            Some(b) if b != st.serial => self.save(st).await,
            _ => Ok(()),
        }
    }

    async fn lock(&self, operation: &str, wait: Duration) -> Result<LockInfo> {
        let info = LockInfo::new(operation);
        let start = std::time::Instant::now();
        loop {
            let body = serde_json::to_vec_pretty(&with_lease(info.clone())).unwrap_or_default();
            match self
                .put(&self.lock_key(), body.clone())
                .if_none_match("*")
                .send()
                .await
            {
                Ok(o) => {
                    self.held(o.e_tag(), &info);
                    return Ok(info);
                }
                Err(e) => {
                    let e = err(&self.bucket, "PutObject", e);
                    if !is_412(&e) {
                        return Err(e);
                    }
                }
            }
            let Some((h, etag)) = self.holder().await? else {
                continue;
            };
            if h.id == info.id {
                // Our own lock: the write succeeded, its answer was lost.
                self.held(etag.as_deref(), &info);
                return Ok(info);
            }
            let why = if h.holder_is_dead() {
                Some("its process is no longer running")
            } else if h.lapsed() {
                Some("its lease lapsed without renewal")
            } else {
                None
            };
            if let (Some(why), Some(etag)) = (why, etag) {
                // Only over the lock as read: of two runs, one takes it.
                if let Ok(o) = self.put(&self.lock_key(), body).if_match(etag).send().await {
                    eprintln!(
                        "note: took over the state lock of {} by {}@{} (pid {}, since {}): {why}",
                        h.operation, h.user, h.host, h.pid, h.created
                    );
                    self.held(o.e_tag(), &info);
                    return Ok(info);
                }
                continue;
            }
            if start.elapsed() >= wait {
                let until = h.expires.as_deref().unwrap_or("?");
                let then = format!(
                    ", or, if that run is gone, for its lease to lapse ({until}): the next run then takes the lock over. \
                     To release it now: provision force-unlock {}",
                    h.id
                );
                return Err(Error::State(locked_message(&h, &then)));
            }
            crate::interrupt::pause(Duration::from_secs(1), "waiting for the state lock").await?;
        }
    }

    async fn unlock(&self, held: &LockInfo) -> Result<()> {
        if let Some(t) = self
            .renewal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            t.abort();
        }
        let etag = self
            .lock_etag
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some((h, now)) = self.holder().await?
            && h.id == held.id
        {
            // The ETag as read now, if a renewal's answer was lost.
            self.delete_lock(now.or(etag)).await?;
        }
        Ok(())
    }

    async fn force_unlock(&self, id: &str) -> Result<LockInfo> {
        let Some((h, etag)) = self.holder().await? else {
            return Err(Error::State(format!("{} is not locked", self.describe())));
        };
        if h.id != id {
            return Err(Error::State(format!(
                "lock id {id} does not match: the lock is held by {}@{} ({}) with id {}",
                h.user, h.host, h.operation, h.id
            )));
        }
        self.delete_lock(etag).await?;
        Ok(h)
    }

    async fn history(&self) -> Result<Vec<Version>> {
        let r = self
            .c
            .list_object_versions()
            .bucket(&self.bucket)
            .prefix(&self.key)
            .send()
            .await
            .map_err(|e| err(&self.bucket, "ListObjectVersions", e))?;
        let mut out: Vec<Version> = r
            .versions()
            .iter()
            .filter(|v| v.key() == Some(self.key.as_str()))
            .map(|v| Version {
                id: v.version_id().unwrap_or("null").to_string(),
                modified: v.last_modified().map(|t| t.to_string()).unwrap_or_default(),
                size: v.size().unwrap_or(0),
                latest: v.is_latest().unwrap_or(false),
            })
            .collect();
        out.sort_by(|a, b| b.modified.cmp(&a.modified).then(b.latest.cmp(&a.latest)));
        Ok(out)
    }

    async fn pull(&self, version: &str) -> Result<State> {
        let (body, _) = self
            .get(&self.key, Some(version))
            .await?
            .ok_or_else(|| Error::State(format!("{} has no version {version}", self.describe())))?;
        self.parse(&body)
    }

    async fn put_new(&self, st: &State, overwrite: bool) -> Result<()> {
        let body = serde_json::to_vec_pretty(st).expect("state serializes");
        if overwrite {
            // Records extend the state being replaced.
            *self.records.lock().expect("records lock") = self.journal_keys().await?;
            self.forget_records().await;
            *self.journal.lock().expect("journal lock") = None;
        }
        let req = if overwrite {
            self.put(&self.key, body)
        } else {
            self.put(&self.key, body).if_none_match("*")
        };
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = err(&self.bucket, "PutObject", e);
                if is_412(&e) {
                    Err(Error::State(format!(
                        "{} exists already: pass --force to overwrite it",
                        self.describe()
                    )))
                } else {
                    Err(e)
                }
            }
        }
    }
}

/// The calls the S3 state store makes (its lock, reads and writes), for `--stats`.
static STATE_CALLS: std::sync::LazyLock<crate::aws::CallCounter> =
    std::sync::LazyLock::new(crate::aws::CallCounter::default);

/// What the S3 state store has called so far, per (service, operation).
pub fn state_calls() -> crate::aws::CallCounts {
    STATE_CALLS.snapshot()
}

/// A store for `s3://bucket/key`, with clients built like every other one.
pub async fn open(
    url_or_parts: (&str, &str),
    region: Option<&str>,
    endpoint: Option<&str>,
    kms: Option<&str>,
) -> Result<S3StateStore> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r.to_string()));
    }
    if let Some(u) = endpoint {
        loader = loader.endpoint_url(u);
    }
    let sdk = loader.load().await;
    super::errors::remember_endpoint(&sdk);
    let c = Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .interceptor(STATE_CALLS.clone())
            .build(),
    );
    Ok(S3StateStore::new(
        c,
        url_or_parts.0.to_string(),
        url_or_parts.1.to_string(),
        kms.map(str::to_string),
    ))
}
