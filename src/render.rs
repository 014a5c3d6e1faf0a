//! Plan rendering for people. Knows the plan, nothing of AWS.

use std::fmt::Write;

use serde_json::Value;

use crate::expr::UNKNOWN;
use crate::plan::{Action, Change, Drift, Plan};

fn show(v: &Value) -> String {
    match v {
        Value::String(s) if s == UNKNOWN => "(known after apply)".into(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(a) if a.is_empty() => "[]".into(),
        Value::Object(o) if o.is_empty() => "{}".into(),
        Value::Array(a) if a.iter().all(|x| !x.is_array() && !x.is_object()) => {
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

/// One item of a list of objects, on one line. A security-group rule reads
/// as people say it: `tcp 22 from 0.0.0.0/0 "ssh"`.
pub fn item_line(prop: &str, v: &Value) -> String {
    let Some(o) = v.as_object() else {
        return show(v);
    };
    const PEERS: [&str; 4] = [
        "cidr_block",
        "cidr_blocks",
        "security_group_id",
        "security_group_ids",
    ];
    let is_rule = o.contains_key("protocol") && PEERS.iter().any(|k| o.contains_key(*k));
    if !is_rule {
        return show(v);
    }
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
        _ => String::new(),
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

/// Fields that say which item an object of a list is (a rule's protocol,
/// ports and peer; a route's destination; a record's name and type): an
/// item whose identity stays and whose other fields change is changed, not
/// removed and added.
const IDENTITY: &[&str] = &[
    "protocol",
    "from_port",
    "to_port",
    "cidr_block",
    "cidr_blocks",
    "security_group_id",
    "security_group_ids",
    "destination",
    "name",
    "type",
    "id",
    "key",
    "port",
];

fn identity(v: &Value) -> Option<Vec<(&str, &Value)>> {
    let o = v.as_object()?;
    let id: Vec<(&str, &Value)> = IDENTITY
        .iter()
        .filter_map(|k| o.get(*k).map(|x| (*k, x)))
        .collect();
    (!id.is_empty() && id.len() < o.len()).then_some(id)
}

/// The items of two lists of objects that differ, one line each: `-`
/// removed, `+` added, `~` changed (same identity, other fields differ).
pub fn item_diff(prop: &str, before: &[Value], after: &[Value]) -> Vec<String> {
    let mut gone: Vec<&Value> = before.iter().filter(|x| !after.contains(x)).collect();
    let mut new: Vec<&Value> = after.iter().filter(|x| !before.contains(x)).collect();
    let mut changed = Vec::new();
    gone.retain(|old| {
        let Some(id) = identity(old) else { return true };
        match new.iter().position(|n| identity(n).as_ref() == Some(&id)) {
            Some(i) => {
                let n = new.remove(i);
                changed.push(format!(
                    "~ {prop} {} (was {})",
                    item_line(prop, n),
                    item_line(prop, old)
                ));
                false
            }
            None => true,
        }
    });
    gone.iter()
        .map(|x| format!("- {prop} {}", item_line(prop, x)))
        .chain(changed)
        .chain(
            new.iter()
                .map(|x| format!("+ {prop} {}", item_line(prop, x))),
        )
        .collect()
}

fn fits_one_line(o: &serde_json::Map<String, Value>) -> bool {
    o.len() <= 6 && o.values().all(|x| !x.is_object() && !x.is_array())
}

fn width(keys: &[&String]) -> usize {
    keys.iter().map(|k| k.len()).max().unwrap_or(0)
}

/// Writes `sign name = value` lines for every property of an object.
fn all_props(out: &mut String, sign: char, v: &Value, indent: usize) {
    let Some(o) = v.as_object() else { return };
    let keys: Vec<&String> = o.keys().collect();
    let w = width(&keys);
    for k in keys {
        nested(out, sign, k, &o[k], w, indent);
    }
}

fn nested(out: &mut String, sign: char, k: &str, v: &Value, w: usize, indent: usize) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(o) if !o.is_empty() && (k == "tags" || !fits_one_line(o)) => {
            let _ = writeln!(out, "{pad}{sign} {k:w$} = {{");
            let keys: Vec<&String> = o.keys().collect();
            let w2 = width(&keys);
            for kk in keys {
                nested(out, sign, kk, &o[kk], w2, indent + 4);
            }
            let _ = writeln!(out, "{pad}  }}");
        }
        Value::Array(a) if a.iter().any(|x| x.is_object() || x.is_array()) => {
            let _ = writeln!(out, "{pad}{sign} {k:w$} = [");
            for x in a {
                let _ = writeln!(out, "{pad}    {sign} {}", show(x));
            }
            let _ = writeln!(out, "{pad}  ]");
        }
        _ => {
            let _ = writeln!(out, "{pad}{sign} {k:w$} = {}", show(v));
        }
    }
}

/// One changed property, in detail.
fn prop_diff(
    out: &mut String,
    k: &str,
    b: Option<&Value>,
    a: Option<&Value>,
    w: usize,
    forces: bool,
    indent: usize,
) {
    let pad = " ".repeat(indent);
    let note = if forces { " # forces replacement" } else { "" };
    match (b, a) {
        (None | Some(Value::Null), Some(a)) => nested(out, '+', k, a, w, indent),
        (Some(b), None | Some(Value::Null)) => nested(out, '-', k, b, w, indent),
        (Some(Value::Object(bo)), Some(Value::Object(ao))) => {
            let _ = writeln!(out, "{pad}~ {k:w$} = {{{note}");
            // The lineage tag is apply's own mark, never the stack's change.
            let mut keys: Vec<&String> = bo
                .keys()
                .chain(ao.keys())
                .filter(|k| bo.get(*k) != ao.get(*k) && *k != crate::stack::TAG_LINEAGE)
                .collect();
            keys.sort();
            keys.dedup();
            let w2 = width(&keys);
            for kk in keys {
                match (bo.get(kk), ao.get(kk)) {
                    (Some(x), Some(y)) if x == y => {}
                    (x, y) => prop_diff(out, kk, x, y, w2, false, indent + 4),
                }
            }
            let _ = writeln!(out, "{pad}  }}");
        }
        (Some(Value::Array(ba)), Some(Value::Array(aa)))
            if ba.iter().chain(aa).any(|x| x.is_object()) || ba.len() + aa.len() > 4 =>
        {
            // The same lines as drift's (one per item, matched by identity).
            let _ = writeln!(out, "{pad}~ {k:w$} = [{note}");
            for line in item_diff(k, ba, aa) {
                let _ = writeln!(out, "{pad}    {line}");
            }
            let _ = writeln!(out, "{pad}  ]");
        }
        (Some(Value::String(bs)), Some(Value::String(as_)))
            if bs.contains('\n') || as_.contains('\n') =>
        {
            let _ = writeln!(out, "{pad}~ {k:w$} = <<{note}");
            let d = similar::TextDiff::from_lines(bs.as_str(), as_.as_str());
            for ch in d.iter_all_changes() {
                let s = match ch.tag() {
                    similar::ChangeTag::Delete => '-',
                    similar::ChangeTag::Insert => '+',
                    similar::ChangeTag::Equal => ' ',
                };
                let _ = write!(out, "{pad}    {s} {}", ch.value());
                if !ch.value().ends_with('\n') {
                    out.push('\n');
                }
            }
        }
        (Some(b), Some(a)) => {
            let _ = writeln!(out, "{pad}~ {k:w$} = {} -> {}{note}", show(b), show(a));
        }
        (None, None) => {}
    }
}

fn header(c: &Change) -> (String, &'static str) {
    let id =
        c.id.as_deref()
            .map(|i| format!(" ({i})"))
            .unwrap_or_default();
    let what = format!("{} {}{id}", c.kind, c.address);
    match c.action {
        Action::Create if c.blocked.is_some() => (format!("  ! {what} will NOT be created"), "!"),
        Action::Create => (format!("  + {what} will be created"), "+"),
        Action::Update => (format!("  ~ {what} will be updated in place"), "~"),
        Action::DeleteThenCreate => (
            format!("-/+ {what} must be replaced (delete, then create)"),
            "-/+",
        ),
        Action::CreateThenDelete => (
            format!("+/- {what} must be replaced (create, then delete)"),
            "+/-",
        ),
        Action::Delete if c.gone => (
            format!("  - {what} was already deleted outside provision: forget it"),
            "-",
        ),
        Action::Delete if c.imported => (
            format!(
                "  - {what} was imported: forget it, and leave it in AWS (provision deletes only what it created)"
            ),
            "-",
        ),
        Action::Delete if c.orphan => (
            format!(
                "  - {what} orphan: made by an earlier attempt of this state, recorded nowhere: will be destroyed"
            ),
            "-",
        ),
        Action::Delete if c.deposed => (
            format!("  - {what} old object of a replacement will be destroyed"),
            "-",
        ),
        Action::Delete => (format!("  - {what} will be destroyed"), "-"),
        Action::NoOp => (
            format!("  = {what} already exists (found by its tags or name): will be adopted"),
            "=",
        ),
    }
}

pub fn change(out: &mut String, c: &Change) {
    let mut c = c.clone();
    c.before = c.before.as_ref().map(crate::kind::sorted);
    c.after = c.after.as_ref().map(crate::kind::sorted);
    let c = &c;
    let (h, _) = header(c);
    out.push_str(&h);
    if c.adopt && c.action != Action::NoOp {
        out.push_str(" (already exists: adopted)");
    }
    out.push('\n');
    if let Some(why) = &c.blocked {
        let verb = if c.action == Action::Create {
            "not attempted"
        } else {
            "cannot be deleted"
        };
        let _ = writeln!(out, "      ! {verb}: {why}");
        if c.action == Action::Create {
            out.push('\n');
            return;
        }
    }
    match c.action {
        Action::Create => {
            if let Some(a) = &c.after {
                all_props(out, '+', a, 6);
            }
        }
        Action::Delete | Action::NoOp => {}
        _ => {
            let (b, a) = (
                c.before.clone().unwrap_or(Value::Null),
                c.after.clone().unwrap_or(Value::Null),
            );
            let keys: Vec<&String> = c.changed.iter().collect();
            let w = width(&keys);
            for k in &c.changed {
                prop_diff(
                    out,
                    k,
                    b.get(k.as_str()),
                    a.get(k.as_str()),
                    w,
                    c.replace_because.contains(k),
                    6,
                );
            }
            let total = a.as_object().map(|o| o.len()).unwrap_or(0);
            let hidden = total.saturating_sub(c.changed.len());
            if hidden > 0 {
                let _ = writeln!(out, "        # ({hidden} unchanged properties hidden)");
            }
        }
    }
    out.push('\n');
}

pub fn drift(out: &mut String, drift: &[Drift]) {
    if drift.is_empty() {
        return;
    }
    out.push_str("Changed outside provision since the last apply:\n\n");
    for d in drift {
        match d.class.as_str() {
            "deleted" => {
                let _ = writeln!(out, "  ! {} was deleted outside provision", d.address);
            }
            "unmanaged" if d.property.is_some() => {
                let _ = writeln!(
                    out,
                    "  ? {} {} {}",
                    d.kind.as_deref().unwrap_or("?"),
                    d.id.as_deref().unwrap_or("?"),
                    d.property.as_deref().unwrap_or_default()
                );
            }
            "unmanaged" => {
                let _ = writeln!(
                    out,
                    "  ? {} {} exists with this stack's tags but another state made it",
                    d.address,
                    d.id.as_deref().unwrap_or("?")
                );
            }
            "orphan" => {
                let _ = writeln!(
                    out,
                    "  ? {} {} was made by this state but is recorded nowhere (an orphan): apply deletes it",
                    d.address,
                    d.id.as_deref().unwrap_or("?")
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "  ~ {} changed outside provision: {}",
                    d.address,
                    d.property.as_deref().unwrap_or("?")
                );
                for l in &d.diff {
                    let _ = writeln!(out, "      {l}");
                }
            }
        }
    }
    out.push('\n');
}

/// Objects with the stack's tags that another state made: left alone.
fn unclaimed(out: &mut String, p: &Plan) {
    if p.unclaimed.is_empty() {
        return;
    }
    out.push_str("Not this state's, left alone (they carry this stack's tags, but another state or an older provision made them; import one to manage it):

");
    for u in &p.unclaimed {
        let lineage = u.lineage.as_deref().unwrap_or("none");
        let _ = writeln!(
            out,
            "  ? {} {} {} (lineage: {lineage})",
            u.kind,
            u.address.as_deref().unwrap_or("?"),
            u.id
        );
    }
    out.push('\n');
}

/// The text with its lines coloured by their mark: `+` green, `-` red, `~`
/// yellow, replacements (`-/+`, `+/-`) magenta, `!` bold red, `?` cyan, `=`
/// blue. Printing through `anstream` removes the colour when the output is
/// not a terminal, or when `NO_COLOR` or `--no-color` says so.
pub fn paint(text: &str) -> String {
    use anstyle::{AnsiColor, Style};
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_start();
        let style = if body.starts_with("-/+") || body.starts_with("+/-") {
            Some(Style::new().fg_color(Some(AnsiColor::Magenta.into())))
        } else {
            match body.chars().next() {
                Some('+') => Some(AnsiColor::Green.on_default()),
                Some('-') if !body.starts_with("--") => Some(AnsiColor::Red.on_default()),
                Some('~') => Some(AnsiColor::Yellow.on_default()),
                Some('!') => Some(AnsiColor::Red.on_default().bold()),
                Some('?') => Some(AnsiColor::Cyan.on_default()),
                Some('=') => Some(AnsiColor::Blue.on_default()),
                _ => None,
            }
        };
        match style {
            Some(st) => {
                let (content, nl) = match line.strip_suffix('\n') {
                    Some(c) => (c, "\n"),
                    None => (line, ""),
                };
                let _ = write!(out, "{}{content}{}{nl}", st.render(), st.render_reset());
            }
            None => out.push_str(line),
        }
    }
    out
}

/// The whole plan, with drift first and the summary line last.
pub fn plan(p: &Plan) -> String {
    let mut out = String::new();
    drift(&mut out, &p.drift);
    unclaimed(&mut out, p);
    if !p.has_changes() {
        for c in p.changes.iter().filter(|c| c.not_attempted()) {
            change(&mut out, c);
        }
        out.push_str("No changes. The live infrastructure matches the stack.\n");
        return out;
    }
    let _ = writeln!(
        out,
        "provision will perform these actions on stack {:?}:\n",
        p.stack
    );
    for c in p
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp || c.adopt)
    {
        // Creates that will not be attempted are listed, but change nothing.
        change(&mut out, c);
    }
    if p.changes.iter().any(|c| c.action.is_replace()) {
        order(&mut out, p);
    }
    out.push_str(&summary(p));
    out
}

/// The steps a plan with replacements takes: each waits for those before it.
fn order(out: &mut String, p: &Plan) {
    let (ops, after) = crate::exec::operations(p);
    let mut step: Vec<usize> = vec![0; ops.len()];
    // Operations come before those that wait for them; a few passes settle the steps.
    let mut changed = true;
    while changed {
        changed = false;
        for (i, a) in after.iter().enumerate() {
            let s = a.iter().map(|&j| step[j] + 1).max().unwrap_or(0);
            if s > step[i] {
                step[i] = s;
                changed = true;
            }
        }
    }
    let _ = writeln!(
        out,
        "Order of operations (each step waits for the ones before it):"
    );
    for s in 0..=step.iter().copied().max().unwrap_or(0) {
        let names: Vec<String> = (0..ops.len())
            .filter(|&i| step[i] == s)
            .map(|i| {
                let old = matches!(ops[i].kind, crate::exec::OpKind::DeleteDeposed);
                format!("{}{}", ops[i].describe(), if old { " (old)" } else { "" })
            })
            .collect();
        let _ = writeln!(out, "  {}. {}", s + 1, names.join(", "));
    }
    out.push('\n');
}

pub fn summary(p: &Plan) -> String {
    let (add, change, destroy, adopt) = p.counts();
    let adopt = if adopt > 0 {
        format!(", {adopt} to adopt")
    } else {
        String::new()
    };
    format!("Plan: {add} to add, {change} to change, {destroy} to destroy{adopt}.\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_items_are_matched_by_identity() {
        let rule = |port: i64, desc: &str| {
            serde_json::json!({"protocol": "tcp", "from_port": port, "to_port": port,
                "cidr_block": "10.0.0.0/16", "description": desc})
        };
        let before = [rule(443, "web"), rule(80, "")];
        let after = [rule(443, "HTTPS only"), rule(22, "")];
        assert_eq!(
            item_diff("ingress", &before, &after),
            vec![
                "- ingress tcp 80 from 10.0.0.0/16",
                "~ ingress tcp 443 from 10.0.0.0/16 \"HTTPS only\" (was tcp 443 from 10.0.0.0/16 \"web\")",
                "+ ingress tcp 22 from 10.0.0.0/16",
            ]
        );
    }

    #[test]
    fn marks_are_coloured_and_other_lines_left_alone() {
        let text =
            "  + vpc will be created\n-/+ subnet must be replaced\n      - old\nPlan: 1 to add\n";
        let p = paint(text);
        assert!(
            p.contains("\u{1b}[32m  + vpc will be created\u{1b}[0m\n"),
            "{p:?}"
        );
        assert!(p.contains("\u{1b}[35m-/+ subnet"), "{p:?}");
        assert!(p.contains("\u{1b}[31m      - old"), "{p:?}");
        assert!(p.ends_with("Plan: 1 to add\n"));
        // Without the escapes it is the same text.
        let plain = anstream::adapter::strip_str(&p).to_string();
        assert_eq!(plain, text);
    }
}
