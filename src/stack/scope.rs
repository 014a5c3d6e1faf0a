//! What references mean while evaluating: variables and `each` always; other
//! resources' values when evaluating properties (as far as they are known).

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::{Each, Stack};
use crate::expr::{Scope, unknown};

fn special(
    vars: &BTreeMap<String, Value>,
    each: Option<&Each>,
    root: &str,
    name: &str,
) -> Option<Result<Value, String>> {
    match root {
        "var" => vars.get(name).cloned().map(Ok),
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

/// Variables and `each` only: for `enabled`, `for_each` and index keys.
pub(super) struct VarScope<'a> {
    pub vars: &'a BTreeMap<String, Value>,
    pub each: Option<&'a Each>,
}

impl Scope for VarScope<'_> {
    fn special(&self, root: &str, name: &str) -> Option<Result<Value, String>> {
        special(self.vars, self.each, root, name)
    }
    fn resource_attr(&self, name: &str, _: Option<&str>, _: &str) -> Result<Value, String> {
        Err(format!("`{name}`: resources cannot be referenced here"))
    }
    fn keys_of(&self, name: &str) -> Result<Option<&[String]>, String> {
        Err(format!("`{name}`: resources cannot be referenced here"))
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

/// A resource's properties' scope: other resources' values as `known` knows
/// them, unknown ("known after apply") otherwise.
pub(super) struct ResScope<'a> {
    pub stack: &'a Stack,
    pub each: Option<&'a Each>,
    pub known: &'a dyn Known,
}

impl Scope for ResScope<'_> {
    fn special(&self, root: &str, name: &str) -> Option<Result<Value, String>> {
        special(&self.stack.vars, self.each, root, name)
    }
    fn resource_attr(&self, name: &str, key: Option<&str>, attr: &str) -> Result<Value, String> {
        let address = match key {
            Some(k) => format!("{name}[{k}]"),
            None => name.to_string(),
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
        self.stack
            .keys
            .get(name)
            .map(|k| k.as_deref())
            .ok_or_else(|| format!("unknown reference `{name}`"))
    }
}
