//! Resource declarations: name, kind, `enabled`, `for_each` keys, lifecycle,
//! timeouts, properties (compiled once) and `depends_on`. References between
//! resources are resolved later (`expand`), once every name and key is known.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use serde_json::Value;

use super::cx::{Cx, get, suggest};
use super::scope::{Statics, VarScope};
use super::template::{Tmpl, compile};
use super::{Lifecycle, Timeouts};
use crate::diag::Loc;
use crate::expr;
use crate::kind::{self, KindSpec};
use crate::yaml::{Key, Node, NodeKind};

const FIELDS: &[&str] = &[
    "kind",
    "region",
    "enabled",
    "for_each",
    "depends_on",
    "lifecycle",
    "timeouts",
    "properties",
];

/// One resource as declared.
pub(super) struct Decl {
    pub name: String,
    /// The file it is written in.
    pub file: String,
    pub loc: Loc,
    pub kind: &'static KindSpec,
    /// `region:` as written (checked), where it is written; `None`: its
    /// module's region.
    pub region: Option<(String, Loc)>,
    /// `(key, value)` of each copy, in order; `None` without `for_each`.
    pub items: Option<Vec<(String, Value)>>,
    pub props: Option<Arc<Tmpl>>,
    pub lifecycle: Lifecycle,
    pub timeouts: Timeouts,
    /// Resources named in `depends_on`.
    pub depends_on: Vec<String>,
    /// `depends_on` entries written as expressions (`${var.efs_targets}`):
    /// whatever they refer to comes first.
    pub depends_on_refs: Vec<Arc<Tmpl>>,
}

/// Every declaration, the keys of each name, and the disabled names.
pub(super) struct Decls {
    pub list: Vec<Decl>,
    /// Keys of each resource with `for_each`, in order; `None` without.
    pub keys: BTreeMap<String, Option<Vec<String>>>,
    pub disabled: BTreeSet<String>,
}

/// A declaration's head, read before any body: what it is and its keys.
struct Head<'a> {
    file: &'a str,
    key: &'a Key,
    fields: &'a [(Key, Node)],
    kind: &'static KindSpec,
    region: Option<(String, Loc)>,
    items: Option<Vec<(String, Value)>>,
}

/// The `resources:` of these files (one file for a stack, one or more for
/// a module), read with what is known before anything is created.
pub(super) fn read(files: &[(&str, &[(Key, Node)])], st: &Statics, cx: &mut Cx) -> Decls {
    let mut disabled = BTreeSet::new();
    let mut heads: Vec<Head> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for (file, top) in files {
        let saved = std::mem::replace(&mut cx.file, file.to_string());
        for (k, v) in resources(top, cx) {
            if !seen.insert(k.name.as_str()) {
                cx.push(
                    k.loc,
                    format!("resource `{}` is declared twice in the module", k.name),
                );
                continue;
            }
            if let Some(h) = head(file, k, v, st, &mut disabled, cx) {
                heads.push(h);
            }
        }
        cx.file = saved;
    }
    let keys: BTreeMap<String, Option<Vec<String>>> = heads
        .iter()
        .map(|h| {
            let ks = h
                .items
                .as_ref()
                .map(|i| i.iter().map(|x| x.0.clone()).collect());
            (h.key.name.clone(), ks)
        })
        .collect();
    let list = heads
        .into_iter()
        .map(|h| {
            let saved = std::mem::replace(&mut cx.file, h.file.to_string());
            let d = body(h, &keys, &disabled, cx);
            cx.file = saved;
            d
        })
        .collect();
    Decls {
        list,
        keys,
        disabled,
    }
}

fn resources<'a>(top: &'a [(Key, Node)], cx: &mut Cx) -> &'a [(Key, Node)] {
    match get(top, "resources") {
        Some(r) => match r.as_map() {
            Some(m) => m,
            None => {
                cx.push(r.loc, "`resources` must be a mapping of names to resources");
                &[]
            }
        },
        None => &[],
    }
}

pub(super) fn valid_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_lowercase() || ch == '_')
        && s.chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
}

/// Names no resource, module or data source may take: they start references.
pub(super) const RESERVED: [&str; 5] = ["var", "each", "module", "data", "stack"];

/// The head of a declaration; `None` when it is disabled or unusable.
fn head<'a>(
    file: &'a str,
    k: &'a Key,
    v: &'a Node,
    st: &Statics,
    disabled: &mut BTreeSet<String>,
    cx: &mut Cx,
) -> Option<Head<'a>> {
    if !valid_name(&k.name) {
        let msg = format!(
            "resource name `{}` must be lower case letters, digits and `_`",
            k.name
        );
        cx.push(k.loc, msg);
        return None;
    }
    if RESERVED.contains(&k.name.as_str()) {
        cx.push(
            k.loc,
            format!("`{}` is reserved and cannot name a resource", k.name),
        );
        return None;
    }
    let Some(m) = v.as_map() else {
        let msg = format!(
            "resource `{}` must be a mapping, found {}",
            k.name,
            v.type_name()
        );
        cx.push(v.loc, msg);
        return None;
    };
    cx.only(m, FIELDS, &format!("resource `{}`", k.name));
    if let Some(en) = get(m, "enabled")
        && !enabled(en, st, cx)
    {
        disabled.insert(k.name.clone());
        return None;
    }
    let kind = kind_of(k, m, cx)?;
    let region = get(m, "region").and_then(|n| {
        let r = region(n, st, cx)?;
        if kind.global() {
            let msg = format!(
                "resource `{}`: {} objects belong to the account, not to a region: `region` does not apply",
                k.name, kind.name
            );
            cx.push(n.loc, msg);
            return None;
        }
        Some((r, n.loc))
    });
    let items = get(m, "for_each").map(|fe| for_each(fe, st, None, cx));
    Some(Head {
        file,
        key: k,
        fields: m,
        kind,
        region,
        items,
    })
}

/// `region:` of a resource or a module: a region's name, known before
/// anything is created (a variable: a failover flips it); `None` when it is
/// not one (reported).
pub(super) fn region(n: &Node, st: &Statics, cx: &mut Cx) -> Option<String> {
    let sc = VarScope {
        st,
        each: None,
        lenient: false,
    };
    let t = compile(n, cx);
    match t.eval(&sc, &cx.file) {
        Ok(Value::String(r)) if r != expr::UNKNOWN => match crate::regions::check(&r) {
            Ok(()) => Some(r),
            Err(why) => {
                cx.push(n.loc, format!("`region`: {why}"));
                None
            }
        },
        Ok(other) if expr::contains_unknown(&other) && cx.offline => None,
        Ok(other) if expr::contains_unknown(&other) => {
            cx.push(
                n.loc,
                "`region` depends on a value known only when a data source has been read or a resource exists; it must be known before anything is created",
            );
            None
        }
        Ok(other) => {
            cx.push(
                n.loc,
                format!("`region` must be a region's name, found {other}"),
            );
            None
        }
        Err(e) => {
            cx.errors.push(e);
            None
        }
    }
}

/// `enabled:`, true unless it says false (an error counts as true: reported).
pub(super) fn enabled(en: &Node, st: &Statics, cx: &mut Cx) -> bool {
    let sc = VarScope {
        st,
        each: None,
        lenient: false,
    };
    let t = compile(en, cx);
    match t.eval(&sc, &cx.file) {
        Ok(Value::Bool(b)) => b,
        Ok(Value::String(t)) if t == "true" || t == "false" => t == "true",
        Ok(other) if expr::contains_unknown(&other) && cx.offline => true,
        Ok(other) if expr::contains_unknown(&other) => {
            cx.push(
                en.loc,
                "`enabled` depends on a value known only when a data source has been read or a resource exists; it must be known before anything is created",
            );
            true
        }
        Ok(other) => {
            cx.push(
                en.loc,
                format!("`enabled` must be true or false, found {other}"),
            );
            true
        }
        Err(e) => {
            cx.errors.push(e);
            true
        }
    }
}

fn kind_of(k: &Key, m: &[(Key, Node)], cx: &mut Cx) -> Option<&'static KindSpec> {
    let Some(kn) = get(m, "kind") else {
        cx.push(k.loc, format!("resource `{}` has no `kind`", k.name));
        return None;
    };
    if let Some(spec) = kn.as_str().and_then(kind::lookup) {
        return Some(spec);
    }
    let written = kn.as_str().unwrap_or("?");
    let hint = suggest(written, kind::names());
    let service = written.split('.').next().unwrap_or_default();
    let same: Vec<&str> = kind::names()
        .filter(|n| n.starts_with(&format!("{service}.")))
        .collect();
    let msg = if !hint.is_empty() {
        format!("unknown kind `{written}` for resource `{}`{hint}", k.name)
    } else if !same.is_empty() {
        format!(
            "unknown kind `{written}` for resource `{}`, {service} has: {}",
            k.name,
            same.join(", ")
        )
    } else {
        format!(
            "unknown kind `{written}` for resource `{}`: kinds are named service.type, \
             for example ec2.vpc (every kind is in docs/resources.md)",
            k.name
        )
    };
    cx.push(kn.loc, msg);
    None
}

fn valid_key(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.:=+@-".contains(c))
}

/// The copies `for_each` asks for: `(key, value)` in order. Keys come from
/// list items (a mapping's `key` or `name`, a list's parts joined by `-`)
/// or a mapping's keys.
pub(super) fn for_each(
    fe: &Node,
    st: &Statics,
    each: Option<&super::Each>,
    cx: &mut Cx,
) -> Vec<(String, Value)> {
    let sc = VarScope {
        st,
        each,
        lenient: false,
    };
    let t = compile(fe, cx);
    let items: Vec<(String, Value)> = match t.eval(&sc, &cx.file) {
        Ok(Value::Array(a)) => a.into_iter().map(|x| (item_key(&x), x)).collect(),
        Ok(Value::Object(o)) => o.into_iter().collect(),
        Ok(other) if expr::contains_unknown(&other) && cx.offline => vec![],
        Ok(other) if expr::contains_unknown(&other) => {
            cx.push(
                fe.loc,
                "`for_each` depends on a value known only when a data source has been read or a resource exists; it must be known before anything is created",
            );
            vec![]
        }
        Ok(other) => {
            cx.push(
                fe.loc,
                format!("`for_each` must be a list or a mapping, found {other}"),
            );
            vec![]
        }
        Err(e) => {
            cx.errors.push(e);
            vec![]
        }
    };
    if items.len() > crate::limits::FOR_EACH {
        let msg = format!(
            "`for_each` asks for {} copies, at most {} allowed",
            items.len(),
            crate::limits::FOR_EACH
        );
        cx.push(fe.loc, msg);
        return vec![];
    }
    let mut seen = HashSet::new();
    for (key, _) in &items {
        if !valid_key(key) {
            let msg = format!(
                "`for_each` key `{key}` must be letters, digits and _.:=+@- \
                 (a list of mappings needs a `key` field in each)"
            );
            cx.push(fe.loc, msg);
        } else if !seen.insert(key.clone()) {
            cx.push(fe.loc, format!("`for_each` key `{key}` appears twice"));
        }
    }
    items
}

fn item_key(x: &Value) -> String {
    let text = |v: &Value| expr::key_string(v).unwrap_or_default();
    match x {
        Value::Object(o) => o
            .get("key")
            .or_else(|| o.get("name"))
            .map(text)
            .unwrap_or_default(),
        Value::Array(parts) => parts.iter().map(text).collect::<Vec<_>>().join("-"),
        other => text(other),
    }
}

/// The rest of a declaration, once every name and key is known.
fn body(
    h: Head,
    keys: &BTreeMap<String, Option<Vec<String>>>,
    disabled: &BTreeSet<String>,
    cx: &mut Cx,
) -> Decl {
    let (k, m, spec) = (h.key, h.fields, h.kind);
    let lifecycle = get(m, "lifecycle")
        .map(|n| lifecycle(n, spec, cx))
        .unwrap_or_default();
    let timeouts = get(m, "timeouts")
        .map(|n| timeouts(n, cx))
        .unwrap_or_default();
    let props = get(m, "properties");
    match props {
        Some(p) => check_props(p, spec, &k.name, cx),
        None if spec.props.iter().any(|p| p.required) => {
            cx.push(k.loc, format!("resource `{}` has no `properties`", k.name));
        }
        None => {}
    }
    let (depends_on, depends_on_refs) = get(m, "depends_on")
        .map(|d| depends_on(d, keys, disabled, cx))
        .unwrap_or_default();
    Decl {
        name: k.name.clone(),
        file: h.file.to_string(),
        loc: k.loc,
        kind: spec,
        region: h.region,
        items: h.items,
        props: props.map(|p| Arc::new(compile(p, cx))),
        lifecycle,
        timeouts,
        depends_on,
        depends_on_refs,
    }
}

fn depends_on(
    d: &Node,
    keys: &BTreeMap<String, Option<Vec<String>>>,
    disabled: &BTreeSet<String>,
    cx: &mut Cx,
) -> (Vec<String>, Vec<Arc<Tmpl>>) {
    let NodeKind::Seq(items) = &d.kind else {
        cx.push(d.loc, "`depends_on` must be a list of resource names");
        return (vec![], vec![]);
    };
    let mut out = Vec::new();
    let mut refs = Vec::new();
    for it in items {
        match it.as_str() {
            Some(e) if e.contains("${") => refs.push(Arc::new(compile(it, cx))),
            Some(n) if keys.contains_key(n) => out.push(n.to_string()),
            // Depending on a disabled resource is depending on nothing.
            Some(n) if disabled.contains(n) => {}
            Some(n) => cx.push(it.loc, format!("`depends_on` names unknown resource `{n}`")),
            None => cx.push(it.loc, "`depends_on` takes resource names"),
        }
    }
    (out, refs)
}

fn lifecycle(n: &Node, spec: &KindSpec, cx: &mut Cx) -> Lifecycle {
    let mut l = Lifecycle::default();
    let Some(m) = n.as_map() else {
        cx.push(n.loc, "`lifecycle` must be a mapping");
        return l;
    };
    let fields = ["prevent_destroy", "ignore_changes", "create_before_destroy"];
    cx.only(m, &fields, "lifecycle");
    if let Some(p) = get(m, "prevent_destroy") {
        match p.kind {
            NodeKind::Bool(b) => l.prevent_destroy = b,
            _ => cx.push(p.loc, "`prevent_destroy` must be true or false"),
        }
    }
    if let Some(p) = get(m, "create_before_destroy") {
        match p.kind {
            NodeKind::Bool(true) if !spec.coexist => cx.push(
                p.loc,
                format!(
                    "`create_before_destroy`: two {} cannot exist at once, so one is deleted before its replacement is created",
                    spec.name
                ),
            ),
            NodeKind::Bool(b) => l.create_before_destroy = Some(b),
            _ => cx.push(p.loc, "`create_before_destroy` must be true or false"),
        }
    }
    let Some(i) = get(m, "ignore_changes") else {
        return l;
    };
    let NodeKind::Seq(items) = &i.kind else {
        cx.push(i.loc, "`ignore_changes` must be a list of property names");
        return l;
    };
    for it in items {
        match it.as_str() {
            Some(s) if spec.prop(s.split('.').next().unwrap_or(s)).is_some() => {
                l.ignore_changes.push(s.to_string())
            }
            Some(s) => cx.push(
                it.loc,
                format!("`ignore_changes`: kind {} has no property `{s}`", spec.name),
            ),
            None => cx.push(it.loc, "`ignore_changes` takes property names"),
        }
    }
    l
}

fn timeouts(n: &Node, cx: &mut Cx) -> Timeouts {
    let mut t = Timeouts::default();
    let Some(m) = n.as_map() else {
        cx.push(n.loc, "`timeouts` must be a mapping");
        return t;
    };
    cx.only(m, &["create", "update", "delete", "in_use"], "timeouts");
    for (k, v) in m {
        let Some(Ok(d)) = v.as_str().map(humantime::parse_duration) else {
            cx.push(
                v.loc,
                format!(
                    "`timeouts.{}` must be a duration such as 10m or 90s",
                    k.name
                ),
            );
            continue;
        };
        match k.name.as_str() {
            "create" => t.create = d,
            "update" => t.update = d,
            "delete" => t.delete = d,
            "in_use" => t.in_use = Some(d),
            _ => {}
        }
    }
    t
}

/// Properties are a mapping of the kind's properties, the required ones present.
fn check_props(p: &Node, spec: &KindSpec, name: &str, cx: &mut Cx) {
    let Some(m) = p.as_map() else {
        cx.push(
            p.loc,
            format!("`properties` must be a mapping, found {}", p.type_name()),
        );
        return;
    };
    let names = || spec.props.iter().map(|p| p.name);
    for (k, _) in m.iter().filter(|(k, _)| spec.prop(&k.name).is_none()) {
        let hint = suggest(&k.name, names());
        let msg = if hint.is_empty() {
            let all = names().collect::<Vec<_>>().join(", ");
            format!(
                "unknown property `{}` for kind {}, expected one of: {all}",
                k.name, spec.name
            )
        } else {
            format!("unknown property `{}` for kind {}{hint}", k.name, spec.name)
        };
        cx.push(k.loc, msg);
    }
    for prop in spec
        .props
        .iter()
        .filter(|p| p.required && get(m, p.name).is_none())
    {
        let msg = format!(
            "resource `{name}` ({}) needs property `{}`",
            spec.name, prop.name
        );
        cx.push(p.loc, msg);
    }
}
