//! Instances: each declaration once, or once per `for_each` key, with the
//! addresses it depends on (references and `depends_on`).

use super::cx::Cx;
use super::decls::Decls;
use super::refs::Refs;
use super::{Each, Instance};
use crate::diag::Loc;
use crate::limits;

/// The instances of one scope (`prefix` before their addresses), counted
/// against the limits with those of the scopes before (`copies_before`,
/// `edges`).
pub(super) fn instances(
    decls: &Decls,
    scope: usize,
    prefix: &str,
    refs: &Refs,
    copies_before: usize,
    edges: &mut usize,
    cx: &mut Cx,
) -> Vec<Instance> {
    let mut out = Vec::new();
    let copies: usize = copies_before
        + decls
            .list
            .iter()
            .map(|d| d.items.as_ref().map_or(1, Vec::len))
            .sum::<usize>();
    if copies > limits::INSTANCES {
        let msg = format!(
            "the stack has {copies} resource instances, at most {} allowed",
            limits::INSTANCES
        );
        cx.push(Loc { line: 1, col: 1 }, msg);
        return out;
    }
    for d in &decls.list {
        for each in Each::copies(d.items.as_deref()) {
            let address = match &each {
                Some(e) => format!("{prefix}{}[{}]", d.name, e.key),
                None => format!("{prefix}{}", d.name),
            };
            let mut deps = match &d.props {
                Some(p) => refs.deps(scope, p, &d.name, each.as_ref(), &d.file, cx),
                None => vec![],
            };
            for t in &d.depends_on_refs {
                deps.extend(refs.deps(scope, t, &d.name, each.as_ref(), &d.file, cx));
            }
            for n in &d.depends_on {
                match decls.keys.get(n) {
                    Some(Some(ks)) => deps.extend(ks.iter().map(|x| format!("{prefix}{n}[{x}]"))),
                    _ => deps.push(format!("{prefix}{n}")),
                }
            }
            deps.sort();
            deps.dedup();
            *edges += deps.len();
            if *edges > limits::DEPENDENCIES {
                let msg = format!(
                    "the stack's resources have more than {} dependencies in all",
                    limits::DEPENDENCIES
                );
                cx.push_in(&d.file, d.loc, msg);
                return out;
            }
            out.push(Instance {
                address,
                scope,
                file: d.file.clone(),
                name: d.name.clone(),
                each,
                kind: d.kind,
                props: d.props.clone(),
                deps,
                lifecycle: d.lifecycle.clone(),
                timeouts: d.timeouts,
                loc: d.loc,
            });
        }
    }
    out
}
