//! State: what provision created, where, and with which properties.
//!
//! A local JSON file, written atomically (temporary file, fsync, rename, fsync
//! of the folder) with mode 0600 after every completed resource operation,
//! and guarded by a lock file while a command that may write it runs.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::diag::{Error, Result};
use crate::journal::LocalJournal;

pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct State {
    pub version: u32,
    /// Set once when the state is first written; a plan or a copy from
    /// another lineage is never applied to it.
    pub lineage: String,
    /// Grows with every write.
    pub serial: u64,
    pub stack: String,
    pub resources: BTreeMap<String, Recorded>,
    /// Replaced objects not yet deleted (create-then-delete interrupted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deposed: Vec<Deposed>,
    /// Creates begun and not recorded yet, by address: written before the
    /// call, so that a run that dies in it leaves a trace, and the next try
    /// reuses the idempotency token.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub creating: BTreeMap<String, Creating>,
    /// Kinds of which a create's outcome was in doubt (an answer lost): the
    /// next plan looks for orphans of them.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub unsure: BTreeSet<String>,
    /// Objects `state rm` let go of: they still carry this state's tags, but
    /// are no longer its to delete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub released: Vec<Released>,
    /// Objects made in the last minutes, by id, with when (seconds since
    /// 1970): AWS shows a new object to reads only after a while, so a read
    /// that misses one is tried again before it is taken as deleted.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub made: BTreeMap<String, u64>,
    /// The stack's outputs as of the last apply (what `provision output`
    /// prints and other stacks read through `stacks:`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, OutputValue>,
    /// The outputs of the stacks this one reads (`stacks:`), as they were
    /// at the last apply: a plan or drift says when one has changed since.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub upstream: BTreeMap<String, Value>,
}

/// One recorded output.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutputValue {
    pub value: Value,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Released {
    pub kind: String,
    pub id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Creating {
    pub kind: String,
    pub token: String,
}

/// Seconds since 1970, for `State::made`.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl State {
    /// Notes that `id` was made now; forgets what was made long ago.
    pub fn note_made(&mut self, id: &str) {
        let now = unix_now();
        self.made.retain(|_, at| now.saturating_sub(*at) < 3600);
        self.made.insert(id.to_string(), now);
    }

    /// The kinds whose orphans a plan looks for: those of creates in doubt
    /// or begun and not recorded.
    pub fn doubtful_kinds(&self) -> BTreeSet<String> {
        let mut k = self.unsure.clone();
        k.extend(self.creating.values().map(|c| c.kind.clone()));
        k
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recorded {
    pub kind: String,
    pub id: String,
    /// The region it lives in, when not the stack's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Canonical properties as last applied (or read, when adopted).
    pub properties: Value,
    /// Outputs such as `id` and `arn`.
    #[serde(default)]
    pub outputs: Map<String, Value>,
    /// Addresses this resource depended on when applied: destroy order.
    #[serde(default)]
    pub dependencies: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prevent_destroy: bool,
    /// Brought in by `import`: provision did not create it, so it never
    /// deletes it (destroy and removal from the stack forget it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub imported: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Deposed {
    pub address: String,
    pub kind: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub properties: Value,
}

impl State {
    /// The regions its objects live in (`None`: the stack's), the stack's
    /// always among them.
    pub fn regions(&self) -> BTreeSet<Option<String>> {
        let mut r: BTreeSet<Option<String>> = self
            .resources
            .values()
            .map(|r| r.region.clone())
            .chain(self.deposed.iter().map(|d| d.region.clone()))
            .collect();
        r.insert(None);
        r
    }

    pub fn new(stack: &str) -> State {
        State {
            version: FORMAT_VERSION,
            lineage: uuid::Uuid::new_v4().to_string(),
            serial: 0,
            stack: stack.to_string(),
            resources: BTreeMap::new(),
            deposed: vec![],
            creating: BTreeMap::new(),
            unsure: BTreeSet::new(),
            released: vec![],
            made: BTreeMap::new(),
            outputs: BTreeMap::new(),
            upstream: BTreeMap::new(),
        }
    }
}

/// One stored version of the state (S3 keeps them all in a versioned bucket).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Version {
    pub id: String,
    pub modified: String,
    pub size: i64,
    pub latest: bool,
}

/// Where state lives: a local file or an S3 object. Every write is atomic;
/// remote writes are conditional on the version read, so a writer that lost
/// its lock can never overwrite newer state.
#[async_trait::async_trait]
pub trait StateStore: Send + Sync {
    /// `path` or `s3://bucket/key`.
    fn describe(&self) -> String;
    /// Reads the state and remembers which version was read.
    async fn load(&self) -> Result<Option<State>>;
    /// Bumps the serial and writes the whole state, only over the version
    /// last read or written (folding in any journal).
    async fn save(&self, st: &mut State) -> Result<()>;
    /// Bumps the serial and writes what one resource operation on `address`
    /// changed in `st` (and the id it made), durably, as a journal record
    /// (`journal.rs`); the first record of a run writes the whole state.
    async fn append(&self, st: &mut State, address: &str, made: Option<&str>) -> Result<()> {
        let _ = (address, made);
        self.save(st).await
    }
    /// Writes the whole state if records were appended since it last was.
    async fn fold(&self, st: &mut State) -> Result<()> {
        let _ = st;
        Ok(())
    }
    /// Takes the lock for `operation`, waiting up to `wait` for a holder to let go.
    async fn lock(&self, operation: &str, wait: std::time::Duration) -> Result<LockInfo>;
    /// Releases a lock this process holds.
    async fn unlock(&self, held: &LockInfo) -> Result<()>;
    /// Releases a stale lock, only if `id` is the lock's id.
    async fn force_unlock(&self, id: &str) -> Result<LockInfo>;
    /// Stored versions, newest first.
    async fn history(&self) -> Result<Vec<Version>> {
        Err(Error::State(format!(
            "{} keeps no history: use a state in a versioned S3 bucket",
            self.describe()
        )))
    }
    /// One stored version.
    async fn pull(&self, _version: &str) -> Result<State> {
        Err(Error::State(format!(
            "{} keeps no history",
            self.describe()
        )))
    }
    /// Writes `st` as it is where no state exists yet (or over one, if `overwrite`).
    async fn put_new(&self, st: &State, overwrite: bool) -> Result<()>;
}

/// The message for a lock somebody else holds; `then` says what else the
/// user can do.
pub fn locked_message(h: &LockInfo, then: &str) -> String {
    format!(
        "state is locked: {} by {}@{} (pid {}) since {}, lock id {}.\n  Wait for it to finish \
         (--lock-timeout 10m waits for the lock instead of failing at once){then}",
        h.operation, h.user, h.host, h.pid, h.created, h.id,
    )
}

/// Who runs this process, for lock messages: `USER`, `LOGNAME`, or the
/// account name of the user id (cron jobs and containers often set neither).
pub fn user_name() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Ok(v) = std::env::var(var)
            && !v.is_empty()
        {
            return v;
        }
    }
    // SAFETY: getuid cannot fail; getpwuid_r writes into the buffer given.
    unsafe {
        let uid = libc::getuid();
        let mut pw: libc::passwd = std::mem::zeroed();
        let mut out: *mut libc::passwd = std::ptr::null_mut();
        let mut buf = vec![0 as libc::c_char; 1024];
        if libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut out) == 0
            && !out.is_null()
            && !pw.pw_name.is_null()
        {
            return std::ffi::CStr::from_ptr(pw.pw_name)
                .to_string_lossy()
                .into_owned();
        }
        format!("uid {uid}")
    }
}

/// Where state lives locally. The lock is an operating-system lock on
/// `PATH.lock` (which also names the holder, for messages): the kernel frees
/// it when the holder ends, however it ends.
#[derive(Debug, Clone)]
pub struct LocalStore {
    pub path: PathBuf,
    /// The open lock file while this process holds the lock.
    held: std::sync::Arc<std::sync::Mutex<Option<fs::File>>>,
    /// The journal this process appends to since its last whole write.
    journal: std::sync::Arc<std::sync::Mutex<Option<LocalJournal>>>,
}

impl LocalStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        LocalStore {
            path: path.into(),
            held: Default::default(),
            journal: Default::default(),
        }
    }

    /// Reads the state, with its journal's records replayed; `None` when
    /// there is none yet.
    pub fn load(&self) -> Result<Option<State>> {
        let Some(mut st) = self.load_whole()? else {
            return Ok(None);
        };
        crate::journal::replay(&mut st, crate::journal::read_local(&self.journal_path())?);
        Ok(Some(st))
    }

    /// `PATH.journal`: records of operations since the last whole write.
    pub fn journal_path(&self) -> PathBuf {
        with_suffix(&self.path, ".journal")
    }

    /// Reads the whole state as last written, without its journal.
    fn load_whole(&self) -> Result<Option<State>> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::State(format!(
                    "cannot read state {}: {e}",
                    self.path.display()
                )));
            }
        };
        let st: State = serde_json::from_str(&text).map_err(|e| {
            Error::State(format!(
                "state {} is not valid: {e}{}",
                self.path.display(),
                self.backup_hint()
            ))
        })?;
        if st.version > FORMAT_VERSION {
            return Err(Error::State(format!(
                "state {} has format version {}, this provision reads up to {FORMAT_VERSION}",
                self.path.display(),
                st.version
            )));
        }
        Ok(Some(st))
    }

    /// Bumps the serial and writes the state atomically; the version it
    /// replaces is kept as `PATH.backup` (a state stays readable however
    /// the write ends: the backup is linked before the new one is renamed in).
    pub fn save(&self, st: &mut State) -> Result<()> {
        st.serial += 1;
        let text = serde_json::to_string_pretty(st).expect("state serializes");
        let cannot = |e: std::io::Error| {
            Error::State(format!("cannot write state {}: {e}", self.path.display()))
        };
        if self.path.exists() {
            let backup = self.backup_path();
            let link = with_suffix(&backup, &format!(".{}.tmp", std::process::id()));
            let _ = fs::remove_file(&link);
            fs::hard_link(&self.path, &link)
                .and_then(|_| fs::rename(&link, &backup))
                .map_err(cannot)?;
        }
        write_atomic(&self.path, text.as_bytes()).map_err(cannot)?;
        // The journal's records are in the whole state now.
        *self.journal.lock().unwrap_or_else(|p| p.into_inner()) = None;
        match fs::remove_file(self.journal_path()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(cannot(e)),
            _ => Ok(()),
        }
    }

    /// Bumps the serial and appends what an operation changed to the
    /// journal; the first record since a whole write writes the whole state
    /// instead, and starts the journal on it.
    pub fn append(&self, st: &mut State, address: &str, made: Option<&str>) -> Result<()> {
        let mut j = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        let cannot = |e: std::io::Error| {
            Error::State(format!(
                "cannot write the state's journal {}: {e}",
                self.journal_path().display()
            ))
        };
        match j.as_mut() {
            Some(j) => {
                st.serial += 1;
                let r = j.append(&crate::journal::Entry::of(st, j.base, address, made));
                if r.is_err() {
                    st.serial -= 1;
                }
                r.map_err(cannot)
            }
            None => {
                drop(j);
                self.save(st)?;
                let started =
                    LocalJournal::start(&self.journal_path(), st.serial).map_err(cannot)?;
                *self.journal.lock().unwrap_or_else(|p| p.into_inner()) = Some(started);
                Ok(())
            }
        }
    }

    /// Writes the whole state if the journal has records.
    pub fn fold(&self, st: &mut State) -> Result<()> {
        let base = self
            .journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|j| j.base);
        match base {
            Some(b) if b != st.serial => self.save(st),
            _ => Ok(()),
        }
    }

    /// `PATH.backup`: the state as it was before its last write.
    pub fn backup_path(&self) -> PathBuf {
        with_suffix(&self.path, ".backup")
    }

    /// What to say of the backup when the state cannot be read.
    fn backup_hint(&self) -> String {
        let b = self.backup_path();
        let Ok(text) = fs::read_to_string(&b) else {
            return String::new();
        };
        match serde_json::from_str::<State>(&text) {
            Ok(prev) => format!(
                ".\n  The version before it is in {} (serial {}): restore it with\n    \
                 provision state push {} --force\n  (or copy it over the state), then plan to see what it lacks",
                b.display(),
                prev.serial,
                b.display()
            ),
            Err(_) => format!(" (its backup {} is not valid either)", b.display()),
        }
    }

    pub fn lock_path(&self) -> PathBuf {
        with_suffix(&self.path, ".lock")
    }
}

/// `path` with `suffix` added to its name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.to_path_buf().into_os_string();
    p.push(suffix);
    PathBuf::from(p)
}

/// Writes a file so that a reader sees either the old or the new content,
/// never a mix, even if the machine stops mid-way.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Who holds a lock.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockInfo {
    pub id: String,
    pub operation: String,
    pub user: String,
    pub host: String,
    pub pid: u32,
    pub created: String,
    /// When the lock lapses unless its holder renews it (S3 locks: a lock
    /// whose holder died is taken over once this has passed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

impl LockInfo {
    pub fn new(operation: &str) -> LockInfo {
        LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            operation: operation.to_string(),
            user: user_name(),
            host: gethostname::gethostname().to_string_lossy().to_string(),
            pid: std::process::id(),
            created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            expires: None,
        }
    }

    /// Whether the holder is a process of this host that is no longer running.
    pub fn holder_is_dead(&self) -> bool {
        self.host == gethostname::gethostname().to_string_lossy()
            && !Path::new(&format!("/proc/{}", self.pid)).exists()
    }

    /// Whether the lease has passed.
    pub fn lapsed(&self) -> bool {
        self.expires
            .as_deref()
            .and_then(|e| humantime::parse_rfc3339(e).ok())
            .is_some_and(|t| t < std::time::SystemTime::now())
    }
}

/// The holder a lock file names; `None` when it is empty (released).
fn holder_in(f: &mut fs::File) -> Option<LockInfo> {
    use std::io::{Read, Seek};
    let mut text = String::new();
    f.seek(std::io::SeekFrom::Start(0)).ok()?;
    f.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// Takes the operating-system lock on the lock file beside a local state
/// file and writes the holder's details into it, or says who holds it.
fn try_lock(store: &LocalStore, operation: &str) -> Result<LockInfo> {
    use std::io::Seek;
    let path = store.lock_path();
    if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(d)?;
    }
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| Error::State(format!("cannot open lock {}: {e}", path.display())))?;
    match f.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            // A holder that has just taken the lock writes its details a
            // moment later: wait a little for them rather than name nobody.
            let mut holder = holder_in(&mut f);
            for _ in 0..20 {
                if holder.is_some() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
                holder = holder_in(&mut f);
            }
            return Err(Error::State(match holder {
                Some(h) => locked_message(&h, ""),
                None => format!("state is locked by another process ({})", path.display()),
            }));
        }
        Err(fs::TryLockError::Error(e)) => {
            return Err(Error::State(format!("cannot lock {}: {e}", path.display())));
        }
    }
    // A holder that ended without releasing leaves its details behind: the
    // kernel freed its lock.
    if let Some(h) = holder_in(&mut f) {
        eprintln!(
            "note: {} by {}@{} (pid {}) ended without releasing the lock; the operating system freed it",
            h.operation, h.user, h.host, h.pid
        );
    }
    let info = LockInfo::new(operation);
    let text = serde_json::to_string_pretty(&info).unwrap_or_default();
    f.set_len(0)
        .and_then(|()| f.seek(std::io::SeekFrom::Start(0)).map(drop))
        .and_then(|()| f.write_all(text.as_bytes()))
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::State(format!("cannot write lock {}: {e}", path.display())))?;
    *store.held.lock().unwrap_or_else(|p| p.into_inner()) = Some(f);
    Ok(info)
}

#[async_trait::async_trait]
impl StateStore for LocalStore {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }
    async fn load(&self) -> Result<Option<State>> {
        LocalStore::load(self)
    }
    async fn save(&self, st: &mut State) -> Result<()> {
        LocalStore::save(self, st)
    }
    async fn append(&self, st: &mut State, address: &str, made: Option<&str>) -> Result<()> {
        LocalStore::append(self, st, address, made)
    }
    async fn fold(&self, st: &mut State) -> Result<()> {
        LocalStore::fold(self, st)
    }
    async fn lock(&self, operation: &str, wait: std::time::Duration) -> Result<LockInfo> {
        let start = std::time::Instant::now();
        loop {
            match try_lock(self, operation) {
                Err(_) if start.elapsed() < wait => {
                    crate::interrupt::pause(
                        std::time::Duration::from_millis(500),
                        "waiting for the state lock",
                    )
                    .await?;
                }
                r => return r,
            }
        }
    }
    /// Empties the lock file (the holder is gone) and closes it, which frees
    /// the lock. The file stays: removing it could let a waiting process
    /// lock a file no one else opens.
    async fn unlock(&self, held: &LockInfo) -> Result<()> {
        let f = self.held.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut f) = f
            && holder_in(&mut f).is_some_and(|h| h.id == held.id)
        {
            f.set_len(0)?;
            f.sync_all()?;
        }
        Ok(())
    }
    /// A local lock frees itself when its holder ends: there is nothing to
    /// force. Says who holds it, if anyone does.
    async fn force_unlock(&self, id: &str) -> Result<LockInfo> {
        match try_lock(self, "force-unlock") {
            Ok(info) => {
                self.unlock(&info).await?;
                Err(Error::State(format!(
                    "{} is not locked (a local lock is freed by the operating system when its holder ends; lock id {id} is not held)",
                    self.describe()
                )))
            }
            Err(e) => Err(Error::State(format!(
                "{e}\n  A local lock is held only while its holder runs: stop that process rather than force the lock"
            ))),
        }
    }
    async fn put_new(&self, st: &State, overwrite: bool) -> Result<()> {
        if !overwrite && self.path.exists() {
            return Err(Error::State(format!(
                "{} exists already: pass --force to overwrite it",
                self.describe()
            )));
        }
        let text = serde_json::to_string_pretty(st).expect("state serializes");
        // The journal's records extend the state being replaced.
        *self.journal.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let _ = fs::remove_file(self.journal_path());
        write_atomic(&self.path, text.as_bytes())
            .map_err(|e| Error::State(format!("cannot write {}: {e}", self.describe())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run's records land in the journal, not the state file; a run killed
    /// before it folds them loses none (the next read replays them); the
    /// fold writes them into the state and removes the journal.
    #[test]
    fn records_go_to_the_journal_and_are_folded_in_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let store = LocalStore::new(&path);
        let mut st = State::new("x");
        let rec = |id: &str| Recorded {
            kind: "ec2.vpc".into(),
            id: id.into(),
            region: None,
            properties: serde_json::json!({"cidr_block": "10.0.0.0/16"}),
            outputs: Default::default(),
            dependencies: vec![],
            prevent_destroy: false,
            imported: false,
        };
        for i in 0..5 {
            let a = format!("vpc{i}");
            st.resources.insert(a.clone(), rec(&format!("vpc-{i}")));
            st.note_made(&format!("vpc-{i}"));
            store
                .append(&mut st, &a, Some(&format!("vpc-{i}")))
                .unwrap();
        }
        st.resources.remove("vpc3");
        store.append(&mut st, "vpc3", None).unwrap();
        // The first record wrote the whole state; the rest are records.
        let whole: State = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!((whole.serial, whole.resources.len()), (1, 1));
        assert_eq!(
            fs::read_to_string(store.journal_path())
                .unwrap()
                .lines()
                .count(),
            5
        );
        // Killed here: another process reads everything.
        let read = LocalStore::new(&path).load().unwrap().unwrap();
        assert_eq!(read, st);
        // That process's first record starts from the whole of it.
        let next = LocalStore::new(&path);
        let mut again = read.clone();
        again.resources.insert("vpc9".into(), rec("vpc-9"));
        next.append(&mut again, "vpc9", None).unwrap();
        assert!(!next.journal_path().exists() || fs::read(next.journal_path()).unwrap().is_empty());
        let whole: State = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(whole, again);
        // The fold: whole state, no journal.
        again.resources.remove("vpc0");
        next.append(&mut again, "vpc0", None).unwrap();
        next.fold(&mut again).unwrap();
        assert!(!next.journal_path().exists());
        let whole: State = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(whole, again);
        assert_eq!(LocalStore::new(&path).load().unwrap().unwrap(), again);
    }

    #[tokio::test]
    async fn save_is_atomic_private_and_bumps_serial_and_the_lock_names_its_holder() {
        let dir = std::env::temp_dir().join(format!("provision-state-{}", uuid::Uuid::new_v4()));
        let store = LocalStore::new(dir.join("s.json"));
        assert!(store.load().unwrap().is_none());
        let mut st = State::new("x");
        store.save(&mut st).unwrap();
        store.save(&mut st).unwrap();
        let back = store.load().unwrap().unwrap();
        assert_eq!(back.serial, 2);
        assert_eq!(back.lineage, st.lineage);
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&store.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let mut files: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(
            files,
            ["s.json", "s.json.backup"],
            "no temporary file left behind"
        );
        let before: State =
            serde_json::from_slice(&fs::read(store.backup_path()).unwrap()).unwrap();
        assert_eq!(
            before.serial, 1,
            "the backup is the state before the last write"
        );
        let zero = std::time::Duration::ZERO;
        let held = StateStore::lock(&store, "apply", zero).await.unwrap();
        let e = StateStore::lock(&store, "plan", zero)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("locked: apply by"), "{e}");
        assert!(e.contains(&held.id));
        let e = store.force_unlock(&held.id).await.unwrap_err().to_string();
        assert!(
            e.contains("stop that process rather than force the lock"),
            "{e}"
        );
        store.unlock(&held).await.unwrap();
        let again = StateStore::lock(&store, "plan", zero).await.unwrap();
        // A holder that ends without unlocking (its lock file closed, as
        // when the process dies): the next one gets the lock at once.
        drop(store.held.lock().unwrap().take());
        let other = LocalStore::new(store.path.clone());
        let next = StateStore::lock(&other, "apply", zero).await.unwrap();
        assert_ne!(next.id, again.id);
        other.unlock(&next).await.unwrap();
        let e = other.force_unlock("any").await.unwrap_err().to_string();
        assert!(e.contains("is not locked"), "{e}");
        fs::remove_dir_all(dir).unwrap();
    }
}
