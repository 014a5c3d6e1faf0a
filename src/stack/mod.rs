//! The stack file: from YAML text to a validated [`Stack`], in phases, each
//! with its own module and a typed result:
//!
//! 1. `yaml`: text to nodes that carry line and column;
//! 2. `header.rs`: the stack's name, region, backend, tags, the `stacks:` it reads;
//! 3. `vars.rs`: variables: defaults, var files, `--var`; types and rules;
//! 4. `modules.rs`: the tree of scopes (the stack, each copy of each module),
//!    each with its data sources (`data.rs`), resource declarations
//!    (`decls.rs`: kind, `enabled`, `for_each` keys, lifecycle, timeouts,
//!    properties compiled once by `template.rs`) and outputs (`outputs.rs`);
//! 5. `expand.rs`: instances with their dependencies (`refs.rs`, across
//!    modules);
//! 6. `graph`: dependency order and cycles;
//! 7. `check.rs`: values with every output unknown: types, CIDR blocks.
//!
//! Every error names file, line and column; a phase reports all its errors.
//! The loader does no IO of its own: module folders come through
//! [`Files`], and what needs AWS (data sources) or another state (`stacks:`)
//! is asked for ([`Wants`]) and given on the next pass ([`Input`]).

mod check;
mod cx;
mod data;
mod decls;
mod expand;
mod header;
mod load;
mod modules;
mod outputs;
mod refs;
mod scope;
pub mod template;
pub mod types;
mod vars;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::diag::{Loc, StackError};
use crate::kind::{self, DataSpec, KindSpec};

pub use data::DataReq;
pub use header::{ImportBlock, Move, PolicyEntry, PolicyRule, StackRef};
pub use load::{Disk, Files, Input, Loaded, Wants, load, load_with};
pub use scope::Known;
use scope::{NothingKnown, ResScope};
use template::Tmpl;

/// Tag keys that say who owns a resource.
pub const TAG_STACK: &str = "provision:stack";
pub const TAG_ADDRESS: &str = "provision:address";
/// The lineage of the state that made the object (set when it is created).
pub const TAG_LINEAGE: &str = "provision:lineage";

#[derive(Debug, Clone)]
pub struct Stack {
    pub file: String,
    pub source: String,
    pub name: String,
    /// The environment (`-e NAME`): its objects and state are its own.
    pub env: Option<String>,
    pub region: Option<String>,
    /// Where the stack's state lives when `--state` does not say.
    pub backend: Option<Backend>,
    pub tags: BTreeMap<String, String>,
    /// The stack's own variables.
    pub vars: BTreeMap<String, Value>,
    /// The stack (scope 0) and every copy of every module it uses.
    pub scopes: Vec<Scope>,
    pub instances: Vec<Instance>,
    /// Indices into `instances`, dependencies first.
    pub order: Vec<usize>,
    /// Index into `instances` by address.
    index: HashMap<String, usize>,
    /// The stacks it reads (`stacks:`), and their outputs as read (unknown
    /// when not read: `validate`).
    pub stacks: Vec<StackRef>,
    pub upstream: BTreeMap<String, Value>,
    /// The data sources read, by address, with their attributes.
    pub data: BTreeMap<String, Value>,
    /// The text of every module file, for error snippets.
    pub sources: Vec<(String, Arc<str>)>,
    /// `moved:` entries: addresses state renames before planning.
    pub moves: Vec<Move>,
    /// `import:` entries: existing objects brought under addresses.
    pub imports: Vec<ImportBlock>,
    /// `policy:`: rules the plan is checked against before apply.
    pub policy: Vec<PolicyEntry>,
}

/// A `--policy FILE`: a YAML list of policy entries, as in a stack's `policy:`.
pub fn policy_file(file: &str, text: &str) -> Result<Vec<PolicyEntry>, crate::diag::Error> {
    use crate::diag::Error;
    let root =
        crate::yaml::parse(file, text).map_err(|e| Error::stack(vec![e]).with_source(text))?;
    let mut cx = cx::Cx::new(file);
    let entries = header::policy(&root, &mut cx);
    if cx.ok() {
        Ok(entries)
    } else {
        Err(Error::stack(cx.errors).with_source(text))
    }
}

/// One scope: the stack itself, or one copy of a module.
#[derive(Debug, Clone)]
pub struct Scope {
    /// What its addresses start with: empty, `module.net.` or `module.net[a].`.
    pub prefix: String,
    /// The scope that uses this module.
    pub parent: Option<usize>,
    /// The copy of the module (its `for_each` item), seen by its inputs.
    pub each: Option<Each>,
    /// Variables as known before anything is created (unknown parts are
    /// known after apply: inputs that refer to resources).
    pub vars: BTreeMap<String, Value>,
    pub var_names: BTreeSet<String>,
    /// A module's inputs, evaluated where the module is used.
    pub inputs: BTreeMap<String, TmplAt>,
    /// Keys of each resource with `for_each`, in order; `None` without.
    pub keys: BTreeMap<String, Option<Vec<String>>>,
    pub kinds: HashMap<String, &'static KindSpec>,
    pub disabled: BTreeSet<String>,
    pub modules: BTreeMap<String, ModuleUse>,
    pub disabled_modules: BTreeSet<String>,
    pub outputs: BTreeMap<String, Output>,
    /// Data sources by name, and their values (unknown until read).
    pub data: BTreeMap<String, &'static DataSpec>,
    pub data_values: BTreeMap<String, Value>,
    /// The region its resources and data sources are in, when a module's
    /// `region:` (or an enclosing one's) names one; `None`: the stack's.
    pub region: Option<String>,
    /// The resources that name a `region:` of their own, with it.
    pub own_regions: BTreeMap<String, String>,
}

/// A template and the file it is written in.
#[derive(Debug, Clone)]
pub struct TmplAt {
    pub tmpl: Arc<Tmpl>,
    pub file: String,
}

/// A module used in a scope: its copies' keys (`None` without `for_each`),
/// the scope of each copy (by key; `""` without), its outputs' names.
#[derive(Debug, Clone)]
pub struct ModuleUse {
    pub keys: Option<Vec<String>>,
    pub children: BTreeMap<String, usize>,
    pub outputs: BTreeSet<String>,
    /// Its source could not be read or parsed (reported there): what uses
    /// it is not checked against it.
    pub broken: bool,
}

impl ModuleUse {
    pub(crate) fn broken() -> ModuleUse {
        ModuleUse {
            keys: None,
            children: BTreeMap::new(),
            outputs: BTreeSet::new(),
            broken: true,
        }
    }
}

/// An output: its value (a template), whether it is secret, what it is.
#[derive(Debug, Clone)]
pub struct Output {
    pub name: String,
    pub tmpl: Arc<Tmpl>,
    pub file: String,
    pub loc: Loc,
    pub sensitive: bool,
    pub description: Option<String>,
}

/// `backend: {bucket, key, region, kms_key_id}`: state in S3.
#[derive(Debug, Clone, PartialEq)]
pub struct Backend {
    pub bucket: String,
    pub key: String,
    pub region: Option<String>,
    pub kms_key_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Instance {
    /// `name`, `name[key]`, with its module's prefix (`module.net.name`).
    pub address: String,
    /// The scope it is declared in (0: the stack).
    pub scope: usize,
    /// The file it is written in.
    pub file: String,
    /// Its name in its scope.
    pub name: String,
    pub each: Option<Each>,
    pub kind: &'static KindSpec,
    /// Its region when not the stack's (`None` for the account's global
    /// kinds: IAM, Route 53, Shield).
    pub region: Option<String>,
    /// The properties as written, compiled; shared by every copy.
    pub props: Option<Arc<Tmpl>>,
    /// Addresses this instance depends on (references and `depends_on`).
    pub deps: Vec<String>,
    pub lifecycle: Lifecycle,
    pub timeouts: Timeouts,
    pub loc: Loc,
}

#[derive(Debug, Clone)]
pub struct Each {
    pub key: String,
    pub value: Value,
    pub index: usize,
}

impl Each {
    /// One copy per `for_each` item, in order; one without (`None`).
    fn copies(items: Option<&[(String, Value)]>) -> Vec<Option<Each>> {
        match items {
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
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Lifecycle {
    #[serde(default)]
    pub prevent_destroy: bool,
    #[serde(default)]
    pub ignore_changes: Vec<String>,
    /// Replace by creating the new object first (`None`: provision decides).
    #[serde(default)]
    pub create_before_destroy: Option<bool>,
}

#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub create: Duration,
    pub update: Duration,
    pub delete: Duration,
    /// How long a delete retries while AWS says the object is still in use
    /// (`None`: the kind's own default).
    pub in_use: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        let d = Duration::from_secs(40 * 60);
        Timeouts {
            create: d,
            update: d,
            delete: d,
            in_use: None,
        }
    }
}

/// The tag value that records an address (brackets are not allowed in tag
/// values by every AWS service): `name`, `name/key`; in a module
/// `module.net/a/.vpc` (each `[` and `]` a `/`, but the last `]`).
pub fn address_tag(address: &str) -> String {
    let t = address.replace(['[', ']'], "/");
    match t.strip_suffix('/') {
        Some(s) if address.ends_with(']') => s.to_string(),
        _ => t,
    }
}

pub fn address_from_tag(tag: &str) -> String {
    let mut out = String::new();
    for (i, part) in tag.split('/').enumerate() {
        if i % 2 == 1 {
            out.push('[');
            out.push_str(part);
            out.push(']');
        } else {
            out.push_str(part);
        }
    }
    out
}

/// Where a property of an instance is written (the instance, without one).
fn prop_loc(inst: &Instance, prop: &str) -> Loc {
    inst.props
        .as_ref()
        .and_then(|p| p.field(prop))
        .map_or(inst.loc, |t| t.loc)
}

impl Stack {
    /// Who owns its objects: the stack's name, and its environment's
    /// (`three-az:staging`). The `provision:stack` tag and the state carry it.
    pub fn owner(&self) -> String {
        match &self.env {
            Some(e) => format!("{}:{e}", self.name),
            None => self.name.clone(),
        }
    }

    /// The stack's own outputs.
    pub fn outputs(&self) -> &BTreeMap<String, Output> {
        &self.scopes[0].outputs
    }

    /// An output's value with what `known` knows (unknown parts are known
    /// after apply).
    pub fn output_value(&self, o: &Output, known: &dyn Known) -> Result<Value, StackError> {
        let sc = ResScope {
            stack: self,
            scope: 0,
            each: None,
            known,
        };
        o.tmpl.eval(&sc, &o.file).map_err(|mut e| {
            e.message = format!("output `{}`: {}", o.name, e.message);
            e
        })
    }

    pub fn instance(&self, address: &str) -> Option<&Instance> {
        self.index.get(address).map(|&i| &self.instances[i])
    }

    /// Instances in dependency order.
    pub fn ordered(&self) -> impl Iterator<Item = &Instance> {
        self.order.iter().map(|&i| &self.instances[i])
    }

    /// The desired properties of an instance in canonical form, with the
    /// stack's tags and the ownership tags merged in.
    pub fn desired(&self, inst: &Instance, known: &dyn Known) -> Result<Value, StackError> {
        let sc = ResScope {
            stack: self,
            scope: inst.scope,
            each: inst.each.as_ref(),
            known,
        };
        let raw = match &inst.props {
            Some(p) => p.eval(&sc, &inst.file).map_err(|mut e| {
                e.message = format!("{}: {}", inst.address, e.message);
                e
            })?,
            None => Value::Object(Map::new()),
        };
        self.check_types(inst, &raw)?;
        let mut c = kind::canonical(inst.kind, &raw);
        if let Some(Value::Object(own)) = c.get("tags")
            && let Some(why) = own.keys().find_map(|k| crate::limits::reserved_tag(k))
        {
            return Err(StackError::at(
                &inst.file,
                prop_loc(inst, "tags"),
                format!("{}: {why}", inst.address),
            ));
        }
        if inst.kind.has_tags() {
            c["tags"] = Value::Object(self.tags_of(inst, c.get("tags")));
        }
        Ok(c)
    }

    /// Each property's value against its type, reported where it is written.
    fn check_types(&self, inst: &Instance, raw: &Value) -> Result<(), StackError> {
        let Value::Object(o) = raw else { return Ok(()) };
        for (k, v) in o.iter().filter(|(_, v)| !v.is_null()) {
            let Some(prop) = inst.kind.prop(k) else {
                continue;
            };
            if let Err(msg) = kind::check(&prop.ty, v, k) {
                let loc = prop_loc(inst, k);
                return Err(StackError::at(
                    &inst.file,
                    loc,
                    format!("{}: {msg}", inst.address),
                ));
            }
        }
        Ok(())
    }

    /// The stack's tags, then the resource's own, then the ownership tags.
    fn tags_of(&self, inst: &Instance, own: Option<&Value>) -> Map<String, Value> {
        let mut tags: Map<String, Value> = self
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        if let Some(Value::Object(own)) = own {
            tags.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        tags.insert(TAG_STACK.into(), Value::String(self.owner()));
        tags.insert(
            TAG_ADDRESS.into(),
            Value::String(address_tag(&inst.address)),
        );
        tags
    }

    /// Desired properties of every instance with every output unknown
    /// (literal names and CIDR blocks are known). Errors are skipped.
    pub fn static_props(&self) -> HashMap<String, Value> {
        self.evaluate_static().0
    }

    /// Every instance evaluated in order with all outputs unknown, and the errors met.
    fn evaluate_static(&self) -> (HashMap<String, Value>, Vec<StackError>) {
        let mut props: HashMap<String, Value> = HashMap::new();
        let mut errors = Vec::new();
        for inst in self.ordered() {
            match self.desired(inst, &NothingKnown(&props)) {
                Ok(v) => {
                    props.insert(inst.address.clone(), v);
                }
                Err(e) => errors.push(e),
            }
        }
        (props, errors)
    }
}
