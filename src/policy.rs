//! Guardrails: rules evaluated on a plan before anything is applied. A rule
//! selects kinds and states a condition every planned object of them must
//! meet; `deny` stops apply before any write, `warn` is shown. The built-in
//! set a court would turn on is `baseline`. Pure.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::expr::{Scope, contains_unknown};
use crate::model::{Action, Change, Plan};
use crate::stack::{PolicyEntry, PolicyRule};

/// How much a broken rule matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Deny,
    Warn,
}

/// One planned object that breaks one rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    pub rule: String,
    pub level: Level,
    pub address: String,
    pub message: String,
}

/// What a condition sees: `props.NAME` (the planned properties) and
/// `self.address`, `self.kind`, `self.env`.
struct PolicyScope<'a> {
    change: &'a Change,
    env: &'a str,
}

impl Scope for PolicyScope<'_> {
    fn special(&self, _: &str, _: &str) -> Option<Result<Value, String>> {
        None
    }
    fn resource_attr(&self, name: &str, _: Option<&str>, attr: &str) -> Result<Value, String> {
        match name {
            "props" => Ok(self
                .change
                .after
                .as_ref()
                .and_then(|a| a.get(attr))
                .cloned()
                .unwrap_or(Value::Null)),
            "self" => match attr {
                "address" => Ok(Value::String(self.change.address.clone())),
                "kind" => Ok(Value::String(self.change.kind.clone())),
                "env" => Ok(Value::String(self.env.to_string())),
                _ => Err(format!(
                    "`self.{attr}`: a rule sees self.address, self.kind and self.env"
                )),
            },
            _ => Err(format!(
                "`{name}`: a policy condition sees props.NAME and self.address, self.kind, self.env"
            )),
        }
    }
    fn keys_of(&self, name: &str) -> Result<Option<&[String]>, String> {
        match name {
            "props" | "self" => Ok(None),
            _ => Err(format!(
                "`{name}`: a policy condition sees props.NAME and self.address, self.kind, self.env"
            )),
        }
    }
}

/// What the plan makes or changes (whose planned properties a rule judges).
fn planned(c: &Change) -> bool {
    matches!(
        c.action,
        Action::NoOp
            | Action::Create
            | Action::Update
            | Action::DeleteThenCreate
            | Action::CreateThenDelete
            | Action::Import
            | Action::Adopt
    )
}

/// Every broken rule of `policy` in the plan. `env` is the environment's
/// name (`-e`), empty without one.
pub fn check(policy: &[PolicyEntry], plan: &Plan, env: &str) -> Vec<Violation> {
    let mut out = Vec::new();
    for c in plan
        .changes
        .iter()
        .filter(|c| planned(c) && !c.not_attempted())
    {
        for entry in policy {
            match entry {
                PolicyEntry::Baseline => out.extend(baseline(c, env)),
                PolicyEntry::Rule(r) => out.extend(rule(r, c, env)),
            }
        }
    }
    out
}

fn rule(r: &PolicyRule, c: &Change, env: &str) -> Option<Violation> {
    if !r.kinds.is_empty() && !r.kinds.iter().any(|k| k == &c.kind) {
        return None;
    }
    let sc = PolicyScope { change: c, env };
    let broken = match r.condition.eval(&sc, &r.file) {
        Ok(Value::Bool(b)) => !b,
        // Known only after apply: it cannot be judged now.
        Ok(v) if contains_unknown(&v) => false,
        Ok(other) => {
            return Some(Violation {
                rule: r.name.clone(),
                level: Level::Deny,
                address: c.address.clone(),
                message: format!("the rule's condition gave {other}, not true or false"),
            });
        }
        Err(e) => {
            return Some(Violation {
                rule: r.name.clone(),
                level: Level::Deny,
                address: c.address.clone(),
                message: format!("the rule's condition failed: {}", e.message),
            });
        }
    };
    broken.then(|| Violation {
        rule: r.name.clone(),
        level: r.level,
        address: c.address.clone(),
        message: r.message.clone(),
    })
}

/// The built-in rules (`baseline`): each kind's guards.
fn baseline(c: &Change, env: &str) -> Vec<Violation> {
    let (Some(p), Some(spec)) = (c.after.as_ref(), crate::kind::lookup(&c.kind)) else {
        return vec![];
    };
    let production = env.is_empty() || env == "production" || env == "prod";
    spec.guards
        .iter()
        .filter_map(|g| {
            (g.check)(p, production).map(|message| Violation {
                rule: format!("baseline/{}", g.name),
                level: Level::Deny,
                address: c.address.clone(),
                message,
            })
        })
        .collect()
}
