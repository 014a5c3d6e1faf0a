//! Data sources: `data: NAME: {kind, properties}`, read at plan time (never
//! written) and referred to as `${data.NAME.ATTRIBUTE}`. The loader does no
//! IO: it asks for the reads it needs ([`DataReq`]) and is given their
//! answers on its next pass. A data source nothing refers to is not read.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::Value;

use super::cx::{Cx, get, suggest};
use super::scope::{Statics, VarScope};
use super::template::{Tmpl, compile};
use crate::diag::Loc;
use crate::expr::{Expr, Part, contains_unknown, unknown};
use crate::kind::{self, DataSpec};
use crate::yaml::{Key, Node, NodeKind};

/// One data source as declared.
pub(super) struct DataDecl {
    pub name: String,
    pub file: String,
    pub loc: Loc,
    pub spec: &'static DataSpec,
    pub props: Option<Arc<Tmpl>>,
}

/// A read the loader needs: the data source's address, kind and filters.
#[derive(Debug, Clone, PartialEq)]
pub struct DataReq {
    /// `data.NAME`, or `module.M.data.NAME` inside a module.
    pub address: String,
    pub kind: &'static str,
    pub props: Value,
    /// The region to read in (its module's; `None`: the stack's).
    pub region: Option<String>,
}

/// The data sources declared in these files.
pub(super) fn read(files: &[(&str, &[(Key, Node)])], cx: &mut Cx) -> Vec<DataDecl> {
    let mut out: Vec<DataDecl> = Vec::new();
    for (file, top) in files {
        let Some(dn) = get(top, "data") else { continue };
        let Some(m) = dn.as_map() else {
            cx.push_in(
                file,
                dn.loc,
                "`data` must be a mapping of names to data sources",
            );
            continue;
        };
        let saved = std::mem::replace(&mut cx.file, file.to_string());
        for (k, v) in m {
            if !super::decls::valid_name(&k.name)
                || super::decls::RESERVED.contains(&k.name.as_str())
            {
                cx.push(
                    k.loc,
                    format!(
                        "data source name `{}` must be lower case letters, digits and `_`",
                        k.name
                    ),
                );
                continue;
            }
            if out.iter().any(|d| d.name == k.name) {
                cx.push(k.loc, format!("data source `{}` is declared twice", k.name));
                continue;
            }
            if let Some(d) = one(file, k, v, cx) {
                out.push(d);
            }
        }
        cx.file = saved;
    }
    out
}

fn one(file: &str, k: &Key, v: &Node, cx: &mut Cx) -> Option<DataDecl> {
    let Some(m) = v.as_map() else {
        cx.push(
            v.loc,
            format!(
                "data source `{}` must be a mapping with `kind` and `properties`",
                k.name
            ),
        );
        return None;
    };
    cx.only(
        m,
        &["kind", "properties", "description"],
        &format!("data source `{}`", k.name),
    );
    let Some(kn) = get(m, "kind") else {
        cx.push(k.loc, format!("data source `{}` has no `kind`", k.name));
        return None;
    };
    let Some(spec) = kn.as_str().and_then(kind::lookup_data) else {
        let written = kn.as_str().unwrap_or("?");
        let names = kind::data_names;
        let hint = suggest(written, names());
        let msg = if hint.is_empty() {
            format!(
                "unknown data source kind `{written}`: data sources are {}",
                names().collect::<Vec<_>>().join(", ")
            )
        } else {
            format!("unknown data source kind `{written}`{hint}")
        };
        cx.push(kn.loc, msg);
        return None;
    };
    let props = get(m, "properties");
    if let Some(p) = props {
        match p.as_map() {
            Some(pm) => {
                for (pk, _) in pm.iter().filter(|(pk, _)| spec.prop(&pk.name).is_none()) {
                    let names = spec.props.iter().map(|p| p.name);
                    let hint = suggest(&pk.name, names.clone());
                    let all = names.collect::<Vec<_>>().join(", ");
                    let msg = if hint.is_empty() {
                        format!(
                            "unknown property `{}` for data source kind {}, expected one of: {all}",
                            pk.name, spec.name
                        )
                    } else {
                        format!(
                            "unknown property `{}` for data source kind {}{hint}",
                            pk.name, spec.name
                        )
                    };
                    cx.push(pk.loc, msg);
                }
                for req in spec
                    .props
                    .iter()
                    .filter(|p| p.required && get(pm, p.name).is_none())
                {
                    cx.push(
                        p.loc,
                        format!(
                            "data source `{}` ({}) needs property `{}`",
                            k.name, spec.name, req.name
                        ),
                    );
                }
            }
            None => cx.push(p.loc, "`properties` must be a mapping"),
        }
    } else if let Some(req) = spec.props.iter().find(|p| p.required) {
        cx.push(
            k.loc,
            format!(
                "data source `{}` ({}) needs property `{}`",
                k.name, spec.name, req.name
            ),
        );
    }
    Some(DataDecl {
        name: k.name.clone(),
        file: file.to_string(),
        loc: k.loc,
        spec,
        props: props.map(|p| Arc::new(compile(p, cx))),
    })
}

/// Each data source's value as given (its attributes), or unknown when it
/// has not been read yet.
pub(super) fn values(
    decls: &[DataDecl],
    prefix: &str,
    given: &HashMap<String, Value>,
) -> BTreeMap<String, Value> {
    decls
        .iter()
        .map(|d| {
            let v = given
                .get(&format!("{prefix}data.{}", d.name))
                .cloned()
                .unwrap_or_else(unknown);
            (d.name.clone(), v)
        })
        .collect()
}

/// The reads still needed: data sources something refers to, not read yet,
/// whose filters are known (they may use variables and data sources read
/// before them, never resources).
pub(super) fn requests(
    decls: &[DataDecl],
    referenced: &BTreeSet<String>,
    prefix: &str,
    st: &Statics,
    cx: &mut Cx,
) -> Vec<DataReq> {
    let mut out = Vec::new();
    for d in decls {
        if !referenced.contains(&d.name) || !contains_unknown(&st.data[&d.name]) {
            continue;
        }
        let sc = VarScope {
            st,
            each: None,
            lenient: false,
        };
        let props = match &d.props {
            Some(t) => match t.eval(&sc, &d.file) {
                Ok(v) => v,
                Err(mut e) => {
                    e.message = format!("data source `{}`: {}", d.name, e.message);
                    cx.errors.push(e);
                    continue;
                }
            },
            None => Value::Object(Default::default()),
        };
        if contains_unknown(&props) {
            // Waits for the data sources it uses.
            continue;
        }
        if let Value::Object(o) = &props {
            for (k, v) in o.iter().filter(|(_, v)| !v.is_null()) {
                if let Some(p) = d.spec.prop(k)
                    && let Err(m) = kind::check(&p.ty, v, k)
                {
                    let loc = d
                        .props
                        .as_ref()
                        .and_then(|t| t.field(k))
                        .map_or(d.loc, |t| t.loc);
                    cx.push_in(&d.file, loc, format!("data source `{}`: {m}", d.name));
                }
            }
        }
        out.push(DataReq {
            address: format!("{prefix}data.{}", d.name),
            kind: d.spec.name,
            props,
            region: None,
        });
    }
    out
}

/// The data sources these files refer to (`data.NAME` anywhere in an
/// expression).
pub(super) fn referenced(files: &[(&str, &[(Key, Node)])]) -> BTreeSet<String> {
    fn walk(n: &Node, out: &mut BTreeSet<String>) {
        match &n.kind {
            NodeKind::Str(s) if s.contains("${") => {
                for p in crate::expr::parse_template(s).unwrap_or_default() {
                    if let Part::Expr(e, _) = p {
                        refs(&e, out);
                    }
                }
            }
            NodeKind::Seq(items) => items.iter().for_each(|x| walk(x, out)),
            NodeKind::Map(m) => m.iter().for_each(|(_, v)| walk(v, out)),
            _ => {}
        }
    }
    fn refs(e: &Expr, out: &mut BTreeSet<String>) {
        if let Expr::Ref { root, segs } = e
            && root == "data"
            && let Some(crate::expr::Seg::Attr(n)) = segs.first()
        {
            out.insert(n.clone());
        }
        for c in e.children() {
            refs(c, out);
        }
    }
    let mut out = BTreeSet::new();
    for (_, top) in files {
        for (_, v) in top.iter() {
            walk(v, &mut out);
        }
    }
    out
}
