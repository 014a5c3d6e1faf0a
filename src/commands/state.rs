//! `provision state ...` and `provision force-unlock`: read and change the
//! state without touching AWS.

use std::path::PathBuf;

use serde_json::Value;

use super::Common;
use crate::diag::{Error, Result};
use crate::session::{Session, open_store, with_lock};
use crate::stack;
use crate::state::State;

/// What `provision state` does.
pub enum StateOp {
    List,
    Show(String),
    Rm(Vec<String>),
    Mv(String, String),
    History,
    Pull(Option<String>),
    Migrate { to: PathBuf, force: bool },
    Push { from: PathBuf, force: bool },
}

pub async fn run(c: &Common, op: StateOp) -> Result<i32> {
    let s = Session::open_offline(c).await?;
    let r = match op {
        StateOp::List => list(&s).await,
        StateOp::Show(addr) => show(&s, &addr).await,
        StateOp::Rm(addrs) => s.locked("state rm", rm(&s, &addrs)).await,
        StateOp::Mv(from, to) => s.locked("state mv", mv(&s, &from, &to)).await,
        StateOp::History => history(&s).await,
        StateOp::Pull(version) => pull(&s, version).await,
        StateOp::Migrate { to, force } => migrate(&s, to, force).await,
        StateOp::Push { from, force } => s.locked("state push", push(&s, &from, force)).await,
    };
    // State commands call AWS only through an S3 state store.
    if c.stats {
        super::print_state_calls();
    }
    r
}

async fn existing(s: &Session) -> Result<State> {
    s.store
        .load()
        .await?
        .ok_or_else(|| Error::State("there is no state".into()))
}

async fn list(s: &Session) -> Result<i32> {
    let st = s
        .store
        .load()
        .await?
        .unwrap_or_else(|| State::new(&s.stack.owner()));
    for (addr, r) in &st.resources {
        println!("{addr:<40} {:<32} {}", r.kind, r.id);
    }
    for d in &st.deposed {
        println!("{:<40} {:<32} {} (deposed)", d.address, d.kind, d.id);
    }
    Ok(0)
}

async fn show(s: &Session, addr: &str) -> Result<i32> {
    let st = s
        .store
        .load()
        .await?
        .unwrap_or_else(|| State::new(&s.stack.owner()));
    let r = st.resources.get(addr).ok_or_else(|| {
        Error::State(format!(
            "{addr} is not in the state of {}",
            s.store.describe()
        ))
    })?;
    println!("{}", serde_json::to_string_pretty(r).unwrap_or_default());
    Ok(0)
}

async fn rm(s: &Session, addrs: &[String]) -> Result<i32> {
    let mut st = existing(s).await?;
    for a in addrs {
        let r = st
            .resources
            .remove(a)
            .ok_or_else(|| Error::State(format!("{a} is not in the state")))?;
        println!(
            "Forgot {a} ({} {}); it still exists in AWS, and provision will not delete it.",
            r.kind, r.id
        );
        st.released.push(crate::state::Released {
            kind: r.kind,
            id: r.id,
        });
    }
    s.store.save(&mut st).await?;
    Ok(0)
}

async fn mv(s: &Session, from: &str, to: &str) -> Result<i32> {
    let mut st = existing(s).await?;
    if st.resources.contains_key(to) {
        return Err(Error::State(format!("{to} is already in the state")));
    }
    let mut r = st
        .resources
        .remove(from)
        .ok_or_else(|| Error::State(format!("{from} is not in the state")))?;
    if let Some(Value::Object(tags)) = r.properties.get_mut("tags") {
        tags.insert(
            stack::TAG_ADDRESS.into(),
            Value::String(stack::address_tag(to)),
        );
    }
    for other in st.resources.values_mut() {
        for d in other.dependencies.iter_mut().filter(|d| *d == from) {
            *d = to.to_string();
        }
    }
    st.resources.insert(to.to_string(), r);
    s.store.save(&mut st).await?;
    println!("Moved {from} to {to}.");
    Ok(0)
}

async fn history(s: &Session) -> Result<i32> {
    for v in s.store.history().await? {
        let latest = if v.latest { "  (latest)" } else { "" };
        println!("{}  {}  {:>8} bytes{latest}", v.id, v.modified, v.size);
    }
    Ok(0)
}

async fn pull(s: &Session, version: Option<String>) -> Result<i32> {
    let st = match version {
        Some(v) => s.store.pull(&v).await?,
        None => existing(s).await?,
    };
    println!("{}", serde_json::to_string_pretty(&st).unwrap_or_default());
    Ok(0)
}

async fn migrate(s: &Session, to: PathBuf, force: bool) -> Result<i32> {
    let target_opts = Common {
        state: Some(to),
        ..s.opts.clone()
    };
    let target = open_store(&target_opts, &s.stack).await?;
    let wait = s.opts.lock_timeout;
    s.locked("state migrate", async {
        let st = s
            .store
            .load()
            .await?
            .ok_or_else(|| Error::State(format!("{} holds no state", s.store.describe())))?;
        with_lock(&target, "state migrate", wait, target.put_new(&st, force)).await?;
        println!(
            "Copied the state (serial {}, {} resources) from {} to {}. Point --state or the stack's backend at the new place; the old copy is left as it was.",
            st.serial,
            st.resources.len(),
            s.store.describe(),
            target.describe()
        );
        Ok(0)
    })
    .await
}

/// `provision state push FILE`: writes a state file (a backup, a copy
/// pulled earlier) as the stack's state. Refused, unless `--force`, when it
/// is another lineage's, another stack's, or older than the state it
/// replaces (its serial goes back); `--force` also replaces a state that
/// cannot be read.
async fn push(s: &Session, from: &std::path::Path, force: bool) -> Result<i32> {
    let text = std::fs::read_to_string(from)
        .map_err(|e| Error::State(format!("cannot read {}: {e}", from.display())))?;
    let mut new: State = serde_json::from_str(&text)
        .map_err(|e| Error::State(format!("{} is not a state: {e}", from.display())))?;
    let owner = s.stack.owner();
    if new.stack != owner && !force {
        return Err(Error::State(format!(
            "{} is the state of stack {:?}, not {owner:?}; --force pushes it anyway",
            from.display(),
            new.stack
        )));
    }
    let refused = |why: String| Error::State(format!("{why}; --force pushes it anyway"));
    match s.store.load().await {
        Ok(Some(cur)) => {
            if cur.lineage != new.lineage && !force {
                return Err(refused(format!(
                    "{} is of lineage {}, the state of {} of lineage {}: another state's",
                    from.display(),
                    new.lineage,
                    s.store.describe(),
                    cur.lineage
                )));
            }
            if new.serial < cur.serial && !force {
                return Err(refused(format!(
                    "{} is serial {}, older than the state's {}: pushing it would go back",
                    from.display(),
                    new.serial,
                    cur.serial
                )));
            }
            // Written over the version just read, one serial after it.
            new.serial = new.serial.max(cur.serial);
            s.store.save(&mut new).await?;
        }
        Ok(None) => s.store.put_new(&new, false).await?,
        Err(e) if force => {
            eprintln!("warning: replacing a state that cannot be read: {e}");
            s.store.put_new(&new, true).await?;
        }
        Err(e) => return Err(e),
    }
    println!(
        "Pushed {} ({} resources) to {} as serial {}.",
        from.display(),
        new.resources.len(),
        s.store.describe(),
        new.serial.max(1)
    );
    Ok(0)
}

/// `provision force-unlock LOCK_ID`: releases a stale lock whose id matches.
pub async fn force_unlock(c: &Common, id: &str) -> Result<i32> {
    let s = Session::open_offline(c).await?;
    let h = s.store.force_unlock(id).await?;
    println!(
        "Released the lock of {} held by {}@{} (pid {}, {}) since {}.",
        s.store.describe(),
        h.user,
        h.host,
        h.pid,
        h.operation,
        h.created
    );
    Ok(0)
}
