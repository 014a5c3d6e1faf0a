//! `provision graph`: the dependency graph as DOT, JSON or SVG.

use std::io::Write;
use std::process::{Command, Stdio};

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

pub fn run(c: &Common, format: Format) -> Result<i32> {
    let stack = load_stack(&c.stack, &c.vars)?;
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

/// Renders DOT to SVG with Graphviz's `dot`, when it is installed.
pub fn dot_to_svg(dot: &str) -> Result<String> {
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::other(format!(
                "cannot run Graphviz `dot` ({e}); install it (apt-get install graphviz) or use --format dot"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(dot.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(Error::other(format!(
            "dot failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}
