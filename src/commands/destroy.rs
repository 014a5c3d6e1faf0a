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
    // What someone made by hand inside what is to be deleted stops the
    // delete (AWS answers DependencyViolation for as long as it is there):
    // named now, and the delete fails at once instead of waiting.
    let mut found = Vec::new();
    for region in st.regions() {
        let inside = super::drift::inside_managed(&cloud, &st, &live, region.as_deref());
        found.extend(super::reading(inside).await?);
    }
    name_handmade_blockers(&mut p, &st, &found);
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

/// Marks each delete of an object that something made by hand lives in (a
/// VPC or subnet with a hand-made subnet, group or route table; a zone with
/// a hand-made record) as blocked by it. Listeners go with their load
/// balancer, so they block nothing.
fn name_handmade_blockers(
    p: &mut crate::model::Plan,
    st: &crate::state::State,
    found: &[(String, crate::provider::Live)],
) {
    use crate::kind::Inside;
    use crate::provider::Container;
    const HOLDERS: [&str; 3] = ["vpc_id", "subnet_id", "zone_id"];
    for (kind, l) in crate::drift::made_by_hand(st, found) {
        // Interfaces are left out: those AWS services make (a deleted NAT
        // gateway's, a load balancer's) linger and go by themselves, and the
        // delete's in-use retry waits for them, saying so.
        let Some(spec) = crate::kind::lookup(kind) else {
            continue;
        };
        if spec.inside == Inside::Searched(Container::LoadBalancer) {
            // Listeners go with their load balancer.
            continue;
        }
        let holders: Vec<&str> = HOLDERS
            .iter()
            .filter_map(|h| l.props.get(*h)?.as_str())
            .collect();
        for c in p.changes.iter_mut().filter(|c| c.action.deletes()) {
            if c.id.as_deref().is_some_and(|id| holders.contains(&id)) {
                let why = format!(
                    "it holds {kind} {}, made outside provision: delete that first (or import it into the stack)",
                    l.id
                );
                c.blocked = Some(match c.blocked.take() {
                    Some(before) => format!("{before}; {why}"),
                    None => why,
                });
            }
        }
    }
}
