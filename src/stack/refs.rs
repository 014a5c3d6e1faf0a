//! References: which addresses a template refers to (its dependencies),
//! with every mistake reported where it was written. Across modules, a
//! module's variable depends on what its input refers to where the module
//! is used, and a module's output on what it refers to inside: both are
//! followed (once each), and a loop among them is reported as a cycle.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

use super::cx::{Cx, suggest};
use super::scope::{Statics, VarScope};
use super::template::{Tmpl, references};
use super::{Each, Scope};
use crate::diag::{Loc, StackError};
use crate::expr::{self, Seg};

/// A module's variable or output, as a node of the dependencies between
/// scopes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Via {
    Var(String),
    Out(String),
}

/// A resource a template refers to, directly or through modules' inputs
/// and outputs, with what the reference reads and where it is written.
#[derive(Debug, Clone)]
pub(super) struct Dep {
    pub address: String,
    /// The account's (IAM, Route 53): in no region.
    pub global: bool,
    /// Its region when not the stack's.
    pub region: Option<String>,
    /// The attribute read (`id`, `arn`); `None` when the reference is
    /// malformed (reported).
    pub attr: Option<String>,
    /// Where the template refers to it (at its outermost reference).
    pub loc: Loc,
    /// The module variable or output it is reached through, outermost:
    /// "given as `var.vpc_id`", "through `module.net.vpc_id`".
    pub via: Option<String>,
}

impl Dep {
    /// A dependency on `address`, the rest filled in as it is resolved.
    fn at(address: String) -> Dep {
        Dep {
            address,
            global: false,
            region: None,
            attr: None,
            loc: Loc { line: 0, col: 0 },
            via: None,
        }
    }

    /// The same, reached through a module's variable or output (`via`),
    /// before the ways it was reached already.
    fn through(self, via: &str) -> Dep {
        let via = match &self.via {
            Some(inner) => format!("{via}, {inner}"),
            None => via.to_string(),
        };
        Dep {
            via: Some(via),
            ..self
        }
    }
}

/// What resolving references needs: every scope, and what other stacks'
/// outputs are known.
pub(super) struct Refs<'a> {
    scopes: &'a [Scope],
    upstream: &'a BTreeMap<String, Value>,
    /// The stack's region (a resource there is in no other region).
    home: Option<&'a str>,
    /// The dependencies of each module variable and output, once found.
    memo: RefCell<HashMap<(usize, Via), Vec<Dep>>>,
    /// Those being followed now (a loop among them is a cycle).
    following: RefCell<Vec<(usize, Via)>>,
    /// Each key set of resources with `for_each`, per scope, for lookups.
    key_sets: Vec<HashMap<&'a str, HashSet<&'a str>>>,
}

/// One reference being resolved: where, and from which copy of which resource.
struct At<'a> {
    scope: usize,
    me: &'a str,
    each: Option<&'a Each>,
    file: &'a str,
    loc: Loc,
}

impl<'a> Refs<'a> {
    pub fn new(
        scopes: &'a [Scope],
        upstream: &'a BTreeMap<String, Value>,
        home: Option<&'a str>,
    ) -> Refs<'a> {
        let key_sets = scopes
            .iter()
            .map(|s| {
                s.keys
                    .iter()
                    .filter_map(|(n, k)| {
                        Some((n.as_str(), k.as_ref()?.iter().map(String::as_str).collect()))
                    })
                    .collect()
            })
            .collect();
        Refs {
            scopes,
            upstream,
            home,
            memo: RefCell::new(HashMap::new()),
            following: RefCell::new(vec![]),
            key_sets,
        }
    }

    /// The resources `t` refers to, from the copy `each` of resource `me`
    /// in scope `scope` (written in `file`).
    pub fn deps(
        &self,
        scope: usize,
        t: &Tmpl,
        me: &str,
        each: Option<&Each>,
        file: &str,
        cx: &mut Cx,
    ) -> Vec<Dep> {
        let mut out = Vec::new();
        for (e, loc) in t.exprs() {
            for (root, segs) in references(e) {
                let at = At {
                    scope,
                    me,
                    each,
                    file,
                    loc,
                };
                let from = out.len();
                self.one(root, segs, &at, cx, &mut out);
                for d in &mut out[from..] {
                    d.loc = loc;
                }
            }
        }
        out
    }

    /// The addresses `t` refers to (`deps` without the rest).
    pub fn addresses(
        &self,
        scope: usize,
        t: &Tmpl,
        me: &str,
        each: Option<&Each>,
        file: &str,
        cx: &mut Cx,
    ) -> Vec<String> {
        let deps = self.deps(scope, t, me, each, file, cx);
        deps.into_iter().map(|d| d.address).collect()
    }

    /// Where resource `name` of scope `scope` is: (global, its region
    /// when not the stack's).
    fn place(&self, scope: usize, name: &str) -> (bool, Option<String>) {
        let sc = &self.scopes[scope];
        if sc.kinds.get(name).is_some_and(|k| k.global()) {
            return (true, None);
        }
        let r = sc.own_regions.get(name).or(sc.region.as_ref());
        (false, r.filter(|r| Some(r.as_str()) != self.home).cloned())
    }

    fn push(&self, at: &At, cx: &mut Cx, msg: impl Into<String>) {
        cx.errors.push(StackError::at(at.file, at.loc, msg));
    }

    fn one(&self, root: &str, segs: &[Seg], at: &At, cx: &mut Cx, out: &mut Vec<Dep>) {
        let sc = &self.scopes[at.scope];
        match root {
            "var" => return self.variable(segs, at, cx, out),
            "each" => {
                if at.each.is_none() {
                    self.push(
                        at,
                        cx,
                        "`each` is only defined in a resource with `for_each`",
                    );
                }
                return;
            }
            "data" => return self.data(segs, at, cx),
            "stack" => return self.stack(segs, at, cx),
            "module" => return self.module(segs, at, cx, out),
            _ => {}
        }
        if sc.disabled.contains(root) {
            let msg =
                format!("`{root}` is disabled (enabled: false): disable what refers to it too");
            return self.push(at, cx, msg);
        }
        let Some(keys) = sc.keys.get(root) else {
            let hint = suggest(root, sc.keys.keys().map(String::as_str));
            let inside = if sc.prefix.is_empty() {
                String::new()
            } else {
                format!(" in this module ({})", sc.prefix.trim_end_matches('.'))
            };
            return self.push(
                at,
                cx,
                format!("unknown reference `{root}`: no resource has that name{inside}{hint}"),
            );
        };
        if root == at.me {
            return self.push(at, cx, format!("resource `{root}` refers to itself"));
        }
        let from = out.len();
        let Some(attr) = self.address(root, keys.as_deref(), segs, at, cx, out) else {
            return;
        };
        let (global, region) = self.place(at.scope, root);
        for d in &mut out[from..] {
            d.global = global;
            d.region.clone_from(&region);
            d.attr = match attr {
                Some(Seg::Attr(a)) => Some(a.clone()),
                _ => None,
            };
        }
        match (attr, sc.kinds.get(root)) {
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
                    self.push(at, cx, msg);
                }
            }
            _ => self.push(
                at,
                cx,
                format!("`{root}[...]` must be followed by `.ATTRIBUTE`"),
            ),
        }
    }

    fn variable(&self, segs: &[Seg], at: &At, cx: &mut Cx, out: &mut Vec<Dep>) {
        let sc = &self.scopes[at.scope];
        match segs.first() {
            Some(Seg::Attr(v)) if sc.var_names.contains(v) => {
                if sc.parent.is_some() && sc.inputs.contains_key(v) {
                    let via = format!("given as `var.{v}`");
                    out.extend(
                        self.via(at.scope, Via::Var(v.clone()), at, cx)
                            .into_iter()
                            .map(|d| d.through(&via)),
                    );
                }
            }
            Some(Seg::Attr(v)) => {
                let hint = suggest(v, sc.var_names.iter().map(String::as_str));
                self.push(at, cx, format!("unknown variable `var.{v}`{hint}"));
            }
            _ => self.push(at, cx, "`var` must be followed by `.NAME`"),
        }
    }

    fn data(&self, segs: &[Seg], at: &At, cx: &mut Cx) {
        let sc = &self.scopes[at.scope];
        let Some(Seg::Attr(name)) = segs.first() else {
            return self.push(at, cx, "`data` must be followed by `.NAME.ATTRIBUTE`");
        };
        let Some(spec) = sc.data.get(name) else {
            let hint = suggest(name, sc.data.keys().map(String::as_str));
            return self.push(at, cx, format!("unknown data source `data.{name}`{hint}"));
        };
        match segs.get(1) {
            Some(Seg::Attr(a)) if spec.has_attr(a) => {}
            Some(Seg::Attr(a)) => {
                let all: Vec<&str> = spec.attrs.iter().map(|(a, _)| *a).collect();
                self.push(
                    at,
                    cx,
                    format!(
                        "data source `{name}` ({}) has no attribute `{a}`; it has {}",
                        spec.name,
                        all.join(", ")
                    ),
                );
            }
            _ => self.push(
                at,
                cx,
                format!("`data.{name}` must be followed by `.ATTRIBUTE`"),
            ),
        }
    }

    fn stack(&self, segs: &[Seg], at: &At, cx: &mut Cx) {
        let Some(Seg::Attr(name)) = segs.first() else {
            return self.push(at, cx, "`stack` must be followed by `.NAME.OUTPUT`");
        };
        let Some(outputs) = self.upstream.get(name) else {
            let hint = suggest(name, self.upstream.keys().map(String::as_str));
            return self.push(
                at,
                cx,
                format!("unknown stack `stack.{name}`: declare it under `stacks:`{hint}"),
            );
        };
        match (segs.get(1), outputs) {
            (Some(Seg::Attr(o)), Value::Object(m)) if !m.contains_key(o) => {
                let all: Vec<&str> = m.keys().map(String::as_str).collect();
                let hint = suggest(o, all.iter().copied());
                self.push(
                    at,
                    cx,
                    format!(
                        "stack `{name}` has no output `{o}`{hint} (its state records: {})",
                        if all.is_empty() {
                            "none".into()
                        } else {
                            all.join(", ")
                        }
                    ),
                );
            }
            (Some(Seg::Attr(_)), _) => {}
            _ => self.push(
                at,
                cx,
                format!("`stack.{name}` must be followed by `.OUTPUT`"),
            ),
        }
    }

    fn module(&self, segs: &[Seg], at: &At, cx: &mut Cx, out: &mut Vec<Dep>) {
        let sc = &self.scopes[at.scope];
        let Some(Seg::Attr(m)) = segs.first() else {
            return self.push(at, cx, "`module` must be followed by `.NAME.OUTPUT`");
        };
        if sc.disabled_modules.contains(m) {
            let msg =
                format!("`module.{m}` is disabled (enabled: false): disable what refers to it too");
            return self.push(at, cx, msg);
        }
        let Some(u) = sc.modules.get(m) else {
            let hint = suggest(m, sc.modules.keys().map(String::as_str));
            return self.push(at, cx, format!("unknown module `module.{m}`{hint}"));
        };
        if u.broken {
            return;
        }
        let (children, rest): (Vec<usize>, &[Seg]) = match (&u.keys, segs.get(1)) {
            (Some(_), Some(Seg::Splat)) => (u.children.values().copied().collect(), &segs[2..]),
            (Some(keys), Some(Seg::Index(ix))) => match self.key(ix, at) {
                Ok(k) => match u.children.get(&k) {
                    Some(&c) => (vec![c], &segs[2..]),
                    None => {
                        return self.push(
                            at,
                            cx,
                            format!(
                                "unknown reference `module.{m}[{k}]`: keys are {}",
                                keys.join(", ")
                            ),
                        );
                    }
                },
                Err(e) => return self.push(at, cx, e),
            },
            (None, Some(Seg::Attr(_))) => (u.children.values().copied().collect(), &segs[1..]),
            (Some(_), _) => {
                return self.push(
                    at,
                    cx,
                    format!("`module.{m}` has for_each: write `module.{m}[KEY].OUTPUT` or `module.{m}[*].OUTPUT`"),
                );
            }
            (None, _) => {
                return self.push(
                    at,
                    cx,
                    format!("`module.{m}` must be followed by `.OUTPUT`"),
                );
            }
        };
        let Some(Seg::Attr(o)) = rest.first() else {
            return self.push(
                at,
                cx,
                format!("`module.{m}[...]` must be followed by `.OUTPUT`"),
            );
        };
        if !u.outputs.contains(o) {
            let hint = suggest(o, u.outputs.iter().map(String::as_str));
            let all: Vec<&str> = u.outputs.iter().map(String::as_str).collect();
            return self.push(
                at,
                cx,
                format!(
                    "module `{m}` has no output `{o}`{hint} (its outputs: {})",
                    if all.is_empty() {
                        "none".into()
                    } else {
                        all.join(", ")
                    }
                ),
            );
        }
        for c in children {
            let via = format!(
                "through `{}.{o}`",
                self.scopes[c].prefix.trim_end_matches('.')
            );
            out.extend(
                self.via(c, Via::Out(o.clone()), at, cx)
                    .into_iter()
                    .map(|d| d.through(&via)),
            );
        }
    }

    /// The addresses a module's variable (its input where the module is
    /// used) or output (its value inside) refers to, through further
    /// modules; a loop is a cycle, reported at `at`.
    fn via(&self, scope: usize, v: Via, at: &At, cx: &mut Cx) -> Vec<Dep> {
        let key = (scope, v);
        if let Some(d) = self.memo.borrow().get(&key) {
            return d.clone();
        }
        if let Some(i) = self.following.borrow().iter().position(|x| *x == key) {
            let path: Vec<String> = self.following.borrow()[i..]
                .iter()
                .chain(std::iter::once(&key))
                .map(|(s, v)| self.name_of(*s, v))
                .collect();
            self.push(
                at,
                cx,
                format!(
                    "modules refer to each other in a cycle: {}",
                    path.join(" -> ")
                ),
            );
            return vec![];
        }
        self.following.borrow_mut().push(key.clone());
        let sc = &self.scopes[scope];
        let deps = match &key.1 {
            Via::Var(name) => match (sc.parent, sc.inputs.get(name)) {
                (Some(parent), Some(input)) => {
                    self.deps(parent, &input.tmpl, "", sc.each.as_ref(), &input.file, cx)
                }
                _ => vec![],
            },
            Via::Out(name) => match sc.outputs.get(name) {
                Some(o) => self.deps(scope, &o.tmpl, "", None, &o.file, cx),
                None => vec![],
            },
        };
        self.following.borrow_mut().pop();
        self.memo.borrow_mut().insert(key, deps.clone());
        deps
    }

    /// The key an index expression gives, known before anything exists.
    fn key(&self, ix: &crate::expr::Expr, at: &At) -> Result<String, String> {
        let sc = &self.scopes[at.scope];
        let st = Statics {
            vars: &sc.vars,
            data: &sc.data_values,
            stacks: self.upstream,
        };
        let vs = VarScope {
            st: &st,
            each: at.each,
            lenient: false,
        };
        expr::eval(ix, &vs).and_then(|v| expr::key_string(&v))
    }

    fn name_of(&self, scope: usize, v: &Via) -> String {
        let p = &self.scopes[scope].prefix;
        match v {
            Via::Var(n) => format!("{p}var.{n}"),
            Via::Out(n) => format!("{}.output.{n}", p.trim_end_matches('.')),
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
        out: &mut Vec<Dep>,
    ) -> Option<Option<&'s Seg>> {
        let sc = &self.scopes[at.scope];
        let prefix = &sc.prefix;
        match (keys, segs.first()) {
            (Some(ks), Some(Seg::Splat)) => {
                out.extend(ks.iter().map(|x| Dep::at(format!("{prefix}{root}[{x}]"))));
                Some(segs.get(1))
            }
            (Some(ks), Some(Seg::Index(ix))) => {
                match self.key(ix, at) {
                    Ok(key)
                        if self.key_sets[at.scope]
                            .get(root)
                            .is_some_and(|s| s.contains(key.as_str())) =>
                    {
                        out.push(Dep::at(format!("{prefix}{root}[{key}]")))
                    }
                    Ok(key) => self.push(
                        at,
                        cx,
                        format!(
                            "unknown reference `{root}[{key}]`: keys are {}",
                            ks.join(", ")
                        ),
                    ),
                    Err(m) => self.push(at, cx, m),
                }
                Some(segs.get(1))
            }
            (None, Some(Seg::Attr(_))) => {
                out.push(Dep::at(format!("{prefix}{root}")));
                Some(segs.first())
            }
            (Some(_), _) => {
                let msg = format!(
                    "`{root}` has for_each: write `{root}[KEY].ATTRIBUTE` or `{root}[*].ATTRIBUTE`"
                );
                self.push(at, cx, msg);
                None
            }
            (None, _) => {
                self.push(at, cx, format!("`{root}` must be followed by `.ATTRIBUTE`"));
                None
            }
        }
    }
}
