//! The JSON forms of plans (`plan --json`, docs/plan-json.md) and drift
//! reports (`drift --json`, docs/drift-report.md), format version 1: the
//! model's actions and findings written the way format 1 has always said
//! them, so readers of the format keep working.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::model::{Action, Change, Drift, Finding, Plan, Reason};

/// `true` only: keeps format 1's optional flags out when they are false.
fn is_false(b: &bool) -> bool {
    !*b
}

/// One change as format 1 writes it: an action of six, and flags.
#[derive(Serialize)]
struct ChangeV1<'a> {
    address: &'a str,
    kind: &'a str,
    action: &'static str,
    /// Added to format 1 with regions: absent for the stack's region.
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    old_region: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    before: &'a Option<Value>,
    after: &'a Option<Value>,
    changed: &'a [String],
    replace_because: &'a [String],
    adopt: bool,
    gone: bool,
    #[serde(skip_serializing_if = "is_false")]
    imported: bool,
    deposed: bool,
    #[serde(skip_serializing_if = "is_false")]
    orphan: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    blocked: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    taken: Option<&'a str>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    outputs: &'a serde_json::Map<String, Value>,
    deps: &'a [String],
    old_deps: &'a [String],
}

fn change_v1(c: &Change) -> ChangeV1<'_> {
    let reason = |r: Reason| c.reason == Some(r);
    let action = match c.action {
        Action::NoOp | Action::Adopt => "no_op",
        // Added to format 1 with these controls: readers that know only the
        // six words meet them only in plans made with import blocks or
        // --refresh-only.
        Action::Import => "import",
        Action::Accept => "accept",
        Action::Create => "create",
        Action::Update => "update",
        Action::DeleteThenCreate => "delete_then_create",
        Action::CreateThenDelete => "create_then_delete",
        Action::Delete | Action::DeleteDeposed | Action::DeleteOrphan | Action::Forget => "delete",
    };
    ChangeV1 {
        region: c.region.as_deref(),
        old_region: c.old_region.as_deref().filter(|_| c.old_region != c.region),
        address: &c.address,
        kind: &c.kind,
        action,
        id: c.id.as_deref(),
        before: &c.before,
        after: &c.after,
        changed: &c.changed,
        replace_because: &c.replace_because,
        adopt: reason(Reason::Adopted),
        gone: reason(Reason::DeletedOutside) || reason(Reason::DeposedGone),
        imported: c.action == Action::Forget && reason(Reason::Imported),
        deposed: matches!(c.action, Action::DeleteDeposed | Action::DeleteOrphan)
            || reason(Reason::DeposedGone),
        orphan: c.action == Action::DeleteOrphan,
        blocked: c.blocked.as_deref(),
        taken: c.taken.as_deref(),
        outputs: &c.outputs,
        deps: &c.deps,
        old_deps: &c.old_deps,
    }
}

/// One drift item as reports (format 1) and JSON plans write it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftItem {
    pub address: String,
    /// `modified`, `deleted`, `orphan` or `unmanaged`.
    pub class: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
    /// The object's region, when not the stack's.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub property: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub recorded: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub live: Option<Value>,
    /// Line diff of recorded against live: `- old` and `+ new` lines.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub diff: Vec<String>,
}

pub fn drift_item(d: &Drift) -> DriftItem {
    let (property, recorded, live) = match &d.finding {
        Finding::Modified {
            property,
            recorded,
            live,
        } => (Some(property.clone()), recorded.clone(), live.clone()),
        Finding::HandMade { .. } => (Some(super::handmade_text(d)), None, None),
        Finding::Upstream {
            output,
            before,
            after,
        } => (Some(output.clone()), before.clone(), after.clone()),
        _ => (None, None, None),
    };
    DriftItem {
        address: d.address.clone(),
        class: d.finding.class().name().to_string(),
        kind: Some(d.kind.clone()),
        id: Some(d.id.clone()),
        region: d.region.clone(),
        diff: super::finding_diff(d),
        property,
        recorded,
        live,
    }
}

/// Values known only after apply, as the JSON says them.
fn fix_unknowns(v: &mut Value) {
    match v {
        Value::String(s) if s == crate::expr::UNKNOWN => *s = "(known after apply)".into(),
        Value::Array(a) => a.iter_mut().for_each(fix_unknowns),
        Value::Object(o) => o.values_mut().for_each(fix_unknowns),
        _ => {}
    }
}

/// The plan as JSON for machines (docs/plan-json.md).
pub fn plan(p: &Plan) -> Value {
    let changes: Vec<ChangeV1> = p.changes.iter().map(change_v1).collect();
    let drift: Vec<DriftItem> = p.drift.iter().map(drift_item).collect();
    let n = p.counts();
    let mut v = json!({
        "stack": p.stack,
        "destroy": p.destroy,
        "changes": changes,
        "drift": drift,
    });
    if !p.unclaimed.is_empty() {
        v["unclaimed"] = json!(p.unclaimed);
    }
    if !p.searched.is_empty() {
        v["searched"] = json!(p.searched);
    }
    if !p.outputs.is_empty() {
        let masked = |x: &Option<Value>, s: bool| match x {
            Some(_) if s => json!("(sensitive)"),
            Some(v) => v.clone(),
            None => Value::Null,
        };
        v["output_changes"] = p
            .outputs
            .iter()
            .map(|o| {
                json!({"name": o.name, "before": masked(&o.before, o.sensitive),
                       "after": masked(&o.after, o.sensitive), "sensitive": o.sensitive})
            })
            .collect();
    }
    if !p.upstream.is_empty() {
        v["upstream_changes"] = json!(p.upstream);
    }
    if !p.violations.is_empty() {
        v["policy_violations"] = json!(p.violations);
    }
    fix_unknowns(&mut v);
    let path = crate::exec::estimate(p);
    if !path.is_empty() {
        v["estimate"] = json!({
            "seconds": path.iter().map(|(_, s)| s).sum::<u64>(),
            "longest_chain": path
                .iter()
                .map(|(op, s)| json!({"operation": op, "seconds": s}))
                .collect::<Vec<_>>(),
        });
    }
    v["summary"] =
        json!({"add": n.add, "change": n.change, "destroy": n.destroy, "adopt": n.adopt});
    v["format_version"] = json!(1);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Format 1 says every action as it always has.
    #[test]
    fn actions_keep_their_format_1_words_and_flags() {
        let mut orphan = Change::new("subnet[a]", "ec2.subnet", Action::DeleteOrphan);
        orphan.id = Some("subnet-1".into());
        let mut gone = Change::new("vpc", "ec2.vpc", Action::Forget);
        gone.reason = Some(Reason::DeletedOutside);
        let adopt = Change {
            reason: Some(Reason::Adopted),
            ..Change::new("igw", "ec2.internet_gateway", Action::Adopt)
        };
        let p = Plan {
            stack: "t".into(),
            changes: vec![orphan, gone, adopt],
            ..Plan::default()
        };
        let v = plan(&p);
        let c = &v["changes"];
        assert_eq!(c[0]["action"], "delete");
        assert_eq!(
            (c[0]["deposed"].clone(), c[0]["orphan"].clone()),
            (json!(true), json!(true))
        );
        assert_eq!(
            (c[1]["action"].clone(), c[1]["gone"].clone()),
            (json!("delete"), json!(true))
        );
        assert_eq!(
            (c[2]["action"].clone(), c[2]["adopt"].clone()),
            (json!("no_op"), json!(true))
        );
        assert_eq!(
            v["summary"],
            json!({"add": 0, "change": 0, "destroy": 1, "adopt": 1})
        );
        assert!(
            c[1].get("imported").is_none(),
            "false flags stay out: {}",
            c[1]
        );
    }
}
