//! How a desired value compares with a live one: which properties differ,
//! which live properties the stack manages, what `ignore_changes` keeps.
//! Pure; the planner, drift and the executor share it.

use serde_json::Value;

use crate::expr::contains_unknown;
use crate::kind::KindSpec;

/// Applies `lifecycle.ignore_changes`: ignored properties take the live value.
/// The executor applies it again at apply time, so apply computes what plan showed.
pub fn ignore(desired: &mut Value, live: &Value, ignored: &[String]) {
    for path in ignored {
        match path.split_once('.') {
            Some((top, key)) => {
                let lv = live.get(top).and_then(|t| t.get(key)).cloned();
                if let Some(Value::Object(o)) = desired.get_mut(top) {
                    match lv {
                        Some(v) => {
                            o.insert(key.to_string(), v);
                        }
                        None => {
                            o.remove(key);
                        }
                    }
                }
            }
            None => match live.get(path.as_str()) {
                Some(v) => desired[path.as_str()] = v.clone(),
                None => {
                    if let Value::Object(o) = desired {
                        o.remove(path.as_str());
                    }
                }
            },
        }
    }
}

/// The live properties that `reference` manages: optional properties the
/// stack leaves out (an engine version AWS picks) are AWS's to choose.
pub fn managed(live: &Value, reference: &Value) -> Value {
    match (live, reference) {
        (Value::Object(l), Value::Object(r)) => Value::Object(
            l.iter()
                .filter(|(k, _)| r.contains_key(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        _ => live.clone(),
    }
}

/// The value without the `provision:address` and `provision:lineage` tags:
/// state is what says where a resource belongs; the tags are hints for
/// finding lost resources again, so a stale one (after `state mv`) is no
/// difference.
fn without_address_tag(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(Value::Object(t)) = v.get_mut("tags") {
        t.remove(crate::stack::TAG_ADDRESS);
        t.remove(crate::stack::TAG_LINEAGE);
    }
    v
}

/// Names of the top-level properties that differ.
pub fn changed_props(before: &Value, after: &Value) -> Vec<String> {
    let (before, after) = (&without_address_tag(before), &without_address_tag(after));
    let empty = serde_json::Map::new();
    let b = before.as_object().unwrap_or(&empty);
    let a = after.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| {
            let (x, y) = (b.get(*k), a.get(*k));
            y.is_some_and(contains_unknown)
                || x.unwrap_or(&Value::Null) != y.unwrap_or(&Value::Null)
        })
        .cloned()
        .collect()
}

/// A live name that is the stack's with a replacement's suffix is the same name.
pub fn keep_suffixed_name(kind: &KindSpec, desired: &mut Value, live: &Value) {
    let Some((p, max)) = kind.unique else { return };
    if let (Some(d), Some(l)) = (desired[p].as_str(), live[p].as_str())
        && d != l
        && crate::kind::is_suffixed(l, d, max)
    {
        desired[p] = Value::String(l.to_string());
    }
}
