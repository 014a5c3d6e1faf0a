//! What every command opens: the stack, where its state lives (and its lock),
//! and the cloud. Commands are short stories over a [`Session`].

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::aws::{AwsCloud, Connect};
use crate::diag::{Error, Result};
use crate::provider::Cloud;
use crate::stack::{self, Stack};
use crate::state::{LocalStore, State, StateStore};

pub use crate::interrupt::Interrupt;

/// The options every command that reads a stack is given.
#[derive(Debug, Clone, Default)]
pub struct Common {
    pub stack: PathBuf,
    pub state: Option<PathBuf>,
    /// `--state-region`: where the state's S3 bucket is, over the backend's
    /// and the stack's region.
    pub state_region: Option<String>,
    pub vars: Vec<(String, String)>,
    /// `--var-file FILE`, in order (later wins; `--var` wins over them).
    pub var_files: Vec<PathBuf>,
    /// `-e/--env NAME`: `env/NAME.yaml` beside the stack, and a state of its own.
    pub env: Option<String>,
    pub endpoint_url: Option<String>,
    pub stats: bool,
    /// How long to wait for a lock another run holds (zero: fail at once).
    pub lock_timeout: Duration,
    pub interrupt: Interrupt,
}

pub struct Session {
    pub opts: Common,
    pub stack: Stack,
    pub store: Arc<dyn StateStore>,
    /// The cloud, once connected (data sources connect while loading).
    cloud: tokio::sync::OnceCell<Arc<AwsCloud>>,
}

/// The stack's text and the var files' (`-e ENV`'s first, then
/// `--var-file`s in order), read from disk.
struct Texts {
    file: String,
    source: String,
    var_files: Vec<(String, String)>,
}

/// Other stacks' outputs as read, by name (or why they could not be).
type Upstream = BTreeMap<String, std::result::Result<serde_json::Value, String>>;

impl Texts {
    /// What the loader is given: these texts, with what was read so far.
    fn input<'a>(
        &'a self,
        c: &'a Common,
        data: &'a HashMap<String, serde_json::Value>,
        upstream: &'a Upstream,
        offline: bool,
    ) -> stack::Input<'a> {
        stack::Input {
            file: &self.file,
            source: &self.source,
            vars: &c.vars,
            var_files: &self.var_files,
            env: c.env.as_deref(),
            files: &stack::Disk,
            data,
            upstream,
            offline,
        }
    }
}

fn read_texts(c: &Common) -> Result<Texts> {
    let path = &c.stack;
    let source = std::fs::read_to_string(path)
        .map_err(|e| Error::other(format!("cannot read stack {}: {e}", path.display())))?;
    let mut files: Vec<PathBuf> = Vec::new();
    if let Some(env) = &c.env {
        if env.is_empty()
            || !env
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
        {
            return Err(Error::other(format!(
                "-e {env}: an environment is named with letters, digits, - and _"
            )));
        }
        let f = env_file(c, env);
        if !f.exists() {
            return Err(Error::other(format!(
                "-e {env}: there is no {} (an environment is a var file in env/ beside the stack)",
                f.display()
            )));
        }
        files.push(f);
    }
    files.extend(c.var_files.iter().cloned());
    let var_files = files
        .iter()
        .map(|f| {
            std::fs::read_to_string(f)
                .map(|t| (f.display().to_string(), t))
                .map_err(|e| Error::other(format!("cannot read var file {}: {e}", f.display())))
        })
        .collect::<Result<_>>()?;
    Ok(Texts {
        file: path.display().to_string(),
        source,
        var_files,
    })
}

/// `env/NAME.yaml` beside the stack file.
pub fn env_file(c: &Common, env: &str) -> PathBuf {
    c.stack
        .parent()
        .unwrap_or(Path::new("."))
        .join("env")
        .join(format!("{env}.yaml"))
}

/// Loads the stack without reading anything (no data source, no other
/// state): for commands that touch no AWS (`validate`, `graph`, `state`).
pub fn load_stack(c: &Common) -> Result<Stack> {
    let t = read_texts(c)?;
    let (data, upstream) = (HashMap::new(), BTreeMap::new());
    stack::load_with(&t.input(c, &data, &upstream, true)).stack
}

/// Loading rounds at most: each reads the data sources the one before
/// found it needs (a data source's filters may use another's attributes).
const DATA_ROUNDS: usize = 16;

/// Loads the stack with what it reads: other stacks' outputs (from their
/// states, without their locks) and data sources (connecting to read them).
async fn load_online(c: &Common, cloud: &tokio::sync::OnceCell<Arc<AwsCloud>>) -> Result<Stack> {
    let t = read_texts(c)?;
    let mut data: HashMap<String, serde_json::Value> = HashMap::new();
    let mut upstream = BTreeMap::new();
    let mut upstream_read = false;
    for _ in 0..DATA_ROUNDS {
        let loaded = stack::load_with(&t.input(c, &data, &upstream, false));
        if !upstream_read && !loaded.wants.stacks.is_empty() {
            upstream_read = true;
            for s in &loaded.wants.stacks {
                upstream.insert(s.name.clone(), read_upstream(c, s).await);
            }
            continue;
        }
        let new: Vec<stack::DataReq> = loaded
            .wants
            .data
            .into_iter()
            .filter(|r| !data.contains_key(&r.address))
            .collect();
        if new.is_empty() {
            return loaded.stack;
        }
        let cloud = cloud
            .get_or_try_init(|| connect(c, loaded.wants.region.as_deref()))
            .await?;
        let reads = new.iter().map(|r| async move {
            let v = async {
                cloud
                    .at(r.region.as_deref())?
                    .read_data(r.kind, &r.props)
                    .await
            }
            .await
            .map_err(|e| match e {
                Error::Other(m) => Error::other(format!("{} ({}): {m}", r.address, r.kind)),
                e => e.at_address(&r.address),
            });
            (r.address.clone(), v)
        });
        for (addr, v) in futures::future::join_all(reads).await {
            data.insert(addr, v?);
        }
    }
    Err(Error::other(format!(
        "data sources refer to each other more than {DATA_ROUNDS} deep"
    )))
}

/// Another stack's recorded outputs (`stacks:`), read without its lock;
/// or why they cannot be.
pub async fn read_upstream(
    c: &Common,
    s: &stack::StackRef,
) -> std::result::Result<serde_json::Value, String> {
    let store: Arc<dyn StateStore> = if s.state.starts_with("s3://") {
        let (bucket, key) = crate::aws::state_s3::parse_url(&s.state)
            .ok_or_else(|| "expected s3://BUCKET/KEY".to_string())?;
        let st = crate::aws::state_s3::open((&bucket, &key), None, c.endpoint_url.as_deref(), None)
            .await
            .map_err(|e| e.to_string())?;
        Arc::new(st)
    } else {
        let base = Path::new(&s.file).parent().unwrap_or(Path::new(""));
        Arc::new(LocalStore::new(base.join(&s.state)))
    };
    match store.load().await {
        Ok(Some(st)) => Ok(serde_json::Value::Object(
            st.outputs.into_iter().map(|(k, o)| (k, o.value)).collect(),
        )),
        Ok(None) => Err("there is no state there (apply that stack first)".into()),
        Err(e) => Err(e.to_string()),
    }
}

impl Session {
    /// Loads the stack named by the options, reading what it reads (data
    /// sources, other stacks' outputs), and finds its state.
    pub async fn open(c: &Common) -> Result<Session> {
        let cloud = tokio::sync::OnceCell::new();
        let stack = load_online(c, &cloud).await?;
        let mut s = Session::with(c, stack).await?;
        s.cloud = cloud;
        Ok(s)
    }

    /// Loads the stack without reading anything (commands that touch no
    /// AWS: `state`, `graph`).
    pub async fn open_offline(c: &Common) -> Result<Session> {
        let stack = load_stack(c)?;
        Session::with(c, stack).await
    }

    /// A session over a stack already loaded (from a saved plan).
    pub async fn with(c: &Common, stack: Stack) -> Result<Session> {
        let store = open_store(c, &stack).await?;
        Ok(Session {
            opts: c.clone(),
            stack,
            store,
            cloud: tokio::sync::OnceCell::new(),
        })
    }

    /// Runs `work` holding the state's lock, and releases it whatever
    /// happens; an interrupt abandons the work (at its next wait: a state
    /// write is atomic, so it happens whole or not at all).
    pub async fn locked<T>(
        &self,
        operation: &str,
        work: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let i = self.opts.interrupt.clone();
        let work = async move {
            tokio::select! {
                r = work => r,
                _ = i.wait() => Err(Error::Interrupted(format!("{operation} stopped; the lock is released"))),
            }
        };
        with_lock(&self.store, operation, self.opts.lock_timeout, work).await
    }

    /// Like [`Session::locked`], for work that stops itself at an interrupt
    /// (apply and destroy: operations in flight finish and are recorded).
    pub async fn locked_to_the_end<T>(
        &self,
        operation: &str,
        work: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        with_lock(&self.store, operation, self.opts.lock_timeout, work).await
    }

    /// The state, checked to be this stack's (and environment's).
    pub async fn state(&self) -> Result<Option<State>> {
        let st = self.store.load().await?;
        let owner = self.stack.owner();
        match &st {
            Some(s) if s.stack != owner => Err(Error::State(format!(
                "the state belongs to stack {:?}, not {:?}: pass the right --state (or -e)",
                s.stack, owner
            ))),
            _ => Ok(st),
        }
    }

    /// The state, or a new empty one for this stack.
    pub async fn state_or_new(&self) -> Result<State> {
        Ok(self
            .state()
            .await?
            .unwrap_or_else(|| State::new(&self.stack.owner())))
    }

    /// The cloud (one connection per session: its calls are counted together).
    pub async fn connect(&self) -> Result<Arc<AwsCloud>> {
        self.cloud
            .get_or_try_init(|| connect(&self.opts, self.stack.region.as_deref()))
            .await
            .cloned()
    }

    /// Prints the API calls made, when `--stats` asks.
    pub fn stats(&self, cloud: &AwsCloud) {
        if self.opts.stats {
            crate::commands::print_stats(cloud);
        }
    }
}

pub async fn connect(c: &Common, region: Option<&str>) -> Result<Arc<AwsCloud>> {
    let cloud = AwsCloud::connect(&Connect {
        endpoint_url: c.endpoint_url.clone(),
        region: region.map(str::to_string),
    })
    .await?;
    Ok(Arc::new(cloud))
}

/// Runs `work` holding a store's lock, and releases it whatever happens.
pub async fn with_lock<T>(
    store: &Arc<dyn StateStore>,
    operation: &str,
    wait: Duration,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    let held = store.lock(operation, wait).await?;
    // A second signal ends the process at once: it frees the lock first.
    let (s, h) = (store.clone(), held.clone());
    crate::interrupt::on_exit_release(Some(Box::new(move || {
        Box::pin(async move {
            let _ = s.unlock(&h).await;
        })
    })));
    let r = work.await;
    crate::interrupt::on_exit_release(None);
    if let Err(e) = store.unlock(&held).await {
        eprintln!(
            "warning: could not release the lock of {}: {e}\n  release it with: provision force-unlock {}",
            store.describe(),
            held.id
        );
    }
    r
}

/// Where the state is: `--state` (a path or `s3://bucket/key`), else the
/// stack's `backend:`, else `.provision/NAME.state.json` beside the stack file.
pub async fn open_store(c: &Common, stack: &Stack) -> Result<Arc<dyn StateStore>> {
    let endpoint = c.endpoint_url.as_deref();
    let remote = |bucket: String, key: String, region: Option<String>, kms: Option<String>| async move {
        let region = region.or_else(|| stack.region.clone());
        let s = crate::aws::state_s3::open(
            (&bucket, &key),
            region.as_deref(),
            endpoint,
            kms.as_deref(),
        )
        .await?;
        Ok::<Arc<dyn StateStore>, Error>(Arc::new(s))
    };
    let env_key = |key: &str| match &stack.env {
        // As Terraform's S3 backend keeps a workspace's state.
        Some(e) => format!("env:/{e}/{key}"),
        None => key.to_string(),
    };
    match (&c.state, &stack.backend) {
        (Some(p), _) if p.to_string_lossy().starts_with("s3://") => {
            let url = p.to_string_lossy().to_string();
            let (bucket, key) = crate::aws::state_s3::parse_url(&url)
                .ok_or_else(|| Error::other(format!("--state {url}: expected s3://BUCKET/KEY")))?;
            remote(bucket, key, c.state_region.clone(), None).await
        }
        (None, Some(b)) => {
            remote(
                b.bucket.clone(),
                env_key(&b.key),
                c.state_region.clone().or_else(|| b.region.clone()),
                b.kms_key_id.clone(),
            )
            .await
        }
        _ => Ok(Arc::new(LocalStore::new(state_path(c, &stack.name)))),
    }
}

/// `.provision/NAME.state.json` (`NAME.ENV.state.json` with `-e ENV`)
/// beside the stack file, unless `--state` says otherwise.
pub fn state_path(c: &Common, stack_name: &str) -> PathBuf {
    c.state.clone().unwrap_or_else(|| {
        let name = match &c.env {
            Some(e) => format!("{stack_name}.{e}.state.json"),
            None => format!("{stack_name}.state.json"),
        };
        c.stack
            .parent()
            .unwrap_or(Path::new("."))
            .join(".provision")
            .join(name)
    })
}
