//! Variables: their declarations (`default`, `type`, `validation`), and
//! their values: for the stack, the default, then var files (`--var-file`,
//! `-e ENV`) in order, then `--var NAME=VALUE`; for a module, its input
//! (or the default). Every value is checked against its type and rules
//! where it was given.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::cx::{Cx, get, suggest};
use super::scope::{Statics, VarScope};
use super::template::{Tmpl, compile, literal};
use super::types::{self, Type};
use crate::diag::Loc;
use crate::expr::contains_unknown;
use crate::yaml::{Key, Node};

/// One `validation` rule: a condition over the variable, and what to say
/// when it is false.
pub(super) struct Rule {
    pub condition: Arc<Tmpl>,
    pub message: String,
}

/// One variable as declared.
pub(super) struct VarDecl {
    pub name: String,
    pub file: String,
    pub loc: Loc,
    pub default: Option<(Value, Loc)>,
    pub ty: Option<Type>,
    pub rules: Vec<Rule>,
}

/// Where a value was given: a file and place, and how to name it.
pub(super) struct Origin<'a> {
    pub file: &'a str,
    pub loc: Loc,
    /// `var.NAME`, `--var NAME=...`, `input NAME of module.x`: for messages.
    pub what: String,
}

/// Every variable declared in `variables:` of these files.
pub(super) fn declarations(files: &[(&str, &[(Key, Node)])], cx: &mut Cx) -> Vec<VarDecl> {
    let mut out: Vec<VarDecl> = Vec::new();
    for (file, top) in files {
        let Some(vn) = get(top, "variables") else {
            continue;
        };
        let Some(m) = vn.as_map() else {
            cx.push_in(file, vn.loc, "`variables` must be a mapping");
            continue;
        };
        for (k, v) in m {
            if out.iter().any(|d| d.name == k.name) {
                cx.push_in(
                    file,
                    k.loc,
                    format!("variable `{}` is declared twice", k.name),
                );
                continue;
            }
            if let Some(d) = declaration(file, k, v, cx) {
                out.push(d);
            }
        }
    }
    out
}

fn declaration(file: &str, k: &Key, v: &Node, cx: &mut Cx) -> Option<VarDecl> {
    let Some(vm) = v.as_map() else {
        let msg = format!(
            "variable `{}` must be a mapping with `default`, `type`, `validation` and `description`",
            k.name
        );
        cx.push_in(file, v.loc, msg);
        return None;
    };
    let what = format!("variable `{}`", k.name);
    cx.only_in(
        file,
        vm,
        &["default", "description", "type", "validation", "sensitive"],
        &what,
    );
    let ty = get(vm, "type").and_then(|t| match t.as_str().map(types::parse) {
        Some(Ok(ty)) => Some(ty),
        Some(Err(m)) => {
            cx.push_in(file, t.loc, format!("{what}: {m}"));
            None
        }
        None => {
            cx.push_in(
                file,
                t.loc,
                format!("{what}: `type` must be a string such as list(string)"),
            );
            None
        }
    });
    let mut rules = Vec::new();
    if let Some(vs) = get(vm, "validation") {
        let items: Vec<&Node> = match &vs.kind {
            crate::yaml::NodeKind::Seq(items) => items.iter().collect(),
            crate::yaml::NodeKind::Map(_) => vec![vs],
            _ => {
                cx.push_in(
                    file,
                    vs.loc,
                    format!("{what}: `validation` must be a list of {{condition, message}}"),
                );
                vec![]
            }
        };
        for it in items {
            let Some(r) = it.as_map() else {
                cx.push_in(
                    file,
                    it.loc,
                    format!(
                        "{what}: a validation rule must be a mapping with `condition` and `message`"
                    ),
                );
                continue;
            };
            cx.only_in(file, r, &["condition", "message"], "a validation rule");
            let (Some(c), Some(msg)) = (get(r, "condition"), get(r, "message")) else {
                cx.push_in(
                    file,
                    it.loc,
                    format!("{what}: a validation rule needs `condition` and `message`"),
                );
                continue;
            };
            let Some(msg) = msg.as_str() else {
                cx.push_in(file, msg.loc, "`message` must be a string");
                continue;
            };
            let saved = std::mem::replace(&mut cx.file, file.to_string());
            let condition = Arc::new(compile(c, cx));
            cx.file = saved;
            rules.push(Rule {
                condition,
                message: msg.to_string(),
            });
        }
    }
    Some(VarDecl {
        name: k.name.clone(),
        file: file.to_string(),
        loc: k.loc,
        default: get(vm, "default").map(|d| (literal(d), d.loc)),
        ty,
        rules,
    })
}

/// Checks a value against its variable's type and rules (when it is
/// known): an error names where it was given.
pub(super) fn check(d: &VarDecl, value: &Value, at: &Origin, st: &Statics, cx: &mut Cx) {
    if let Some(t) = &d.ty
        && let Err(m) = types::check(t, value, &at.what)
    {
        cx.push_in(at.file, at.loc, m);
        return;
    }
    if contains_unknown(value) {
        return;
    }
    let mut vars = st.vars.clone();
    vars.insert(d.name.clone(), value.clone());
    let scope = Statics {
        vars: &vars,
        data: st.data,
        stacks: st.stacks,
    };
    let sc = VarScope {
        st: &scope,
        each: None,
        lenient: false,
    };
    for r in &d.rules {
        match r.condition.eval(&sc, &d.file) {
            Ok(Value::Bool(true)) => {}
            Ok(Value::Bool(false)) => {
                cx.push_in(at.file, at.loc, format!("{}: {}", at.what, r.message));
            }
            Ok(v) if contains_unknown(&v) => {}
            Ok(other) => cx.push_in(
                &d.file,
                r.condition.loc,
                format!(
                    "variable `{}`: a validation condition must give true or false, found {other}",
                    d.name
                ),
            ),
            Err(e) => cx.errors.push(e),
        }
    }
}

/// The stack's variables: defaults, then var files in order, then `--var`.
pub(super) fn root_values(
    decls: &[VarDecl],
    section: Loc,
    var_files: &[(String, String)],
    overrides: &[(String, String)],
    st: &Statics,
    cx: &mut Cx,
) -> BTreeMap<String, Value> {
    // Each value with where it came from: (value, file, loc, what).
    let mut given: BTreeMap<String, (Value, String, Loc, String)> = BTreeMap::new();
    for d in decls {
        if let Some((v, loc)) = &d.default {
            let what = format!("var.{}", d.name);
            given.insert(d.name.clone(), (v.clone(), d.file.clone(), *loc, what));
        }
    }
    let names = || decls.iter().map(|d| d.name.as_str());
    for (file, text) in var_files {
        let root = match crate::yaml::parse(file, text) {
            Ok(n) => n,
            Err(e) => {
                cx.errors.push(e);
                continue;
            }
        };
        let Some(m) = root.as_map() else {
            if !matches!(root.kind, crate::yaml::NodeKind::Null) {
                cx.push_in(
                    file,
                    root.loc,
                    "a var file must be a mapping of variable names to values",
                );
            }
            continue;
        };
        for (k, v) in m {
            if !names().any(|n| n == k.name) {
                let hint = suggest(&k.name, names());
                cx.push_in(
                    file,
                    k.loc,
                    format!("the stack declares no variable `{}`{hint}", k.name),
                );
                continue;
            }
            let what = format!("var.{} (from {file})", k.name);
            given.insert(k.name.clone(), (literal(v), file.clone(), v.loc, what));
        }
    }
    for (k, text) in overrides {
        let Some(d) = decls.iter().find(|d| &d.name == k) else {
            let hint = suggest(k, names());
            let known: Vec<&str> = names().collect();
            let msg = if known.is_empty() {
                format!("--var {k}: the stack declares no variables")
            } else {
                format!(
                    "--var {k}: the stack declares no variable `{k}`{hint} (it declares: {})",
                    known.join(", ")
                )
            };
            cx.push(section, msg);
            continue;
        };
        match crate::yaml::parse("--var", text) {
            Ok(n) => {
                let what = format!("--var {k}={}", crate::diag::clip(text, 40));
                given.insert(k.clone(), (literal(&n), d.file.clone(), d.loc, what));
            }
            Err(e) => cx.push_in(
                &d.file,
                d.loc,
                format!(
                    "--var {k}={}: {} (column {} of the value)",
                    crate::diag::clip(text, 40),
                    e.message,
                    e.loc.col
                ),
            ),
        }
    }
    let mut out = BTreeMap::new();
    for d in decls {
        match given.remove(&d.name) {
            Some((v, file, loc, what)) => {
                check(
                    d,
                    &v,
                    &Origin {
                        file: &file,
                        loc,
                        what,
                    },
                    st,
                    cx,
                );
                out.insert(d.name.clone(), v);
            }
            None => cx.push_in(
                &d.file,
                d.loc,
                format!(
                    "variable `{}` has no default: give it with --var {}=VALUE or in a var file",
                    d.name, d.name
                ),
            ),
        }
    }
    out
}

/// A module's variables: its inputs as far as they are known before
/// anything is created (`known`), else the defaults. `missing` reports an
/// input a variable without default needs.
pub(super) fn module_values(
    decls: &[VarDecl],
    inputs: &BTreeMap<String, (Value, Origin)>,
    st: &Statics,
    missing: &mut dyn FnMut(&str, &mut Cx),
    cx: &mut Cx,
) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for d in decls {
        match (inputs.get(&d.name), &d.default) {
            (Some((v, at)), _) => {
                check(d, v, at, st, cx);
                out.insert(d.name.clone(), v.clone());
            }
            (None, Some((v, loc))) => {
                let at = Origin {
                    file: &d.file,
                    loc: *loc,
                    what: format!("var.{}", d.name),
                };
                check(d, v, &at, st, cx);
                out.insert(d.name.clone(), v.clone());
            }
            (None, None) => missing(&d.name, cx),
        }
    }
    out
}
