//! Policy documents (IAM roles' trust and permissions, key and bucket
//! policies): written as a YAML mapping or as JSON text, checked as a
//! policy before anything is sent, and held in one canonical form, so that
//! documents equal up to key order, whitespace or a single value written
//! without its list are equal (no drift, no change).

use serde_json::{Map, Value};

/// The keys a policy's top level may have.
const TOP: &[&str] = &["Version", "Id", "Statement"];
/// The keys a statement may have.
const STATEMENT: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];
/// Statement keys whose value is a string or a list of strings, the same
/// to AWS either way, and in any order.
const LISTS: &[&str] = &["Action", "NotAction", "Resource", "NotResource"];

/// The document as a value: a mapping as written, or JSON text parsed.
fn parsed(v: &Value) -> Result<Value, String> {
    match v {
        Value::String(s) => {
            serde_json::from_str(s).map_err(|e| format!("is not a JSON policy document ({e})"))
        }
        v => Ok(v.clone()),
    }
}

/// Checks that `v` is a policy: a mapping with `Statement` (one statement
/// or a list of them), each with `Effect` Allow or Deny and `Action` or
/// `NotAction`, and nothing AWS would not take. Parts known only after
/// apply pass.
pub fn check(v: &Value) -> Result<(), String> {
    if crate::expr::contains_unknown(v) && v.is_string() {
        return Ok(());
    }
    let doc = parsed(v)?;
    let Value::Object(top) = &doc else {
        return Err("must be a policy document (a mapping with `Statement`)".into());
    };
    if let Some(k) = top.keys().find(|k| !TOP.contains(&k.as_str())) {
        return Err(format!(
            "has `{k}`, which is no part of a policy (expected: {})",
            TOP.join(", ")
        ));
    }
    match top.get("Version") {
        None => {}
        Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {}
        Some(v) => {
            return Err(format!(
                "`Version` must be \"2012-10-17\" (or \"2008-10-17\"), found {v}"
            ));
        }
    }
    let statements = match top.get("Statement") {
        Some(Value::Array(a)) if !a.is_empty() => a.clone(),
        Some(s @ Value::Object(_)) => vec![s.clone()],
        _ => return Err("needs `Statement`: a statement or a list of them".into()),
    };
    for (i, s) in statements.iter().enumerate() {
        let Value::Object(s) = s else {
            return Err(format!("`Statement[{i}]` must be a mapping"));
        };
        if let Some(k) = s.keys().find(|k| !STATEMENT.contains(&k.as_str())) {
            return Err(format!(
                "`Statement[{i}]` has `{k}`, which is no part of a statement (expected: {})",
                STATEMENT.join(", ")
            ));
        }
        match s.get("Effect") {
            Some(Value::String(e)) if e == "Allow" || e == "Deny" => {}
            Some(Value::String(e)) if crate::expr::contains_unknown(&Value::from(e.as_str())) => {}
            _ => return Err(format!("`Statement[{i}].Effect` must be Allow or Deny")),
        }
        if !s.contains_key("Action") && !s.contains_key("NotAction") {
            return Err(format!("`Statement[{i}]` needs `Action` or `NotAction`"));
        }
        for k in LISTS {
            match s.get(*k) {
                None | Some(Value::String(_)) => {}
                Some(Value::Array(a)) if a.iter().all(Value::is_string) => {}
                Some(_) => {
                    return Err(format!(
                        "`Statement[{i}].{k}` must be a string or a list of strings"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A string or a list of strings as a sorted list without duplicates.
fn string_set(v: &Value) -> Value {
    let mut a: Vec<Value> = match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    a.sort_by_key(|x| x.to_string());
    a.dedup();
    Value::Array(a)
}

/// The one form a document is held in: parsed, `Statement` a list,
/// actions, resources, principals and condition values as sorted lists
/// (keys are sorted by `kind::sorted` after).
pub fn canonical(v: Value) -> Value {
    let Ok(Value::Object(mut top)) = parsed(&v) else {
        return v;
    };
    let statements = match top.remove("Statement") {
        Some(Value::Array(a)) => a,
        Some(s) => vec![s],
        None => vec![],
    };
    let statements = statements
        .into_iter()
        .map(|s| {
            let Value::Object(mut s) = s else { return s };
            for k in LISTS {
                if let Some(v) = s.get_mut(*k) {
                    *v = string_set(v);
                }
            }
            for k in ["Principal", "NotPrincipal"] {
                if let Some(Value::Object(p)) = s.get_mut(k) {
                    for v in p.values_mut() {
                        *v = string_set(v);
                    }
                }
            }
            if let Some(Value::Object(c)) = s.get_mut("Condition") {
                for ops in c.values_mut() {
                    if let Value::Object(ops) = ops {
                        for v in ops.values_mut() {
                            *v = string_set(v);
                        }
                    }
                }
            }
            Value::Object(s)
        })
        .collect();
    top.insert("Statement".into(), Value::Array(statements));
    Value::Object(top)
}

/// A document as AWS answered it: JSON text, URL-encoded by IAM (RFC 3986)
/// in its reads, or not (some answers, and the emulator, send it plain).
pub fn from_aws(text: &str) -> Value {
    let plain = serde_json::from_str::<Value>(text).ok().or_else(|| {
        let decoded = percent_encoding::percent_decode_str(text)
            .decode_utf8()
            .ok()?;
        serde_json::from_str(&decoded).ok()
    });
    canonical(plain.unwrap_or_else(|| Value::String(text.to_string())))
}

/// The document as AWS takes it: compact JSON text.
pub fn to_aws(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        v => serde_json::to_string(v).unwrap_or_default(),
    }
}

/// An empty mapping, for documents a read could not find.
pub fn none() -> Value {
    Value::Object(Map::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn trust(action: Value) -> Value {
        json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"}, "Action": action}})
    }

    #[test]
    fn documents_equal_up_to_order_spacing_and_single_values_are_equal() {
        let a = canonical(trust(json!("sts:AssumeRole")));
        let b = canonical(json!(
            "{ \"Statement\": [ { \"Action\": [\"sts:AssumeRole\"], \"Principal\": {\"Service\": [\"ec2.amazonaws.com\"]},\n \"Effect\": \"Allow\" } ], \"Version\": \"2012-10-17\" }"
        ));
        assert_eq!(crate::kind::sorted(&a), crate::kind::sorted(&b));
        let c = canonical(trust(json!(["sts:TagSession", "sts:AssumeRole"])));
        assert_ne!(crate::kind::sorted(&a), crate::kind::sorted(&c));
        // As IAM answers it: URL-encoded.
        let encoded = "%7B%22Version%22%3A%20%222012-10-17%22%2C%20%22Statement%22%3A%20%5B%7B%22Effect%22%3A%20%22Allow%22%2C%20%22Principal%22%3A%20%7B%22Service%22%3A%20%22ec2.amazonaws.com%22%7D%2C%20%22Action%22%3A%20%22sts%3AAssumeRole%22%7D%5D%7D";
        assert_eq!(
            crate::kind::sorted(&from_aws(encoded)),
            crate::kind::sorted(&a)
        );
    }

    #[test]
    fn what_is_not_a_policy_is_refused_with_what_is_wrong() {
        assert!(check(&trust(json!("sts:AssumeRole"))).is_ok());
        let no = |v: Value, says: &str| {
            let e = check(&v).unwrap_err();
            assert!(e.contains(says), "{e}");
        };
        no(json!("{not json"), "not a JSON policy document");
        no(json!(["a"]), "must be a policy document");
        no(json!({"Version": "2012-10-17"}), "needs `Statement`");
        no(
            json!({"Version": "2020-01-01", "Statement": []}),
            "`Version`",
        );
        no(
            json!({"Statement": [{"Effect": "Maybe", "Action": "s3:*"}]}),
            "Allow or Deny",
        );
        no(
            json!({"Statement": [{"Effect": "Allow"}]}),
            "needs `Action`",
        );
        no(
            json!({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Actions": "x"}]}),
            "has `Actions`",
        );
        no(
            json!({"Statement": [{"Effect": "Allow", "Action": 3}]}),
            "a string or a list",
        );
    }
}
