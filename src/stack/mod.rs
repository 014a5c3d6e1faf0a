//! The stack file: from YAML text to a validated [`Stack`], in phases, each
//! with its own module and a typed result:
//!
//! 1. `yaml`: text to nodes that carry line and column;
//! 2. `header`: the stack's name, region, backend and tags;
//! 3. `vars`: variables, defaults then `--var` overrides;
//! 4. `decls`: each resource's kind, `enabled`, `for_each` keys, lifecycle,
//!    timeouts, and its properties compiled once (`template`);
//! 5. `expand`: instances with their dependencies (`refs`);
//! 6. `graph`: dependency order and cycles;
//! 7. `check`: values with every output unknown: types, CIDR blocks.
//!
//! Every error names file, line and column; a phase reports all its errors.

mod check;
mod cx;
mod decls;
mod expand;
mod header;
mod refs;
mod scope;
pub mod template;
mod vars;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::diag::{Error, Loc, StackError};
use crate::graph;
use crate::kind::{self, KindSpec};

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
    pub region: Option<String>,
    /// Where the stack's state lives when `--state` does not say.
    pub backend: Option<Backend>,
    pub tags: BTreeMap<String, String>,
    pub vars: BTreeMap<String, Value>,
    /// Keys of each resource with `for_each`, in order; `None` without.
    pub keys: BTreeMap<String, Option<Vec<String>>>,
    pub instances: Vec<Instance>,
    /// Indices into `instances`, dependencies first.
    pub order: Vec<usize>,
    /// Index into `instances` by address.
    index: HashMap<String, usize>,
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
    /// `name` or `name[key]`.
    pub address: String,
    pub name: String,
    pub each: Option<Each>,
    pub kind: &'static KindSpec,
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

/// The tag value that records an address: `name` or `name/key`
/// (brackets are not allowed in tag values by every AWS service).
pub fn address_tag(address: &str) -> String {
    address.replace('[', "/").replace(']', "")
}

pub fn address_from_tag(tag: &str) -> String {
    match tag.split_once('/') {
        Some((n, k)) => format!("{n}[{k}]"),
        None => tag.to_string(),
    }
}

/// Where a property of an instance is written (the instance, without one).
fn prop_loc(inst: &Instance, prop: &str) -> Loc {
    inst.props
        .as_ref()
        .and_then(|p| p.field(prop))
        .map_or(inst.loc, |t| t.loc)
}

/// Parses and validates a stack. `vars` are `--var name=value` overrides.
pub fn load(file: &str, source: &str, vars: &[(String, String)]) -> Result<Stack, Error> {
    phases(file, source, vars).map_err(|errors| Error::stack(errors).with_source(source))
}

fn phases(
    file: &str,
    source: &str,
    overrides: &[(String, String)],
) -> Result<Stack, Vec<StackError>> {
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
    let Some(top) = root.as_map() else {
        cx.push(
            root.loc,
            format!("a stack must be a mapping, found {}", root.type_name()),
        );
        return Err(cx.errors);
    };
    let head = header::read(top, root.loc, &mut cx);
    let vars = vars::read(top, overrides, &mut cx);
    let decls = decls::read(top, &vars, &mut cx);
    let instances = expand::instances(&decls, &vars, &mut cx);
    if !cx.ok() {
        return Err(cx.errors);
    }
    let order = graph::topo_order(&instances).map_err(|cycle| {
        let first = instances
            .iter()
            .find(|i| i.address == cycle[0])
            .map(|i| i.loc);
        let msg = format!("dependency cycle: {}", cycle.join(" -> "));
        vec![StackError::at(file, first.unwrap_or_default(), msg)]
    })?;
    let index = instances
        .iter()
        .enumerate()
        .map(|(i, x)| (x.address.clone(), i))
        .collect();
    let stack = Stack {
        file: file.to_string(),
        source: source.to_string(),
        name: head.name,
        region: head.region,
        backend: head.backend,
        tags: head.tags,
        vars,
        keys: decls.keys,
        instances,
        order,
        index,
    };
    check::values(&stack, &mut cx);
    if !cx.ok() {
        return Err(cx.errors);
    }
    Ok(stack)
}

impl Stack {
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
            each: inst.each.as_ref(),
            known,
        };
        let raw = match &inst.props {
            Some(p) => p.eval(&sc, &self.file).map_err(|mut e| {
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
                &self.file,
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
                    &self.file,
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
        tags.insert(TAG_STACK.into(), Value::String(self.name.clone()));
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
