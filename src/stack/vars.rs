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
    for (k, text) in overrides {
        if !declared.iter().any(|(d, _)| d == k) {
            cx.push(
                Loc::default(),
                format!("--var {k}: the stack declares no variable `{k}`"),
            );
            continue;
        }
        match crate::yaml::parse("--var", text) {
            Ok(n) => {
                vars.insert(k.clone(), literal(&n));
            }
            Err(e) => cx.push(Loc::default(), format!("--var {k}: {}", e.message)),
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
