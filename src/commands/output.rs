//! `provision output [NAME]`: the stack's outputs as the last apply
//! recorded them. Reads state only: no AWS call, no lock.

use super::Common;
use crate::diag::{Error, Result};
use crate::session::Session;

/// Prints every output (`NAME = value`, sensitive ones masked), one raw
/// value (`NAME`: for scripts), or all as a JSON object (`--json`).
pub async fn run(c: &Common, name: Option<&str>, json: bool) -> Result<i32> {
    let s = Session::open_offline(c).await?;
    let st = s
        .state()
        .await?
        .unwrap_or_else(|| crate::state::State::new(&s.stack.owner()));
    match (name, json) {
        (Some(n), _) => {
            let o = st.outputs.get(n).ok_or_else(|| {
                let known: Vec<&str> = st.outputs.keys().map(String::as_str).collect();
                Error::other(format!(
                    "no output `{n}` in the state of {} (it records: {})",
                    s.store.describe(),
                    if known.is_empty() {
                        "none: apply the stack first".into()
                    } else {
                        known.join(", ")
                    }
                ))
            })?;
            let text = if json {
                o.value.to_string()
            } else {
                match &o.value {
                    serde_json::Value::String(s) => s.clone(),
                    v => v.to_string(),
                }
            };
            println!("{text}");
        }
        (None, true) => {
            let all: serde_json::Map<String, serde_json::Value> = st
                .outputs
                .iter()
                .map(|(k, o)| (k.clone(), o.value.clone()))
                .collect();
            println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
        }
        (None, false) => {
            if st.outputs.is_empty() {
                println!("No outputs recorded: the stack declares none, or has not been applied.");
            }
            let w = st.outputs.keys().map(String::len).max().unwrap_or(0);
            for (k, o) in &st.outputs {
                println!(
                    "{k:w$} = {}",
                    crate::render::output_text(&o.value, o.sensitive)
                );
            }
        }
    }
    Ok(0)
}
