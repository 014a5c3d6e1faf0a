//! Differences between two values, drawn as lines: a list of objects item
//! by item (a security-group rule reads `tcp 22 from 0.0.0.0/0`), anything
//! else line by line (a JSON document in a string as a document). Plans
//! and drift reports draw the same lines. Knows the kinds' specs (which
//! fields identify a list's items), nothing of AWS.

use serde_json::Value;

use crate::expr::UNKNOWN;
use crate::kind::{Prop, Ty};

/// A value on one line, as plans show it.
pub fn show(v: &Value) -> String {
    match v {
        Value::String(s) if s == UNKNOWN => "(known after apply)".into(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(a) if a.is_empty() => "[]".into(),
        Value::Object(o) if o.is_empty() => "{}".into(),
        Value::Array(a) if a.iter().all(|x| !x.is_object()) => {
            format!("[{}]", a.iter().map(show).collect::<Vec<_>>().join(", "))
        }
        Value::Object(o) if o.values().all(|x| !x.is_array() && !x.is_object()) && o.len() <= 6 => {
            format!(
                "{{ {} }}",
                o.iter()
                    .map(|(k, x)| format!("{k} = {}", show(x)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        other => other.to_string(),
    }
}

/// The type of a kind's property, if the kind and property are known.
pub fn prop_ty(kind: &str, prop: &str) -> Option<&'static Ty> {
    crate::kind::lookup(kind)?.prop(prop).map(|p| &p.ty)
}

/// One item of a list of objects, on one line. A rule reads as people say
/// it: `tcp 22 from 0.0.0.0/0 "ssh"`.
pub fn item_line(ty: Option<&Ty>, prop: &str, v: &Value) -> String {
    let Some(o) = v.as_object() else {
        return show(v);
    };
    if !matches!(ty, Some(Ty::Rules(..))) {
        return show(v);
    }
    const PEERS: [&str; 4] = [
        "cidr_block",
        "cidr_blocks",
        "security_group_id",
        "security_group_ids",
    ];
    let text = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("");
    let int = |k: &str| o.get(k).and_then(Value::as_i64);
    let protocol = match text("protocol") {
        "-1" | "all" => "all".to_string(),
        p => p.to_string(),
    };
    let ports = match (int("from_port"), int("to_port")) {
        _ if protocol == "all" => String::new(),
        (Some(a), Some(b)) if a == b => format!(" {a}"),
        (Some(a), Some(b)) => format!(" {a}-{b}"),
        (Some(a), None) => format!(" {a}"),
        _ => match int("port") {
            Some(p) => format!(" {p}"),
            None => String::new(),
        },
    };
    // Canonical rules name one peer (`cidr_block`, `security_group_id`); as
    // written in a stack they may list several.
    let peers: Vec<String> = PEERS
        .iter()
        .filter_map(|k| o.get(*k))
        .flat_map(|v| match v {
            Value::Array(a) => a.clone(),
            other => vec![other.clone()],
        })
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect();
    let way = if prop == "egress" { "to" } else { "from" };
    let peers = if peers.is_empty() {
        String::new()
    } else {
        format!(" {way} {}", peers.join(", "))
    };
    let desc = match text("description") {
        "" => String::new(),
        d => format!(" {d:?}"),
    };
    format!("{protocol}{ports}{peers}{desc}")
}

/// The fields of a list's items that say which item it is (the spec's
/// `key` fields): an item whose identity stays and whose other fields
/// change is changed, not removed and added.
fn identity<'v>(fields: &[Prop], v: &'v Value) -> Option<Vec<(&'static str, &'v Value)>> {
    let o = v.as_object()?;
    let id: Vec<(&str, &Value)> = fields
        .iter()
        .filter(|f| f.key)
        .filter_map(|f| o.get(f.name).map(|x| (f.name, x)))
        .collect();
    (!id.is_empty() && id.len() < o.len()).then_some(id)
}

/// The items of two lists of objects that differ, one line each: `-`
/// removed, `+` added, `~` changed (same identity, other fields differ).
pub fn item_diff(ty: Option<&Ty>, prop: &str, before: &[Value], after: &[Value]) -> Vec<String> {
    let fields: &[Prop] = match ty {
        Some(Ty::ObjList(f) | Ty::Rules(f, _)) => f,
        _ => &[],
    };
    let mut gone: Vec<&Value> = before.iter().filter(|x| !after.contains(x)).collect();
    let mut new: Vec<&Value> = after.iter().filter(|x| !before.contains(x)).collect();
    let mut changed = Vec::new();
    let line = |x: &Value| item_line(ty, prop, x);
    gone.retain(|old| {
        let Some(id) = identity(fields, old) else {
            return true;
        };
        match new
            .iter()
            .position(|n| identity(fields, n).as_ref() == Some(&id))
        {
            Some(i) => {
                let n = new.remove(i);
                // A policy document in the item: its lines that differ.
                let docs: Vec<&Prop> = fields
                    .iter()
                    .filter(|f| matches!(f.ty, Ty::Policy) && n.get(f.name) != old.get(f.name))
                    .collect();
                if docs.is_empty() {
                    changed.push(format!("~ {prop} {} (was {})", line(n), line(old)));
                } else {
                    let name: Vec<String> = id.iter().map(|(_, v)| show(v)).collect();
                    changed.push(format!("~ {prop} {}", name.join(" ")));
                    for f in docs {
                        changed.push(format!("    {}:", f.name));
                        for l in line_diff(old.get(f.name), n.get(f.name)) {
                            changed.push(format!("    {l}"));
                        }
                    }
                }
                false
            }
            None => true,
        }
    });
    gone.iter()
        .map(|x| format!("- {prop} {}", line(x)))
        .chain(changed)
        .chain(new.iter().map(|x| format!("+ {prop} {}", line(x))))
        .collect()
}

/// Pretty JSON lines of a value, for line diffs.
fn lines(v: Option<&Value>) -> String {
    let v = v.map(crate::kind::sorted);
    let text = match v.as_ref() {
        None => String::new(),
        Some(Value::String(s)) if s.contains('\n') => s.clone(),
        Some(Value::String(s)) => {
            // A JSON document in a string (a policy) is diffed as a document.
            match serde_json::from_str::<Value>(s) {
                Ok(doc @ (Value::Object(_) | Value::Array(_))) => {
                    serde_json::to_string_pretty(&crate::kind::sorted(&doc)).unwrap_or_default()
                }
                _ => s.clone(),
            }
        }
        Some(v) => serde_json::to_string_pretty(v).unwrap_or_default(),
    };
    text + "\n"
}

/// `-`/`+` lines of one property of a kind: lists of objects (rules,
/// routes, records) item by item, one line each; anything else line by line.
pub fn property_diff(
    kind: &str,
    prop: &str,
    recorded: Option<&Value>,
    live: Option<&Value>,
) -> Vec<String> {
    let objects = |v: Option<&Value>| -> Option<Vec<Value>> {
        match v.map(crate::kind::sorted) {
            Some(Value::Array(a)) if a.iter().all(Value::is_object) => Some(a),
            None | Some(Value::Null) => Some(vec![]),
            _ => None,
        }
    };
    match (objects(recorded), objects(live)) {
        (Some(b), Some(a)) if !(b.is_empty() && a.is_empty()) => {
            item_diff(prop_ty(kind, prop), prop, &b, &a)
        }
        _ => line_diff(recorded, live),
    }
}

/// `-`/`+` lines between two values (unchanged lines are left out).
pub fn line_diff(recorded: Option<&Value>, live: Option<&Value>) -> Vec<String> {
    let (a, b) = (lines(recorded), lines(live));
    similar::TextDiff::from_lines(&a, &b)
        .iter_all_changes()
        .filter_map(|c| match c.tag() {
            similar::ChangeTag::Delete => Some(format!("- {}", c.value().trim_end())),
            similar::ChangeTag::Insert => Some(format!("+ {}", c.value().trim_end())),
            similar::ChangeTag::Equal => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SG: &str = "ec2.security_group";

    #[test]
    fn rule_items_are_matched_by_identity() {
        let rule = |port: i64, desc: &str| {
            json!({"protocol": "tcp", "from_port": port, "to_port": port,
                "cidr_block": "10.0.0.0/16", "description": desc})
        };
        let before = json!([rule(443, "web"), rule(80, "")]);
        let after = json!([rule(443, "HTTPS only"), rule(22, "")]);
        assert_eq!(
            property_diff(SG, "ingress", Some(&before), Some(&after)),
            vec![
                "- ingress tcp 80 from 10.0.0.0/16",
                "~ ingress tcp 443 from 10.0.0.0/16 \"HTTPS only\" (was tcp 443 from 10.0.0.0/16 \"web\")",
                "+ ingress tcp 22 from 10.0.0.0/16",
            ]
        );
        // Another peer is another rule, not a changed one.
        let other = json!([{"protocol": "tcp", "from_port": 80, "to_port": 80,
            "cidr_block": "0.0.0.0/0", "description": ""}]);
        let d = property_diff(SG, "ingress", Some(&json!([rule(80, "")])), Some(&other));
        assert_eq!(d.len(), 2, "{d:?}");
    }

    #[test]
    fn routes_are_matched_by_destination() {
        let before = json!([{"destination": "0.0.0.0/0", "gateway_id": "igw-1"}]);
        let after = json!([{"destination": "0.0.0.0/0", "nat_gateway_id": "nat-1"}]);
        let d = property_diff("ec2.route_table", "routes", Some(&before), Some(&after));
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].starts_with("~ routes"), "{d:?}");
    }

    #[test]
    fn a_rule_opened_by_hand_reads_as_one_line() {
        let rule = |port: i64, cidr: &str, desc: &str| {
            json!({"protocol": "tcp", "from_port": port, "to_port": port,
                "cidr_block": cidr, "description": desc})
        };
        let before = json!([rule(443, "10.0.0.0/16", "")]);
        let after = json!([rule(443, "10.0.0.0/16", ""), rule(22, "0.0.0.0/0", "ssh")]);
        let d = property_diff(SG, "ingress", Some(&before), Some(&after));
        assert_eq!(d, vec!["+ ingress tcp 22 from 0.0.0.0/0 \"ssh\""]);
        let all = json!([{"protocol": "-1", "from_port": 0, "to_port": 0,
            "cidr_blocks": ["0.0.0.0/0"], "security_group_ids": []}]);
        let d = property_diff(SG, "egress", Some(&all), Some(&json!([])));
        assert_eq!(d, vec!["- egress all to 0.0.0.0/0"]);
    }

    #[test]
    fn nested_values_and_documents_diff_by_line() {
        let d = line_diff(
            Some(&json!({"A": "1", "B": "2"})),
            Some(&json!({"A": "1", "B": "3"})),
        );
        assert_eq!(d, vec!["-   \"B\": \"2\"", "+   \"B\": \"3\""]);
        let pol_a = json!(r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject"}]}"#);
        let pol_b = json!(r#"{"Statement":[{"Effect":"Allow","Action":"s3:*"}]}"#);
        let d = line_diff(Some(&pol_a), Some(&pol_b));
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[1].contains("s3:*"));
    }
}
