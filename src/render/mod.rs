//! Rendering for people and machines: plans and drift as text
//! (`mod.rs`), their value differences as lines (`diff.rs`), and their
//! JSON forms (`json.rs`). Knows the plan model and the kinds' specs,
//! nothing of AWS.

pub mod diff;
pub mod json;

use std::fmt::Write;

use serde_json::Value;

use crate::kind::Ty;
use crate::model::{Action, Change, Drift, Finding, Plan, Reason};
use diff::show;

fn fits_one_line(o: &serde_json::Map<String, Value>) -> bool {
    o.len() <= 6 && o.values().all(|x| !x.is_object() && !x.is_array())
}

fn width(keys: &[&String]) -> usize {
    keys.iter().map(|k| k.len()).max().unwrap_or(0)
}

/// Writes `sign name = value` lines for every property of an object of `kind`.
fn all_props(out: &mut String, sign: char, kind: &str, v: &Value, indent: usize) {
    let Some(o) = v.as_object() else { return };
    let keys: Vec<&String> = o.keys().collect();
    let w = width(&keys);
    for k in keys {
        nested(out, sign, diff::prop_ty(kind, k), k, &o[k], w, indent);
    }
}

/// One property (`ty`: its type, when known) with all its value.
fn nested(
    out: &mut String,
    sign: char,
    ty: Option<&Ty>,
    k: &str,
    v: &Value,
    w: usize,
    indent: usize,
) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(o) if !o.is_empty() && (k == "tags" || !fits_one_line(o)) => {
            let _ = writeln!(out, "{pad}{sign} {k:w$} = {{");
            let keys: Vec<&String> = o.keys().collect();
            let w2 = width(&keys);
            for kk in keys {
                nested(out, sign, None, kk, &o[kk], w2, indent + 4);
            }
            let _ = writeln!(out, "{pad}  }}");
        }
        Value::Array(a) if a.iter().any(|x| x.is_object() || x.is_array()) => {
            let _ = writeln!(out, "{pad}{sign} {k:w$} = [");
            for x in a {
                let _ = writeln!(out, "{pad}    {sign} {}", diff::item_line(ty, k, x));
            }
            let _ = writeln!(out, "{pad}  ]");
        }
        _ => {
            let _ = writeln!(out, "{pad}{sign} {k:w$} = {}", show(v));
        }
    }
}

/// Whether a string holds a JSON document (a policy).
fn is_document(s: &str) -> bool {
    matches!(
        serde_json::from_str::<Value>(s),
        Ok(Value::Object(_) | Value::Array(_))
    )
}

/// One changed property of a kind, in detail.
struct PropDiff<'a> {
    kind: &'a str,
    w: usize,
    forces: bool,
    indent: usize,
}

fn prop_diff(out: &mut String, at: &PropDiff, k: &str, b: Option<&Value>, a: Option<&Value>) {
    let (w, indent) = (at.w, at.indent);
    let pad = " ".repeat(indent);
    let note = if at.forces {
        " # forces replacement"
    } else {
        ""
    };
    let ty = if indent == 6 {
        diff::prop_ty(at.kind, k)
    } else {
        None
    };
    match (b, a) {
        (None | Some(Value::Null), Some(a)) => nested(out, '+', ty, k, a, w, indent),
        (Some(b), None | Some(Value::Null)) => nested(out, '-', ty, k, b, w, indent),
        (Some(b), Some(a)) if matches!(ty, Some(Ty::Policy)) => {
            // A policy document: the lines that differ, keys in order.
            let _ = writeln!(out, "{pad}~ {k:w$} = <<{note}");
            for line in diff::line_diff(Some(b), Some(a)) {
                let _ = writeln!(out, "{pad}    {line}");
            }
        }
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
            let inner = PropDiff {
                kind: at.kind,
                w: width(&keys),
                forces: false,
                indent: indent + 4,
            };
            for kk in keys {
                match (bo.get(kk), ao.get(kk)) {
                    (Some(x), Some(y)) if x == y => {}
                    (x, y) => prop_diff(out, &inner, kk, x, y),
                }
            }
            let _ = writeln!(out, "{pad}  }}");
        }
        (Some(Value::Array(ba)), Some(Value::Array(aa)))
            if ba.iter().chain(aa).any(|x| x.is_object()) || ba.len() + aa.len() > 4 =>
        {
            // The same lines as drift's (one per item, matched by identity).
            let _ = writeln!(out, "{pad}~ {k:w$} = [{note}");
            for line in diff::item_diff(ty, k, ba, aa) {
                let _ = writeln!(out, "{pad}    {line}");
            }
            let _ = writeln!(out, "{pad}  ]");
        }
        (Some(Value::String(bs)), Some(Value::String(as_)))
            if is_document(bs) || is_document(as_) =>
        {
            // A policy: the lines of the document that differ, keys in order.
            let _ = writeln!(out, "{pad}~ {k:w$} = <<{note}");
            for line in diff::line_diff(b, a) {
                let _ = writeln!(out, "{pad}    {line}");
            }
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

fn header(c: &Change) -> String {
    let id =
        c.id.as_deref()
            .map(|i| format!(" ({i})"))
            .unwrap_or_default();
    // The region when not the stack's; both when the resource moves.
    let region = match (c.old_region.as_deref(), c.region.as_deref()) {
        (old, new) if old != new && c.action.is_replace() => {
            let name = |r: Option<&str>| r.unwrap_or("the stack's region").to_string();
            format!(" [{} -> {}]", name(old), name(new))
        }
        (_, Some(r)) => format!(" [{r}]"),
        _ => String::new(),
    };
    let what = format!("{} {}{id}{region}", c.kind, c.address);
    let adopted = if c.reason == Some(Reason::Adopted) && c.action != Action::Adopt {
        " (already exists: adopted)"
    } else {
        ""
    };
    let line = match c.action {
        Action::Create if c.taken.is_some() => {
            format!("  ! {what} cannot be created: its name is taken")
        }
        Action::Create if c.blocked.is_some() => format!("  ! {what} will NOT be created"),
        Action::Create => format!("  + {what} will be created"),
        Action::Update => format!("  ~ {what} will be updated in place"),
        Action::DeleteThenCreate => format!("-/+ {what} must be replaced (delete, then create)"),
        Action::CreateThenDelete => format!("+/- {what} must be replaced (create, then delete)"),
        Action::Forget if c.reason == Some(Reason::Imported) => format!(
            "  - {what} was imported: forget it, and leave it in AWS (provision deletes only what it created)"
        ),
        Action::Forget => format!("  - {what} was already deleted outside provision: forget it"),
        Action::DeleteOrphan => format!(
            "  - {what} orphan: made by an earlier attempt of this state, recorded nowhere: will be destroyed"
        ),
        Action::DeleteDeposed => {
            format!("  - {what} old object of a replacement will be destroyed")
        }
        Action::Delete => format!("  - {what} will be destroyed"),
        Action::Adopt => {
            format!("  = {what} already exists (found by its tags or name): will be adopted")
        }
        Action::NoOp => format!("    {what} unchanged"),
        Action::Accept => format!("  ~ {what} changed outside provision: accept it into state"),
        Action::Import if c.changed.is_empty() => format!("  <= {what} will be imported"),
        Action::Import => format!("  <= {what} will be imported, then updated in place"),
    };
    line + adopted
}

pub fn change(out: &mut String, c: &Change) {
    let mut c = c.clone();
    c.before = c.before.as_ref().map(crate::kind::sorted);
    c.after = c.after.as_ref().map(crate::kind::sorted);
    let c = &c;
    out.push_str(&header(c));
    out.push('\n');
    if let Some(who) = &c.taken {
        let _ = writeln!(out, "      ! taken: {who}");
        out.push('\n');
        return;
    }
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
                all_props(out, '+', &c.kind, a, 6);
            }
        }
        Action::Delete
        | Action::DeleteDeposed
        | Action::DeleteOrphan
        | Action::Forget
        | Action::Adopt
        | Action::NoOp => {}
        Action::Update
        | Action::Import
        | Action::Accept
        | Action::DeleteThenCreate
        | Action::CreateThenDelete => {
            let (b, a) = (
                c.before.clone().unwrap_or(Value::Null),
                c.after.clone().unwrap_or(Value::Null),
            );
            if c.changed.is_empty() && c.replace_because.iter().any(|r| r == "--replace") {
                let _ = writeln!(out, "      # forces replacement: --replace");
            }
            if let Some(note) = &c.note {
                let _ = writeln!(out, "      # {note}");
            }
            let keys: Vec<&String> = c.changed.iter().collect();
            let w = width(&keys);
            for k in &c.changed {
                let at = PropDiff {
                    kind: &c.kind,
                    w,
                    forces: c.replace_because.contains(k),
                    indent: 6,
                };
                prop_diff(out, &at, k, b.get(k.as_str()), a.get(k.as_str()));
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

/// One drift finding's headline, as plans and `drift` print it.
pub fn finding_line(d: &Drift) -> String {
    let region = d
        .region
        .as_deref()
        .map(|r| format!(" [{r}]"))
        .unwrap_or_default();
    let at = format!("{}{region}", d.address);
    match &d.finding {
        Finding::Deleted => format!("  ! {} was deleted outside provision", at),
        Finding::HandMade { .. } => format!("  ? {} {}{region} {}", d.kind, d.id, handmade_text(d)),
        Finding::Unclaimed { .. } => format!(
            "  ? {} {} exists with this stack's tags but another state made it",
            at, d.id
        ),
        Finding::Orphan => format!(
            "  ? {} {} was made by this state but is recorded nowhere (an orphan): apply deletes it",
            at, d.id
        ),
        Finding::Modified { property, .. } => {
            format!("  ~ {} changed outside provision: {property}", at)
        }
        Finding::Upstream { before, after, .. } => format!(
            "  ~ {} changed since the last apply: {} -> {}",
            at,
            before.as_ref().map_or("(none)".into(), show),
            after.as_ref().map_or("(removed)".into(), show)
        ),
    }
}

/// What is said of an object made by hand: where it is, what it says of itself.
pub fn handmade_text(d: &Drift) -> String {
    let Finding::HandMade {
        inside,
        description,
    } = &d.finding
    else {
        return String::new();
    };
    let inside = match inside {
        Some((addr, id)) => format!("inside {addr} ({id})"),
        None => "inside what this stack manages".into(),
    };
    let what = match description {
        Some(d) => format!(" ({d:?})"),
        None => String::new(),
    };
    format!("made outside provision {inside}{what}")
}

/// The lines of a modified property's difference (none for other findings).
pub fn finding_diff(d: &Drift) -> Vec<String> {
    match &d.finding {
        Finding::Modified {
            property,
            recorded,
            live,
        } => diff::property_diff(&d.kind, property, recorded.as_ref(), live.as_ref()),
        _ => vec![],
    }
}

pub fn drift(out: &mut String, drift: &[Drift]) {
    if drift.is_empty() {
        return;
    }
    out.push_str("Changed outside provision since the last apply:\n\n");
    for d in drift {
        let _ = writeln!(out, "{}", finding_line(d));
        for l in finding_diff(d) {
            let _ = writeln!(out, "      {l}");
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

/// An output's value as shown: masked when sensitive.
pub fn output_text(v: &Value, sensitive: bool) -> String {
    if sensitive {
        "(sensitive)".into()
    } else {
        show(v)
    }
}

/// Outputs of the stacks this one reads that changed since its last apply.
fn upstream(out: &mut String, p: &Plan) {
    if p.upstream.is_empty() {
        return;
    }
    out.push_str("Outputs of the stacks this one reads changed since its last apply:\n\n");
    for u in &p.upstream {
        let b = u.before.as_ref().map_or("(none)".into(), show);
        let a = u.after.as_ref().map_or("(removed)".into(), show);
        let _ = writeln!(out, "  ~ stack.{}.{}: {b} -> {a}", u.stack, u.output);
    }
    out.push('\n');
}

/// The stack's outputs that apply will record differently.
fn outputs(out: &mut String, p: &Plan) {
    if p.outputs.is_empty() {
        return;
    }
    out.push_str("Changes to outputs:\n");
    let w = p.outputs.iter().map(|o| o.name.len()).max().unwrap_or(0);
    for o in &p.outputs {
        let name = &o.name;
        match (&o.before, &o.after) {
            (None, Some(a)) => {
                let _ = writeln!(out, "  + {name:w$} = {}", output_text(a, o.sensitive));
            }
            (Some(b), None) => {
                let _ = writeln!(out, "  - {name:w$} = {}", output_text(b, o.sensitive));
            }
            (Some(b), Some(a)) => {
                let _ = writeln!(
                    out,
                    "  ~ {name:w$} = {} -> {}",
                    output_text(b, o.sensitive),
                    output_text(a, o.sensitive)
                );
            }
            (None, None) => {}
        }
    }
    out.push('\n');
}

/// The policy rules the plan breaks: denials first.
fn violations(out: &mut String, p: &Plan) {
    if p.violations.is_empty() {
        return;
    }
    out.push_str("Policy:\n");
    let mut v: Vec<&crate::policy::Violation> = p.violations.iter().collect();
    v.sort_by_key(|x| x.level != crate::policy::Level::Deny);
    for x in v {
        let mark = match x.level {
            crate::policy::Level::Deny => "! denied",
            crate::policy::Level::Warn => "? warning",
        };
        let _ = writeln!(out, "  {mark} by {}: {}: {}", x.rule, x.address, x.message);
    }
    if p.denied() {
        out.push_str("  Apply refuses a plan that breaks a deny rule.\n");
    }
    out.push('\n');
}

/// The whole plan, with drift first and the summary line last.
pub fn plan(p: &Plan) -> String {
    let mut out = String::new();
    drift(&mut out, &p.drift);
    upstream(&mut out, p);
    unclaimed(&mut out, p);
    if !p.has_changes() {
        for c in p.changes.iter().filter(|c| c.not_attempted()) {
            change(&mut out, c);
        }
        violations(&mut out, p);
        out.push_str("No changes. The live infrastructure matches the stack.\n");
        return out;
    }
    let _ = writeln!(
        out,
        "provision will perform these actions on stack {:?}:\n",
        p.stack
    );
    for (from, to) in &p.moved {
        let _ = writeln!(out, "  > {from} has moved to {to}");
    }
    if !p.moved.is_empty() {
        out.push('\n');
    }
    for c in p.changes.iter().filter(|c| c.action != Action::NoOp) {
        // Creates that will not be attempted are listed, but change nothing.
        change(&mut out, c);
    }
    if p.changes.iter().any(|c| c.action.is_replace()) {
        order(&mut out, p);
    }
    outputs(&mut out, p);
    violations(&mut out, p);
    let taken = p.taken().count();
    if taken > 0 {
        let _ = writeln!(
            out,
            "Apply refuses this plan: {taken} name{} above {} taken.\n",
            if taken == 1 { "" } else { "s" },
            if taken == 1 { "is" } else { "are" }
        );
    }
    estimate(&mut out, p);
    out.push_str(&summary(p));
    out
}

/// How long the apply would take on AWS's typical times, and what sets
/// it: the recovery time a failover's plan can be quoted by.
fn estimate(out: &mut String, p: &Plan) {
    let path = crate::exec::estimate(p);
    let total: u64 = path.iter().map(|(_, s)| s).sum();
    if total == 0 {
        return;
    }
    let secs = |s: u64| humantime::format_duration(std::time::Duration::from_secs(s)).to_string();
    let steps: Vec<String> = path
        .iter()
        .map(|(op, s)| format!("{op} ({})", secs(*s)))
        .collect();
    let _ = writeln!(
        out,
        "On AWS's typical times this takes about {}, the longest chain: {}.
",
        secs(total),
        steps.join(" -> ")
    );
}

/// The steps a plan with replacements takes: each waits for those before it.
fn order(out: &mut String, p: &Plan) {
    let (ops, after) = crate::exec::order::operations(p);
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
                let old = matches!(ops[i].kind, crate::exec::order::OpKind::DeleteDeposed);
                format!("{}{}", ops[i].describe(), if old { " (old)" } else { "" })
            })
            .collect();
        let _ = writeln!(out, "  {}. {}", s + 1, names.join(", "));
    }
    out.push('\n');
}

pub fn summary(p: &Plan) -> String {
    let crate::model::Counts {
        add,
        change,
        destroy,
        adopt,
        import,
        accept,
    } = p.counts();
    if p.refresh_only {
        return format!(
            "Plan: {accept} to accept into state, {destroy} to forget; nothing in AWS is written.\n"
        );
    }
    let mut more = String::new();
    for (n, what) in [(adopt, "to adopt"), (import, "to import")] {
        if n > 0 {
            more.push_str(&format!(", {n} {what}"));
        }
    }
    if !p.moved.is_empty() {
        more.push_str(&format!(", {} moved", p.moved.len()));
    }
    format!("Plan: {add} to add, {change} to change, {destroy} to destroy{more}.\n")
}

#[cfg(test)]
mod tests {
    use super::*;

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
