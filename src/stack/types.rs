//! Variable types: `string`, `number`, `bool`, `list(T)`, `map(T)`,
//! `object`, `any`. A value is checked against its variable's type before
//! any AWS call, where it was given (a var file, `--var`, a module's
//! input, the default).

use std::fmt;

use serde_json::Value;

use crate::expr::contains_unknown;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    Any,
    String,
    Number,
    Bool,
    List(Box<Type>),
    Map(Box<Type>),
    /// A mapping with any fields.
    Object,
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Type::Any => f.write_str("any"),
            Type::String => f.write_str("string"),
            Type::Number => f.write_str("number"),
            Type::Bool => f.write_str("bool"),
            Type::List(t) => write!(f, "list({t})"),
            Type::Map(t) => write!(f, "map({t})"),
            Type::Object => f.write_str("object"),
        }
    }
}

/// Parses `list(map(string))` and the like.
pub fn parse(s: &str) -> Result<Type, String> {
    let s = s.trim();
    let inner = |name: &str| {
        s.strip_prefix(name)
            .and_then(|r| r.trim_start().strip_prefix('('))
            .and_then(|r| r.strip_suffix(')'))
    };
    Ok(match s {
        "any" => Type::Any,
        "string" => Type::String,
        "number" => Type::Number,
        "bool" => Type::Bool,
        "object" => Type::Object,
        "list" => Type::List(Box::new(Type::Any)),
        "map" => Type::Map(Box::new(Type::Any)),
        _ => {
            if let Some(t) = inner("list") {
                Type::List(Box::new(parse(t)?))
            } else if let Some(t) = inner("map") {
                Type::Map(Box::new(parse(t)?))
            } else {
                return Err(format!(
                    "unknown type `{s}`: types are string, number, bool, list(T), map(T), object and any"
                ));
            }
        }
    })
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "nothing".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{:?}", crate::diag::clip(s, 40)),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

/// Checks a value against a type; `what` names it in the message. Values
/// known only after apply pass.
pub fn check(t: &Type, v: &Value, what: &str) -> Result<(), String> {
    if contains_unknown(v) && !v.is_array() && !v.is_object() {
        return Ok(());
    }
    let bad = || Err(format!("{what} must be {t}, found {}", describe(v)));
    match (t, v) {
        (Type::Any, _) => Ok(()),
        (Type::String, Value::String(_) | Value::Number(_) | Value::Bool(_)) => Ok(()),
        (Type::Number, Value::Number(_)) => Ok(()),
        (Type::Number, Value::String(s)) if s.parse::<f64>().is_ok() => Ok(()),
        (Type::Bool, Value::Bool(_)) => Ok(()),
        (Type::Bool, Value::String(s)) if s == "true" || s == "false" => Ok(()),
        (Type::List(inner), Value::Array(items)) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, x)| check(inner, x, &format!("{what}[{i}]"))),
        (Type::Map(inner), Value::Object(m)) => m
            .iter()
            .try_for_each(|(k, x)| check(inner, x, &format!("{what}[{k:?}]"))),
        (Type::Object, Value::Object(_)) => Ok(()),
        _ => bad(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn types_parse_and_check() {
        let t = parse("list(map(string))").unwrap();
        assert_eq!(t.to_string(), "list(map(string))");
        assert!(check(&t, &json!([{"a": "b"}, {"c": 1}]), "var.x").is_ok());
        let e = check(&t, &json!([{"a": [1]}]), "var.x").unwrap_err();
        assert_eq!(e, "var.x[0][\"a\"] must be string, found a list");
        assert!(check(&parse("number").unwrap(), &json!("8080"), "p").is_ok());
        assert!(check(&parse("bool").unwrap(), &json!("yes"), "p").is_err());
        assert!(
            parse("list(strin)")
                .unwrap_err()
                .contains("unknown type `strin`")
        );
    }
}
