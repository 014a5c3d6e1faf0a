//! The expression language inside `${ ... }`.
//!
//! Small on purpose: references (`var.x`, `each.key`, `vpc.id`,
//! `subnet["us-east-1a"].id`, `subnet[*].id`), integer, string and boolean
//! literals (`true`, `false`, `null`), `+ - *` on integers, comparisons
//! (`== != < <= > >=`), `&& || !`, `cond ? a : b`, and a few functions
//! (`cidrsubnet`, `concat`, `format`, ...).
//! Parsing is pure; evaluation asks a [`Scope`] for what references mean.

use serde_json::Value;

use crate::limits;

mod functions;
mod parse;
use functions::call;
pub use functions::cidrsubnet;
pub use parse::{parse_expr, parse_template};

/// What a `${...}` evaluates to when the value depends on a resource not yet created.
pub const UNKNOWN: &str = "\u{1}(known after apply)";

pub fn unknown() -> Value {
    Value::String(UNKNOWN.to_string())
}

/// True if the value is, or contains, a value known only after apply.
pub fn contains_unknown(v: &Value) -> bool {
    match v {
        Value::String(s) => s == UNKNOWN,
        Value::Array(a) => a.iter().any(contains_unknown),
        Value::Object(o) => o.values().any(contains_unknown),
        _ => false,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Int(i64),
    Str(String),
    Bool(bool),
    Null,
    Ref {
        root: String,
        segs: Vec<Seg>,
    },
    Call(String, Vec<Expr>),
    /// Integer arithmetic: `+`, `-`, `*`.
    Bin(char, Box<Expr>, Box<Expr>),
    Cmp(Cmp, Box<Expr>, Box<Expr>),
    /// `&&` (true) or `||` (false).
    Logic(bool, Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    /// `cond ? then : otherwise`.
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `[a, b, ...]`: a list.
    List(Vec<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Expr {
    /// The expressions directly inside this one.
    pub fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Int(_) | Expr::Str(_) | Expr::Bool(_) | Expr::Null => vec![],
            Expr::Bin(_, l, r) | Expr::Cmp(_, l, r) | Expr::Logic(_, l, r) => vec![l, r],
            Expr::Not(e) => vec![e],
            Expr::Cond(c, a, b) => vec![c, a, b],
            Expr::Call(_, args) | Expr::List(args) => args.iter().collect(),
            Expr::Ref { segs, .. } => segs
                .iter()
                .filter_map(|s| match s {
                    Seg::Index(i) => Some(i),
                    _ => None,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    Attr(String),
    Index(Expr),
    Splat,
}

/// A string with `${...}` parts.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Expr(Expr, usize),
}

/// What references mean. The engine implements this at plan and at apply time.
pub trait Scope {
    /// `var.NAME`, `each.key`, `each.value`, `each.index`; `data.NAME` (a
    /// data source's attributes) and `stack.NAME` (another stack's outputs).
    fn special(&self, root: &str, name: &str) -> Option<Result<Value, String>>;
    /// `RES.ATTR`, `RES[KEY].ATTR`, `RES[*].ATTR` (key `None` for splat).
    fn resource_attr(&self, name: &str, key: Option<&str>, attr: &str) -> Result<Value, String>;
    /// Keys of a resource with `for_each`, in order; `None` if it has none.
    fn keys_of(&self, name: &str) -> Result<Option<&[String]>, String>;
    /// `module.NAME.OUTPUT`, `module.NAME[KEY].OUTPUT`.
    fn module_output(&self, m: &str, _key: Option<&str>, _out: &str) -> Result<Value, String> {
        Err(format!("`module.{m}` cannot be referenced here"))
    }
    /// Keys of a module with `for_each`, in order; `None` if it has none.
    fn module_keys(&self, m: &str) -> Result<Option<&[String]>, String> {
        Err(format!("`module.{m}` cannot be referenced here"))
    }
    /// Resources and modules are not known yet (nor whether they have
    /// `for_each`): what refers to them is unknown, not an error.
    fn unknown_resources(&self) -> bool {
        false
    }
}

/// The roots `Scope::special` answers.
pub const SPECIAL_ROOTS: [&str; 4] = ["var", "each", "data", "stack"];

pub fn eval(e: &Expr, sc: &dyn Scope) -> Result<Value, String> {
    match e {
        Expr::Int(n) => Ok(Value::from(*n)),
        Expr::Str(s) => Ok(Value::String(s.clone())),
        Expr::Bool(b) => Ok(Value::Bool(*b)),
        Expr::Null => Ok(Value::Null),
        Expr::Cmp(op, l, r) => {
            let (l, r) = (eval(l, sc)?, eval(r, sc)?);
            if contains_unknown(&l) || contains_unknown(&r) {
                return Ok(unknown());
            }
            compare(*op, &l, &r).map(Value::Bool)
        }
        Expr::Logic(and, l, r) => {
            // Short-circuit: `false && x` is false and `true || x` true,
            // whatever x is (known or not).
            let l = eval(l, sc)?;
            if !contains_unknown(&l) && as_bool(&l)? != *and {
                return Ok(Value::Bool(!*and));
            }
            let r = eval(r, sc)?;
            if contains_unknown(&l) || contains_unknown(&r) {
                return Ok(unknown());
            }
            Ok(Value::Bool(as_bool(&r)?))
        }
        Expr::Not(e) => {
            let v = eval(e, sc)?;
            if contains_unknown(&v) {
                return Ok(unknown());
            }
            Ok(Value::Bool(!as_bool(&v)?))
        }
        Expr::Cond(c, a, b) => {
            let c = eval(c, sc)?;
            if contains_unknown(&c) {
                let (a, b) = (eval(a, sc)?, eval(b, sc)?);
                return Ok(if a == b { a } else { unknown() });
            }
            if as_bool(&c)? {
                eval(a, sc)
            } else {
                eval(b, sc)
            }
        }
        Expr::Bin(op, l, r) => {
            let (l, r) = (eval(l, sc)?, eval(r, sc)?);
            if contains_unknown(&l) || contains_unknown(&r) {
                return Ok(unknown());
            }
            let (a, b) = (as_int(&l)?, as_int(&r)?);
            let v = match op {
                '+' => a.checked_add(b),
                '-' => a.checked_sub(b),
                _ => a.checked_mul(b),
            };
            v.map(Value::from)
                .ok_or_else(|| format!("integer overflow: {a} {op} {b} does not fit in 64 bits"))
        }
        Expr::Call(f, args) => {
            let vals = args
                .iter()
                .map(|a| eval(a, sc))
                .collect::<Result<Vec<_>, _>>()?;
            call(f, &vals)
        }
        Expr::List(items) => items
            .iter()
            .map(|a| eval(a, sc))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Expr::Ref { root, segs } => eval_ref(root, segs, sc),
    }
}

fn eval_ref(root: &str, segs: &[Seg], sc: &dyn Scope) -> Result<Value, String> {
    if SPECIAL_ROOTS.contains(&root) {
        let Some(Seg::Attr(name)) = segs.first() else {
            return Err(format!("`{root}` must be followed by `.NAME`"));
        };
        let v = sc
            .special(root, name)
            .ok_or_else(|| format!("`{root}.{name}` is not defined here"))??;
        return walk(v, &segs[1..], sc);
    }
    if root == "module" {
        return eval_module(segs, sc);
    }
    let keys = sc.keys_of(root)?;
    match (segs.first(), keys) {
        (Some(Seg::Splat), Some(keys)) => {
            let Some(Seg::Attr(attr)) = segs.get(1) else {
                return Err(format!("`{root}[*]` must be followed by `.ATTRIBUTE`"));
            };
            let mut out = Vec::new();
            for k in keys {
                let v = sc.resource_attr(root, Some(k), attr)?;
                out.push(walk(v, &segs[2..], sc)?);
            }
            Ok(Value::Array(out))
        }
        (Some(Seg::Index(ix)), Some(_)) => {
            let k = eval(ix, sc)?;
            let k = key_string(&k)?;
            let Some(Seg::Attr(attr)) = segs.get(1) else {
                return Err(format!("`{root}[...]` must be followed by `.ATTRIBUTE`"));
            };
            let v = sc.resource_attr(root, Some(&k), attr)?;
            walk(v, &segs[2..], sc)
        }
        (Some(Seg::Attr(attr)), None) => {
            let v = sc.resource_attr(root, None, attr)?;
            walk(v, &segs[1..], sc)
        }
        (Some(Seg::Attr(_)), Some(_)) => Err(format!(
            "`{root}` has for_each: write `{root}[KEY].ATTRIBUTE` or `{root}[*].ATTRIBUTE`"
        )),
        (Some(_), None) if sc.unknown_resources() => Ok(unknown()),
        (Some(_), None) => Err(format!("`{root}` has no for_each and cannot be indexed")),
        (None, _) => Err(format!("`{root}` must be followed by `.ATTRIBUTE`")),
    }
}

/// `module.NAME.OUTPUT`, `module.NAME[KEY].OUTPUT`, `module.NAME[*].OUTPUT`.
fn eval_module(segs: &[Seg], sc: &dyn Scope) -> Result<Value, String> {
    let Some(Seg::Attr(m)) = segs.first() else {
        return Err("`module` must be followed by `.NAME`".into());
    };
    let keys = sc.module_keys(m)?;
    match (segs.get(1), keys) {
        (Some(Seg::Splat), Some(keys)) => {
            let Some(Seg::Attr(out)) = segs.get(2) else {
                return Err(format!("`module.{m}[*]` must be followed by `.OUTPUT`"));
            };
            let mut all = Vec::new();
            for k in keys {
                all.push(walk(sc.module_output(m, Some(k), out)?, &segs[3..], sc)?);
            }
            Ok(Value::Array(all))
        }
        (Some(Seg::Index(ix)), Some(_)) => {
            let k = key_string(&eval(ix, sc)?)?;
            let Some(Seg::Attr(out)) = segs.get(2) else {
                return Err(format!("`module.{m}[...]` must be followed by `.OUTPUT`"));
            };
            walk(sc.module_output(m, Some(&k), out)?, &segs[3..], sc)
        }
        (Some(Seg::Attr(out)), None) => walk(sc.module_output(m, None, out)?, &segs[2..], sc),
        (Some(Seg::Attr(_)), Some(_)) => Err(format!(
            "`module.{m}` has for_each: write `module.{m}[KEY].OUTPUT` or `module.{m}[*].OUTPUT`"
        )),
        (Some(_), None) if sc.unknown_resources() => Ok(unknown()),
        (Some(_), None) => Err(format!(
            "`module.{m}` has no for_each and cannot be indexed"
        )),
        (None, _) => Err(format!("`module.{m}` must be followed by `.OUTPUT`")),
    }
}

fn walk(mut v: Value, segs: &[Seg], sc: &dyn Scope) -> Result<Value, String> {
    for s in segs {
        if contains_unknown(&v) && !v.is_array() && !v.is_object() {
            return Ok(unknown());
        }
        v = match s {
            Seg::Attr(a) => v
                .get(a)
                .cloned()
                .ok_or_else(|| format!("no field `{a}` in {}", short(&v)))?,
            Seg::Index(ix) => {
                let i = eval(ix, sc)?;
                match (&v, &i) {
                    (Value::Array(a), Value::Number(_)) => {
                        let n = as_int(&i)?;
                        a.get(usize::try_from(n).map_err(|_| "negative index")?)
                            .cloned()
                            .ok_or_else(|| format!("index {n} out of range"))?
                    }
                    (Value::Object(o), Value::String(k)) => {
                        o.get(k).cloned().ok_or_else(|| format!("no key `{k}`"))?
                    }
                    _ => return Err(format!("cannot index {} with {}", short(&v), short(&i))),
                }
            }
            Seg::Splat => return Err("`[*]` is only allowed right after a resource name".into()),
        };
    }
    Ok(v)
}

pub(crate) fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 40 {
        format!("{}...", &s[..40])
    } else {
        s
    }
}

pub fn key_string(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) if s == UNKNOWN => {
            Err("a key cannot depend on a value known only after apply".into())
        }
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(format!("{} cannot be used as a key", short(v))),
    }
}

fn as_bool(v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" || s == "false" => Ok(s == "true"),
        _ => Err(format!("{} is not true or false", short(v))),
    }
}

/// `==` and `!=` on any values (a number and its text are equal, as a
/// variable given with `--var` may be either); the others on integers.
fn compare(op: Cmp, l: &Value, r: &Value) -> Result<bool, String> {
    let same = |l: &Value, r: &Value| match (l, r) {
        (Value::Number(a), Value::String(b)) | (Value::String(b), Value::Number(a)) => {
            a.to_string() == *b
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => l == r,
    };
    Ok(match op {
        Cmp::Eq => same(l, r),
        Cmp::Ne => !same(l, r),
        _ => {
            let (a, b) = (as_int(l)?, as_int(r)?);
            match op {
                Cmp::Lt => a < b,
                Cmp::Le => a <= b,
                Cmp::Gt => a > b,
                _ => a >= b,
            }
        }
    })
}

pub(crate) fn as_int(v: &Value) -> Result<i64, String> {
    match v {
        Value::Number(n) => n.as_i64().ok_or_else(|| format!("{n} is not an integer")),
        Value::String(s) => s.parse().map_err(|_| format!("\"{s}\" is not an integer")),
        _ => Err(format!("{} is not an integer", short(v))),
    }
}

pub fn too_long(what: &str) -> String {
    format!(
        "{what}: the string would be longer than {} bytes",
        limits::STRING_BYTES
    )
}

/// The text of a scalar for string interpolation.
pub fn scalar_text(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Ok(String::new()),
        _ => Err(format!("cannot put {} inside a string", short(v))),
    }
}

#[cfg(test)]
mod tests;
