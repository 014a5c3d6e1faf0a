//! The stack's own fields: its name, region, state backend and tags.

use std::collections::BTreeMap;

use super::Backend;
use super::cx::{Cx, get};
use super::template::literal;
use crate::diag::Loc;
use crate::yaml::{Key, Node, NodeKind};

pub(super) struct Header {
    pub name: String,
    pub region: Option<String>,
    pub backend: Option<Backend>,
    pub tags: BTreeMap<String, String>,
}

const FIELDS: &[&str] = &[
    "stack",
    "region",
    "backend",
    "tags",
    "variables",
    "resources",
    "data",
    "outputs",
    "modules",
    "stacks",
    "moved",
    "import",
    "policy",
];

/// What a module's files may hold (the stack's own fields are the stack's).
pub(super) const MODULE_FIELDS: &[&str] = &["variables", "resources", "data", "outputs", "modules"];

/// `stacks: NAME: {state: PATH | s3://BUCKET/KEY}`: another stack whose
/// recorded outputs this one reads (`${stack.NAME.OUTPUT}`).
#[derive(Debug, Clone, PartialEq)]
pub struct StackRef {
    pub name: String,
    /// As written: a path (relative to the stack file) or `s3://BUCKET/KEY`.
    pub state: String,
    pub file: String,
    pub loc: Loc,
}

/// `moved: [{from, to}]`: an address state renames (a resource renamed, or
/// moved into a module) instead of deleting and creating it.
#[derive(Debug, Clone, PartialEq)]
pub struct Move {
    pub from: String,
    pub to: String,
    pub file: String,
    pub loc: Loc,
}

/// `import: [{to, id}]`: an existing object brought under an address.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportBlock {
    pub to: String,
    pub id: String,
    pub file: String,
    pub loc: Loc,
}

/// The entries of a list of `{a, b}` mappings of strings (`moved:`, `import:`).
fn pairs(
    top: &[(Key, Node)],
    section: &str,
    fields: [&str; 2],
    cx: &mut Cx,
) -> Vec<(String, String, Loc)> {
    let Some(n) = get(top, section) else {
        return vec![];
    };
    let shape = format!(
        "`{section}` must be a list of {{{}: ..., {}: ...}}",
        fields[0], fields[1]
    );
    let crate::yaml::NodeKind::Seq(items) = &n.kind else {
        cx.push(n.loc, shape);
        return vec![];
    };
    let mut out = Vec::new();
    for it in items {
        let Some(m) = it.as_map() else {
            cx.push(it.loc, shape.clone());
            continue;
        };
        cx.only(m, &fields, &format!("an entry of `{section}`"));
        let field = |k: &str| get(m, k).and_then(Node::as_str).map(str::to_string);
        match (field(fields[0]), field(fields[1])) {
            (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() => out.push((a, b, it.loc)),
            _ => cx.push(it.loc, shape.clone()),
        }
    }
    out
}

pub(super) fn moves(top: &[(Key, Node)], cx: &mut Cx) -> Vec<Move> {
    pairs(top, "moved", ["from", "to"], cx)
        .into_iter()
        .map(|(from, to, loc)| Move {
            from,
            to,
            file: cx.file.clone(),
            loc,
        })
        .collect()
}

pub(super) fn imports(top: &[(Key, Node)], cx: &mut Cx) -> Vec<ImportBlock> {
    pairs(top, "import", ["to", "id"], cx)
        .into_iter()
        .map(|(to, id, loc)| ImportBlock {
            to,
            id,
            file: cx.file.clone(),
            loc,
        })
        .collect()
}

/// `policy:`: the built-in set (`baseline`) and rules of the stack's own.
#[derive(Debug, Clone)]
pub enum PolicyEntry {
    Baseline,
    Rule(PolicyRule),
}

/// A rule: which kinds (all when empty), a condition every planned object
/// of them must meet, what to say, how much it matters.
#[derive(Debug, Clone)]
pub struct PolicyRule {
    pub name: String,
    pub kinds: Vec<String>,
    pub level: crate::policy::Level,
    pub condition: std::sync::Arc<super::template::Tmpl>,
    pub message: String,
    pub file: String,
    pub loc: Loc,
}

/// A list of policy entries (the stack's `policy:`, or a `--policy` file).
pub(super) fn policy(n: &Node, cx: &mut Cx) -> Vec<PolicyEntry> {
    let shape =
        "`policy` must be a list of `baseline` and rules {name, kinds, level, condition, message}";
    let crate::yaml::NodeKind::Seq(items) = &n.kind else {
        cx.push(n.loc, shape);
        return vec![];
    };
    let mut out = Vec::new();
    for it in items {
        if let Some(s) = it.as_str() {
            match s {
                "baseline" => out.push(PolicyEntry::Baseline),
                other => cx.push(
                    it.loc,
                    format!("unknown policy set `{other}`: the built-in set is `baseline`"),
                ),
            }
            continue;
        }
        let Some(m) = it.as_map() else {
            cx.push(it.loc, shape);
            continue;
        };
        cx.only(
            m,
            &["name", "kinds", "level", "condition", "message"],
            "a policy rule",
        );
        let text = |k: &str| get(m, k).and_then(Node::as_str).map(str::to_string);
        let (Some(name), Some(message), Some(cond)) =
            (text("name"), text("message"), get(m, "condition"))
        else {
            cx.push(
                it.loc,
                "a policy rule needs `name`, `condition` and `message`",
            );
            continue;
        };
        let level = match text("level").as_deref() {
            None | Some("deny") => crate::policy::Level::Deny,
            Some("warn") => crate::policy::Level::Warn,
            Some(other) => {
                cx.push(
                    it.loc,
                    format!("policy rule `{name}`: `level` is deny or warn, not `{other}`"),
                );
                continue;
            }
        };
        let kinds: Vec<String> = match get(m, "kinds") {
            None => vec![],
            Some(k) => match &k.kind {
                crate::yaml::NodeKind::Seq(ks) => ks
                    .iter()
                    .filter_map(|x| {
                        let s = x.as_str()?;
                        if crate::kind::lookup(s).is_none() {
                            cx.push(x.loc, format!("policy rule `{name}`: unknown kind `{s}`"));
                        }
                        Some(s.to_string())
                    })
                    .collect(),
                _ => {
                    cx.push(
                        k.loc,
                        format!("policy rule `{name}`: `kinds` must be a list of kinds"),
                    );
                    continue;
                }
            },
        };
        if !cond.as_str().is_some_and(|c| c.contains("${")) {
            cx.push(
                cond.loc,
                format!("policy rule `{name}`: `condition` must be an expression, `${{...}}`"),
            );
            continue;
        }
        let condition = std::sync::Arc::new(super::template::compile(cond, cx));
        out.push(PolicyEntry::Rule(PolicyRule {
            name,
            kinds,
            level,
            condition,
            message,
            file: cx.file.clone(),
            loc: it.loc,
        }));
    }
    out
}

/// The `stacks:` the stack reads outputs from.
pub(super) fn stacks(top: &[(Key, Node)], cx: &mut Cx) -> Vec<StackRef> {
    let Some(sn) = get(top, "stacks") else {
        return vec![];
    };
    let Some(m) = sn.as_map() else {
        cx.push(
            sn.loc,
            "`stacks` must be a mapping of names to {state: PATH or s3://BUCKET/KEY}",
        );
        return vec![];
    };
    let mut out = Vec::new();
    for (k, v) in m {
        if !super::decls::valid_name(&k.name) {
            cx.push(
                k.loc,
                format!(
                    "stack reference name `{}` must be lower case letters, digits and `_`",
                    k.name
                ),
            );
            continue;
        }
        let state = v.as_map().and_then(|f| {
            cx.only(f, &["state", "description"], &format!("stack `{}`", k.name));
            get(f, "state")
        });
        match state.and_then(Node::as_str) {
            Some(s) if !s.is_empty() => out.push(StackRef {
                name: k.name.clone(),
                state: s.to_string(),
                file: cx.file.clone(),
                loc: state.map_or(k.loc, |n| n.loc),
            }),
            _ => cx.push(
                v.loc,
                format!(
                    "stack `{}` needs `state:` (a path or s3://BUCKET/KEY)",
                    k.name
                ),
            ),
        }
    }
    out
}

/// Reads the header of the top-level mapping `top` (found at `at`).
pub(super) fn read(top: &[(Key, Node)], at: Loc, cx: &mut Cx) -> Header {
    cx.only(top, FIELDS, "the stack");
    let backend = get(top, "backend").and_then(|b| backend(b, cx));
    let name = match get(top, "stack") {
        Some(n) => match n.as_str() {
            Some(s) if valid_stack_name(s) => s.to_string(),
            _ => {
                cx.push(
                    n.loc,
                    "`stack` must be a name of letters, digits, `-` and `_`",
                );
                String::new()
            }
        },
        None => {
            cx.push(at, "missing field `stack` (the stack's name)");
            String::new()
        }
    };
    let region = get(top, "region").and_then(|n| match n.as_str() {
        Some(s) => match crate::regions::check(s) {
            Ok(()) => Some(s.to_string()),
            Err(why) => {
                cx.push(n.loc, format!("`region`: {why}"));
                None
            }
        },
        None => {
            let msg = format!("`region` must be a string, found {}", n.type_name());
            cx.push(n.loc, msg);
            None
        }
    });
    let tags = get(top, "tags").map(|t| tags(t, cx)).unwrap_or_default();
    Header {
        name,
        region,
        backend,
        tags,
    }
}

fn valid_stack_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `backend: {bucket, key, region, kms_key_id}`.
fn backend(b: &Node, cx: &mut Cx) -> Option<Backend> {
    let Some(m) = b.as_map() else {
        cx.push(b.loc, "`backend` must be a mapping with bucket and key");
        return None;
    };
    cx.only(m, &["bucket", "key", "region", "kms_key_id"], "backend");
    let field = |k: &str| get(m, k).and_then(|n| n.as_str()).map(str::to_string);
    match (field("bucket"), field("key")) {
        (Some(bucket), Some(key)) => Some(Backend {
            bucket,
            key,
            region: field("region"),
            kms_key_id: field("kms_key_id"),
        }),
        _ => {
            cx.push(b.loc, "`backend` needs `bucket` and `key` (strings)");
            None
        }
    }
}

/// The stack's tags: scalars, written as text.
fn tags(t: &Node, cx: &mut Cx) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    let Some(m) = t.as_map() else {
        cx.push(t.loc, "`tags` must be a mapping of tag names to values");
        return tags;
    };
    for (k, v) in m {
        if let Some(why) = crate::limits::reserved_tag(&k.name) {
            cx.push(k.loc, why);
            continue;
        }
        match &v.kind {
            NodeKind::Str(s) => {
                tags.insert(k.name.clone(), s.clone());
            }
            NodeKind::Int(_) | NodeKind::Bool(_) | NodeKind::Float(_) => {
                tags.insert(k.name.clone(), literal(v).to_string());
            }
            _ => cx.push(v.loc, format!("tag `{}` must be a string", k.name)),
        }
    }
    tags
}
