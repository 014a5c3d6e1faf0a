//! A YAML document as a tree of nodes that remember where they came from.
//!
//! serde-saphyr does the parsing (syntax errors, duplicate keys, anchors);
//! this module only turns its output into [`Node`]s carrying line and column,
//! so that every later check can point at the exact place in the stack file.

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::diag::{Loc, StackError};

/// One YAML node with its location.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys keep their own location and their order of appearance.
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub loc: Loc,
}

impl Node {
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) => "an integer",
            NodeKind::Float(_) => "a number",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }

    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s) => Some(s),
            _ => None,
        }
    }
}

fn loc_of(l: &serde_saphyr::Location) -> Loc {
    Loc {
        line: l.line() as u32,
        col: l.column() as u32,
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Spanned::<NodeKind>::deserialize(d)?;
        Ok(Node {
            kind: s.value,
            loc: loc_of(&s.referenced),
        })
    }
}

impl<'de> Deserialize<'de> for NodeKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KindVisitor)
    }
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = NodeKind;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<NodeKind, E> {
        Ok(NodeKind::Null)
    }
    fn visit_none<E>(self) -> Result<NodeKind, E> {
        Ok(NodeKind::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<NodeKind, D::Error> {
        NodeKind::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<NodeKind, E> {
        Ok(NodeKind::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<NodeKind, E> {
        Ok(NodeKind::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<NodeKind, E> {
        i64::try_from(v)
            .map(NodeKind::Int)
            .map_err(|_| E::custom("integer too large"))
    }
    fn visit_f64<E>(self, v: f64) -> Result<NodeKind, E> {
        Ok(NodeKind::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<NodeKind, E> {
        Ok(NodeKind::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<NodeKind, E> {
        Ok(NodeKind::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeKind, A::Error> {
        let mut out = Vec::new();
        while let Some(n) = seq.next_element::<Node>()? {
            out.push(n);
        }
        Ok(NodeKind::Seq(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeKind, A::Error> {
        let mut out: Vec<(Key, Node)> = Vec::new();
        let mut seen: HashMap<String, Loc> = HashMap::new();
        while let Some(k) = map.next_key::<Spanned<String>>()? {
            let v = map.next_value::<Node>()?;
            let loc = loc_of(&k.referenced);
            if let Some(first) = seen.insert(k.value.clone(), loc) {
                return Err(de::Error::custom(format!(
                    "duplicate key `{}` at line {} column {} (first defined at line {} column {})",
                    k.value, loc.line, loc.col, first.line, first.col
                )));
            }
            out.push((Key { name: k.value, loc }, v));
        }
        Ok(NodeKind::Map(out))
    }
}

/// Nodes in a stack file: room for 50,000 resources written out one by one.
const YAML_NODES: usize = 4_000_000;
/// Lists and mappings inside each other: a WAF rule needs about a dozen;
/// each level costs stack in the parser.
const YAML_DEPTH: usize = 32;
/// Events aliases may replay: a few hundred thousand is plenty for anchors
/// that share a block of tags, and stops an alias bomb early.
const ALIAS_EVENTS: usize = 200_000;

/// Parses one YAML document. Syntax errors carry the file, line and column.
pub fn parse(file: &str, src: &str) -> Result<Node, StackError> {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_nodes = YAML_NODES;
    budget.max_events = 2 * YAML_NODES;
    budget.max_depth = YAML_DEPTH;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = ALIAS_EVENTS;
    serde_saphyr::from_str_with_options::<Node>(src, options).map_err(|e| {
        let loc = e
            .location()
            .map(|l| loc_of(&l))
            .unwrap_or(Loc { line: 1, col: 1 });
        let msg = e.without_snippet().to_string();
        // serde-saphyr appends its own position; ours is in the prefix already.
        let mut msg = strip_position_suffix(&msg);
        if msg.starts_with("recursion limit exceeded") || msg.contains("Depth {") {
            msg = format!("lists and mappings nested too deep: at most {YAML_DEPTH} levels");
        } else if msg.starts_with("alias replay limit exceeded") {
            msg =
                format!("aliases expand to more than {ALIAS_EVENTS} YAML events (an alias bomb?)");
        } else if let Some(what) = msg.strip_prefix("budget breached: ") {
            let what = what.split([' ', '{']).next().unwrap_or(what);
            msg = format!(
                "the YAML is too large for provision's limits ({what}: at most 4,000,000 \
                 nodes, 50,000 aliases and anchors, 64 MiB of text)"
            );
        } else if let Some(k) = msg.strip_prefix("duplicate mapping key: ") {
            let k = k.split(',').next().unwrap_or(k);
            msg = format!("duplicate key `{k}`: each name may appear only once in a mapping");
        }
        StackError::at(file, loc, msg)
    })
}

fn strip_position_suffix(msg: &str) -> String {
    let first = msg.lines().next().unwrap_or(msg).trim();
    match first.rfind(" at line ") {
        Some(i) if first[i..].contains("column") => first[..i].to_string(),
        _ => first.to_string(),
    }
}
