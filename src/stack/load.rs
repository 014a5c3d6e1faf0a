//! Loading: from the stack's text (and what was read for it) to a
//! [`Stack`], phase after phase; the phases are the other modules of
//! `stack/`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::header::StackRef;
use super::{
    Stack, check, cx, data::DataReq, expand, header, modules, refs, scope, template, vars,
};
use crate::diag::{Error, Loc, StackError};
use crate::graph;

/// Where modules' files come from.
pub trait Files {
    /// The `.yaml` and `.yml` files of a folder, by path, in name order.
    fn module(&self, dir: &Path) -> Result<Vec<(String, String)>, String>;
}

/// Files on disk.
pub struct Disk;

impl Files for Disk {
    fn module(&self, dir: &Path) -> Result<Vec<(String, String)>, String> {
        let entries = std::fs::read_dir(dir).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!("there is no folder {}", dir.display()),
            _ => format!("{}: {e}", dir.display()),
        })?;
        let mut paths: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        paths.sort();
        paths
            .into_iter()
            .map(|p| {
                let text =
                    std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                Ok((p.display().to_string(), text))
            })
            .collect()
    }
}

/// Everything a stack is loaded from.
pub struct Input<'a> {
    pub file: &'a str,
    pub source: &'a str,
    /// `--var NAME=VALUE`, last.
    pub vars: &'a [(String, String)],
    /// Var files (`--var-file`, `-e ENV`'s file), in order: (path, text).
    pub var_files: &'a [(String, String)],
    pub env: Option<&'a str>,
    pub files: &'a dyn Files,
    /// Data sources read so far, by address.
    pub data: &'a HashMap<String, Value>,
    /// Other stacks' outputs (`stacks:`), by name: read, or why not.
    pub upstream: &'a BTreeMap<String, std::result::Result<Value, String>>,
    /// Nothing will be read (`validate`, `graph`, `state`): `for_each` and
    /// `enabled` that wait for a data source are passed over, not errors.
    pub offline: bool,
}

/// What loading needs that the loader cannot get itself.
#[derive(Debug, Default, Clone)]
pub struct Wants {
    /// The stack's region (to read in), when its header says it.
    pub region: Option<String>,
    /// Data sources to read (their filters known, not read yet).
    pub data: Vec<DataReq>,
    /// The stacks whose outputs it reads.
    pub stacks: Vec<StackRef>,
}

/// A load's result, and what a next pass would need.
pub struct Loaded {
    pub stack: Result<Stack, Error>,
    pub wants: Wants,
}

/// Parses and validates a stack alone: `vars` are `--var name=value`
/// overrides; modules come from disk beside the file; no data source is
/// read and no other state: what depends on them is unknown.
pub fn load(file: &str, source: &str, vars: &[(String, String)]) -> Result<Stack, Error> {
    let no_data = HashMap::new();
    let no_upstream = BTreeMap::new();
    let input = Input {
        file,
        source,
        vars,
        var_files: &[],
        env: None,
        files: &Disk,
        data: &no_data,
        upstream: &no_upstream,
        offline: false,
    };
    load_with(&input).stack
}

/// Loads a stack with what was gathered for it so far.
pub fn load_with(input: &Input) -> Loaded {
    let mut wants = Wants::default();
    let mut sources = vec![(input.file.to_string(), Arc::<str>::from(input.source))];
    sources.extend(
        input
            .var_files
            .iter()
            .map(|(f, t)| (f.clone(), Arc::<str>::from(t.as_str()))),
    );
    let r = phases(input, &mut wants, &mut sources);
    let stack = r.map_err(|errors| {
        // In the order found (a phase's first error first); each once (a
        // module used twice reports its own mistakes once).
        let mut seen = std::collections::HashSet::new();
        let errors = errors
            .into_iter()
            .filter(|e| seen.insert((e.file.clone(), e.loc, e.message.clone())))
            .collect();
        Error::stack(errors).with_sources(sources)
    });
    Loaded { stack, wants }
}

/// The stack's tags that are expressions (`Environment: ${var.environment}`),
/// evaluated with the stack's variables.
fn stack_tags(
    top: &[(crate::yaml::Key, crate::yaml::Node)],
    tags: &mut BTreeMap<String, String>,
    vars: &BTreeMap<String, Value>,
    upstream: &BTreeMap<String, Value>,
    cx: &mut cx::Cx,
) {
    let Some(m) = cx::get(top, "tags").and_then(|t| t.as_map()) else {
        return;
    };
    let none = BTreeMap::new();
    let st = scope::Statics {
        vars,
        data: &none,
        stacks: upstream,
    };
    let sc = scope::VarScope {
        st: &st,
        each: None,
        lenient: false,
    };
    for (k, v) in m {
        if !v.as_str().is_some_and(|s| s.contains("${")) {
            continue;
        }
        let t = template::compile(v, cx);
        match t.eval(&sc, &cx.file.clone()) {
            Ok(Value::String(s)) => {
                tags.insert(k.name.clone(), s);
            }
            Ok(other) if !crate::expr::contains_unknown(&other) => {
                tags.insert(k.name.clone(), other.to_string());
            }
            Ok(_) => cx.push(
                v.loc,
                format!("tag `{}` must be known before anything is created", k.name),
            ),
            Err(e) => cx.errors.push(e),
        }
    }
}

/// Every scope's instances, with their dependencies across scopes.
fn instances(
    decls: &[Option<super::decls::Decls>],
    scopes: &[super::Scope],
    upstream: &BTreeMap<String, Value>,
    home: Option<&str>,
    cx: &mut cx::Cx,
) -> Vec<super::Instance> {
    let refs = refs::Refs::new(scopes, upstream, home);
    let mut out = Vec::new();
    let mut edges = 0usize;
    for (i, d) in decls.iter().enumerate() {
        if let Some(d) = d {
            let copies_before = out.len();
            let regions = expand::Regions {
                scope: scopes[i].region.as_deref(),
                home,
            };
            let more = expand::instances(
                d,
                i,
                &scopes[i].prefix,
                &regions,
                &refs,
                copies_before,
                &mut edges,
                cx,
            );
            out.extend(more);
        }
    }
    out
}

fn phases(
    input: &Input,
    wants: &mut Wants,
    sources: &mut Vec<(String, Arc<str>)>,
) -> Result<Stack, Vec<StackError>> {
    let (file, source) = (input.file, input.source);
    if source.len() > crate::limits::STACK_FILE_BYTES {
        let msg = format!(
            "the stack file has {} bytes, at most {} allowed",
            source.len(),
            crate::limits::STACK_FILE_BYTES
        );
        return Err(vec![StackError::at(file, Loc { line: 1, col: 1 }, msg)]);
    }
    let root = crate::yaml::parse(file, source).map_err(|e| vec![e])?;
    let mut cx = cx::Cx::new(file);
    cx.offline = input.offline;
    let Some(top) = root.as_map() else {
        cx.push(
            root.loc,
            format!("a stack must be a mapping, found {}", root.type_name()),
        );
        return Err(cx.errors);
    };
    let head = header::read(top, root.loc, &mut cx);
    wants.region = head.region.clone();
    let stacks = header::stacks(top, &mut cx);
    let moves = header::moves(top, &mut cx);
    let imports = header::imports(top, &mut cx);
    let policy = cx::get(top, "policy")
        .map(|n| header::policy(n, &mut cx))
        .unwrap_or_default();
    wants.stacks = stacks.clone();
    let mut upstream = BTreeMap::new();
    for s in &stacks {
        let v = match input.upstream.get(&s.name) {
            Some(Ok(v)) => v.clone(),
            Some(Err(why)) => {
                cx.push(
                    s.loc,
                    format!(
                        "stack `{}`: cannot read its state {}: {why}",
                        s.name, s.state
                    ),
                );
                crate::expr::unknown()
            }
            None => crate::expr::unknown(),
        };
        upstream.insert(s.name.clone(), v);
    }
    let files = [(file, top)];
    let decls = vars::declarations(&files, &mut cx);
    let section = cx::get(top, "variables").map_or(Loc { line: 1, col: 1 }, |v| v.loc);
    let none = BTreeMap::new();
    let st = scope::Statics {
        vars: &none,
        data: &none,
        stacks: &upstream,
    };
    let vars = vars::root_values(&decls, section, input.var_files, input.vars, &st, &mut cx);
    let mut head = head;
    stack_tags(top, &mut head.tags, &vars, &upstream, &mut cx);
    let mut tree = modules::Tree::new(input, &upstream);
    let root_scope = modules::NewScope {
        prefix: String::new(),
        parent: None,
        each: None,
        vars: vars.clone(),
        inputs: BTreeMap::new(),
        var_names: decls.iter().map(|d| d.name.clone()).collect(),
        region: None,
    };
    tree.scope(root_scope, &files, &mut cx);
    let built = tree.built;
    sources.extend(built.sources.iter().cloned());
    wants.data = built.data;
    let scopes = built.scopes;
    let home = head.region.as_deref();
    let instances = instances(&built.decls, &scopes, &upstream, home, &mut cx);
    if !cx.ok() {
        return Err(cx.errors);
    }
    let order = graph::topo_order(&instances).map_err(|cycle| {
        let first = instances.iter().find(|i| i.address == cycle[0]);
        let msg = format!("dependency cycle: {}", cycle.join(" -> "));
        let (f, loc) = first.map_or((file, Loc::default()), |i| (i.file.as_str(), i.loc));
        vec![StackError::at(f, loc, msg)]
    })?;
    let index = instances
        .iter()
        .enumerate()
        .map(|(i, x)| (x.address.clone(), i))
        .collect();
    let data = scopes
        .iter()
        .flat_map(|s| {
            s.data_values
                .iter()
                .filter(|(_, v)| !crate::expr::contains_unknown(v))
                .map(|(n, v)| (format!("{}data.{n}", s.prefix), v.clone()))
        })
        .collect();
    let stack = Stack {
        file: file.to_string(),
        source: source.to_string(),
        name: head.name,
        env: input.env.map(str::to_string),
        region: head.region,
        backend: head.backend,
        tags: head.tags,
        vars,
        scopes,
        instances,
        order,
        index,
        stacks,
        upstream,
        data,
        sources: sources.clone(),
        moves,
        imports,
        policy,
    };
    check::values(&stack, &mut cx);
    check::controls(&stack, &mut cx);
    if !cx.ok() {
        return Err(cx.errors);
    }
    Ok(stack)
}
