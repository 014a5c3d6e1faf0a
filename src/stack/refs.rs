//! References between resources: which addresses a property template refers
//! to (its dependencies), with every mistake reported where it was written.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::Value;

use super::Each;
use super::cx::{Cx, suggest};
use super::scope::VarScope;
use super::template::{Tmpl, references};
use crate::diag::Loc;
use crate::expr::{self, Seg};
use crate::kind::KindSpec;

/// What resolving references needs to know of the whole stack.
pub(super) struct Refs<'a> {
    pub vars: &'a BTreeMap<String, Value>,
    /// Keys of each resource with `for_each`; `None` without.
    pub keys: &'a BTreeMap<String, Option<Vec<String>>>,
    pub kinds: HashMap<&'a str, &'static KindSpec>,
    pub disabled: &'a BTreeSet<String>,
    /// The keys of each resource with `for_each`, for lookups.
    pub key_sets: HashMap<&'a str, HashSet<&'a str>>,
}

impl<'a> Refs<'a> {
    pub fn new(
        vars: &'a BTreeMap<String, Value>,
        keys: &'a BTreeMap<String, Option<Vec<String>>>,
        kinds: HashMap<&'a str, &'static KindSpec>,
        disabled: &'a BTreeSet<String>,
    ) -> Refs<'a> {
        let key_sets = keys
            .iter()
            .filter_map(|(n, k)| {
                Some((n.as_str(), k.as_ref()?.iter().map(String::as_str).collect()))
            })
            .collect();
        Refs {
            vars,
            keys,
            kinds,
            disabled,
            key_sets,
        }
    }
}

/// One reference being resolved: where, and from which copy of which resource.
struct At<'a> {
    me: &'a str,
    each: Option<&'a Each>,
    loc: Loc,
}

impl Refs<'_> {
    /// The addresses `t` refers to, from the copy `each` of resource `me`.
    pub fn deps(&self, t: &Tmpl, me: &str, each: Option<&Each>, cx: &mut Cx) -> Vec<String> {
        let mut out = Vec::new();
        for (e, loc) in t.exprs() {
            for (root, segs) in references(e) {
                let at = At { me, each, loc };
                self.one(root, segs, &at, cx, &mut out);
            }
        }
        out
    }

    fn one(&self, root: &str, segs: &[Seg], at: &At, cx: &mut Cx, out: &mut Vec<String>) {
        match root {
            "var" => return self.variable(segs, at, cx),
            "each" => {
                if at.each.is_none() {
                    cx.push(
                        at.loc,
                        "`each` is only defined in a resource with `for_each`",
                    );
                }
                return;
            }
            _ => {}
        }
        if self.disabled.contains(root) {
            let msg =
                format!("`{root}` is disabled (enabled: false): disable what refers to it too");
            return cx.push(at.loc, msg);
        }
        let Some(keys) = self.keys.get(root) else {
            let hint = suggest(root, self.keys.keys().map(String::as_str));
            return cx.push(
                at.loc,
                format!("unknown reference `{root}`: no resource has that name{hint}"),
            );
        };
        if root == at.me {
            return cx.push(at.loc, format!("resource `{root}` refers to itself"));
        }
        let Some(attr) = self.address(root, keys.as_deref(), segs, at, cx, out) else {
            return;
        };
        match (attr, self.kinds.get(root)) {
            (Some(Seg::Attr(a)), Some(spec)) => {
                if !spec.outputs.contains(&a.as_str()) && spec.prop(a).is_none() {
                    let all: Vec<&str> = spec
                        .outputs
                        .iter()
                        .copied()
                        .chain(spec.props.iter().map(|p| p.name))
                        .collect();
                    let msg = format!(
                        "`{root}` ({}) has no attribute `{a}`; it has {}",
                        spec.name,
                        all.join(", ")
                    );
                    cx.push(at.loc, msg);
                }
            }
            _ => cx.push(
                at.loc,
                format!("`{root}[...]` must be followed by `.ATTRIBUTE`"),
            ),
        }
    }

    fn variable(&self, segs: &[Seg], at: &At, cx: &mut Cx) {
        match segs.first() {
            Some(Seg::Attr(v)) if self.vars.contains_key(v) => {}
            Some(Seg::Attr(v)) => {
                let hint = suggest(v, self.vars.keys().map(String::as_str));
                cx.push(at.loc, format!("unknown variable `var.{v}`{hint}"));
            }
            _ => cx.push(at.loc, "`var` must be followed by `.NAME`"),
        }
    }

    /// Pushes the addresses `root` plus `segs` names, and gives the segment
    /// that should be the attribute; `None` when the reference is malformed.
    fn address<'s>(
        &self,
        root: &str,
        keys: Option<&[String]>,
        segs: &'s [Seg],
        at: &At,
        cx: &mut Cx,
        out: &mut Vec<String>,
    ) -> Option<Option<&'s Seg>> {
        match (keys, segs.first()) {
            (Some(ks), Some(Seg::Splat)) => {
                out.extend(ks.iter().map(|x| format!("{root}[{x}]")));
                Some(segs.get(1))
            }
            (Some(ks), Some(Seg::Index(ix))) => {
                let sc = VarScope {
                    vars: self.vars,
                    each: at.each,
                };
                match expr::eval(ix, &sc).and_then(|v| expr::key_string(&v)) {
                    Ok(key)
                        if self
                            .key_sets
                            .get(root)
                            .is_some_and(|s| s.contains(key.as_str())) =>
                    {
                        out.push(format!("{root}[{key}]"))
                    }
                    Ok(key) => cx.push(
                        at.loc,
                        format!(
                            "unknown reference `{root}[{key}]`: keys are {}",
                            ks.join(", ")
                        ),
                    ),
                    Err(m) => cx.push(at.loc, m),
                }
                Some(segs.get(1))
            }
            (None, Some(Seg::Attr(_))) => {
                out.push(root.to_string());
                Some(segs.first())
            }
            (Some(_), _) => {
                let msg = format!(
                    "`{root}` has for_each: write `{root}[KEY].ATTRIBUTE` or `{root}[*].ATTRIBUTE`"
                );
                cx.push(at.loc, msg);
                None
            }
            (None, _) => {
                cx.push(at.loc, format!("`{root}` must be followed by `.ATTRIBUTE`"));
                None
            }
        }
    }
}
