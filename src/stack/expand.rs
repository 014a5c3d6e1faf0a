//! Instances: each declaration once, or once per `for_each` key, with the
//! addresses it depends on (references and `depends_on`).

use super::cx::Cx;
use super::decls::Decls;
use super::refs::Refs;
use super::{Each, Instance};
use crate::diag::Loc;
use crate::limits;
use serde_json::Value;
use std::collections::BTreeMap;

pub(super) fn instances(
    decls: &Decls,
    vars: &BTreeMap<String, Value>,
    cx: &mut Cx,
) -> Vec<Instance> {
    let kinds = decls
        .list
        .iter()
        .map(|d| (d.name.as_str(), d.kind))
        .collect();
    let refs = Refs::new(vars, &decls.keys, kinds, &decls.disabled);
    let mut out = Vec::new();
    let copies: usize = decls
        .list
        .iter()
        .map(|d| d.items.as_ref().map_or(1, Vec::len))
        .sum();
    if copies > limits::INSTANCES {
        let msg = format!(
            "the stack has {copies} resource instances, at most {} allowed",
            limits::INSTANCES
        );
        cx.push(Loc { line: 1, col: 1 }, msg);
        return out;
    }
    let mut edges = 0usize;
    for d in &decls.list {
        let copies: Vec<Option<Each>> = match &d.items {
            Some(items) => items
                .iter()
                .enumerate()
                .map(|(index, (key, value))| {
                    Some(Each {
                        key: key.clone(),
                        value: value.clone(),
                        index,
                    })
                })
                .collect(),
            None => vec![None],
        };
        for each in copies {
            let address = match &each {
                Some(e) => format!("{}[{}]", d.name, e.key),
                None => d.name.clone(),
            };
            let mut deps = match &d.props {
                Some(p) => refs.deps(p, &d.name, each.as_ref(), cx),
                None => vec![],
            };
            for n in &d.depends_on {
                match decls.keys.get(n) {
                    Some(Some(ks)) => deps.extend(ks.iter().map(|x| format!("{n}[{x}]"))),
                    _ => deps.push(n.clone()),
                }
            }
            deps.sort();
            deps.dedup();
            edges += deps.len();
            if edges > limits::DEPENDENCIES {
                let msg = format!(
                    "the stack's resources have more than {} dependencies in all",
                    limits::DEPENDENCIES
                );
                cx.push(d.loc, msg);
                return out;
            }
            out.push(Instance {
                address,
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
