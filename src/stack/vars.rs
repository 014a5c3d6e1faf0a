//! Variables: their defaults in the stack, then `--var NAME=VALUE` overrides.

use std::collections::BTreeMap;

use serde_json::Value;

use super::cx::{Cx, get};
use super::template::literal;
use crate::diag::Loc;
use crate::yaml::{Key, Node};

/// Every variable's value; a variable with neither default nor override is an error.
pub(super) fn read(
    top: &[(Key, Node)],
    overrides: &[(String, String)],
    cx: &mut Cx,
) -> BTreeMap<String, Value> {
    let mut vars = BTreeMap::new();
    let mut declared: Vec<(String, Loc)> = Vec::new();
    if let Some(vn) = get(top, "variables") {
        match vn.as_map() {
            Some(m) => {
                for (k, v) in m {
                    declared.push((k.name.clone(), k.loc));
                    if let Some(d) = declaration(k, v, cx) {
                        vars.insert(k.name.clone(), d);
                    }
                }
            }
            None => cx.push(vn.loc, "`variables` must be a mapping"),
        }
    }
    // `--var` is not in the file: its errors point at the stack's
    // `variables` (or the variable's declaration) and say where in the value.
    let section = get(top, "variables").map_or(Loc { line: 1, col: 1 }, |v| v.loc);
    for (k, text) in overrides {
        let Some((_, at)) = declared.iter().find(|(d, _)| d == k) else {
            let names = declared.iter().map(|(d, _)| d.as_str());
            let hint = super::cx::suggest(k, names.clone());
            let known: Vec<&str> = names.collect();
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
                vars.insert(k.clone(), literal(&n));
            }
            Err(e) => cx.push(
                *at,
                format!(
                    "--var {k}={}: {} (column {} of the value)",
                    crate::diag::clip(text, 40),
                    e.message,
                    e.loc.col
                ),
            ),
        }
    }
    for (k, loc) in &declared {
        if !vars.contains_key(k) {
            cx.push(
                *loc,
                format!("variable `{k}` has no default: give it with --var {k}=VALUE"),
            );
        }
    }
    vars
}

/// One variable's declaration: its default, if any.
fn declaration(k: &Key, v: &Node, cx: &mut Cx) -> Option<Value> {
    let Some(vm) = v.as_map() else {
        let msg = format!(
            "variable `{}` must be a mapping with `default` and `description`",
            k.name
        );
        cx.push(v.loc, msg);
        return None;
    };
    cx.only(
        vm,
        &["default", "description"],
        &format!("variable `{}`", k.name),
    );
    get(vm, "default").map(literal)
}
