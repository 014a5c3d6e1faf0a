//! What every command opens: the stack, where its state lives (and its lock),
//! and the cloud. Commands are short stories over a [`Session`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::aws::{AwsCloud, Connect};
use crate::diag::{Error, Result};
use crate::stack::{self, Stack};
use crate::state::{LocalStore, State, StateStore};

/// SIGINT or SIGTERM, once it came: everything that waits sees it.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    flag: Arc<std::sync::atomic::AtomicBool>,
    notify: Arc<tokio::sync::Notify>,
}

impl Interrupt {
    /// Raises it; true the first time.
    pub fn raise(&self) -> bool {
        let first = !self.flag.swap(true, std::sync::atomic::Ordering::SeqCst);
        self.notify.notify_waiters();
        first
    }

    pub fn raised(&self) -> bool {
        self.flag.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The flag the executor checks before starting anything.
    pub fn flag(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.flag.clone()
    }

    /// Waits until it is raised.
    pub async fn wait(&self) {
        let n = self.notify.notified();
        tokio::pin!(n);
        n.as_mut().enable();
        if self.raised() {
            return;
        }
        n.await;
    }
}

/// The options every command that reads a stack is given.
#[derive(Debug, Clone, Default)]
pub struct Common {
    pub stack: PathBuf,
    pub state: Option<PathBuf>,
    pub vars: Vec<(String, String)>,
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
}

pub fn load_stack(path: &Path, vars: &[(String, String)]) -> Result<Stack> {
    let src = std::fs::read_to_string(path)
        .map_err(|e| Error::other(format!("cannot read stack {}: {e}", path.display())))?;
    stack::load(&path.display().to_string(), &src, vars)
}

impl Session {
    /// Loads the stack named by the options and finds its state.
    pub async fn open(c: &Common) -> Result<Session> {
        let stack = load_stack(&c.stack, &c.vars)?;
        Session::with(c, stack).await
    }

    /// A session over a stack already loaded (from a saved plan).
    pub async fn with(c: &Common, stack: Stack) -> Result<Session> {
        let store = open_store(c, &stack).await?;
        Ok(Session {
            opts: c.clone(),
            stack,
            store,
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

    /// The state, checked to be this stack's.
    pub async fn state(&self) -> Result<Option<State>> {
        let st = self.store.load().await?;
        match &st {
            Some(s) if s.stack != self.stack.name => Err(Error::State(format!(
                "the state belongs to stack {:?}, not {:?}: pass the right --state",
                s.stack, self.stack.name
            ))),
            _ => Ok(st),
        }
    }

    /// The state, or a new empty one for this stack.
    pub async fn state_or_new(&self) -> Result<State> {
        Ok(self
            .state()
            .await?
            .unwrap_or_else(|| State::new(&self.stack.name)))
    }

    pub async fn connect(&self) -> Result<Arc<AwsCloud>> {
        connect(&self.opts, self.stack.region.as_deref()).await
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
    let r = work.await;
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
    match (&c.state, &stack.backend) {
        (Some(p), _) if p.to_string_lossy().starts_with("s3://") => {
            let url = p.to_string_lossy().to_string();
            let (bucket, key) = crate::aws::state_s3::parse_url(&url)
                .ok_or_else(|| Error::other(format!("--state {url}: expected s3://BUCKET/KEY")))?;
            remote(bucket, key, None, None).await
        }
        (None, Some(b)) => {
            remote(
                b.bucket.clone(),
                b.key.clone(),
                b.region.clone(),
                b.kms_key_id.clone(),
            )
            .await
        }
        _ => Ok(Arc::new(LocalStore::new(state_path(c, &stack.name)))),
    }
}

/// `.provision/NAME.state.json` beside the stack file, unless `--state` says otherwise.
pub fn state_path(c: &Common, stack_name: &str) -> PathBuf {
    c.state.clone().unwrap_or_else(|| {
        c.stack
            .parent()
            .unwrap_or(Path::new("."))
            .join(".provision")
            .join(format!("{stack_name}.state.json"))
    })
}
