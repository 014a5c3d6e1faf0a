//! The plan model: what a plan decides and what drift finds, as data. Pure.
//!
//! Everything else reads this module: the planner (`plan.rs`), drift
//! (`drift.rs`) and refresh (`refresh.rs`) build it; the executor (`exec/`)
//! and the renderer (`render/`) read it. It imports none of them.
//!
//! A [`Change`]'s [`Action`] is the whole decision: the executor maps each
//! action to its operations and nothing else. Its [`Reason`] says why, for
//! people, and drives nothing.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::provider::Live;

/// What will be done to one address. Closed: a new decision is a new variant.
///
/// `before` and `after` of a [`Change`] mean, per action:
/// - `NoOp`, `Update`, replacements, `Adopt`: `before` is live, `after` what
///   the stack wants;
/// - `Create`: `before` none, `after` wanted;
/// - `Delete`, `DeleteDeposed`, `DeleteOrphan`, `Forget`: `before` is live
///   (or as recorded, when it is gone), `after` none;
/// - `Read` (a data source): `after` what the read found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The object matches the stack.
    NoOp,
    /// Make a new object.
    Create,
    /// Change the object in place.
    Update,
    /// Replace: delete the old object, then create the new.
    DeleteThenCreate,
    /// Replace: create the new object, move what refers to it, then delete
    /// the old one (kept in state as deposed until it is gone).
    CreateThenDelete,
    /// Delete the object state records (removed from the stack, or destroy).
    Delete,
    /// Delete the old object of an interrupted create-then-delete.
    DeleteDeposed,
    /// Delete an object this state made and records nowhere (an earlier
    /// attempt's, after a lost answer).
    DeleteOrphan,
    /// Record an object found by its ownership (tags, a name AWS keeps),
    /// which matches the stack: state only.
    Adopt,
    /// Drop from state what is already gone, or what was imported and is
    /// removed from the stack (provision deletes only what it created):
    /// state only.
    Forget,
    /// Record in state what is live, as changed outside provision
    /// (`--refresh-only`): state only.
    Accept,
    /// Bring an existing object under the address (`import:` in the
    /// stack), then change what differs from the stack in place.
    Import,
}

impl Action {
    pub fn is_replace(self) -> bool {
        matches!(self, Action::DeleteThenCreate | Action::CreateThenDelete)
    }

    /// Whether the action deletes an object in AWS.
    pub fn deletes(self) -> bool {
        matches!(
            self,
            Action::Delete
                | Action::DeleteDeposed
                | Action::DeleteOrphan
                | Action::DeleteThenCreate
                | Action::CreateThenDelete
        )
    }
}

/// Why a change is what it is: for people (the plan's text, the JSON's
/// legacy flags), never for decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// State records it, but it was deleted outside provision.
    DeletedOutside,
    /// Found by its ownership, not in state: taken into state.
    Adopted,
    /// Brought in by `import`: provision never deletes it.
    Imported,
    /// The old object of an interrupted create-then-delete.
    Deposed,
    /// The old object of an interrupted create-then-delete, deleted outside.
    DeposedGone,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub address: String,
    pub kind: String,
    /// The region of the object it makes or keeps, when not the stack's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The region of the existing object (what an update, a delete or a
    /// replacement's delete speaks to), when not the stack's: `region`
    /// unless the stack moved the resource to another region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_region: Option<String>,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// The id of the existing object, if there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub before: Option<Value>,
    /// Unknown parts are the expression language's UNKNOWN.
    pub after: Option<Value>,
    /// Properties that differ.
    #[serde(default)]
    pub changed: Vec<String>,
    /// Properties whose change forces the replacement.
    #[serde(default)]
    pub replace_because: Vec<String>,
    /// What stops the change, found by asking the cloud
    /// (`refresh::find_blockers`): a create is then not attempted at all
    /// (a paid subscription missing), a delete fails at once with this
    /// reason (deletion protection, a bucket with objects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
    /// Who already holds the name a create would take (another stack, a
    /// hand-made object, another account): apply refuses the whole plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken: Option<String>,
    /// What an update does beyond its properties' new values, in words
    /// (`KindSpec::explain_update`): a replica promoted, a key's deletion
    /// cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Outputs of the existing object, as read.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub outputs: serde_json::Map<String, Value>,
    /// Desired dependencies (create and update order).
    #[serde(default)]
    pub deps: Vec<String>,
    /// Recorded dependencies (delete order).
    #[serde(default)]
    pub old_deps: Vec<String>,
}

impl Change {
    /// A change of `action` at `address` with nothing else known yet.
    pub fn new(address: &str, kind: &str, action: Action) -> Change {
        Change {
            address: address.to_string(),
            kind: kind.to_string(),
            region: None,
            old_region: None,
            action,
            reason: None,
            id: None,
            before: None,
            after: None,
            changed: vec![],
            replace_because: vec![],
            blocked: None,
            taken: None,
            note: None,
            outputs: Default::default(),
            deps: vec![],
            old_deps: vec![],
        }
    }

    /// A create that will not be attempted (see `Cloud::create_blocker`).
    pub fn not_attempted(&self) -> bool {
        self.action == Action::Create && self.blocked.is_some()
    }

    /// The region of the existing object (what a delete or an update
    /// speaks to).
    pub fn existing_region(&self) -> Option<&str> {
        self.old_region.as_deref()
    }

    /// Whether carrying it out changes anything (state included).
    pub fn does_something(&self) -> bool {
        self.action != Action::NoOp && !self.not_attempted()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub stack: String,
    pub destroy: bool,
    pub changes: Vec<Change>,
    #[serde(default)]
    pub drift: Vec<Drift>,
    /// Objects with this stack's tags that another state made (or an older
    /// provision, before lineages): shown, never touched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unclaimed: Vec<Unclaimed>,
    /// Kinds whose orphans refresh looked for.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub searched: BTreeSet<String>,
    /// The stack's outputs that apply will record differently.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<OutputChange>,
    /// Outputs of the stacks this one reads that changed since its last
    /// apply (shown; what uses them is planned against the new values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstream: Vec<UpstreamChange>,
    /// Addresses state renames before anything else (`moved:`): (from, to).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moved: Vec<(String, String)>,
    /// `--target`: the plan covers only these and what they depend on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// `--refresh-only`: what changed outside provision is accepted into
    /// state; nothing in AWS is written.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refresh_only: bool,
    /// Policy rules the plan breaks (a `deny` stops apply).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<crate::policy::Violation>,
}

impl Plan {
    /// Whether a `deny` rule is broken: apply refuses it.
    pub fn denied(&self) -> bool {
        self.violations
            .iter()
            .any(|v| v.level == crate::policy::Level::Deny)
    }

    /// Creates whose name someone else holds.
    pub fn taken(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.taken.is_some())
    }

    /// Why apply refuses this plan before any write, if it does: a deny rule
    /// broken, or a name someone else holds.
    pub fn refusal(&self) -> Option<String> {
        let denied = self
            .violations
            .iter()
            .filter(|v| v.level == crate::policy::Level::Deny)
            .count();
        if denied > 0 {
            let rules = if denied == 1 {
                "a deny rule"
            } else {
                "deny rules"
            };
            return Some(format!("the plan breaks {rules} of the policy"));
        }
        let taken: Vec<&str> = self.taken().map(|c| c.address.as_str()).collect();
        (!taken.is_empty()).then(|| {
            format!(
                "the name of {} is taken: choose another, or import what holds it",
                taken.join(", ")
            )
        })
    }
}

/// An output of the stack that apply records differently: `before` as
/// recorded (none: new), `after` as planned (none: removed; unknown parts
/// known after apply).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputChange {
    pub name: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// Masked wherever it is shown.
    pub sensitive: bool,
}

/// An output of another stack (`stacks:`) that is not what it was at this
/// stack's last apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpstreamChange {
    pub stack: String,
    pub output: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// How many of each, as the plan's summary line says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
    pub adopt: usize,
    pub import: usize,
    pub accept: usize,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(Change::does_something)
            || !self.outputs.is_empty()
            || !self.moved.is_empty()
    }

    pub fn counts(&self) -> Counts {
        let mut n = Counts::default();
        for c in self.changes.iter().filter(|c| !c.not_attempted()) {
            match c.action {
                Action::Create => n.add += 1,
                Action::Update => n.change += 1,
                Action::Delete | Action::DeleteDeposed | Action::DeleteOrphan => n.destroy += 1,
                Action::DeleteThenCreate | Action::CreateThenDelete => {
                    n.add += 1;
                    n.destroy += 1;
                }
                Action::Adopt => n.adopt += 1,
                Action::Import => n.import += 1,
                Action::Accept => n.accept += 1,
                Action::NoOp | Action::Forget => {}
            }
            if c.reason == Some(Reason::Adopted) && c.action != Action::Adopt {
                n.adopt += 1;
            }
        }
        n
    }
}

/// An object with this stack's tags that this state did not make.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unclaimed {
    pub kind: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The lineage it carries, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage: Option<String>,
}

/// A difference between the last applied state and live, or an object of
/// the stack's (or inside what it manages) that state does not record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// The address, or `KIND[ID]` for an object made by hand.
    pub address: String,
    pub kind: String,
    pub id: String,
    /// Its region, when not the stack's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub finding: Finding,
}

/// What drift found of one object. Closed; rendering is the renderer's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    /// One property differs from the last apply (ignored keys removed).
    Modified {
        property: String,
        recorded: Option<Value>,
        live: Option<Value>,
    },
    /// State records it; AWS no longer has it.
    Deleted,
    /// This state's lineage, recorded nowhere: apply deletes it.
    Orphan,
    /// The stack's tags, another state's (or no) lineage: left alone.
    Unclaimed { lineage: Option<String> },
    /// An output of a stack this one reads is not what it was at this
    /// stack's last apply.
    Upstream {
        output: String,
        before: Option<Value>,
        after: Option<Value>,
    },
    /// No tags of provision's, inside a container the state manages.
    HandMade {
        /// The container's address and id, when state records it.
        inside: Option<(String, String)>,
        /// What the object says of itself (an interface's description).
        description: Option<String>,
    },
}

/// The classes drift reports count by (format version 1 of the reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DriftClass {
    Modified,
    Deleted,
    Orphan,
    Unmanaged,
    Upstream,
}

impl DriftClass {
    /// The classes every report counts, found or not (`upstream` is
    /// counted when found: it was added to format 1 later).
    pub const ALL: [DriftClass; 4] = [
        DriftClass::Modified,
        DriftClass::Deleted,
        DriftClass::Orphan,
        DriftClass::Unmanaged,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DriftClass::Modified => "modified",
            DriftClass::Deleted => "deleted",
            DriftClass::Orphan => "orphan",
            DriftClass::Unmanaged => "unmanaged",
            DriftClass::Upstream => "upstream",
        }
    }
}

impl Finding {
    pub fn class(&self) -> DriftClass {
        match self {
            Finding::Modified { .. } => DriftClass::Modified,
            Finding::Deleted => DriftClass::Deleted,
            Finding::Orphan => DriftClass::Orphan,
            Finding::Unclaimed { .. } | Finding::HandMade { .. } => DriftClass::Unmanaged,
            Finding::Upstream { .. } => DriftClass::Upstream,
        }
    }
}

/// An object this state made and records nowhere.
#[derive(Debug, Clone)]
pub struct Orphan {
    pub kind: String,
    /// Its region, when not the stack's.
    pub region: Option<String>,
    pub live: Live,
}

/// What was read from the cloud for a plan.
#[derive(Debug, Default, Clone)]
pub struct Refreshed {
    /// Live objects of addresses in state; `None` when deleted outside.
    pub recorded: HashMap<String, Option<Live>>,
    /// Deposed objects still alive, by id.
    pub deposed: HashMap<String, Option<Live>>,
    /// Objects found by ownership tags for addresses that state lacks.
    pub owned: HashMap<String, Live>,
    /// Objects this state made that it records nowhere, by kind.
    pub orphans: Vec<Orphan>,
    /// Objects with the stack's tags that another state made.
    pub unclaimed: Vec<Unclaimed>,
    /// Kinds whose objects of this stack were all listed.
    pub searched: BTreeSet<String>,
}
