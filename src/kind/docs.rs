//! docs/resources.md, made from every kind's spec (a test keeps the file in
//! step with the code).

use super::{Prop, ReplaceOrder, Ty};

fn type_name(ty: &Ty) -> String {
    let fields = |f: &[Prop]| f.iter().map(|f| f.name).collect::<Vec<_>>().join(", ");
    match ty {
        Ty::Str => "string".into(),
        Ty::OneOf(all) => format!("one of {}", all.join(", ")),
        Ty::Bool => "bool".into(),
        Ty::Int => "integer".into(),
        Ty::Cidr => "CIDR".into(),
        Ty::StrList { set: true } => "set of strings".into(),
        Ty::StrList { set: false } => "list of strings".into(),
        Ty::Tags => "map".into(),
        Ty::ObjList(f) => format!("list of {{{}}}", fields(f)),
        Ty::Rules(f, _) => format!("list of rules {{{}}}", fields(f)),
        Ty::Policy => "policy document".into(),
    }
}

fn secs(n: u32) -> String {
    humantime::format_duration(std::time::Duration::from_secs(u64::from(n))).to_string()
}

/// The text of docs/resources.md, made from every kind's spec (a test keeps the file in step).
pub fn docs_markdown() -> String {
    use std::fmt::Write;
    let mut out = String::from(
        "# Resource kinds\n\nMade from the kinds' specs (`src/aws/<service>/<kind>.rs`) by \
         `PROVISION_BLESS=1 cargo test --lib docs_are_current`; do not edit by hand.\n\n\
         On change, a property either updates the resource in place or forces its \
         replacement. A replacement deletes the old object first, unless the kind can \
         have an old and a new object at once and others refer to it (or \
         `lifecycle.create_before_destroy` says so): then the new one is created first \
         (a unique name gets a suffix, `alb-3f9a2c`), what refers to it moves, and the old \
         one goes last.\n\n\
         Every call is retried by what AWS's answer means: throttling slows the service \
         down and is retried until it passes; an id not visible yet right after its \
         create (NotFound) is retried for up to `PROVISION_SETTLE` (2 minutes); an answer \
         of unknown outcome is retried `AWS_MAX_ATTEMPTS` times (5), except for creates \
         without an idempotency token, which are never repeated blindly. A delete that \
         AWS refuses while something uses the object is retried for the time each kind \
         gives below (`timeouts.in_use` overrides it).\n",
    );
    for k in crate::aws::KINDS {
        let _ = write!(
            out,
            "\n## `{}`\n\n{}\n\nOutputs: {}. Replacement: {}. Refresh of N resources: {}.\n\n\
             Waits: {} In use: a delete is retried for {}. Typical time on AWS (for \
             scheduling): create {}, update {}, delete {}.\n\n\
             | property | type | required | default | on change | description |\n|---|---|---|---|---|---|\n",
            k.name,
            k.doc,
            k.outputs
                .iter()
                .map(|o| format!("`{o}`"))
                .collect::<Vec<_>>()
                .join(", "),
            match (k.replace, k.coexist) {
                (ReplaceOrder::CreateThenDelete, _) => "create, then delete",
                (_, true) => "create first when others refer to it, else delete first",
                _ => "delete, then create",
            },
            k.refresh_cost,
            if k.waits.is_empty() {
                "nothing: AWS's answer is final."
            } else {
                k.waits
            },
            humantime::format_duration(std::time::Duration::from_secs(k.in_use)),
            secs(k.takes.create),
            secs(k.takes.update)
                + &k.takes
                    .slow
                    .iter()
                    .map(|(p, t)| format!(" (changing `{p}`: {})", secs(*t)))
                    .collect::<String>(),
            secs(k.takes.delete),
        );
        for p in k.props {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} |",
                p.name,
                type_name(&p.ty),
                if p.required { "yes" } else { "" },
                p.default.map(|d| format!("`{d}`")).unwrap_or_default(),
                if p.force_new {
                    "replace"
                } else {
                    "update in place"
                },
                p.doc
            );
        }
        if !k.guards.is_empty() {
            let names: Vec<String> = k
                .guards
                .iter()
                .map(|g| format!("`baseline/{}`", g.name))
                .collect();
            let _ = writeln!(out, "\nPolicy `baseline` rules: {}.", names.join(", "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_are_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/resources.md");
        let want = docs_markdown();
        if std::env::var_os("PROVISION_BLESS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "docs/resources.md is out of date: run PROVISION_BLESS=1 cargo test --lib docs_are_current"
        );
    }
}
