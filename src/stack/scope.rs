//! What references mean while evaluating: variables, `each`, data sources
//! and other stacks' outputs always; other resources' values (and modules'
//! outputs) when evaluating properties, as far as they are known.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::{Each, Stack};
use crate::expr::{Scope, contains_unknown, unknown};

/// What is known before any resource exists: a scope's variables, the data
/// sources read for it (by name; unknown until read), and the outputs of
/// the stacks it reads (by name).
pub(super) struct Statics<'a> {
    pub vars: &'a BTreeMap<String, Value>,
    pub data: &'a BTreeMap<String, Value>,
    pub stacks: &'a BTreeMap<String, Value>,
}

fn special(
    st: &Statics,
    each: Option<&Each>,
    root: &str,
    name: &str,
) -> Option<Result<Value, String>> {
    match root {
        "var" => st.vars.get(name).cloned().map(Ok),
        "data" => st.data.get(name).cloned().map(Ok),
        "stack" => st.stacks.get(name).cloned().map(Ok),
        "each" => {
            let e = each?;
            match name {
                "key" => Some(Ok(Value::String(e.key.clone()))),
                "value" => Some(Ok(e.value.clone())),
                "index" => Some(Ok(Value::from(e.index))),
                _ => None,
            }
        }
        _ => None,
    }
}

/// What is known before any resource exists: for `enabled`, `for_each`,
/// index keys, data sources' filters and (`lenient`) a module's inputs,
/// where a resource's or module's value is simply not known yet.
pub(super) struct VarScope<'a> {
    pub st: &'a Statics<'a>,
    pub each: Option<&'a Each>,
    pub lenient: bool,
}

impl Scope for VarScope<'_> {
    fn special(&self, root: &str, name: &str) -> Option<Result<Value, String>> {
        special(self.st, self.each, root, name)
    }
    fn resource_attr(&self, name: &str, _: Option<&str>, _: &str) -> Result<Value, String> {
        if self.lenient {
            return Ok(unknown());
        }
        Err(format!(
            "`{name}`: resources cannot be referenced here (this is evaluated before anything is created)"
        ))
    }
    fn keys_of(&self, name: &str) -> Result<Option<&[String]>, String> {
        if self.lenient {
            return Ok(None);
        }
        Err(format!(
            "`{name}`: resources cannot be referenced here (this is evaluated before anything is created)"
        ))
    }
    fn module_output(&self, m: &str, _: Option<&str>, _: &str) -> Result<Value, String> {
        if self.lenient {
            return Ok(unknown());
        }
        Err(format!(
            "`module.{m}`: modules' outputs cannot be referenced here (this is evaluated before anything is created)"
        ))
    }
    fn module_keys(&self, m: &str) -> Result<Option<&[String]>, String> {
        if self.lenient {
            return Ok(None);
        }
        Err(format!(
            "`module.{m}`: modules' outputs cannot be referenced here (this is evaluated before anything is created)"
        ))
    }
    fn unknown_resources(&self) -> bool {
        self.lenient
    }
}

/// Values of other resources, as known at the time of evaluation.
pub trait Known {
    /// An output (`id`, `arn`, ...) of an address; `None` if not known yet.
    fn output(&self, address: &str, attr: &str) -> Option<Value>;
    /// The evaluated, canonical properties of an address, if evaluated.
    fn props(&self, address: &str) -> Option<&Value>;
}

/// Nothing is known of outputs; properties are those evaluated so far.
pub(super) struct NothingKnown<'a>(pub &'a HashMap<String, Value>);

impl Known for NothingKnown<'_> {
    fn output(&self, _: &str, _: &str) -> Option<Value> {
        None
    }
    fn props(&self, address: &str) -> Option<&Value> {
        self.0.get(address)
    }
}

/// The scope of a resource's properties (or an output's value) in one
/// module instance (`scope`; 0 is the stack itself): other resources'
/// values as `known` knows them, unknown ("known after apply") otherwise.
/// A module's variable is its input, evaluated where the module is used.
pub(super) struct ResScope<'a> {
    pub stack: &'a Stack,
    pub scope: usize,
    pub each: Option<&'a Each>,
    pub known: &'a dyn Known,
}

impl Scope for ResScope<'_> {
    fn special(&self, root: &str, name: &str) -> Option<Result<Value, String>> {
        let sc = &self.stack.scopes[self.scope];
        if root == "var"
            && let (Some(v), Some(parent)) = (sc.vars.get(name), sc.parent)
            && contains_unknown(v)
            && let Some(input) = sc.inputs.get(name)
        {
            // Known only once what the input refers to is: evaluated where
            // the module is used, with that module copy's `each`.
            let outer = ResScope {
                stack: self.stack,
                scope: parent,
                each: sc.each.as_ref(),
                known: self.known,
            };
            return Some(input.tmpl.eval(&outer, &input.file).map_err(|e| e.message));
        }
        let st = Statics {
            vars: &sc.vars,
            data: &sc.data_values,
            stacks: &self.stack.upstream,
        };
        special(&st, self.each, root, name)
    }
    fn resource_attr(&self, name: &str, key: Option<&str>, attr: &str) -> Result<Value, String> {
        let prefix = &self.stack.scopes[self.scope].prefix;
        let address = match key {
            Some(k) => format!("{prefix}{name}[{k}]"),
            None => format!("{prefix}{name}"),
        };
        let inst = self
            .stack
            .instance(&address)
            .ok_or_else(|| format!("unknown reference `{address}`"))?;
        if inst.kind.outputs.contains(&attr) {
            return Ok(self.known.output(&address, attr).unwrap_or_else(unknown));
        }
        if inst.kind.prop(attr).is_some() {
            let v = self
                .known
                .props(&address)
                .and_then(|p| p.get(attr).cloned());
            return Ok(v.unwrap_or_else(unknown));
        }
        Err(format!("`{address}` has no attribute `{attr}`"))
    }
    fn keys_of(&self, name: &str) -> Result<Option<&[String]>, String> {
        self.stack.scopes[self.scope]
            .keys
            .get(name)
            .map(|k| k.as_deref())
            .ok_or_else(|| format!("unknown reference `{name}`"))
    }
    fn module_output(&self, m: &str, key: Option<&str>, out: &str) -> Result<Value, String> {
        let sc = &self.stack.scopes[self.scope];
        let child = sc
            .modules
            .get(m)
            .and_then(|u| u.children.get(key.unwrap_or_default()))
            .copied()
            .ok_or_else(|| match key {
                Some(k) => format!("unknown reference `module.{m}[{k}]`"),
                None => format!("unknown reference `module.{m}`"),
            })?;
        let o = self.stack.scopes[child]
            .outputs
            .get(out)
            .ok_or_else(|| format!("`module.{m}` has no output `{out}`"))?;
        let inner = ResScope {
            stack: self.stack,
            scope: child,
            each: None,
            known: self.known,
        };
        o.tmpl.eval(&inner, &o.file).map_err(|e| e.message)
    }
    fn module_keys(&self, m: &str) -> Result<Option<&[String]>, String> {
        self.stack.scopes[self.scope]
            .modules
            .get(m)
            .map(|u| u.keys.as_deref())
            .ok_or_else(|| format!("unknown reference `module.{m}`"))
    }
}
