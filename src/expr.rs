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
            Expr::Call(_, args) => args.iter().collect(),
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

/// Splits a string into text and expressions. `$${` writes a literal `${`.
/// Errors carry the character offset inside the string.
pub fn parse_template(s: &str) -> Result<Vec<Part>, (usize, String)> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '$' && chars.get(i + 1) == Some(&'$') && chars.get(i + 2) == Some(&'{') {
            text.push_str("${");
            i += 3;
        } else if chars[i] == '$' && chars.get(i + 1) == Some(&'{') {
            let start = i + 2;
            let mut depth = 0;
            let mut j = start;
            let mut in_str = false;
            while j < chars.len() {
                match chars[j] {
                    '"' => in_str = !in_str,
                    '{' if !in_str => depth += 1,
                    '}' if !in_str => {
                        if depth == 0 {
                            break;
                        }
                        depth -= 1;
                    }
                    _ => {}
                }
                j += 1;
            }
            if j >= chars.len() {
                return Err((i, "unclosed `${`".into()));
            }
            let inner: String = chars[start..j].iter().collect();
            let e = parse_expr(&inner).map_err(|(o, m)| (start + o, m))?;
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            parts.push(Part::Expr(e, i));
            i = j + 1;
        } else {
            text.push(chars[i]);
            i += 1;
        }
    }
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    Ok(parts)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Int(i64),
    Str(String),
    Sym(char),
    /// Two-character operators: `== != <= >= && ||`.
    Op(&'static str),
}

fn lex(s: &str) -> Result<Vec<(usize, Tok)>, (usize, String)> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let st = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let t: String = chars[st..i].iter().collect();
            let n = t
                .parse()
                .map_err(|_| (st, format!("integer `{t}` does not fit in 64 bits")))?;
            out.push((st, Tok::Int(n)));
        } else if c.is_alphabetic() || c == '_' {
            let st = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((st, Tok::Ident(chars[st..i].iter().collect())));
        } else if c == '"' {
            let st = i;
            i += 1;
            let mut v = String::new();
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                }
                v.push(chars[i]);
                i += 1;
            }
            if i >= chars.len() {
                return Err((st, "unclosed string".into()));
            }
            i += 1;
            out.push((st, Tok::Str(v)));
        } else if let Some(op) = ["==", "!=", "<=", ">=", "&&", "||"]
            .into_iter()
            .find(|op| chars[i..].starts_with(&op.chars().collect::<Vec<_>>()))
        {
            out.push((i, Tok::Op(op)));
            i += 2;
        } else if ".[]()*,+-<>!?:".contains(c) {
            out.push((i, Tok::Sym(c)));
            i += 1;
        } else {
            return Err((i, format!("unexpected character `{c}`")));
        }
        if out.len() > limits::EXPR_TOKENS {
            return Err((
                i,
                format!(
                    "expression too long: at most {} tokens in one `${{...}}`",
                    limits::EXPR_TOKENS
                ),
            ));
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    len: usize,
    /// How many `add`s are open: parsing stops before recursion gets deep.
    nest: usize,
}

pub fn parse_expr(s: &str) -> Result<Expr, (usize, String)> {
    let toks = lex(s)?;
    let mut p = Parser {
        toks,
        pos: 0,
        len: s.chars().count(),
        nest: 0,
    };
    if p.toks.is_empty() {
        return Err((0, "empty expression".into()));
    }
    let e = p.add()?;
    if p.pos < p.toks.len() {
        return Err((p.off(), "unexpected token after the expression".into()));
    }
    if depth(&e) > limits::EXPR_DEPTH {
        return Err((0, too_deep()));
    }
    Ok(e)
}

fn too_deep() -> String {
    format!(
        "expression nested too deep: at most {} levels (parentheses, calls, indexes \
         and each operator of a chain count one)",
        limits::EXPR_DEPTH
    )
}

/// The depth of an expression's tree, without recursion (the tree may be
/// deep: the check is what keeps evaluation from overflowing the stack).
fn depth(e: &Expr) -> usize {
    let mut deepest = 0;
    let mut todo = vec![(e, 1)];
    while let Some((e, d)) = todo.pop() {
        deepest = deepest.max(d);
        todo.extend(e.children().into_iter().map(|c| (c, d + 1)));
    }
    deepest
}

impl Parser {
    fn off(&self) -> usize {
        self.toks.get(self.pos).map(|t| t.0).unwrap_or(self.len)
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.1)
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Sym(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: char) -> Result<(), (usize, String)> {
        if self.eat(c) {
            Ok(())
        } else {
            Err((self.off(), format!("expected `{c}`")))
        }
    }
    fn eat_op(&mut self, op: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Op(o)) if *o == op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    /// A whole expression (a nesting level: parentheses, indexes, arguments).
    fn add(&mut self) -> Result<Expr, (usize, String)> {
        self.nest += 1;
        if self.nest > limits::EXPR_DEPTH {
            return Err((self.off(), too_deep()));
        }
        let e = self.cond();
        self.nest -= 1;
        e
    }
    fn cond(&mut self) -> Result<Expr, (usize, String)> {
        let c = self.or()?;
        if !self.eat('?') {
            return Ok(c);
        }
        let a = self.add()?;
        self.expect(':')?;
        let b = self.add()?;
        Ok(Expr::Cond(Box::new(c), Box::new(a), Box::new(b)))
    }
    fn or(&mut self) -> Result<Expr, (usize, String)> {
        let mut l = self.and()?;
        while self.eat_op("||") {
            let r = self.and()?;
            l = Expr::Logic(false, Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn and(&mut self) -> Result<Expr, (usize, String)> {
        let mut l = self.compare()?;
        while self.eat_op("&&") {
            let r = self.compare()?;
            l = Expr::Logic(true, Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn compare(&mut self) -> Result<Expr, (usize, String)> {
        let l = self.sum()?;
        let op = match self.peek() {
            Some(Tok::Op("==")) => Cmp::Eq,
            Some(Tok::Op("!=")) => Cmp::Ne,
            Some(Tok::Op("<=")) => Cmp::Le,
            Some(Tok::Op(">=")) => Cmp::Ge,
            Some(Tok::Sym('<')) => Cmp::Lt,
            Some(Tok::Sym('>')) => Cmp::Gt,
            _ => return Ok(l),
        };
        self.pos += 1;
        let r = self.sum()?;
        Ok(Expr::Cmp(op, Box::new(l), Box::new(r)))
    }
    fn sum(&mut self) -> Result<Expr, (usize, String)> {
        let mut l = self.mul()?;
        loop {
            let op = if self.eat('+') {
                '+'
            } else if self.eat('-') {
                '-'
            } else {
                return Ok(l);
            };
            let r = self.mul()?;
            l = Expr::Bin(op, Box::new(l), Box::new(r));
        }
    }
    fn mul(&mut self) -> Result<Expr, (usize, String)> {
        let mut l = self.postfix()?;
        while self.eat('*') {
            let r = self.postfix()?;
            l = Expr::Bin('*', Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn postfix(&mut self) -> Result<Expr, (usize, String)> {
        let off = self.off();
        match self.toks.get(self.pos).map(|t| t.1.clone()) {
            Some(Tok::Int(n)) => {
                self.pos += 1;
                Ok(Expr::Int(n))
            }
            Some(Tok::Str(s)) => {
                self.pos += 1;
                Ok(Expr::Str(s))
            }
            Some(Tok::Sym('-')) => {
                self.pos += 1;
                self.nest += 1;
                if self.nest > limits::EXPR_DEPTH {
                    return Err((self.off(), too_deep()));
                }
                let e = self.postfix();
                self.nest -= 1;
                Ok(Expr::Bin('-', Box::new(Expr::Int(0)), Box::new(e?)))
            }
            Some(Tok::Sym('!')) => {
                self.pos += 1;
                self.nest += 1;
                if self.nest > limits::EXPR_DEPTH {
                    return Err((self.off(), too_deep()));
                }
                let e = self.postfix();
                self.nest -= 1;
                Ok(Expr::Not(Box::new(e?)))
            }
            Some(Tok::Sym('(')) => {
                self.pos += 1;
                let e = self.add()?;
                self.expect(')')?;
                Ok(e)
            }
            Some(Tok::Ident(name)) if name == "true" || name == "false" => {
                self.pos += 1;
                Ok(Expr::Bool(name == "true"))
            }
            Some(Tok::Ident(name)) if name == "null" => {
                self.pos += 1;
                Ok(Expr::Null)
            }
            Some(Tok::Ident(name)) => {
                self.pos += 1;
                if self.eat('(') {
                    let mut args = Vec::new();
                    if !self.eat(')') {
                        loop {
                            args.push(self.add()?);
                            if self.eat(')') {
                                break;
                            }
                            self.expect(',')?;
                        }
                    }
                    return Ok(Expr::Call(name, args));
                }
                let mut segs = Vec::new();
                loop {
                    if self.eat('.') {
                        match self.toks.get(self.pos).map(|t| t.1.clone()) {
                            Some(Tok::Ident(a)) => {
                                self.pos += 1;
                                segs.push(Seg::Attr(a));
                            }
                            _ => return Err((self.off(), "expected a name after `.`".into())),
                        }
                    } else if self.eat('[') {
                        if self.eat('*') {
                            segs.push(Seg::Splat);
                        } else {
                            segs.push(Seg::Index(self.add()?));
                        }
                        self.expect(']')?;
                    } else {
                        break;
                    }
                }
                Ok(Expr::Ref { root: name, segs })
            }
            _ => Err((
                off,
                "expected a value, a reference or a function call".into(),
            )),
        }
    }
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

fn short(v: &Value) -> String {
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

fn as_int(v: &Value) -> Result<i64, String> {
    match v {
        Value::Number(n) => n.as_i64().ok_or_else(|| format!("{n} is not an integer")),
        Value::String(s) => s.parse().map_err(|_| format!("\"{s}\" is not an integer")),
        _ => Err(format!("{} is not an integer", short(v))),
    }
}

fn call(f: &str, args: &[Value]) -> Result<Value, String> {
    if args.iter().any(contains_unknown) {
        return Ok(unknown());
    }
    match f {
        "cidrsubnet" => {
            let [p, bits, num] = args else {
                return Err("cidrsubnet takes 3 arguments: (prefix, newbits, netnum)".into());
            };
            let p = p.as_str().ok_or("cidrsubnet: prefix must be a string")?;
            cidrsubnet(p, as_int(bits)?, as_int(num)?).map(Value::String)
        }
        "concat" => {
            let mut out = Vec::new();
            for a in args {
                match a {
                    Value::Array(x) => out.extend(x.iter().cloned()),
                    _ => return Err("concat takes lists".into()),
                }
                if out.len() > limits::LIST_ITEMS {
                    return Err(format!("concat: at most {} items", limits::LIST_ITEMS));
                }
            }
            Ok(Value::Array(out))
        }
        "format" => {
            let Some(Value::String(fmt)) = args.first() else {
                return Err("format takes a format string first".into());
            };
            let mut out = String::new();
            let mut rest = args[1..].iter();
            let mut chars = fmt.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '%' && chars.peek() == Some(&'s') {
                    chars.next();
                    let a = rest.next().ok_or("format: too few arguments")?;
                    out.push_str(&scalar_text(a)?);
                } else {
                    out.push(c);
                }
                if out.len() > limits::STRING_BYTES {
                    return Err(too_long("format"));
                }
            }
            Ok(Value::String(out))
        }
        "range" => {
            let (from, to) = match args {
                [n] => (0, as_int(n)?),
                [a, b] => (as_int(a)?, as_int(b)?),
                _ => return Err("range takes (n) or (from, to)".into()),
            };
            if to
                .checked_sub(from)
                .is_none_or(|n| n > limits::LIST_ITEMS as i64)
            {
                return Err(format!("range: at most {} numbers", limits::LIST_ITEMS));
            }
            Ok(Value::Array((from..to).map(Value::from).collect()))
        }
        "setproduct" => {
            let mut size = 1usize;
            for a in args {
                let Value::Array(items) = a else {
                    return Err("setproduct takes lists".into());
                };
                size = size.saturating_mul(items.len());
            }
            if size > limits::LIST_ITEMS {
                return Err(format!(
                    "setproduct: the product has {size} combinations, at most {} allowed",
                    limits::LIST_ITEMS
                ));
            }
            let mut out: Vec<Vec<Value>> = vec![vec![]];
            for a in args {
                let Value::Array(items) = a else {
                    return Err("setproduct takes lists".into());
                };
                out = out
                    .into_iter()
                    .flat_map(|prefix| {
                        items.iter().map(move |x| {
                            let mut p = prefix.clone();
                            p.push(x.clone());
                            p
                        })
                    })
                    .collect();
            }
            Ok(Value::Array(out.into_iter().map(Value::Array).collect()))
        }
        "length" => match args {
            [Value::Array(a)] => Ok(Value::from(a.len())),
            [Value::Object(o)] => Ok(Value::from(o.len())),
            _ => Err("length takes one list or map".into()),
        },
        "slice" => {
            let [Value::Array(a), from, to] = args else {
                return Err("slice takes (list, from, to)".into());
            };
            let (from, to) = (as_int(from)?, as_int(to)?);
            let ok = |n: i64| usize::try_from(n).ok().filter(|&n| n <= a.len());
            match (ok(from), ok(to)) {
                (Some(f), Some(t)) if f <= t => Ok(Value::Array(a[f..t].to_vec())),
                _ => Err(format!(
                    "slice: {from}..{to} is not within the list's {} items",
                    a.len()
                )),
            }
        }
        "zipmap" => {
            let [Value::Array(k), Value::Array(v)] = args else {
                return Err("zipmap takes (list of keys, list of values)".into());
            };
            if k.len() != v.len() {
                return Err(format!("zipmap: {} keys but {} values", k.len(), v.len()));
            }
            let mut m = serde_json::Map::new();
            for (key, val) in k.iter().zip(v) {
                m.insert(key_string(key)?, val.clone());
            }
            Ok(Value::Object(m))
        }
        "keys" | "values" => match args {
            [Value::Object(o)] if f == "keys" => {
                Ok(Value::Array(o.keys().cloned().map(Value::String).collect()))
            }
            [Value::Object(o)] => Ok(Value::Array(o.values().cloned().collect())),
            _ => Err(format!("{f} takes one map")),
        },
        "merge" => {
            let mut m = serde_json::Map::new();
            for a in args {
                let Value::Object(o) = a else {
                    return Err("merge takes maps".into());
                };
                m.extend(o.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            Ok(Value::Object(m))
        }
        "lookup" => match args {
            [Value::Object(o), k] => o
                .get(&key_string(k)?)
                .cloned()
                .ok_or_else(|| format!("lookup: no key {k}")),
            [Value::Object(o), k, default] => Ok(o
                .get(&key_string(k)?)
                .cloned()
                .unwrap_or_else(|| default.clone())),
            _ => Err("lookup takes (map, key) or (map, key, default)".into()),
        },
        "join" => {
            let [Value::String(sep), Value::Array(items)] = args else {
                return Err("join takes (separator, list)".into());
            };
            let parts = items
                .iter()
                .map(scalar_text)
                .collect::<Result<Vec<_>, _>>()?;
            let out = parts.join(sep);
            if out.len() > limits::STRING_BYTES {
                return Err(too_long("join"));
            }
            Ok(Value::String(out))
        }
        "contains" => match args {
            [Value::Array(a), x] => Ok(Value::Bool(a.contains(x))),
            _ => Err("contains takes (list, value)".into()),
        },
        _ => Err(format!(
            "unknown function `{f}` (known: cidrsubnet, concat, contains, format, join, keys, length, lookup, merge, range, setproduct, slice, values, zipmap)"
        )),
    }
}

pub fn too_long(what: &str) -> String {
    format!(
        "{what}: the string would be longer than {} bytes",
        limits::STRING_BYTES
    )
}

/// Terraform-compatible `cidrsubnet`: the `netnum`-th subnet of `prefix` extended by `newbits`.
pub fn cidrsubnet(prefix: &str, newbits: i64, netnum: i64) -> Result<String, String> {
    let net: ipnet::Ipv4Net = prefix
        .parse()
        .map_err(|_| format!("cidrsubnet: `{prefix}` is not an IPv4 CIDR block"))?;
    let new_len = i64::from(net.prefix_len()).saturating_add(newbits);
    if !(0..=32).contains(&new_len) || newbits < 0 {
        return Err(format!(
            "cidrsubnet: cannot extend /{} by {newbits} bits",
            net.prefix_len()
        ));
    }
    let count = 1i64 << newbits;
    if netnum < 0 || netnum >= count {
        return Err(format!(
            "cidrsubnet: netnum {netnum} does not fit in {newbits} new bits (0..{})",
            count - 1
        ));
    }
    let base = u32::from(net.network());
    let host_bits = 32 - new_len as u32;
    let addr = base | ((netnum as u32) << host_bits);
    Ok(format!("{}/{}", std::net::Ipv4Addr::from(addr), new_len))
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
mod tests {
    use super::*;

    #[test]
    fn cidrsubnet_matches_terraform() {
        assert_eq!(cidrsubnet("10.0.0.0/16", 8, 0).unwrap(), "10.0.0.0/24");
        assert_eq!(cidrsubnet("10.0.0.0/16", 8, 12).unwrap(), "10.0.12.0/24");
        assert_eq!(cidrsubnet("10.1.0.0/16", 4, 15).unwrap(), "10.1.240.0/20");
        assert!(cidrsubnet("10.0.0.0/16", 8, 256).is_err());
        assert!(cidrsubnet("10.0.0.0/30", 8, 0).is_err());
    }

    #[test]
    fn hostile_expressions_are_refused_not_crashed_on() {
        let deep = "(".repeat(20_000) + "1" + &")".repeat(20_000);
        assert!(parse_expr(&deep).unwrap_err().1.contains("too long"));
        let deep = "(".repeat(65) + "1" + &")".repeat(65);
        assert!(parse_expr(&deep).unwrap_err().1.contains("too deep"));
        let minus = "-".repeat(100) + "1";
        assert!(parse_expr(&minus).unwrap_err().1.contains("too deep"));
        let chain = vec!["1"; 100].join("+");
        assert!(parse_expr(&chain).unwrap_err().1.contains("too deep"));
        assert!(parse_expr(&vec!["1"; 60].join("+")).is_ok());
        assert!(parse_expr("-3").is_ok());
        let huge = [Value::from(i64::MIN + 1), Value::from(i64::MAX)];
        assert!(call("range", &huge).unwrap_err().contains("at most"));
        let forty = Value::Array((0..40).map(Value::from).collect());
        let five = vec![forty; 5];
        assert!(call("setproduct", &five).unwrap_err().contains("102400000"));
        assert!(cidrsubnet("10.0.0.0/8", i64::MAX, 1).is_err());
        assert!(cidrsubnet("10.0.0.0/8", i64::MIN, 1).is_err());
    }

    #[test]
    fn parses_templates() {
        let p = parse_template("a-${var.x}-$${b}").unwrap();
        assert_eq!(p.len(), 3);
        assert!(matches!(&p[2], Part::Text(t) if t == "-${b}"));
        let e = parse_expr("subnet[each.key].id").unwrap();
        assert!(
            matches!(e, Expr::Ref { ref root, ref segs } if root == "subnet" && segs.len() == 2)
        );
        assert!(parse_expr("cidrsubnet(var.cidr, 8, each.index + 10)").is_ok());
        assert_eq!(
            parse_expr("vpc.").unwrap_err().1,
            "expected a name after `.`"
        );
        assert!(parse_template("${vpc.id").is_err());
    }

    struct Vars;
    impl Scope for Vars {
        fn special(&self, root: &str, name: &str) -> Option<Result<Value, String>> {
            match (root, name) {
                ("var", "env") => Some(Ok(Value::from("staging"))),
                ("var", "n") => Some(Ok(Value::from(3))),
                ("var", "later") => Some(Ok(unknown())),
                _ => None,
            }
        }
        fn resource_attr(&self, _: &str, _: Option<&str>, _: &str) -> Result<Value, String> {
            Ok(unknown())
        }
        fn keys_of(&self, _: &str) -> Result<Option<&[String]>, String> {
            Ok(None)
        }
    }

    fn ev(s: &str) -> Value {
        eval(&parse_expr(s).unwrap(), &Vars).unwrap()
    }

    #[test]
    fn comparisons_booleans_and_conditionals() {
        assert_eq!(ev("var.env == \"production\" ? 3 : 1"), Value::from(1));
        assert_eq!(
            ev("var.n >= 3 && !(var.env != \"staging\")"),
            Value::Bool(true)
        );
        assert_eq!(ev("var.n < 2 || var.n > 2"), Value::Bool(true));
        assert_eq!(
            ev("var.n == \"3\""),
            Value::Bool(true),
            "a number and its text"
        );
        assert_eq!(ev("true ? null : 1"), Value::Null);
        // Unknowns stay unknown, except where the answer does not depend on them.
        assert_eq!(ev("var.later == 1"), unknown());
        assert_eq!(ev("false && var.later"), Value::Bool(false));
        assert_eq!(ev("true || var.later"), Value::Bool(true));
        assert_eq!(ev("var.later ? 2 : 2"), Value::from(2));
        assert_eq!(ev("var.later ? 1 : 2"), unknown());
        // Precedence: arithmetic, then comparison, then && then ||, then ?:.
        assert_eq!(ev("1 + 2 * 3 == 7 || false && false"), Value::Bool(true));
        let err = eval(&parse_expr("var.n ? 1 : 2").unwrap(), &Vars).unwrap_err();
        assert!(err.contains("not true or false"), "{err}");
        assert!(
            parse_expr("var.n ? 1")
                .unwrap_err()
                .1
                .contains("expected `:`")
        );
    }
}
