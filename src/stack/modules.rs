//! Modules: `modules: NAME: {source, inputs, for_each, enabled}`. A module
//! is a folder of YAML files holding its own `variables`, `resources`,
//! `data`, `outputs` and `modules`; inside, it sees only its inputs. Each
//! copy of a module is a scope of its own, its resources addressed
//! `module.NAME.ADDRESS` (`module.NAME[KEY].ADDRESS` with `for_each`).
//!
//! Building the tree of scopes reads every scope's declarations with what
//! is known before anything is created (variables, data sources already
//! read, other stacks' outputs); a module's inputs that need resources are
//! evaluated later, where the module is used (`scope::ResScope`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use serde_json::Value;

use super::cx::{Cx, get, suggest};
use super::data::{self, DataReq};
use super::decls::{self, Decls};
use super::scope::{Statics, VarScope};
use super::template::compile;
use super::vars::{self, Origin};
use super::{Each, Input, ModuleUse, Scope, TmplAt, header, outputs};
use crate::diag::Loc;
use crate::expr::unknown;
use crate::yaml::{Key, Node};

/// How deep modules may nest.
pub(super) const MODULE_DEPTH: usize = 16;

/// A module's folder, read and parsed once.
struct Source {
    /// Its YAML files, by path, with their parsed text.
    files: Vec<(String, Node)>,
    /// A file did not parse (reported): what uses the module is not checked
    /// against it.
    broken: bool,
}

/// The tree being built.
pub(super) struct Built {
    pub scopes: Vec<Scope>,
    /// Each scope's resource declarations.
    pub decls: Vec<Option<Decls>>,
    pub data: Vec<DataReq>,
    /// The text of every module file read (for error snippets).
    pub sources: Vec<(String, Arc<str>)>,
}

pub(super) struct Tree<'a> {
    input: &'a Input<'a>,
    upstream: &'a BTreeMap<String, Value>,
    cache: HashMap<PathBuf, Rc<Source>>,
    /// The folders of the modules being built, outermost first.
    chain: Vec<PathBuf>,
    pub built: Built,
}

impl<'a> Tree<'a> {
    pub fn new(input: &'a Input<'a>, upstream: &'a BTreeMap<String, Value>) -> Tree<'a> {
        Tree {
            input,
            upstream,
            cache: HashMap::new(),
            chain: vec![],
            built: Built {
                scopes: vec![],
                decls: vec![],
                data: vec![],
                sources: vec![],
            },
        }
    }

    /// A module's folder, read once: every `.yaml`/`.yml` file in it.
    fn source(&mut self, dir: &Path, cx: &mut Cx) -> Result<Rc<Source>, String> {
        if let Some(s) = self.cache.get(dir) {
            return Ok(s.clone());
        }
        let texts = self.input.files.module(dir)?;
        if texts.is_empty() {
            return Err(format!("{} holds no .yaml files", dir.display()));
        }
        let mut files = Vec::new();
        let mut broken = false;
        for (path, text) in texts {
            if text.len() > crate::limits::STACK_FILE_BYTES {
                cx.push_in(
                    &path,
                    Loc { line: 1, col: 1 },
                    format!(
                        "the module file has {} bytes, at most {} allowed",
                        text.len(),
                        crate::limits::STACK_FILE_BYTES
                    ),
                );
                continue;
            }
            match crate::yaml::parse(&path, &text) {
                Ok(n) => {
                    match n.as_map() {
                        Some(m) => cx.only_in(&path, m, header::MODULE_FIELDS, "a module file"),
                        None if matches!(n.kind, crate::yaml::NodeKind::Null) => {}
                        None => cx.push_in(&path, n.loc, "a module file must be a mapping"),
                    }
                    self.built
                        .sources
                        .push((path.clone(), Arc::from(text.as_str())));
                    files.push((path, n));
                }
                Err(e) => {
                    self.built
                        .sources
                        .push((path.clone(), Arc::from(text.as_str())));
                    cx.errors.push(e);
                    broken = true;
                }
            }
        }
        let s = Rc::new(Source { files, broken });
        self.cache.insert(dir.to_path_buf(), s.clone());
        Ok(s)
    }

    /// Builds a scope from its files, and the scopes of the modules it uses.
    pub fn scope(&mut self, s: NewScope, files: &[(&str, &[(Key, Node)])], cx: &mut Cx) -> usize {
        let idx = self.built.scopes.len();
        self.built.scopes.push(Scope {
            prefix: s.prefix,
            parent: s.parent,
            each: s.each,
            vars: s.vars,
            inputs: s.inputs,
            keys: BTreeMap::new(),
            kinds: HashMap::new(),
            disabled: BTreeSet::new(),
            modules: BTreeMap::new(),
            disabled_modules: BTreeSet::new(),
            outputs: BTreeMap::new(),
            data: BTreeMap::new(),
            data_values: BTreeMap::new(),
            var_names: s.var_names,
            region: s.region,
            own_regions: BTreeMap::new(),
        });
        self.built.decls.push(None);
        let prefix = self.built.scopes[idx].prefix.clone();
        let data_decls = data::read(files, cx);
        let data_values = data::values(&data_decls, &prefix, self.input.data);
        let vars = self.built.scopes[idx].vars.clone();
        let st = Statics {
            vars: &vars,
            data: &data_values,
            stacks: self.upstream,
        };
        let referenced = data::referenced(files);
        let mut reqs = data::requests(&data_decls, &referenced, &prefix, &st, cx);
        for r in &mut reqs {
            r.region = self.built.scopes[idx].region.clone();
        }
        self.built.data.extend(reqs);
        let decls = decls::read(files, &st, cx);
        let outs = outputs::read(files, cx);
        let mut uses = BTreeMap::new();
        let mut off = BTreeSet::new();
        for (file, top) in files {
            let Some(mn) = get(top, "modules") else {
                continue;
            };
            let Some(m) = mn.as_map() else {
                cx.push_in(
                    file,
                    mn.loc,
                    "`modules` must be a mapping of names to {source, inputs}",
                );
                continue;
            };
            for (k, v) in m {
                if uses.contains_key(&k.name) || off.contains(&k.name) {
                    cx.push_in(
                        file,
                        k.loc,
                        format!("module `{}` is used twice under one name", k.name),
                    );
                    continue;
                }
                let at = Use {
                    file,
                    key: k,
                    node: v,
                    prefix: &prefix,
                    parent: idx,
                };
                match self.module(&at, &st, cx) {
                    Some(u) => {
                        uses.insert(k.name.clone(), u);
                    }
                    None => {
                        off.insert(k.name.clone());
                    }
                }
            }
        }
        let sc = &mut self.built.scopes[idx];
        sc.keys = decls.keys.clone();
        sc.kinds = decls
            .list
            .iter()
            .map(|d| (d.name.clone(), d.kind))
            .collect();
        sc.own_regions = decls
            .list
            .iter()
            .filter_map(|d| Some((d.name.clone(), d.region.as_ref()?.0.clone())))
            .collect();
        sc.disabled = decls.disabled.clone();
        sc.modules = uses;
        sc.disabled_modules = off;
        sc.outputs = outs;
        sc.data = data_decls
            .iter()
            .map(|d| (d.name.clone(), d.spec))
            .collect();
        sc.data_values = data_values;
        self.built.decls[idx] = Some(decls);
        idx
    }

    /// One `modules:` entry: its copies, each a scope. `None` when it is
    /// disabled (or unusable: reported).
    fn module(&mut self, at: &Use, st: &Statics, cx: &mut Cx) -> Option<ModuleUse> {
        let (file, k, v) = (at.file, at.key, at.node);
        if !decls::valid_name(&k.name) {
            let msg = format!(
                "module name `{}` must be lower case letters, digits and `_`",
                k.name
            );
            cx.push_in(file, k.loc, msg);
            return None;
        }
        let Some(m) = v.as_map() else {
            let msg = format!(
                "module `{}` must be a mapping with `source` and `inputs`",
                k.name
            );
            cx.push_in(file, v.loc, msg);
            return None;
        };
        let what = format!("module `{}`", k.name);
        let fields = [
            "source",
            "inputs",
            "for_each",
            "enabled",
            "region",
            "description",
        ];
        cx.only_in(file, m, &fields, &what);
        let saved = std::mem::replace(&mut cx.file, file.to_string());
        let on = get(m, "enabled").is_none_or(|en| decls::enabled(en, st, cx));
        // The module's own region, else the one it is used in.
        let region = get(m, "region")
            .and_then(|n| decls::region(n, st, cx))
            .or_else(|| self.built.scopes[at.parent].region.clone());
        cx.file = saved;
        if !on {
            return None;
        }
        let (dir, source) = match self.folder(at, m, &what, cx) {
            Ok(found) => found,
            Err(unusable) => return unusable,
        };
        let files: Vec<(&str, &[(Key, Node)])> = source
            .files
            .iter()
            .filter_map(|(p, n)| Some((p.as_str(), n.as_map()?)))
            .collect();
        let declared = vars::declarations(&files, cx);
        let out_names: BTreeSet<String> = outputs::read(&files, &mut Cx::new(file))
            .into_keys()
            .collect();
        let inputs = inputs(at, m, &declared, &what, cx);
        let copies: Option<Vec<(String, Value)>> = get(m, "for_each").map(|fe| {
            let saved = std::mem::replace(&mut cx.file, file.to_string());
            let items = decls::for_each(fe, st, None, cx);
            cx.file = saved;
            items
        });
        self.chain.push(dir);
        let mut children = BTreeMap::new();
        for each in Each::copies(copies.as_deref()) {
            let c = Copy {
                region: region.clone(),
                inputs: &inputs,
                declared: &declared,
                files: &files,
                what: &what,
            };
            let (key, child) = self.copy(at, each, &c, st, cx);
            children.insert(key, child);
        }
        self.chain.pop();
        Some(ModuleUse {
            keys: copies.map(|c| c.into_iter().map(|(k, _)| k).collect()),
            children,
            outputs: out_names,
            broken: false,
        })
    }

    /// The module's folder, read: or, when it is unusable, what its use
    /// is (`None`: nothing; a broken use: its errors are reported).
    fn folder(
        &mut self,
        at: &Use,
        m: &[(Key, Node)],
        what: &str,
        cx: &mut Cx,
    ) -> Result<(PathBuf, Rc<Source>), Option<ModuleUse>> {
        let file = at.file;
        let Some(src) = get(m, "source") else {
            let msg = format!("{what} has no `source` (the folder of its YAML files)");
            cx.push_in(file, at.key.loc, msg);
            return Err(None);
        };
        let Some(rel) = src.as_str() else {
            cx.push_in(
                file,
                src.loc,
                format!("{what}: `source` must be a folder path"),
            );
            return Err(None);
        };
        let dir = normalize(&Path::new(file).parent().unwrap_or(Path::new("")).join(rel));
        if self.chain.contains(&dir) {
            let msg = format!(
                "{what} uses itself: {} is already being built",
                dir.display()
            );
            cx.push_in(file, src.loc, msg);
            return Err(None);
        }
        if self.chain.len() >= MODULE_DEPTH {
            let msg = format!("modules nest more than {MODULE_DEPTH} deep");
            cx.push_in(file, src.loc, msg);
            return Err(None);
        }
        match self.source(&dir, cx) {
            Ok(s) if s.broken => Err(Some(ModuleUse::broken())),
            Ok(s) => Ok((dir, s)),
            Err(why) => {
                let msg = format!("{what}: cannot read its source: {why}");
                cx.push_in(file, src.loc, msg);
                Err(Some(ModuleUse::broken()))
            }
        }
    }

    /// One copy of a module: its inputs evaluated as far as they are known
    /// before anything exists, checked, and its scope built. Its key (`""`
    /// without `for_each`) and scope.
    fn copy(
        &mut self,
        at: &Use,
        each: Option<Each>,
        c: &Copy,
        st: &Statics,
        cx: &mut Cx,
    ) -> (String, usize) {
        let (file, k, what) = (at.file, at.key, c.what);
        let sc = VarScope {
            st,
            each: each.as_ref(),
            lenient: true,
        };
        let mut given: BTreeMap<String, (Value, Origin)> = BTreeMap::new();
        for (name, (t, loc)) in c.inputs {
            let v = t.tmpl.eval(&sc, file).unwrap_or_else(|e| {
                cx.errors.push(e);
                unknown()
            });
            let origin = Origin {
                file,
                loc: *loc,
                what: format!("input `{name}` of {what}"),
            };
            given.insert(name.clone(), (v, origin));
        }
        let none = BTreeMap::new();
        let child_st = Statics {
            vars: &none,
            data: &none,
            stacks: self.upstream,
        };
        let mut missing = |n: &str, cx: &mut Cx| {
            let msg = format!("{what} needs input `{n}` (its variable has no default)");
            cx.push_in(file, k.loc, msg)
        };
        let vals = vars::module_values(c.declared, &given, &child_st, &mut missing, cx);
        let key = each.as_ref().map(|e| e.key.clone());
        let prefix = match &key {
            Some(key) => format!("{}module.{}[{key}].", at.prefix, k.name),
            None => format!("{}module.{}.", at.prefix, k.name),
        };
        let new = NewScope {
            prefix,
            parent: Some(at.parent),
            each,
            vars: vals,
            inputs: c
                .inputs
                .iter()
                .map(|(n, (t, _))| (n.clone(), t.clone()))
                .collect(),
            var_names: c.declared.iter().map(|d| d.name.clone()).collect(),
            region: c.region.clone(),
        };
        let child = self.scope(new, c.files, cx);
        (key.unwrap_or_default(), child)
    }
}

/// What every copy of a module shares.
struct Copy<'a> {
    region: Option<String>,
    inputs: &'a BTreeMap<String, (TmplAt, Loc)>,
    declared: &'a [vars::VarDecl],
    files: &'a [(&'a str, &'a [(Key, Node)])],
    what: &'a str,
}

/// A module's inputs, each a declared variable, compiled once (with where
/// each is written).
fn inputs(
    at: &Use,
    m: &[(Key, Node)],
    declared: &[vars::VarDecl],
    what: &str,
    cx: &mut Cx,
) -> BTreeMap<String, (TmplAt, Loc)> {
    let file = at.file;
    let mut out = BTreeMap::new();
    let Some(inn) = get(m, "inputs") else {
        return out;
    };
    let Some(im) = inn.as_map() else {
        let msg = format!("{what}: `inputs` must be a mapping of variable names to values");
        cx.push_in(file, inn.loc, msg);
        return out;
    };
    for (ik, iv) in im {
        if !declared.iter().any(|d| d.name == ik.name) {
            let names = declared.iter().map(|d| d.name.as_str());
            let hint = suggest(&ik.name, names.clone());
            let all: Vec<&str> = names.collect();
            let all = if all.is_empty() {
                "none".to_string()
            } else {
                all.join(", ")
            };
            let msg = format!(
                "{what} declares no variable `{}`{hint} (it declares: {all})",
                ik.name
            );
            cx.push_in(file, ik.loc, msg);
            continue;
        }
        let saved = std::mem::replace(&mut cx.file, file.to_string());
        let tmpl = Arc::new(compile(iv, cx));
        cx.file = saved;
        let t = TmplAt {
            tmpl,
            file: file.to_string(),
        };
        out.insert(ik.name.clone(), (t, iv.loc));
    }
    out
}

/// Where a `modules:` entry is written, and in which scope.
struct Use<'a> {
    file: &'a str,
    key: &'a Key,
    node: &'a Node,
    prefix: &'a str,
    parent: usize,
}

/// What a new scope starts from.
pub(super) struct NewScope {
    pub prefix: String,
    pub parent: Option<usize>,
    pub each: Option<Each>,
    pub vars: BTreeMap<String, Value>,
    pub inputs: BTreeMap<String, TmplAt>,
    pub var_names: BTreeSet<String>,
    pub region: Option<String>,
}

/// `a/b/../c` as `a/c`, so that one folder is one module however it is named.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => match out.components().next_back() {
                Some(std::path::Component::Normal(_)) => {
                    out.pop();
                }
                _ => out.push(".."),
            },
            other => out.push(other.as_os_str()),
        }
    }
    out
}
