//! `provision apply`: make the live infrastructure match the stack, or apply
//! exactly a saved plan (refused when the state changed since).

use std::path::{Path, PathBuf};

use super::plan::PlanFile;
use super::{ApplyOpts, Common, approve, execute};
use crate::diag::{Error, Result};
use crate::model::Plan;
use crate::plan;
use crate::refresh::{Search, find_blockers, refresh};
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
    let live = super::reading(refresh(
        cloud.as_ref(),
        Some(&s.stack),
        &s.stack.name,
        st.as_ref(),
        Search::Cheap,
    ))
    .await?;
    let mut p = plan::plan(&s.stack, st.as_ref(), &live)?;
    find_blockers(cloud.as_ref(), &mut p).await?;
    super::show(&render::plan(&p));
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
    carry_out(s, o, f.plan, st).await
}

async fn carry_out(s: &Session, o: &ApplyOpts, p: Plan, st: Option<State>) -> Result<i32> {
    let cloud = s.connect().await?;
    if !p.has_changes() {
        // The search for orphans found none: the doubts it settled are over.
        if let Some(mut st) = st
            && crate::exec::settle_doubts(&p, &mut st)
        {
            s.store.save(&mut st).await?;
        }
        s.stats(&cloud);
        return Ok(0);
    }
    let st = st.unwrap_or_else(|| State::new(&s.stack.name));
    Ok(execute(s, &cloud, Some(s.stack.clone()), &p, st, o, "Apply").await)
}
