//! `provision destroy`: delete everything the state records, dependents first.

use super::{ApplyOpts, Common, approve, execute};
use crate::diag::Result;
use crate::plan;
use crate::refresh::{Search, find_blockers, refresh};
use crate::render;
use crate::session::Session;

pub async fn run(c: &Common, o: &ApplyOpts) -> Result<i32> {
    // Destroy goes by what state records: it reads no data source.
    let s = Session::open_offline(c).await?;
    s.locked_to_the_end("destroy", destroy(&s, o)).await
}

async fn destroy(s: &Session, o: &ApplyOpts) -> Result<i32> {
    let Some(st) = s.state().await? else {
        println!(
            "Nothing to destroy: there is no state for stack {:?}.",
            s.stack.name
        );
        return Ok(0);
    };
    let cloud = s.connect().await?;
    let live = super::reading(refresh(
        cloud.as_ref(),
        None,
        &s.stack.owner(),
        Some(&st),
        Search::Everywhere,
    ))
    .await?;
    let mut p = plan::plan_destroy(&s.stack.owner(), Some(&st), &live)?;
    find_blockers(cloud.as_ref(), &mut p).await?;
    super::show(&render::plan(&p));
    if !p.has_changes() {
        return Ok(0);
    }
    if !o.auto_approve && !approve("destroy everything listed")? {
        println!("Destroy cancelled.");
        return Ok(1);
    }
    let (code, mut st) = execute(s, &cloud, Some(s.stack.clone()), &p, st, o, "Destroy").await;
    if st.resources.is_empty() && !(st.outputs.is_empty() && st.upstream.is_empty()) {
        st.outputs.clear();
        st.upstream.clear();
        s.store.save(&mut st).await?;
    }
    Ok(code)
}
