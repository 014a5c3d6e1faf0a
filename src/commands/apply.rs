//! `provision apply`: make the live infrastructure match the stack, or apply
//! exactly a saved plan (refused when the state changed since).

use std::path::{Path, PathBuf};

use super::plan::PlanFile;
use super::{ApplyOpts, Common, approve, execute};
use crate::diag::{Error, Result};
use crate::model::Plan;
use crate::render;
use crate::session::Session;
use crate::stack;
use crate::state::State;

/// `provision apply`, with or without a saved plan.
pub async fn run(c: &Common, o: &ApplyOpts, plan_file: Option<&Path>) -> Result<i32> {
    match plan_file {
        Some(pf) => {
            let f = PlanFile::read(pf)?;
            let stack = stack::load(&f.stack_file, &f.stack_source, &f.vars)?;
            let c = Common {
                stack: PathBuf::from(&f.stack_file),
                ..c.clone()
            };
            let s = Session::with(&c, stack).await?;
            s.locked_to_the_end("apply", saved(&s, o, f)).await
        }
        None => {
            let s = Session::open(c).await?;
            s.locked_to_the_end("apply", fresh(&s, o)).await
        }
    }
}

/// Plans against what is live now, shows it, asks, applies.
async fn fresh(s: &Session, o: &ApplyOpts) -> Result<i32> {
    let st = s.state().await?;
    let cloud = s.connect().await?;
    let (p, st) = super::make_plan(s, &cloud, st, &o.controls).await?;
    super::show(&render::plan(&p));
    if let Some(why) = p.refusal() {
        // The reads that made the plan, and no write: --stats shows it.
        s.stats(&cloud);
        return Err(crate::diag::Error::other(format!(
            "{why} (above): nothing was applied"
        )));
    }
    if p.has_changes() && !o.auto_approve && !approve("apply these changes")? {
        println!("Apply cancelled.");
        return Ok(1);
    }
    carry_out(s, o, p, st).await
}

/// Applies a saved plan, if the state is still the one it was made against.
async fn saved(s: &Session, o: &ApplyOpts, f: PlanFile) -> Result<i32> {
    let st = s.state().await?;
    let lineage = st.as_ref().map(|s| s.lineage.clone());
    let serial = st.as_ref().map(|s| s.serial).unwrap_or(0);
    if lineage != f.lineage || serial != f.serial {
        let other = if lineage != f.lineage {
            " of another lineage"
        } else {
            ""
        };
        return Err(Error::State(format!(
            "the saved plan is stale: it was made against state serial {} but the state is now at serial {serial}{other}; make a new plan",
            f.serial
        )));
    }
    // The saved plan's moves, done again on the state it was made against.
    let st = match st {
        Some(st) => Some(crate::moves::prepare(&s.stack, st)?.moved),
        None => None,
    };
    carry_out(s, o, f.plan, st).await
}

async fn carry_out(s: &Session, o: &ApplyOpts, p: Plan, st: Option<State>) -> Result<i32> {
    if let Some(why) = p.refusal() {
        return Err(crate::diag::Error::other(format!(
            "{why}: nothing was applied"
        )));
    }
    let cloud = s.connect().await?;
    // Moves are state's alone: written before anything else.
    let mut st = st;
    if !p.moved.is_empty()
        && let Some(st) = st.as_mut()
    {
        s.store.save(st).await?;
    }
    if !p.has_changes() {
        // The search for orphans found none: the doubts it settled are over;
        // the outputs of the stacks this one reads are seen as they are.
        if let Some(mut st) = st {
            let settled = crate::exec::settle_doubts(&p, &mut st);
            if record_outputs(&s.stack, &mut st) || settled {
                s.store.save(&mut st).await?;
            }
        }
        s.stats(&cloud);
        return Ok(0);
    }
    let st = st.unwrap_or_else(|| State::new(&s.stack.owner()));
    let (code, mut st) = execute(s, &cloud, Some(s.stack.clone()), &p, st, o, "Apply").await;
    if record_outputs(&s.stack, &mut st) {
        s.store.save(&mut st).await?;
    }
    super::print_outputs(&st);
    Ok(code)
}

/// What state records, as the values outputs refer to.
struct Recorded<'a>(&'a State);

impl crate::stack::Known for Recorded<'_> {
    fn output(&self, address: &str, attr: &str) -> Option<serde_json::Value> {
        self.0.resources.get(address)?.outputs.get(attr).cloned()
    }
    fn props(&self, address: &str) -> Option<&serde_json::Value> {
        self.0.resources.get(address).map(|r| &r.properties)
    }
}

/// Records the stack's outputs as they are after apply (an output whose
/// value is not known, because what it refers to failed, keeps its last
/// value), and the outputs of the stacks it reads. True when state changed.
fn record_outputs(stack: &crate::stack::Stack, st: &mut State) -> bool {
    let mut outputs = std::collections::BTreeMap::new();
    for (name, o) in stack.outputs() {
        match stack.output_value(o, &Recorded(st)) {
            Ok(v) if !crate::expr::contains_unknown(&v) => {
                let value = crate::state::OutputValue {
                    value: v,
                    sensitive: o.sensitive,
                };
                outputs.insert(name.clone(), value);
            }
            _ => {
                if let Some(old) = st.outputs.get(name) {
                    outputs.insert(name.clone(), old.clone());
                }
            }
        }
    }
    let upstream: std::collections::BTreeMap<String, serde_json::Value> = stack
        .upstream
        .iter()
        .filter(|(_, v)| v.is_object())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let changed = outputs != st.outputs || upstream != st.upstream;
    st.outputs = outputs;
    st.upstream = upstream;
    changed
}
