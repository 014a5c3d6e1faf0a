//! Reading what is live for a plan: what state records, objects of the
//! stack state does not know (to adopt, or orphans), batched: per kind, one
//! read per page of recorded ids and one query for the stack's own; for kinds
//! AWS filters by tag (EC2), the one query answers both.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use crate::diag::Result;
use crate::model::{Action, Orphan, Plan, Refreshed, Unclaimed};
use crate::provider::{Cloud, Live, Wanted};
use crate::stack::{Stack, TAG_LINEAGE};
use crate::state::{Recorded, State};

/// Where refresh looks for orphans: objects this state made and records
/// nowhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Search {
    /// Kinds AWS lists by tag in the read refresh makes anyway (EC2), and
    /// kinds of creates in doubt (plan, apply): where this state's own
    /// attempts can have left one, at no extra call.
    Cheap,
    /// Every kind the stack and state use (destroy, drift).
    Everywhere,
}

/// How refresh looks for a kind's objects that state does not record.
#[derive(Debug, Clone, Copy)]
enum Look {
    /// Not at all.
    No,
    /// For addresses state lacks, or after a create in doubt: with the
    /// kind's own reads (right after a create, nothing else is current).
    Owned,
    /// For orphans only, nothing just created: an index may answer.
    Orphans,
}

/// What one kind's reads found: recorded objects by id, and the stack's own.
struct KindRead {
    kind: String,
    live: Vec<Live>,
    owned: Vec<Live>,
}

/// Reads what state records and, with a stack, what the stack's addresses
/// missing from state may already have (made by this state, found by its
/// ownership); classifies every other object of the stack found. Each
/// region the stack or state names is read on its own (its objects, its
/// orphans), in the cloud of that region.
pub async fn refresh(
    cloud: &dyn Cloud,
    stack: Option<&Stack>,
    stack_name: &str,
    state: Option<&State>,
    search: Search,
) -> Result<Refreshed> {
    let mut regions: BTreeSet<Option<String>> = state.map(State::regions).unwrap_or_default();
    regions.extend(
        stack
            .iter()
            .flat_map(|s| &s.instances)
            .map(|i| i.region.clone()),
    );
    regions.insert(None);
    let reads = regions.iter().map(|r| async move {
        let here = Here {
            region: r.as_deref(),
        };
        refresh_region(
            cloud.at(here.region)?,
            stack,
            stack_name,
            state,
            search,
            here,
        )
        .await
    });
    let mut out = Refreshed::default();
    for r in futures::future::join_all(reads).await {
        let r = r?;
        out.recorded.extend(r.recorded);
        out.deposed.extend(r.deposed);
        out.owned.extend(r.owned);
        out.orphans.extend(r.orphans);
        out.unclaimed.extend(r.unclaimed);
        out.searched.extend(r.searched);
    }
    Ok(out)
}

/// The region one refresh reads (`None`: the stack's).
#[derive(Clone, Copy)]
struct Here<'a> {
    region: Option<&'a str>,
}

impl Here<'_> {
    fn has(&self, region: &Option<String>) -> bool {
        region.as_deref() == self.region
    }
    fn state<'s>(&self, st: &'s State) -> impl Iterator<Item = (&'s String, &'s Recorded)> {
        let here = *self;
        st.resources
            .iter()
            .filter(move |(_, r)| here.has(&r.region))
    }
}

async fn refresh_region(
    cloud: &dyn Cloud,
    stack: Option<&Stack>,
    stack_name: &str,
    state: Option<&State>,
    search: Search,
    here: Here<'_>,
) -> Result<Refreshed> {
    // Per kind, the ids state records with their recorded properties (some
    // reads go by a parent those name: mount targets by file system).
    let mut recorded: BTreeMap<&str, Vec<(&str, &Value)>> = BTreeMap::new();
    if let Some(st) = state {
        let objs = here.state(st).map(|(_, r)| (&r.kind, &r.id, &r.properties));
        let deposed = st
            .deposed
            .iter()
            .filter(|d| here.has(&d.region))
            .map(|d| (&d.kind, &d.id, &d.properties));
        for (k, id, props) in objs.chain(deposed) {
            recorded.entry(k).or_default().push((id, props));
        }
    }
    let wanted = wanted(stack, state, here);
    let mut out = Refreshed {
        searched: searched(stack, state, search, here),
        ..Refreshed::default()
    };
    let mut kinds: BTreeSet<&str> = recorded.keys().copied().collect();
    kinds.extend(wanted.keys().copied());
    kinds.extend(out.searched.iter().map(String::as_str));
    let none = (Vec::new(), Vec::new());
    let doubtful = state.map(State::doubtful_kinds).unwrap_or_default();
    let reads = kinds.iter().map(|&k| {
        let ids = recorded.get(k).unwrap_or(&none.0);
        let w = wanted.get(k).unwrap_or(&none.1);
        let look = if !w.is_empty() || doubtful.contains(k) {
            Look::Owned
        } else if out.searched.contains(k) {
            Look::Orphans
        } else {
            Look::No
        };
        read_kind(cloud, k, stack_name, ids, w, look)
    });
    let mut found: Vec<KindRead> = Vec::new();
    for r in futures::future::join_all(reads).await {
        found.push(r?);
    }
    if let Some(st) = state {
        read_again_what_was_just_made(cloud, st, here, &mut found).await?;
    }
    let live: HashMap<(&str, &str), &Live> = found
        .iter()
        .flat_map(|r| {
            r.live
                .iter()
                .map(move |l| ((r.kind.as_str(), l.id.as_str()), l))
        })
        .collect();
    if let Some(st) = state {
        for (addr, r) in here.state(st) {
            let l = live.get(&(r.kind.as_str(), r.id.as_str()));
            out.recorded
                .insert(addr.clone(), l.map(|l| as_recorded((*l).clone(), r)));
        }
        for d in st.deposed.iter().filter(|d| here.has(&d.region)) {
            let l = live.get(&(d.kind.as_str(), d.id.as_str()));
            out.deposed.insert(d.id.clone(), l.map(|l| (*l).clone()));
        }
    }
    for r in found {
        let w = wanted.get(r.kind.as_str()).unwrap_or(&none.1);
        classify(&r.kind, r.owned, w, state, here, &mut out);
    }
    Ok(out)
}

/// The longest a refresh reads again an object made moments ago.
const RECHECK_AT_MOST: std::time::Duration = std::time::Duration::from_secs(20);

/// Objects made moments ago that a read missed: AWS shows a new object to
/// reads only after a while. They are read again, for as long as the lag may
/// last (`Cloud::settle` from when each was made, at most 20 s), before the
/// plan takes them as deleted outside provision.
async fn read_again_what_was_just_made(
    cloud: &dyn Cloud,
    st: &State,
    here: Here<'_>,
    found: &mut [KindRead],
) -> Result<()> {
    // AWS shows new objects within seconds; a longer wait would only delay
    // a plan that meets an object deleted by hand right after its create.
    let window = cloud.settle().min(RECHECK_AT_MOST).as_secs();
    let now = crate::state::unix_now();
    // Only what was made within the window is looked at (usually nothing:
    // no cost for a large stack).
    let recent: HashMap<&str, u64> = st
        .made
        .iter()
        .filter_map(|(id, at)| {
            let left = window.saturating_sub(now.saturating_sub(*at));
            (left > 0).then_some((id.as_str(), left))
        })
        .collect();
    if recent.is_empty() {
        return Ok(());
    }
    let seen: BTreeSet<(&str, &str)> = found
        .iter()
        .flat_map(|r| r.live.iter().map(move |l| (r.kind.as_str(), l.id.as_str())))
        .filter(|(_, id)| recent.contains_key(id))
        .collect();
    // (kind, id, recorded properties, seconds its lag may still last)
    let mut missing: Vec<(&str, &str, &Value, u64)> = here
        .state(st)
        .filter_map(|(_, r)| {
            let left = *recent.get(r.id.as_str())?;
            (!seen.contains(&(r.kind.as_str(), r.id.as_str()))).then_some((
                r.kind.as_str(),
                r.id.as_str(),
                &r.properties,
                left,
            ))
        })
        .collect();
    let start = std::time::Instant::now();
    let mut every = std::time::Duration::from_secs(1);
    while let Some(longest) = missing.iter().map(|m| m.3).max() {
        if start.elapsed().as_secs() >= longest {
            break;
        }
        crate::interrupt::pause(every, "reading again what was made moments ago").await?;
        every = (every * 2).min(std::time::Duration::from_secs(5));
        let mut still = Vec::new();
        for m in missing {
            let got = cloud.read_recorded(m.0, &[(m.1, m.2)]).await?;
            match (
                got.into_iter().find(|l| l.id == m.1),
                found.iter_mut().find(|r| r.kind == m.0),
            ) {
                (Some(l), Some(r)) => r.live.push(l),
                _ if start.elapsed().as_secs() < m.3 => still.push(m),
                _ => {}
            }
        }
        missing = still;
    }
    Ok(())
}

/// One kind: the stack's own objects (when asked), and the recorded ids
/// that query did not answer for, read by id.
async fn read_kind(
    cloud: &dyn Cloud,
    kind: &str,
    stack_name: &str,
    recorded: &[(&str, &Value)],
    wanted: &[Wanted],
    look: Look,
) -> Result<KindRead> {
    let ids: Vec<String> = recorded.iter().map(|r| r.0.to_string()).collect();
    let by_filter = crate::kind::lookup(kind).is_some_and(|k| k.owned_by_filter);
    let owned = match look {
        Look::Owned => cloud.find_owned(kind, stack_name, wanted).await?,
        Look::Orphans => cloud.find_orphans(kind, stack_name, &ids).await?,
        Look::No => vec![],
    };
    let mut live: Vec<Live> = Vec::new();
    let mut rest: Vec<(&str, &Value)> = recorded.to_vec();
    if by_filter {
        let recorded: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
        live.extend(
            owned
                .iter()
                .filter(|l| recorded.contains(l.id.as_str()))
                .cloned(),
        );
        let answered: std::collections::HashSet<&str> =
            live.iter().map(|l| l.id.as_str()).collect();
        rest.retain(|(id, _)| !answered.contains(id));
    }
    if !rest.is_empty() {
        live.extend(cloud.read_recorded(kind, &rest).await?);
    }
    Ok(KindRead {
        kind: kind.to_string(),
        live,
        owned,
    })
}

/// The stack's addresses state lacks, per kind, with what is known of them.
fn wanted<'a>(
    stack: Option<&'a Stack>,
    state: Option<&State>,
    here: Here,
) -> BTreeMap<&'a str, Vec<Wanted>> {
    let mut wanted: BTreeMap<&str, Vec<Wanted>> = BTreeMap::new();
    let Some(stack) = stack else { return wanted };
    let missing = |i: &&crate::stack::Instance| {
        here.has(&i.region) && state.is_none_or(|s| !s.resources.contains_key(&i.address))
    };
    if !stack.instances.iter().any(|i| missing(&i)) {
        return wanted;
    }
    let statics = stack.static_props();
    for i in stack.instances.iter().filter(missing) {
        wanted.entry(i.kind.name).or_default().push(Wanted {
            address: i.address.clone(),
            props: statics.get(&i.address).cloned().unwrap_or(Value::Null),
        });
    }
    wanted
}

/// The kinds refresh lists every object of the stack of.
fn searched(
    stack: Option<&Stack>,
    state: Option<&State>,
    search: Search,
    here: Here,
) -> BTreeSet<String> {
    let Some(st) = state else {
        return BTreeSet::new();
    };
    let mut used: BTreeSet<&str> = here.state(st).map(|(_, r)| r.kind.as_str()).collect();
    used.extend(
        stack
            .iter()
            .flat_map(|s| &s.instances)
            .filter(|i| here.has(&i.region))
            .map(|i| i.kind.name),
    );
    let mut out = st.doubtful_kinds();
    for k in used {
        let cheap = crate::kind::lookup(k).is_some_and(|s| s.owned_by_filter);
        if search == Search::Everywhere || cheap {
            out.insert(k.to_string());
        }
    }
    out
}

/// A live object as state knows it: provision's own settings (kept in state)
/// and what the read could not see are taken as last applied.
fn as_recorded(mut l: Live, r: &Recorded) -> Live {
    let Some(spec) = crate::kind::lookup(&r.kind) else {
        return l;
    };
    for p in spec.props.iter().filter(|p| p.local) {
        if let Some(v) = r.properties.get(p.name) {
            l.props[p.name] = v.clone();
        }
    }
    for p in std::mem::take(&mut l.unobserved) {
        match r.properties.get(p) {
            Some(v) => l.props[p] = v.clone(),
            None => {
                if let Some(o) = l.props.as_object_mut() {
                    o.remove(p);
                }
            }
        }
    }
    l
}

/// The stack's objects of one kind that state does not record: those of
/// addresses state lacks are adopted (when this state made them), the others
/// are orphans (this state's lineage) or unclaimed (another state's).
fn classify(
    kind: &str,
    mut found: Vec<Live>,
    wanted: &[Wanted],
    state: Option<&State>,
    here: Here,
    out: &mut Refreshed,
) {
    // What state records, and what `state rm` let go of: never orphans
    // (gathered once: a scan per object would grow with the square).
    let known: std::collections::HashSet<&str> = state
        .map(|s| {
            let recorded = s.resources.values().map(|r| (&r.kind, &r.id));
            let deposed = s.deposed.iter().map(|d| (&d.kind, &d.id));
            let released = s.released.iter().map(|r| (&r.kind, &r.id));
            recorded
                .chain(deposed)
                .chain(released)
                .filter(|(k, _)| k.as_str() == kind)
                .map(|(_, id)| id.as_str())
                .collect()
        })
        .unwrap_or_default();
    let known = |id: &str| known.contains(id);
    let lineage = state.map(|s| s.lineage.as_str());
    let begun = |a: &str| state.is_some_and(|s| s.creating.contains_key(a));
    found.sort_by(|a, b| a.id.cmp(&b.id));
    for l in found.into_iter().filter(|l| !known(&l.id)) {
        let tag = l.props["tags"][TAG_LINEAGE].as_str().map(str::to_string);
        let addr = l.address();
        // Made by this state: its lineage; or found by a name or token AWS
        // keeps for an address whose create this state began.
        let mine = match (&tag, lineage) {
            (Some(t), Some(ours)) => t == ours,
            (None, Some(_)) => l.claimed_by.as_deref().is_some_and(begun),
            (_, None) => false,
        };
        let wanted_here = addr
            .as_ref()
            .is_some_and(|a| wanted.iter().any(|w| &w.address == a));
        match addr {
            Some(a) if mine && wanted_here && !out.owned.contains_key(&a) => {
                out.owned.insert(a, l);
            }
            _ if mine && out.searched.contains(kind) => out.orphans.push(Orphan {
                kind: kind.to_string(),
                region: here.region.map(str::to_string),
                live: l,
            }),
            _ if mine => {}
            addr => out.unclaimed.push(Unclaimed {
                kind: kind.to_string(),
                id: l.id.clone(),
                region: here.region.map(str::to_string),
                address: addr,
                lineage: tag,
            }),
        }
    }
}

/// Asks the cloud, for every object the plan creates or deletes, whether
/// something stops it.
pub async fn find_blockers(all: &dyn Cloud, p: &mut Plan) -> Result<()> {
    for c in p.changes.iter_mut() {
        let cloud = if c.action.deletes() {
            all.at(c.existing_region())?
        } else {
            all.at(c.region.as_deref())?
        };
        if c.action == Action::Create
            && let Some(after) = &c.after
        {
            c.blocked = cloud
                .create_blocker(&c.kind, after)
                .await
                .map_err(|e| e.at_address(&c.address))?;
            c.taken = cloud
                .name_taken(&c.kind, after)
                .await
                .map_err(|e| e.at_address(&c.address))?;
            continue;
        }
        if !c.action.deletes() {
            continue;
        }
        if let (Some(id), Some(before)) = (&c.id, &c.before) {
            c.blocked = cloud
                .delete_blocker(&c.kind, id, before)
                .await
                .map_err(|e| e.at_address(&c.address))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeCloud;
    use crate::state::Recorded;
    use serde_json::json;

    fn one_vpc(made_now: bool) -> (FakeCloud, State) {
        let mut cloud = FakeCloud::default();
        *cloud.lagging_reads.lock().unwrap() = 2;
        cloud.settle = std::time::Duration::from_secs(15);
        let l = Live {
            id: "vpc-1".into(),
            props: json!({"cidr_block": "10.0.0.0/16", "tags": {}}),
            outputs: Default::default(),
            unobserved: vec![],
            claimed_by: None,
        };
        cloud
            .objects
            .lock()
            .unwrap()
            .insert("vpc-1".into(), ("ec2.vpc".into(), l));
        let mut st = State::new("s");
        st.resources.insert(
            "vpc".into(),
            Recorded {
                kind: "ec2.vpc".into(),
                id: "vpc-1".into(),
                region: None,
                properties: json!({"cidr_block": "10.0.0.0/16"}),
                outputs: Default::default(),
                dependencies: vec![],
                prevent_destroy: false,
                imported: false,
            },
        );
        if made_now {
            st.note_made("vpc-1");
        } else {
            // Made, but longer ago than AWS's lag lasts.
            let long_ago = crate::state::unix_now() - 600;
            st.made.insert("vpc-1".into(), long_ago);
        }
        (cloud, st)
    }

    /// A read that misses an object made moments ago is AWS's lag, not a
    /// deletion: it is read again. One made long ago is taken as gone.
    #[tokio::test(start_paused = true)]
    async fn what_was_just_made_is_read_again_before_it_is_taken_as_gone() {
        let (cloud, st) = one_vpc(true);
        let r = refresh(&cloud, None, "s", Some(&st), Search::Cheap)
            .await
            .unwrap();
        assert!(r.recorded["vpc"].is_some(), "found on a later read");
        let (cloud, st) = one_vpc(false);
        let r = refresh(&cloud, None, "s", Some(&st), Search::Cheap)
            .await
            .unwrap();
        assert!(r.recorded["vpc"].is_none(), "made long ago: gone");
    }
}
