//! `provision graph`: the dependency graph as DOT, JSON or SVG.

use super::Common;
use crate::diag::{Error, Result};
use crate::graph;
use crate::session::load_stack;

#[derive(Debug, Clone, Copy)]
pub enum Format {
    Dot,
    Json,
    Svg,
}

/// Draws the graph without reading anything: copies that depend on a data
/// source (one subnet per zone the region has) are left out; `plan --graph`
/// draws them, having read it.
pub async fn run(c: &Common, format: Format) -> Result<i32> {
    let stack = load_stack(c)?;
    match format {
        Format::Dot => print!("{}", graph::dot(&stack)),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&graph::json(&stack)).unwrap_or_default()
        ),
        Format::Svg => print!("{}", dot_to_svg(&graph::dot(&stack))?),
    }
    Ok(0)
}

/// Renders DOT to SVG in process (layout-rs: no Graphviz needed; for
/// Graphviz's own drawing, `--format dot | dot -Tsvg`).
pub fn dot_to_svg(dot: &str) -> Result<String> {
    use layout::backends::svg::SVGWriter;
    use layout::gv::{DotParser, GraphBuilder};
    let ast = DotParser::new(dot)
        .process()
        .map_err(|e| Error::other(format!("internal: the graph's DOT did not parse: {e}")))?;
    let mut builder = GraphBuilder::new();
    builder.visit_graph(&ast);
    let mut graph = builder.get();
    let mut svg = SVGWriter::new();
    graph.do_it(false, false, false, &mut svg);
    Ok(svg.finalize())
}

#[cfg(test)]
mod tests {
    /// The reference stack drawn without Graphviz: every resource is in the picture.
    #[test]
    fn the_reference_stack_draws_as_svg() {
        let src = include_str!("../../tests/fixtures/three-az-flat.yaml");
        let stack = crate::stack::load("tests/fixtures/three-az-flat.yaml", src, &[]).unwrap();
        let svg = super::dot_to_svg(&crate::graph::dot(&stack)).unwrap();
        assert!(svg.starts_with("<?xml") && svg.trim_end().ends_with("</svg>"));
        for i in &stack.instances {
            let label = format!(">{}<", i.address);
            assert!(svg.contains(&label), "{} is not drawn", i.address);
        }
    }
}
