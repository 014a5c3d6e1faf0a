//! Templates: a YAML value whose strings may hold `${...}`, parsed once when
//! the stack loads and evaluated as often as planning and applying need.

use serde_json::{Map, Value};

use super::cx::Cx;
use crate::diag::{Loc, StackError};
use crate::expr::{self, Expr, Part, Scope, Seg, contains_unknown, unknown};
use crate::yaml::{Key, Node, NodeKind};

/// A compiled YAML value.
#[derive(Debug, Clone, PartialEq)]
pub struct Tmpl {
    pub kind: TmplKind,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TmplKind {
    /// A value with nothing to evaluate.
    Lit(Value),
    /// A string with `${...}` parts.
    Text {
        raw: String,
        parts: Vec<Part>,
    },
    Seq(Vec<Tmpl>),
    Map(Vec<(Key, Tmpl)>),
}

/// A YAML node as a value, with no templates evaluated.
pub(super) fn literal(n: &Node) -> Value {
    match &n.kind {
        NodeKind::Null => Value::Null,
        NodeKind::Bool(b) => Value::Bool(*b),
        NodeKind::Int(i) => Value::from(*i),
        NodeKind::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        NodeKind::Str(s) => Value::String(s.clone()),
        NodeKind::Seq(a) => Value::Array(a.iter().map(literal).collect()),
        NodeKind::Map(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.name.clone(), literal(v)))
                .collect(),
        ),
    }
}

/// Best guess of where an offset inside a string lies: exact for plain and
/// quoted scalars on one line.
pub(super) fn at_offset(loc: Loc, s: &str, off: usize) -> Loc {
    if s.contains('\n') {
        return loc;
    }
    Loc {
        line: loc.line,
        col: loc.col + off as u32,
    }
}

/// Compiles a node; a string that does not parse is reported and kept as text.
pub(super) fn compile(n: &Node, cx: &mut Cx) -> Tmpl {
    let kind = match &n.kind {
        NodeKind::Str(s) if s.contains("${") => match expr::parse_template(s) {
            Ok(parts) => TmplKind::Text {
                raw: s.clone(),
                parts,
            },
            Err((off, m)) => {
                let m = format!("in `{}`: {m}", crate::diag::clip(s, 60));
                cx.push(at_offset(n.loc, s, off), m);
                TmplKind::Lit(Value::String(s.clone()))
            }
        },
        NodeKind::Seq(items) => TmplKind::Seq(items.iter().map(|x| compile(x, cx)).collect()),
        NodeKind::Map(m) => {
            TmplKind::Map(m.iter().map(|(k, v)| (k.clone(), compile(v, cx))).collect())
        }
        _ => TmplKind::Lit(literal(n)),
    };
    Tmpl { kind, loc: n.loc }
}

impl Tmpl {
    /// The value of a mapping's field.
    pub fn field(&self, name: &str) -> Option<&Tmpl> {
        match &self.kind {
            TmplKind::Map(m) => m.iter().find(|(k, _)| k.name == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The mapping's fields, if it is one.
    pub fn fields(&self) -> Option<&[(Key, Tmpl)]> {
        match &self.kind {
            TmplKind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            TmplKind::Lit(Value::Null) => "null",
            TmplKind::Lit(Value::Bool(_)) => "a boolean",
            TmplKind::Lit(Value::Number(_)) => "a number",
            TmplKind::Lit(Value::String(_)) | TmplKind::Text { .. } => "a string",
            TmplKind::Lit(Value::Array(_)) | TmplKind::Seq(_) => "a list",
            TmplKind::Lit(Value::Object(_)) | TmplKind::Map(_) => "a mapping",
        }
    }

    /// Every expression inside, with where its string is and its offset in it.
    pub fn exprs(&self) -> Vec<(&Expr, Loc)> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<(&'a Expr, Loc)>) {
        match &self.kind {
            TmplKind::Text { raw, parts } => {
                for p in parts {
                    if let Part::Expr(e, off) = p {
                        out.push((e, at_offset(self.loc, raw, *off)));
                    }
                }
            }
            TmplKind::Seq(items) => items.iter().for_each(|x| x.collect(out)),
            TmplKind::Map(m) => m.iter().for_each(|(_, v)| v.collect(out)),
            TmplKind::Lit(_) => {}
        }
    }

    /// Evaluates: strings have their `${...}` parts replaced. A string that is
    /// one `${...}` and nothing else takes the expression's value and type.
    pub fn eval(&self, sc: &dyn Scope, file: &str) -> Result<Value, StackError> {
        Ok(match &self.kind {
            TmplKind::Lit(v) => v.clone(),
            TmplKind::Text { raw, parts } => {
                let at =
                    |off: usize, m: String| StackError::at(file, at_offset(self.loc, raw, off), m);
                match parts.as_slice() {
                    [Part::Expr(e, off)]
                        if raw.trim_start().starts_with("${") && raw.trim_end().ends_with('}') =>
                    {
                        expr::eval(e, sc).map_err(|m| at(*off, m))?
                    }
                    _ => {
                        let mut out = String::new();
                        for p in parts {
                            match p {
                                Part::Text(t) => out.push_str(t),
                                Part::Expr(e, off) => {
                                    let v = expr::eval(e, sc).map_err(|m| at(*off, m))?;
                                    if contains_unknown(&v) {
                                        return Ok(unknown());
                                    }
                                    out.push_str(&expr::scalar_text(&v).map_err(|m| at(*off, m))?);
                                    if out.len() > crate::limits::STRING_BYTES {
                                        return Err(at(*off, expr::too_long("interpolation")));
                                    }
                                }
                            }
                        }
                        Value::String(out)
                    }
                }
            }
            TmplKind::Seq(items) => Value::Array(
                items
                    .iter()
                    .map(|x| x.eval(sc, file))
                    .collect::<Result<_, _>>()?,
            ),
            TmplKind::Map(m) => {
                let mut o = Map::new();
                for (k, v) in m {
                    o.insert(k.name.clone(), v.eval(sc, file)?);
                }
                Value::Object(o)
            }
        })
    }
}

/// The references of an expression: the root name and what follows it.
pub(super) fn references(e: &Expr) -> Vec<(&str, &[Seg])> {
    let mut out = Vec::new();
    refs_in(e, &mut out);
    out
}

fn refs_in<'a>(e: &'a Expr, out: &mut Vec<(&'a str, &'a [Seg])>) {
    if let Expr::Ref { root, segs } = e {
        out.push((root, segs));
    }
    for c in e.children() {
        refs_in(c, out);
    }
}
