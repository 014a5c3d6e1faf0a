//! The dependency graph of a stack (petgraph): order, cycles, and drawings.

use std::collections::BTreeMap;
use std::collections::HashMap;

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};

use crate::stack::{Instance, Stack};

/// Edges point from a dependency to its dependent.
fn build(instances: &[Instance]) -> (DiGraph<usize, ()>, Vec<NodeIndex>) {
    let mut g = DiGraph::new();
    let idx: Vec<NodeIndex> = (0..instances.len()).map(|i| g.add_node(i)).collect();
    let by_addr: HashMap<&str, usize> = instances
        .iter()
        .enumerate()
        .map(|(i, x)| (x.address.as_str(), i))
        .collect();
    for (i, inst) in instances.iter().enumerate() {
        for d in &inst.deps {
            if let Some(&j) = by_addr.get(d.as_str()) {
                g.add_edge(idx[j], idx[i], ());
            }
        }
    }
    (g, idx)
}

/// Instances in an order where each comes after its dependencies; stable
/// (file order) among independent ones. On a cycle, returns its addresses
/// with the first repeated at the end.
pub fn topo_order(instances: &[Instance]) -> Result<Vec<usize>, Vec<String>> {
    let (g, _) = build(instances);
    if toposort(&g, None).is_err() {
        for scc in tarjan_scc(&g) {
            let self_loop = scc.len() == 1 && g.contains_edge(scc[0], scc[0]);
            if scc.len() > 1 || self_loop {
                return Err(cycle_path(&g, &scc, instances));
            }
        }
    }
    // Kahn's algorithm picking the lowest file index first, for a stable order.
    let mut indeg: Vec<usize> = g
        .node_indices()
        .map(|n| {
            g.neighbors_directed(n, petgraph::Direction::Incoming)
                .count()
        })
        .collect();
    let mut ready: std::collections::BTreeSet<usize> =
        (0..instances.len()).filter(|&i| indeg[i] == 0).collect();
    let mut out = Vec::with_capacity(instances.len());
    while let Some(i) = ready.pop_first() {
        out.push(i);
        for n in g.neighbors(NodeIndex::new(i)) {
            let j = n.index();
            indeg[j] -= 1;
            if indeg[j] == 0 {
                ready.insert(j);
            }
        }
    }
    Ok(out)
}

fn cycle_path(g: &DiGraph<usize, ()>, scc: &[NodeIndex], inst: &[Instance]) -> Vec<String> {
    // Walk inside the component until a node repeats.
    let inside: std::collections::HashSet<NodeIndex> = scc.iter().copied().collect();
    let start = *scc.iter().min_by_key(|n| g[**n]).expect("non-empty");
    let mut path = vec![start];
    let mut cur = start;
    loop {
        let next = g
            .neighbors(cur)
            .filter(|n| inside.contains(n))
            .min_by_key(|n| g[*n])
            .expect("a cycle continues");
        if let Some(pos) = path.iter().position(|&p| p == next) {
            let mut c: Vec<String> = path[pos..]
                .iter()
                .map(|n| inst[g[*n]].address.clone())
                .collect();
            c.push(inst[g[next]].address.clone());
            return c;
        }
        path.push(next);
        cur = next;
    }
}

/// Graphviz DOT, one node per instance, edges from dependency to dependent.
pub fn dot(stack: &Stack) -> String {
    dot_marked(stack, &BTreeMap::new(), &[])
}

/// What a plan does to a node of the graph, for `plan --graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Create,
    Update,
    Replace,
    Delete,
    Unchanged,
}

impl Mark {
    fn style(self) -> (&'static str, &'static str) {
        match self {
            Mark::Create => ("#c8f0c8", "create"),
            Mark::Update => ("#fbefb0", "update"),
            Mark::Replace => ("#e9c8f0", "replace"),
            Mark::Delete => ("#f5c0c0", "delete"),
            Mark::Unchanged => ("#ffffff", "no change"),
        }
    }
}

/// DOT with every node filled by what the plan does to it; `gone` are
/// (address, kind) of objects the plan deletes that the stack no longer has.
pub fn dot_marked(
    stack: &Stack,
    marks: &BTreeMap<String, Mark>,
    gone: &[(String, String)],
) -> String {
    let mut out = format!(
        "digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n",
        stack.name
    );
    let node = |out: &mut String, address: &str, kind: &str, mark: Option<Mark>| {
        let style = mark.map_or(String::new(), |m| {
            let (fill, what) = m.style();
            format!(", style=filled, fillcolor=\"{fill}\", tooltip=\"{what}\"")
        });
        out.push_str(&format!(
            "  \"{address}\" [label=\"{address}\\n{kind}\"{style}];\n"
        ));
    };
    for inst in stack.ordered() {
        let mark = marks.get(&inst.address).copied();
        node(&mut out, &inst.address, inst.kind.name, mark);
    }
    for (address, kind) in gone {
        node(&mut out, address, kind, Some(Mark::Delete));
    }
    if !marks.is_empty() {
        out.push_str("  subgraph cluster_legend {\n    label=\"plan\";\n");
        for m in [Mark::Create, Mark::Update, Mark::Replace, Mark::Delete] {
            let (fill, what) = m.style();
            out.push_str(&format!(
                "    \"legend: {what}\" [label=\"{what}\", style=filled, fillcolor=\"{fill}\"];\n"
            ));
        }
        out.push_str("  }\n");
    }
    for inst in stack.ordered() {
        for d in &inst.deps {
            out.push_str(&format!("  \"{d}\" -> \"{}\";\n", inst.address));
        }
    }
    out.push_str("}\n");
    out
}

/// JSON: `{"nodes":[{"address","kind"}],"edges":[{"from","to"}]}`.
pub fn json(stack: &Stack) -> serde_json::Value {
    let nodes: Vec<_> = stack
        .ordered()
        .map(|i| serde_json::json!({"address": i.address, "kind": i.kind.name}))
        .collect();
    let edges: Vec<_> = stack
        .ordered()
        .flat_map(|i| {
            i.deps
                .iter()
                .map(move |d| serde_json::json!({"from": d, "to": i.address}))
        })
        .collect();
    serde_json::json!({"stack": stack.name, "nodes": nodes, "edges": edges})
}
