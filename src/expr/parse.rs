//! Parsing: a string's text and `${...}` parts, and an expression's tokens
//! into an [`Expr`], within the limits on tokens and depth (checked before
//! the tree can grow deep enough to overflow the stack).

use super::{Cmp, Expr, Part, Seg};
use crate::limits;

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
            Some(Tok::Sym('[')) => {
                self.pos += 1;
                let mut items = Vec::new();
                if !self.eat(']') {
                    loop {
                        items.push(self.add()?);
                        if self.eat(']') {
                            break;
                        }
                        self.expect(',')?;
                    }
                }
                Ok(Expr::List(items))
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
