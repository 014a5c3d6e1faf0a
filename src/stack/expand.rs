//! Instances: each declaration once, or once per `for_each` key, with the
//! addresses it depends on (references and `depends_on`).

use super::cx::Cx;
use super::decls::{Decl, Decls};
use super::refs::Refs;
use super::template::references;
use super::{Each, Instance};
use crate::diag::Loc;
use crate::limits;

/// Where a scope's resources go: its module's region (`None`: the
/// stack's), and the stack's own (`home`).
pub(super) struct Regions<'a> {
    pub scope: Option<&'a str>,
    pub home: Option<&'a str>,
}

impl Regions<'_> {
    /// A declaration's region when it is not the stack's: its own
    /// `region:`, else its module's; none for the account's global kinds.
    fn of(&self, d: &Decl) -> Option<String> {
        if d.kind.global() {
            return None;
        }
        let r = d.region.as_ref().map(|(r, _)| r.as_str()).or(self.scope);
        r.filter(|r| Some(*r) != self.home).map(str::to_string)
    }
}

/// The outputs another region's object may be referred to by: ARNs (what
/// cross-region settings take: a replication's destination bucket, a
/// backup copy's vault, a key) and names. An id (a VPC's, a subnet's, a
/// security group's) means nothing in another region.
fn crosses_regions(attr: &str) -> bool {
    attr == "arn" || attr.ends_with("_arn") || attr == "name"
}

/// The message for a reference across regions no kind can take.
fn cross_region_message(
    name: &str,
    root: &str,
    attr: &str,
    mine: &Option<String>,
    theirs: &Option<String>,
    home: Option<&str>,
) -> String {
    let region = |r: &Option<String>| {
        r.clone()
            .or(home.map(str::to_string))
            .unwrap_or_else(|| "the stack's region".into())
    };
    format!(
        "`{name}` ({}) refers to `{root}.{attr}` in {}: an object in another region can be \
         referred to only by its ARN or name",
        region(mine),
        region(theirs)
    )
}

/// The attribute a reference reads (`vpc.id`: `id`).
fn attr_of(segs: &[crate::expr::Seg]) -> Option<&str> {
    segs.iter().find_map(|s| match s {
        crate::expr::Seg::Attr(a) => Some(a.as_str()),
        _ => None,
    })
}

/// The same through a module's inputs: a resource of the module that uses
/// `var.X` whose input X refers to a resource, in another region, of the
/// scope that uses the module (`inputs: {vpc_id: ${vpc.id}}` given to a
/// module in the standby region). One level: an input given from another
/// module's input or output is not followed.
pub(super) fn cross_region_inputs(
    child: &Decls,
    child_regions: &Regions,
    inputs: &std::collections::BTreeMap<String, super::TmplAt>,
    parent: &Decls,
    parent_regions: &Regions,
    cx: &mut Cx,
) {
    for d in child.list.iter().filter(|d| !d.kind.global()) {
        let Some(t) = &d.props else { continue };
        let mine = child_regions.of(d);
        for (e, loc) in t.exprs() {
            for (root, segs) in references(e) {
                let Some(var) = (root == "var").then(|| attr_of(segs)).flatten() else {
                    continue;
                };
                let Some(input) = inputs.get(var) else {
                    continue;
                };
                for (ie, _) in input.tmpl.exprs() {
                    for (proot, psegs) in references(ie) {
                        let Some(other) = parent.list.iter().find(|o| o.name == proot) else {
                            continue;
                        };
                        let theirs = parent_regions.of(other);
                        if other.kind.global() || theirs == mine {
                            continue;
                        }
                        let Some(attr) = attr_of(psegs).filter(|a| !crosses_regions(a)) else {
                            continue;
                        };
                        let msg = cross_region_message(
                            &d.name,
                            proot,
                            attr,
                            &mine,
                            &theirs,
                            child_regions.home,
                        );
                        cx.push_in(&d.file, loc, format!("{msg} (given as `var.{var}`)"));
                    }
                }
            }
        }
    }
}

/// References between resources of one scope in different regions that
/// no kind can take (`subnet.vpc_id: ${vpc.id}` across regions), each at
/// its line.
fn cross_region_refs(decls: &Decls, regions: &Regions, cx: &mut Cx) {
    for d in &decls.list {
        let Some(t) = &d.props else { continue };
        if d.kind.global() {
            continue;
        }
        let mine = regions.of(d);
        for (e, loc) in t.exprs() {
            for (root, segs) in references(e) {
                let Some(other) = decls.list.iter().find(|o| o.name == root) else {
                    continue;
                };
                let theirs = regions.of(other);
                if other.kind.global() || theirs == mine {
                    continue;
                }
                let Some(attr) = attr_of(segs).filter(|a| !crosses_regions(a)) else {
                    continue;
                };
                let msg = cross_region_message(&d.name, root, attr, &mine, &theirs, regions.home);
                cx.push_in(&d.file, loc, msg);
            }
        }
    }
}

/// The instances of one scope (`prefix` before their addresses), counted
/// against the limits with those of the scopes before (`copies_before`,
/// `edges`).
#[allow(clippy::too_many_arguments)]
pub(super) fn instances(
    decls: &Decls,
    scope: usize,
    prefix: &str,
    regions: &Regions,
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
    cross_region_refs(decls, regions, cx);
    for d in &decls.list {
        let region = regions.of(d);
        if region.is_some() && regions.home.is_none() {
            let loc = d.region.as_ref().map_or(d.loc, |r| r.1);
            let msg = format!(
                "`{}` names a region, so the stack must name its own: add `region:` at the top \
                 of the stack (the region of everything that names none)",
                d.name
            );
            cx.push_in(&d.file, loc, msg);
        }
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
                region: region.clone(),
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
