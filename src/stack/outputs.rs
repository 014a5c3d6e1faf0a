//! Outputs: `outputs: NAME: {value, description, sensitive}`. A stack's are
//! recorded in state after apply (and read by other stacks through
//! `stacks:`); a module's are what its user reads (`${module.M.NAME}`).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Output;
use super::cx::{Cx, get};
use super::template::compile;
use crate::yaml::{Key, Node, NodeKind};

/// The outputs declared in these files.
pub(super) fn read(files: &[(&str, &[(Key, Node)])], cx: &mut Cx) -> BTreeMap<String, Output> {
    let mut out = BTreeMap::new();
    for (file, top) in files {
        let Some(on) = get(top, "outputs") else {
            continue;
        };
        let Some(m) = on.as_map() else {
            cx.push_in(
                file,
                on.loc,
                "`outputs` must be a mapping of names to {value, description, sensitive}",
            );
            continue;
        };
        let saved = std::mem::replace(&mut cx.file, file.to_string());
        for (k, v) in m {
            if !super::decls::valid_name(&k.name) {
                cx.push(
                    k.loc,
                    format!(
                        "output name `{}` must be lower case letters, digits and `_`",
                        k.name
                    ),
                );
                continue;
            }
            if out.contains_key(&k.name) {
                cx.push(k.loc, format!("output `{}` is declared twice", k.name));
                continue;
            }
            let Some(f) = v.as_map() else {
                cx.push(
                    v.loc,
                    format!("output `{}` must be a mapping with `value`", k.name),
                );
                continue;
            };
            cx.only(
                f,
                &["value", "description", "sensitive"],
                &format!("output `{}`", k.name),
            );
            let Some(value) = get(f, "value") else {
                cx.push(k.loc, format!("output `{}` has no `value`", k.name));
                continue;
            };
            let sensitive = match get(f, "sensitive").map(|s| &s.kind) {
                None | Some(NodeKind::Bool(false)) => false,
                Some(NodeKind::Bool(true)) => true,
                Some(_) => {
                    cx.push(k.loc, "`sensitive` must be true or false");
                    false
                }
            };
            out.insert(
                k.name.clone(),
                Output {
                    name: k.name.clone(),
                    tmpl: Arc::new(compile(value, cx)),
                    file: file.to_string(),
                    loc: k.loc,
                    sensitive,
                    description: get(f, "description")
                        .and_then(|d| d.as_str())
                        .map(str::to_string),
                },
            );
        }
        cx.file = saved;
    }
    out
}
