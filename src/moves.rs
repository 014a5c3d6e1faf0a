//! The stack's `moved:` and `import:` entries applied to a copy of the state
//! before anything is read or planned. Pure.
//!
//! A move renames addresses in state (a module's address renames all of
//! it), so the plan sees the object where the stack now declares it and
//! never deletes and creates it. An import records the object's id at its
//! address for the read (the plan then imports it); that record is the
//! plan's only: apply records the object when it imports it.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::diag::{Error, Result};
use crate::stack::Stack;
use crate::state::{Recorded, State};

/// A state ready to plan against, and what was done to it.
pub struct Prepared {
    /// State with the moves done: what apply starts from.
    pub moved: State,
    /// The same with the imports' records, when an import adds one: what
    /// the plan reads and diffs. `None` when it would equal `moved` (no
    /// copy of a 10,000-object state for nothing).
    pub planning: Option<State>,
    /// (from, to) of each address moved.
    pub moves: Vec<(String, String)>,
    /// Addresses an import brings in.
    pub imports: BTreeSet<String>,
}

/// The address `a` becomes when `from` moves to `to`: itself, or what
/// follows a module's (or a `for_each` copy's) address.
fn renamed(a: &str, from: &str, to: &str) -> Option<String> {
    if a == from {
        return Some(to.to_string());
    }
    // Already where it goes: `certificate_proof` moved to
    // `certificate_proof[proof]` is done, not to be done again.
    if under(a, to) {
        return None;
    }
    under(a, from).then(|| format!("{to}{}", &a[from.len()..]))
}

/// `a` is `b` or something under it (a module's contents, a copy).
fn under(a: &str, b: &str) -> bool {
    a.strip_prefix(b)
        .is_some_and(|r| r.is_empty() || r.starts_with('.') || r.starts_with('['))
}

/// Applies the stack's moves and imports to `st`.
pub fn prepare(stack: &Stack, st: State) -> Result<Prepared> {
    let mut moved = st;
    let mut moves = Vec::new();
    for m in &stack.moves {
        let hits: Vec<(String, String)> = moved
            .resources
            .keys()
            .filter_map(|a| Some((a.clone(), renamed(a, &m.from, &m.to)?)))
            .collect();
        for (from, to) in hits {
            if moved.resources.contains_key(&to) {
                return Err(Error::other(format!(
                    "{}:{}:{}: moved: cannot move {from} to {to}: state already records an object there",
                    m.file, m.loc.line, m.loc.col
                )));
            }
            rename(&mut moved, &from, &to);
            moves.push((from, to));
        }
    }
    let mut records = Vec::new();
    let mut imports = BTreeSet::new();
    for i in &stack.imports {
        if moved.resources.contains_key(&i.to) {
            continue; // imported already: the block stays as a record of it
        }
        let Some(inst) = stack.instance(&i.to) else {
            continue; // reported by the loader
        };
        let r = Recorded {
            kind: inst.kind.name.to_string(),
            id: i.id.clone(),
            region: inst.region.clone(),
            properties: Value::Object(Default::default()),
            outputs: Default::default(),
            dependencies: vec![],
            prevent_destroy: false,
            imported: true,
        };
        records.push((i.to.clone(), r));
        imports.insert(i.to.clone());
    }
    let planning = (!records.is_empty()).then(|| {
        let mut planning = moved.clone();
        planning.resources.extend(records);
        planning
    });
    Ok(Prepared {
        moved,
        planning,
        moves,
        imports,
    })
}

/// Renames one address everywhere state names it.
fn rename(st: &mut State, from: &str, to: &str) {
    if let Some(r) = st.resources.remove(from) {
        st.resources.insert(to.to_string(), r);
    }
    for r in st.resources.values_mut() {
        for d in r.dependencies.iter_mut().filter(|d| *d == from) {
            *d = to.to_string();
        }
    }
    for d in st.deposed.iter_mut().filter(|d| d.address == from) {
        d.address = to.to_string();
    }
    if let Some(c) = st.creating.remove(from) {
        st.creating.insert(to.to_string(), c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_addresses_move_with_everything_under_them() {
        assert_eq!(
            renamed("vpc", "vpc", "module.net.vpc").as_deref(),
            Some("module.net.vpc")
        );
        assert_eq!(
            renamed("module.a[x].subnet[b]", "module.a", "module.b").as_deref(),
            Some("module.b[x].subnet[b]")
        );
        assert_eq!(renamed("vpc2", "vpc", "module.net.vpc"), None);
        // Into a copy of itself: once done, done.
        let (from, to) = ("proof", "proof[own]");
        assert_eq!(renamed("proof", from, to).as_deref(), Some("proof[own]"));
        assert_eq!(renamed("proof[own]", from, to), None);
    }
}
