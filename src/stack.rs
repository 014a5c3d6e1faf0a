//! The stack file: from YAML text to a validated [`Stack`].
//!
//! Loading checks everything that can be checked without AWS: structure,
//! unknown fields, types, references, cycles, CIDR blocks, subnets inside
//! their VPC and not overlapping. Every error names file, line and column.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::diag::{Error, Loc, StackError};
use crate::expr::{self, Expr, Part, Scope, Seg, contains_unknown, unknown};
use crate::graph;
use crate::kind::{self, KindSpec};
use crate::yaml::{Key, Node, NodeKind};

/// Tag keys that say who owns a resource.
pub const TAG_STACK: &str = "provision:stack";
pub const TAG_ADDRESS: &str = "provision:address";

#[derive(Debug, Clone)]
pub struct Stack {
    pub file: String,
    pub source: String,
    pub name: String,
    pub region: Option<String>,
    /// Where the stack's state lives when `--state` does not say.
    pub backend: Option<Backend>,
    pub tags: BTreeMap<String, String>,
    pub vars: BTreeMap<String, Value>,
    /// Keys of each resource with `for_each`, in order; `None` without.
    pub keys: BTreeMap<String, Option<Vec<String>>>,
    pub instances: Vec<Instance>,
    /// Indices into `instances`, dependencies first.
    pub order: Vec<usize>,
}

/// `backend: {bucket, key, region, kms_key_id}`: state in S3.
#[derive(Debug, Clone, PartialEq)]
pub struct Backend {
    pub bucket: String,
    pub key: String,
    pub region: Option<String>,
    pub kms_key_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Instance {
    /// `name` or `name[key]`.
    pub address: String,
    pub name: String,
    pub each: Option<Each>,
    pub kind: &'static KindSpec,
    pub props: Option<Node>,
    /// Addresses this instance depends on (references and `depends_on`).
    pub deps: Vec<String>,
    pub lifecycle: Lifecycle,
    pub timeouts: Timeouts,
    pub loc: Loc,
}

#[derive(Debug, Clone)]
pub struct Each {
    pub key: String,
    pub value: Value,
    pub index: usize,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Lifecycle {
    #[serde(default)]
    pub prevent_destroy: bool,
    #[serde(default)]
    pub ignore_changes: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub create: Duration,
    pub update: Duration,
    pub delete: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            create: Duration::from_secs(40 * 60),
            update: Duration::from_secs(40 * 60),
            delete: Duration::from_secs(40 * 60),
        }
    }
}

/// The tag value that records an address: `name` or `name/key`
/// (brackets are not allowed in tag values by every AWS service).
pub fn address_tag(address: &str) -> String {
    address.replace('[', "/").replace(']', "")
}

pub fn address_from_tag(tag: &str) -> String {
    match tag.split_once('/') {
        Some((n, k)) => format!("{n}[{k}]"),
        None => tag.to_string(),
    }
}

/// A resource declaration while loading: its name, its fields, its kind.
type Decl<'a> = (&'a Key, &'a [(Key, Node)], &'static KindSpec);

struct Errs {
    file: String,
    list: Vec<StackError>,
}

impl Errs {
    fn push(&mut self, loc: Loc, msg: impl Into<String>) {
        self.list.push(StackError::at(&self.file, loc, msg));
    }
}

fn keys_of(map: &[(Key, Node)], allowed: &[&str], what: &str, errs: &mut Errs) {
    for (k, _) in map {
        if !allowed.contains(&k.name.as_str()) {
            let hint = suggest(&k.name, allowed.iter().copied());
            let msg = if hint.is_empty() {
                format!(
                    "unknown field `{}` in {what}, expected one of: {}",
                    k.name,
                    allowed.join(", ")
                )
            } else {
                format!("unknown field `{}` in {what}{hint}", k.name)
            };
            errs.push(k.loc, msg);
        }
    }
}

/// ", did you mean `x`?" when a candidate is close to what was written.
fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| {
            (
                strsim::damerau_levenshtein(word, c),
                strsim::jaro_winkler(word, c),
                c,
            )
        })
        .filter(|(d, jw, _)| (*d <= 2 && word.len() > 2) || *jw > 0.85)
        .min_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)))
        .map(|(_, _, c)| format!(", did you mean `{c}`?"))
        .unwrap_or_default()
}

fn get<'a>(map: &'a [(Key, Node)], key: &str) -> Option<&'a Node> {
    map.iter().find(|(k, _)| k.name == key).map(|(_, v)| v)
}

fn valid_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_lowercase() || ch == '_')
        && s.chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
}

fn valid_key(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.:=+@-".contains(c))
}

/// Parses and validates a stack. `vars` are `--var name=value` overrides.
pub fn load(file: &str, source: &str, vars: &[(String, String)]) -> Result<Stack, Error> {
    load_inner(file, source, vars).map_err(|e| e.with_source(source))
}

fn load_inner(file: &str, source: &str, overrides: &[(String, String)]) -> Result<Stack, Error> {
    let root = crate::yaml::parse(file, source).map_err(|e| Error::stack(vec![e]))?;
    let mut errs = Errs {
        file: file.to_string(),
        list: vec![],
    };
    let fail = |errs: Errs| Err(Error::stack(errs.list));
    let Some(top) = root.as_map() else {
        errs.push(
            root.loc,
            format!("a stack must be a mapping, found {}", root.type_name()),
        );
        return fail(errs);
    };
    keys_of(
        top,
        &[
            "stack",
            "region",
            "backend",
            "tags",
            "variables",
            "resources",
        ],
        "the stack",
        &mut errs,
    );
    let backend = get(top, "backend").and_then(|b| {
        let Some(m) = b.as_map() else {
            errs.push(b.loc, "`backend` must be a mapping with bucket and key");
            return None;
        };
        keys_of(
            m,
            &["bucket", "key", "region", "kms_key_id"],
            "backend",
            &mut errs,
        );
        let field = |k: &str| get(m, k).and_then(|n| n.as_str()).map(str::to_string);
        match (field("bucket"), field("key")) {
            (Some(bucket), Some(key)) => Some(Backend {
                bucket,
                key,
                region: field("region"),
                kms_key_id: field("kms_key_id"),
            }),
            _ => {
                errs.push(b.loc, "`backend` needs `bucket` and `key` (strings)");
                None
            }
        }
    });

    let name = match get(top, "stack") {
        Some(n) => match n.as_str() {
            Some(s)
                if !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
            {
                s.to_string()
            }
            _ => {
                errs.push(
                    n.loc,
                    "`stack` must be a name of letters, digits, `-` and `_`",
                );
                String::new()
            }
        },
        None => {
            errs.push(root.loc, "missing field `stack` (the stack's name)");
            String::new()
        }
    };
    let region = get(top, "region").and_then(|n| match n.as_str() {
        Some(s) => Some(s.to_string()),
        None => {
            errs.push(
                n.loc,
                format!("`region` must be a string, found {}", n.type_name()),
            );
            None
        }
    });
    let mut tags = BTreeMap::new();
    if let Some(t) = get(top, "tags") {
        match t.as_map() {
            Some(m) => {
                for (k, v) in m {
                    match &v.kind {
                        NodeKind::Str(s) => {
                            tags.insert(k.name.clone(), s.clone());
                        }
                        NodeKind::Int(_) | NodeKind::Bool(_) | NodeKind::Float(_) => {
                            tags.insert(k.name.clone(), literal(v).to_string());
                        }
                        _ => errs.push(v.loc, format!("tag `{}` must be a string", k.name)),
                    }
                }
            }
            None => errs.push(t.loc, "`tags` must be a mapping of tag names to values"),
        }
    }

    // Variables: defaults, then overrides.
    let mut vars = BTreeMap::new();
    let mut var_locs = HashMap::new();
    if let Some(vn) = get(top, "variables") {
        match vn.as_map() {
            Some(m) => {
                for (k, v) in m {
                    var_locs.insert(k.name.clone(), k.loc);
                    match v.as_map() {
                        Some(vm) => {
                            keys_of(
                                vm,
                                &["default", "description"],
                                &format!("variable `{}`", k.name),
                                &mut errs,
                            );
                            if let Some(d) = get(vm, "default") {
                                vars.insert(k.name.clone(), literal(d));
                            }
                        }
                        None => errs.push(
                            v.loc,
                            format!(
                                "variable `{}` must be a mapping with `default` and `description`",
                                k.name
                            ),
                        ),
                    }
                }
            }
            None => errs.push(vn.loc, "`variables` must be a mapping"),
        }
    }
    for (k, text) in overrides {
        if !var_locs.contains_key(k) {
            errs.push(
                Loc::default(),
                format!("--var {k}: the stack declares no variable `{k}`"),
            );
            continue;
        }
        match crate::yaml::parse("--var", text) {
            Ok(n) => {
                vars.insert(k.clone(), literal(&n));
            }
            Err(e) => errs.push(Loc::default(), format!("--var {k}: {}", e.message)),
        }
    }
    for (k, loc) in &var_locs {
        if !vars.contains_key(k) {
            errs.push(
                *loc,
                format!("variable `{k}` has no default: give it with --var {k}=VALUE"),
            );
        }
    }

    // Resources: first names and for_each keys, then instances.
    let mut decls: Vec<Decl> = Vec::new();
    let mut keys: BTreeMap<String, Option<Vec<String>>> = BTreeMap::new();
    let mut each_values: HashMap<String, Vec<(String, Value)>> = HashMap::new();
    let mut disabled: BTreeSet<String> = BTreeSet::new();
    let empty: &[(Key, Node)] = &[];
    let res_map = match get(top, "resources") {
        Some(r) => match r.as_map() {
            Some(m) => m,
            None => {
                errs.push(r.loc, "`resources` must be a mapping of names to resources");
                empty
            }
        },
        None => empty,
    };
    for (k, v) in res_map {
        if !valid_name(&k.name) {
            errs.push(
                k.loc,
                format!(
                    "resource name `{}` must be lower case letters, digits and `_`",
                    k.name
                ),
            );
            continue;
        }
        if k.name == "var" || k.name == "each" {
            errs.push(
                k.loc,
                format!("`{}` is reserved and cannot name a resource", k.name),
            );
            continue;
        }
        let Some(m) = v.as_map() else {
            errs.push(
                v.loc,
                format!(
                    "resource `{}` must be a mapping, found {}",
                    k.name,
                    v.type_name()
                ),
            );
            continue;
        };
        keys_of(
            m,
            &[
                "kind",
                "enabled",
                "for_each",
                "depends_on",
                "lifecycle",
                "timeouts",
                "properties",
            ],
            &format!("resource `{}`", k.name),
            &mut errs,
        );
        if let Some(en) = get(m, "enabled") {
            let sc = VarScope {
                vars: &vars,
                each: None,
            };
            match eval_node(en, &sc, file) {
                Ok(Value::Bool(true)) => {}
                Ok(Value::Bool(false)) => {
                    disabled.insert(k.name.clone());
                    continue;
                }
                Ok(Value::String(t)) if t == "true" || t == "false" => {
                    if t == "false" {
                        disabled.insert(k.name.clone());
                        continue;
                    }
                }
                Ok(other) => errs.push(
                    en.loc,
                    format!("`enabled` must be true or false, found {other}"),
                ),
                Err(e) => errs.list.push(e),
            }
        }
        let spec = match get(m, "kind") {
            Some(kn) => match kn.as_str().and_then(kind::lookup) {
                Some(s) => s,
                None => {
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
                    errs.push(kn.loc, msg);
                    continue;
                }
            },
            None => {
                errs.push(k.loc, format!("resource `{}` has no `kind`", k.name));
                continue;
            }
        };
        match get(m, "for_each") {
            Some(fe) => {
                let sc = VarScope {
                    vars: &vars,
                    each: None,
                };
                match eval_node(fe, &sc, file) {
                    Ok(v) => {
                        let items: Vec<(String, Value)> = match v {
                            Value::Array(a) => a
                                .into_iter()
                                .map(|x| {
                                    let key = match &x {
                                        Value::Object(o) => o
                                            .get("key")
                                            .or_else(|| o.get("name"))
                                            .and_then(|k| expr::key_string(k).ok())
                                            .unwrap_or_default(),
                                        Value::Array(parts) => parts
                                            .iter()
                                            .map(|p| expr::key_string(p).unwrap_or_default())
                                            .collect::<Vec<_>>()
                                            .join("-"),
                                        other => expr::key_string(other).unwrap_or_default(),
                                    };
                                    (key, x)
                                })
                                .collect(),
                            Value::Object(o) => o.into_iter().collect(),
                            other => {
                                errs.push(
                                    fe.loc,
                                    format!(
                                        "`for_each` must be a list or a mapping, found {other}"
                                    ),
                                );
                                vec![]
                            }
                        };
                        let mut seen = HashSet::new();
                        for (key, _) in &items {
                            if !valid_key(key) {
                                errs.push(
                                    fe.loc,
                                    format!("`for_each` key `{key}` must be letters, digits and _.:=+@- (a list of mappings needs a `key` field in each)"),
                                );
                            } else if !seen.insert(key.clone()) {
                                errs.push(fe.loc, format!("`for_each` key `{key}` appears twice"));
                            }
                        }
                        keys.insert(
                            k.name.clone(),
                            Some(items.iter().map(|i| i.0.clone()).collect()),
                        );
                        each_values.insert(k.name.clone(), items);
                    }
                    Err(e) => {
                        errs.list.push(e);
                        keys.insert(k.name.clone(), Some(vec![]));
                    }
                }
            }
            None => {
                keys.insert(k.name.clone(), None);
            }
        }
        decls.push((k, m, spec));
    }

    let mut instances = Vec::new();
    for (k, m, spec) in &decls {
        let lifecycle = parse_lifecycle(get(m, "lifecycle"), spec, &mut errs);
        let timeouts = parse_timeouts(get(m, "timeouts"), &mut errs);
        let props = get(m, "properties").cloned();
        if let Some(p) = &props {
            check_props(p, spec, &k.name, &mut errs);
        } else if spec.props.iter().any(|p| p.required) {
            errs.push(k.loc, format!("resource `{}` has no `properties`", k.name));
        }
        let mut explicit = Vec::new();
        if let Some(d) = get(m, "depends_on") {
            match &d.kind {
                NodeKind::Seq(items) => {
                    for it in items {
                        match it.as_str() {
                            Some(n) if keys.contains_key(n) => explicit.push(n.to_string()),
                            // Depending on a disabled resource is depending on nothing.
                            Some(n) if disabled.contains(n) => {}
                            Some(n) => errs
                                .push(it.loc, format!("`depends_on` names unknown resource `{n}`")),
                            None => errs.push(it.loc, "`depends_on` takes resource names"),
                        }
                    }
                }
                _ => errs.push(d.loc, "`depends_on` must be a list of resource names"),
            }
        }
        let copies: Vec<Option<Each>> = match each_values.get(&k.name) {
            Some(items) => items
                .iter()
                .enumerate()
                .map(|(i, (key, v))| {
                    Some(Each {
                        key: key.clone(),
                        value: v.clone(),
                        index: i,
                    })
                })
                .collect(),
            None => vec![None],
        };
        for each in copies {
            let address = match &each {
                Some(e) => format!("{}[{}]", k.name, e.key),
                None => k.name.clone(),
            };
            let mut deps = Vec::new();
            if let Some(p) = &props {
                collect_deps(
                    p,
                    &k.name,
                    &vars,
                    each.as_ref(),
                    &keys,
                    &decls,
                    &disabled,
                    &mut deps,
                    &mut errs,
                );
            }
            for n in &explicit {
                match keys.get(n) {
                    Some(Some(ks)) => deps.extend(ks.iter().map(|x| format!("{n}[{x}]"))),
                    _ => deps.push(n.clone()),
                }
            }
            deps.sort();
            deps.dedup();
            instances.push(Instance {
                address,
                name: k.name.clone(),
                each,
                kind: spec,
                props: props.clone(),
                deps,
                lifecycle: lifecycle.clone(),
                timeouts,
                loc: k.loc,
            });
        }
    }
    if !errs.list.is_empty() {
        return fail(errs);
    }

    let order = match graph::topo_order(&instances) {
        Ok(o) => o,
        Err(cycle) => {
            let first = instances
                .iter()
                .find(|i| i.address == cycle[0])
                .map(|i| i.loc);
            errs.push(
                first.unwrap_or_default(),
                format!("dependency cycle: {}", cycle.join(" -> ")),
            );
            return fail(errs);
        }
    };

    let stack = Stack {
        file: file.to_string(),
        source: source.to_string(),
        name,
        region,
        backend,
        tags,
        vars,
        keys,
        instances,
        order,
    };
    stack.check_values(&mut errs);
    if !errs.list.is_empty() {
        return fail(errs);
    }
    Ok(stack)
}

fn parse_lifecycle(n: Option<&Node>, spec: &KindSpec, errs: &mut Errs) -> Lifecycle {
    let mut l = Lifecycle::default();
    let Some(n) = n else { return l };
    let Some(m) = n.as_map() else {
        errs.push(n.loc, "`lifecycle` must be a mapping");
        return l;
    };
    keys_of(m, &["prevent_destroy", "ignore_changes"], "lifecycle", errs);
    if let Some(p) = get(m, "prevent_destroy") {
        match p.kind {
            NodeKind::Bool(b) => l.prevent_destroy = b,
            _ => errs.push(p.loc, "`prevent_destroy` must be true or false"),
        }
    }
    if let Some(i) = get(m, "ignore_changes") {
        match &i.kind {
            NodeKind::Seq(items) => {
                for it in items {
                    match it.as_str() {
                        Some(s) if spec.prop(s.split('.').next().unwrap_or(s)).is_some() => {
                            l.ignore_changes.push(s.to_string())
                        }
                        Some(s) => errs.push(
                            it.loc,
                            format!("`ignore_changes`: kind {} has no property `{s}`", spec.name),
                        ),
                        None => errs.push(it.loc, "`ignore_changes` takes property names"),
                    }
                }
            }
            _ => errs.push(i.loc, "`ignore_changes` must be a list of property names"),
        }
    }
    l
}

fn parse_timeouts(n: Option<&Node>, errs: &mut Errs) -> Timeouts {
    let mut t = Timeouts::default();
    let Some(n) = n else { return t };
    let Some(m) = n.as_map() else {
        errs.push(n.loc, "`timeouts` must be a mapping");
        return t;
    };
    keys_of(m, &["create", "update", "delete"], "timeouts", errs);
    for (k, v) in m {
        let d = match v.as_str().map(humantime::parse_duration) {
            Some(Ok(d)) => d,
            _ => {
                errs.push(
                    v.loc,
                    format!(
                        "`timeouts.{}` must be a duration such as 10m or 90s",
                        k.name
                    ),
                );
                continue;
            }
        };
        match k.name.as_str() {
            "create" => t.create = d,
            "update" => t.update = d,
            "delete" => t.delete = d,
            _ => {}
        }
    }
    t
}

fn check_props(p: &Node, spec: &KindSpec, name: &str, errs: &mut Errs) {
    let Some(m) = p.as_map() else {
        errs.push(
            p.loc,
            format!("`properties` must be a mapping, found {}", p.type_name()),
        );
        return;
    };
    for (k, _) in m {
        if spec.prop(&k.name).is_none() {
            let names = || spec.props.iter().map(|p| p.name);
            let hint = suggest(&k.name, names());
            let msg = if hint.is_empty() {
                format!(
                    "unknown property `{}` for kind {}, expected one of: {}",
                    k.name,
                    spec.name,
                    names().collect::<Vec<_>>().join(", ")
                )
            } else {
                format!("unknown property `{}` for kind {}{hint}", k.name, spec.name)
            };
            errs.push(k.loc, msg);
        }
    }
    for prop in spec.props.iter().filter(|p| p.required) {
        if get(m, prop.name).is_none() {
            errs.push(
                p.loc,
                format!(
                    "resource `{name}` ({}) needs property `{}`",
                    spec.name, prop.name
                ),
            );
        }
    }
}

/// Finds the templates in a node and the resource addresses they refer to.
#[allow(clippy::too_many_arguments)]
fn collect_deps(
    n: &Node,
    self_name: &str,
    vars: &BTreeMap<String, Value>,
    each: Option<&Each>,
    keys: &BTreeMap<String, Option<Vec<String>>>,
    decls: &[Decl],
    disabled: &BTreeSet<String>,
    out: &mut Vec<String>,
    errs: &mut Errs,
) {
    match &n.kind {
        NodeKind::Str(s) => {
            let parts = match expr::parse_template(s) {
                Ok(p) => p,
                Err((off, m)) => {
                    errs.push(at_offset(n, s, off), format!("in `{s}`: {m}"));
                    return;
                }
            };
            for p in &parts {
                let Part::Expr(e, off) = p else { continue };
                let mut refs = vec![];
                collect_refs(e, &mut refs);
                for (root, segs) in refs {
                    if root == "var" {
                        match segs.first() {
                            Some(Seg::Attr(v)) if vars.contains_key(v) => {}
                            Some(Seg::Attr(v)) => errs.push(
                                at_offset(n, s, *off),
                                format!(
                                    "unknown variable `var.{v}`{}",
                                    suggest(v, vars.keys().map(String::as_str))
                                ),
                            ),
                            _ => errs
                                .push(at_offset(n, s, *off), "`var` must be followed by `.NAME`"),
                        }
                        continue;
                    }
                    if root == "each" {
                        if each.is_none() {
                            errs.push(
                                at_offset(n, s, *off),
                                "`each` is only defined in a resource with `for_each`",
                            );
                        }
                        continue;
                    }
                    if disabled.contains(&root) {
                        errs.push(
                            at_offset(n, s, *off),
                            format!("`{root}` is disabled (enabled: false): disable what refers to it too"),
                        );
                        continue;
                    }
                    let Some(k) = keys.get(&root) else {
                        errs.push(
                            at_offset(n, s, *off),
                            format!(
                                "unknown reference `{root}`: no resource has that name{}",
                                suggest(&root, keys.keys().map(String::as_str))
                            ),
                        );
                        continue;
                    };
                    if root == self_name {
                        errs.push(
                            at_offset(n, s, *off),
                            format!("resource `{root}` refers to itself"),
                        );
                        continue;
                    }
                    let attr_seg = match (k, segs.first()) {
                        (Some(ks), Some(Seg::Splat)) => {
                            out.extend(ks.iter().map(|x| format!("{root}[{x}]")));
                            segs.get(1)
                        }
                        (Some(ks), Some(Seg::Index(ix))) => {
                            let sc = VarScope { vars, each };
                            match expr::eval(ix, &sc).and_then(|v| expr::key_string(&v)) {
                                Ok(key) if ks.contains(&key) => out.push(format!("{root}[{key}]")),
                                Ok(key) => errs.push(
                                    at_offset(n, s, *off),
                                    format!(
                                        "unknown reference `{root}[{key}]`: keys are {}",
                                        ks.join(", ")
                                    ),
                                ),
                                Err(m) => errs.push(at_offset(n, s, *off), m),
                            }
                            segs.get(1)
                        }
                        (None, Some(Seg::Attr(_))) => {
                            out.push(root.clone());
                            segs.first()
                        }
                        (Some(_), _) => {
                            errs.push(
                                at_offset(n, s, *off),
                                format!("`{root}` has for_each: write `{root}[KEY].ATTRIBUTE` or `{root}[*].ATTRIBUTE`"),
                            );
                            continue;
                        }
                        (None, _) => {
                            errs.push(
                                at_offset(n, s, *off),
                                format!("`{root}` must be followed by `.ATTRIBUTE`"),
                            );
                            continue;
                        }
                    };
                    let spec = decls.iter().find(|d| d.0.name == root).map(|d| d.2);
                    match (attr_seg, spec) {
                        (Some(Seg::Attr(a)), Some(spec)) => {
                            if !spec.outputs.contains(&a.as_str()) && spec.prop(a).is_none() {
                                errs.push(
                                    at_offset(n, s, *off),
                                    format!(
                                        "`{root}` ({}) has no attribute `{a}`; it has {}",
                                        spec.name,
                                        spec.outputs
                                            .iter()
                                            .copied()
                                            .chain(spec.props.iter().map(|p| p.name))
                                            .collect::<Vec<_>>()
                                            .join(", ")
                                    ),
                                );
                            }
                        }
                        _ => errs.push(
                            at_offset(n, s, *off),
                            format!("`{root}[...]` must be followed by `.ATTRIBUTE`"),
                        ),
                    }
                }
            }
        }
        NodeKind::Seq(items) => {
            for i in items {
                collect_deps(i, self_name, vars, each, keys, decls, disabled, out, errs);
            }
        }
        NodeKind::Map(m) => {
            for (_, v) in m {
                collect_deps(v, self_name, vars, each, keys, decls, disabled, out, errs);
            }
        }
        _ => {}
    }
}

fn collect_refs(e: &Expr, out: &mut Vec<(String, Vec<Seg>)>) {
    match e {
        Expr::Ref { root, segs } => {
            out.push((root.clone(), segs.clone()));
            for s in segs {
                if let Seg::Index(ix) = s {
                    collect_refs(ix, out);
                }
            }
        }
        Expr::Call(_, args) => args.iter().for_each(|a| collect_refs(a, out)),
        Expr::Bin(_, l, r) => {
            collect_refs(l, out);
            collect_refs(r, out);
        }
        _ => {}
    }
}

/// Best guess of where an offset inside a scalar lies: exact for plain and
/// quoted scalars on one line.
fn at_offset(n: &Node, s: &str, off: usize) -> Loc {
    if s.contains('\n') {
        return n.loc;
    }
    Loc {
        line: n.loc.line,
        col: n.loc.col + off as u32,
    }
}

/// A YAML node as a value, with no templates evaluated.
fn literal(n: &Node) -> Value {
    match &n.kind {
        NodeKind::Null => Value::Null,
        NodeKind::Bool(b) => Value::Bool(*b),
        NodeKind::Int(i) => Value::from(*i),
        NodeKind::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        NodeKind::Str(s) => Value::String(s.clone()),
        NodeKind::Seq(a) => Value::Array(a.iter().map(literal).collect()),
        NodeKind::Map(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.name.clone(), literal(v)))
                .collect(),
        ),
    }
}

/// Evaluates a node: strings have their `${...}` parts replaced.
pub fn eval_node(n: &Node, sc: &dyn Scope, file: &str) -> Result<Value, StackError> {
    Ok(match &n.kind {
        NodeKind::Str(s) => {
            let parts = expr::parse_template(s).map_err(|(off, m)| {
                StackError::at(file, at_offset(n, s, off), format!("in `{s}`: {m}"))
            })?;
            match parts.as_slice() {
                [Part::Expr(e, off)]
                    if s.trim_start().starts_with("${") && s.trim_end().ends_with('}') =>
                {
                    expr::eval(e, sc).map_err(|m| StackError::at(file, at_offset(n, s, *off), m))?
                }
                _ => {
                    let mut out = String::new();
                    for p in &parts {
                        match p {
                            Part::Text(t) => out.push_str(t),
                            Part::Expr(e, off) => {
                                let v = expr::eval(e, sc)
                                    .map_err(|m| StackError::at(file, at_offset(n, s, *off), m))?;
                                if contains_unknown(&v) {
                                    return Ok(unknown());
                                }
                                let t = expr::scalar_text(&v)
                                    .map_err(|m| StackError::at(file, at_offset(n, s, *off), m))?;
                                out.push_str(&t);
                            }
                        }
                    }
                    Value::String(out)
                }
            }
        }
        NodeKind::Seq(a) => Value::Array(
            a.iter()
                .map(|x| eval_node(x, sc, file))
                .collect::<Result<_, _>>()?,
        ),
        NodeKind::Map(m) => {
            let mut o = Map::new();
            for (k, v) in m {
                o.insert(k.name.clone(), eval_node(v, sc, file)?);
            }
            Value::Object(o)
        }
        _ => literal(n),
    })
}

/// A scope with variables and `each` only: for `for_each` and index keys.
struct VarScope<'a> {
    vars: &'a BTreeMap<String, Value>,
    each: Option<&'a Each>,
}

fn special(
    vars: &BTreeMap<String, Value>,
    each: Option<&Each>,
    root: &str,
    name: &str,
) -> Option<Result<Value, String>> {
    match root {
        "var" => vars.get(name).cloned().map(Ok),
        "each" => {
            let e = each?;
            match name {
                "key" => Some(Ok(Value::String(e.key.clone()))),
                "value" => Some(Ok(e.value.clone())),
                "index" => Some(Ok(Value::from(e.index))),
                _ => None,
            }
        }
        _ => None,
    }
}

impl Scope for VarScope<'_> {
    fn special(&self, root: &str, name: &str) -> Option<Result<Value, String>> {
        special(self.vars, self.each, root, name)
    }
    fn resource_attr(&self, name: &str, _: Option<&str>, _: &str) -> Result<Value, String> {
        Err(format!("`{name}`: resources cannot be referenced here"))
    }
    fn keys_of(&self, name: &str) -> Result<Option<Vec<String>>, String> {
        Err(format!("`{name}`: resources cannot be referenced here"))
    }
}

/// Values of other resources, as known at the time of evaluation.
pub trait Known {
    /// An output (`id`, `arn`, ...) of an address; `None` if not known yet.
    fn output(&self, address: &str, attr: &str) -> Option<Value>;
    /// The evaluated, canonical properties of an address, if evaluated.
    fn props(&self, address: &str) -> Option<&Value>;
}

struct ResScope<'a> {
    stack: &'a Stack,
    each: Option<&'a Each>,
    known: &'a dyn Known,
}

impl Scope for ResScope<'_> {
    fn special(&self, root: &str, name: &str) -> Option<Result<Value, String>> {
        special(&self.stack.vars, self.each, root, name)
    }
    fn resource_attr(&self, name: &str, key: Option<&str>, attr: &str) -> Result<Value, String> {
        let address = match key {
            Some(k) => format!("{name}[{k}]"),
            None => name.to_string(),
        };
        let inst = self
            .stack
            .instance(&address)
            .ok_or_else(|| format!("unknown reference `{address}`"))?;
        if inst.kind.outputs.contains(&attr) {
            return Ok(self.known.output(&address, attr).unwrap_or_else(unknown));
        }
        if inst.kind.prop(attr).is_some() {
            return Ok(self
                .known
                .props(&address)
                .and_then(|p| p.get(attr).cloned())
                .unwrap_or_else(unknown));
        }
        Err(format!("`{address}` has no attribute `{attr}`"))
    }
    fn keys_of(&self, name: &str) -> Result<Option<Vec<String>>, String> {
        self.stack
            .keys
            .get(name)
            .cloned()
            .ok_or_else(|| format!("unknown reference `{name}`"))
    }
}

struct NothingKnown<'a>(&'a HashMap<String, Value>);
impl Known for NothingKnown<'_> {
    fn output(&self, _: &str, _: &str) -> Option<Value> {
        None
    }
    fn props(&self, address: &str) -> Option<&Value> {
        self.0.get(address)
    }
}

impl Stack {
    pub fn instance(&self, address: &str) -> Option<&Instance> {
        self.instances.iter().find(|i| i.address == address)
    }

    /// Instances in dependency order.
    pub fn ordered(&self) -> impl Iterator<Item = &Instance> {
        self.order.iter().map(|&i| &self.instances[i])
    }

    /// The desired properties of an instance in canonical form, with the
    /// stack's tags and the ownership tags merged in.
    pub fn desired(&self, inst: &Instance, known: &dyn Known) -> Result<Value, StackError> {
        let sc = ResScope {
            stack: self,
            each: inst.each.as_ref(),
            known,
        };
        let raw = match &inst.props {
            Some(p) => eval_node(p, &sc, &self.file).map_err(|mut e| {
                e.message = format!("{}: {}", inst.address, e.message);
                e
            })?,
            None => Value::Object(Map::new()),
        };
        if let (Value::Object(o), Some(NodeKind::Map(m))) =
            (&raw, inst.props.as_ref().map(|p| &p.kind))
        {
            for (k, v) in o {
                let Some(prop) = inst.kind.prop(k) else {
                    continue;
                };
                if v.is_null() {
                    continue;
                }
                if let Err(msg) = kind::check(&prop.ty, v, k) {
                    let loc = m
                        .iter()
                        .find(|(kk, _)| &kk.name == k)
                        .map(|(_, n)| n.loc)
                        .unwrap_or(inst.loc);
                    return Err(StackError::at(
                        &self.file,
                        loc,
                        format!("{}: {msg}", inst.address),
                    ));
                }
            }
        }
        let mut c = kind::canonical(inst.kind, &raw);
        if inst.kind.has_tags() {
            let mut tags = Map::new();
            for (k, v) in &self.tags {
                tags.insert(k.clone(), Value::String(v.clone()));
            }
            if let Some(Value::Object(own)) = c.get("tags") {
                for (k, v) in own {
                    tags.insert(k.clone(), v.clone());
                }
            }
            tags.insert(TAG_STACK.into(), Value::String(self.name.clone()));
            tags.insert(
                TAG_ADDRESS.into(),
                Value::String(address_tag(&inst.address)),
            );
            c["tags"] = Value::Object(tags);
        }
        Ok(c)
    }

    /// Desired properties of every instance with every output unknown
    /// (literal names and CIDR blocks are known). Errors are skipped.
    pub fn static_props(&self) -> HashMap<String, Value> {
        self.evaluate_static().0
    }

    /// Every instance evaluated in order with all outputs unknown, and the errors met.
    fn evaluate_static(&self) -> (HashMap<String, Value>, Vec<StackError>) {
        let mut props: HashMap<String, Value> = HashMap::new();
        let mut errors = Vec::new();
        for inst in self.ordered() {
            match self.desired(inst, &NothingKnown(&props)) {
                Ok(v) => {
                    props.insert(inst.address.clone(), v);
                }
                Err(e) => errors.push(e),
            }
        }
        (props, errors)
    }

    /// Checks types and cross-resource facts with every output unknown.
    fn check_values(&self, errs: &mut Errs) {
        let (props, errors) = self.evaluate_static();
        errs.list.extend(errors);
        // Blocks inside their parent's (a subnet in its VPC), siblings not overlapping.
        let mut by_vpc: BTreeMap<String, Vec<(&Instance, ipnet::Ipv4Net)>> = BTreeMap::new();
        for inst in &self.instances {
            let Some(w) = inst.kind.within else { continue };
            let Some(p) = props.get(&inst.address) else {
                continue;
            };
            let Some(net) = p[w.cidr]
                .as_str()
                .and_then(|s| s.parse::<ipnet::Ipv4Net>().ok())
            else {
                continue;
            };
            let loc = prop_loc(inst, w.cidr);
            let vpc = inst.deps.iter().find(|d| self.refers(inst, w.parent, d));
            let Some(vpc) = vpc else { continue };
            if let Some(vnet) = props
                .get(vpc)
                .and_then(|p| p[w.cidr].as_str())
                .and_then(|s| s.parse::<ipnet::Ipv4Net>().ok())
                && !vnet.contains(&net)
            {
                errs.push(
                    loc,
                    format!(
                        "{}: subnet {net} is outside its VPC `{vpc}` ({vnet})",
                        inst.address
                    ),
                );
            }
            by_vpc.entry(vpc.clone()).or_default().push((inst, net));
        }
        for subnets in by_vpc.values() {
            for (i, (a, na)) in subnets.iter().enumerate() {
                for (b, nb) in &subnets[i + 1..] {
                    if na.contains(nb) || nb.contains(na) {
                        errs.push(
                            prop_loc(b, "cidr_block"),
                            format!(
                                "{}: subnet {nb} overlaps {na} of `{}`",
                                b.address, a.address
                            ),
                        );
                    }
                }
            }
        }
    }

    /// Whether the property `prop` of `inst` refers to `address`.
    fn refers(&self, inst: &Instance, prop: &str, address: &str) -> bool {
        let Some(NodeKind::Map(m)) = inst.props.as_ref().map(|p| &p.kind) else {
            return false;
        };
        let Some(n) = get(m, prop) else { return false };
        let mut deps = Vec::new();
        let mut errs = Errs {
            file: String::new(),
            list: vec![],
        };
        let decls: Vec<Decl> = vec![];
        collect_deps(
            n,
            &inst.name,
            &self.vars,
            inst.each.as_ref(),
            &self.keys,
            &decls,
            &BTreeSet::new(),
            &mut deps,
            &mut errs,
        );
        deps.iter().any(|d| d == address)
    }
}

fn prop_loc(inst: &Instance, prop: &str) -> Loc {
    match inst.props.as_ref().map(|p| &p.kind) {
        Some(NodeKind::Map(m)) => get(m, prop).map(|n| n.loc).unwrap_or(inst.loc),
        _ => inst.loc,
    }
}
