//! `provision import ADDRESS ID`: record an existing resource under an
//! address of the stack; `--discover`: what exists that no stack owns, as
//! YAML to start a stack from.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Common;
use crate::diag::{Error, Result};
use crate::provider::Cloud;
use crate::session::{Session, connect, load_stack};
use crate::state::Recorded;

pub async fn run(c: &Common, address: &str, id: &str) -> Result<i32> {
    let s = Session::open(c).await?;
    let inst = s.stack.instance(address).ok_or_else(|| {
        Error::other(format!(
            "{address} is not a resource of the stack; write it in {} first",
            s.stack.file
        ))
    })?;
    let cloud = s.connect().await?;
    let r = s.locked("import", async {
        let mut st = s.state_or_new().await?;
        if let Some(r) = st.resources.get(address) {
            return Err(Error::State(format!("{address} is already in the state, as {}", r.id)));
        }
        let kind = inst.kind.name;
        let live = cloud
            .at(inst.region.as_deref())?
            .read(kind, &[id.to_string()])
            .await?
            .pop()
            .ok_or_else(|| Error::other(format!("no {kind} with id {id} in this account and region")))?;
        let mut outputs = live.outputs.clone();
        outputs.insert("id".into(), Value::String(live.id.clone()));
        let rec = Recorded {
            kind: kind.to_string(),
            id: live.id.clone(),
            region: inst.region.clone(),
            properties: live.props.clone(),
            outputs,
            dependencies: inst.deps.clone(),
            prevent_destroy: inst.lifecycle.prevent_destroy,
            imported: true,
        };
        st.resources.insert(address.to_string(), rec);
        st.released.retain(|r| r.id != id);
        s.store.save(&mut st).await?;
        println!(
            "Imported {kind} {id} as {address}. `provision plan` shows how it differs from the stack. \
             provision changes it from now on, but never deletes it: destroy forgets it."
        );
        Ok(0)
    })
    .await;
    s.stats(&cloud);
    r
}

/// Resources in the account and region that carry no provision ownership tags.
pub async fn discover(c: &Common) -> Result<i32> {
    // With a stack, only the kinds it uses (and so only their services).
    let stack = load_stack(c).ok();
    let region = stack.as_ref().and_then(|s| s.region.clone());
    let kinds: Option<Vec<&str>> = stack.as_ref().map(|s| {
        let mut k: Vec<&str> = s.instances.iter().map(|i| i.kind.name).collect();
        k.sort_unstable();
        k.dedup();
        k
    });
    let cloud = connect(c, region.as_deref()).await?;
    let found = cloud.discover(kinds.as_deref()).await?;
    if c.stats {
        super::print_stats(&cloud);
    }
    if found.is_empty() {
        println!("# Nothing found that no stack owns.");
        return Ok(0);
    }
    println!(
        "# Resources in {} that carry no provision ownership tags.",
        cloud.region
    );
    println!("# Paste what you keep into a stack, then: provision import ADDRESS ID\nresources:");
    let mut n: BTreeMap<String, usize> = BTreeMap::new();
    for (kind, live) in found {
        let base = kind.split('.').nth(1).unwrap_or("r").to_string();
        let i = n.entry(base.clone()).or_default();
        *i += 1;
        let mut props = live.props.clone();
        if let Some(Value::Object(t)) = props.get_mut("tags") {
            t.retain(|k, _| !k.starts_with("provision:"));
            if t.is_empty() {
                props.as_object_mut().map(|o| o.remove("tags"));
            }
        }
        let yaml = serde_saphyr::to_string(&props).unwrap_or_default();
        println!(
            "  {base}_{i}:  # import with: provision import {base}_{i} {}",
            live.id
        );
        println!("    kind: {kind}");
        println!("    properties:");
        for line in yaml.lines() {
            println!("      {line}");
        }
    }
    Ok(0)
}
