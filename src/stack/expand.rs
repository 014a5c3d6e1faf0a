//! Instances: each declaration once, or once per `for_each` key, with the
//! addresses it depends on (references and `depends_on`).

use super::cx::Cx;
use super::decls::{Decl, Decls};
use super::refs::{Dep, Refs};
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

/// The error for each resource `deps` reaches, in another region, by an
/// attribute no kind can take across regions (`subnet.vpc_id: ${vpc.id}`
/// across regions, directly or through modules' inputs and outputs), at
/// the line that refers to it.
fn cross_region(d: &Decl, mine: &Option<String>, deps: &[Dep], home: Option<&str>, cx: &mut Cx) {
    if d.kind.global() {
        return;
    }
    let region = |r: &Option<String>| {
        r.clone()
            .or(home.map(str::to_string))
            .unwrap_or_else(|| "the stack's region".into())
    };
    for dep in deps {
        let Some(attr) = dep.attr.as_deref() else {
            continue;
        };
        if dep.global || dep.region == *mine || crosses_regions(attr) {
            continue;
        }
        let through = dep
            .via
            .as_ref()
            .map_or(String::new(), |v| format!(" ({v})"));
        let base = dep.address.split('[').next().unwrap_or(&dep.address);
        let msg = format!(
            "`{}` ({}) refers to `{base}.{attr}` in {}: an object in another region can be \
             referred to only by its ARN or name{through}",
            d.name,
            region(mine),
            region(&dep.region)
        );
        cx.push_in(&d.file, dep.loc, msg);
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
            let refd = match &d.props {
                Some(p) => refs.deps(scope, p, &d.name, each.as_ref(), &d.file, cx),
                None => vec![],
            };
            cross_region(d, &region, &refd, regions.home, cx);
            let mut deps: Vec<String> = refd.into_iter().map(|d| d.address).collect();
            for t in &d.depends_on_refs {
                deps.extend(refs.addresses(scope, t, &d.name, each.as_ref(), &d.file, cx));
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
