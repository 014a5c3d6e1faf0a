//! `provision plan`: what apply would change, attribute by attribute.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Common;
use crate::diag::{Error, Result};
use crate::model::Plan;
use crate::render;
use crate::session::Session;
use crate::state;

/// The format of saved plans this provision writes and reads.
pub const PLAN_FORMAT: u32 = 2;

/// A saved plan: the plan, the stack it was made from, and the state it was made against.
#[derive(Debug, Serialize, Deserialize)]
pub struct PlanFile {
    pub format: u32,
    pub stack_file: String,
    pub stack_source: String,
    pub vars: Vec<(String, String)>,
    pub lineage: Option<String>,
    pub serial: u64,
    pub plan: Plan,
}

impl PlanFile {
    pub fn read(path: &std::path::Path) -> Result<PlanFile> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::other(format!("cannot read plan {}: {e}", path.display())))?;
        let not_a_plan =
            |e: String| Error::other(format!("{} is not a provision plan: {e}", path.display()));
        let v: Value = serde_json::from_str(&text).map_err(|e| not_a_plan(e.to_string()))?;
        let format = v.get("format").and_then(Value::as_u64).unwrap_or(0);
        if format != u64::from(PLAN_FORMAT) {
            return Err(Error::other(format!(
                "{} was saved by another version of provision (plan format {format}, this one reads {PLAN_FORMAT}): make a new plan",
                path.display()
            )));
        }
        serde_json::from_value(v).map_err(|e| not_a_plan(e.to_string()))
    }
}

/// `provision show PLANFILE`: a saved plan, as `plan` showed it (or as
/// JSON), with what it was made from; no AWS call, no state read.
pub fn show(path: &std::path::Path, json: bool) -> Result<i32> {
    let f = PlanFile::read(path)?;
    if json {
        let mut v = render::json::plan(&f.plan);
        v["saved"] = serde_json::json!({
            "stack_file": f.stack_file,
            "vars": f.vars,
            "lineage": f.lineage,
            "serial": f.serial,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(0);
    }
    println!(
        "Saved plan of {} against state serial {}{}:\n",
        f.stack_file,
        f.serial,
        f.lineage
            .as_deref()
            .map(|l| format!(" (lineage {l})"))
            .unwrap_or_default()
    );
    super::show(&render::plan(&f.plan));
    Ok(0)
}

pub struct PlanOpts {
    pub controls: super::Controls,
    pub detailed_exitcode: bool,
    pub json: bool,
    pub out: Option<PathBuf>,
    /// Draw the graph with each node coloured by its planned action
    /// (`.svg` drawn in process, anything else as DOT).
    pub graph: Option<PathBuf>,
}

/// The plan drawn on the dependency graph.
fn draw(stack: &crate::stack::Stack, p: &Plan, path: &std::path::Path) -> Result<()> {
    use crate::graph::Mark;
    use crate::model::Action;
    let mut marks = std::collections::BTreeMap::new();
    let mut gone = Vec::new();
    for c in &p.changes {
        let mark = match c.action {
            Action::Create => Mark::Create,
            Action::Update => Mark::Update,
            Action::DeleteThenCreate | Action::CreateThenDelete => Mark::Replace,
            Action::Delete | Action::DeleteDeposed | Action::DeleteOrphan | Action::Forget => {
                Mark::Delete
            }
            Action::NoOp | Action::Adopt | Action::Accept => Mark::Unchanged,
            Action::Import => Mark::Update,
        };
        if stack.instance(&c.address).is_some() {
            marks.entry(c.address.clone()).or_insert(mark);
        } else if mark == Mark::Delete {
            gone.push((c.address.clone(), c.kind.clone()));
        }
    }
    for i in &stack.instances {
        marks.entry(i.address.clone()).or_insert(Mark::Unchanged);
    }
    let dot = crate::graph::dot_marked(stack, &marks, &gone);
    let text = if path.extension().is_some_and(|e| e == "svg") {
        super::graph::dot_to_svg(&dot)?
    } else {
        dot
    };
    std::fs::write(path, text)
        .map_err(|e| Error::other(format!("cannot write {}: {e}", path.display())))
}

/// `provision plan`. Returns the exit status.
pub async fn run(c: &Common, o: &PlanOpts) -> Result<i32> {
    // Where the plan or the graph go is checked before AWS is asked anything.
    for path in o.out.iter().chain(&o.graph) {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
            && !dir.is_dir()
        {
            return Err(Error::other(format!(
                "cannot write {}: the folder {} does not exist",
                path.display(),
                dir.display()
            )));
        }
    }
    let s = Session::open(c).await?;
    let code = s.locked("plan", planned(&s, o)).await;
    super::let_go(s.stack);
    code
}

async fn planned(s: &Session, o: &PlanOpts) -> Result<i32> {
    let st = s.state().await?;
    let (lineage, serial) = (
        st.as_ref().map(|s| s.lineage.clone()),
        st.as_ref().map(|s| s.serial).unwrap_or(0),
    );
    let cloud = s.connect().await?;
    let planned = super::make_plan(s, &cloud, st, &o.controls).await;
    s.stats(&cloud);
    let (p, base) = planned?;
    super::let_go(base);
    if o.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&render::json::plan(&p)).unwrap_or_default()
        );
    } else {
        super::show(&render::plan(&p));
    }
    if let Some(path) = &o.graph {
        draw(&s.stack, &p, path)?;
    }
    if let Some(path) = &o.out {
        let f = PlanFile {
            format: PLAN_FORMAT,
            stack_file: s.stack.file.clone(),
            stack_source: s.stack.source.clone(),
            vars: s.opts.vars.clone(),
            lineage,
            serial,
            plan: p.clone(),
        };
        let text = serde_json::to_string_pretty(&f).unwrap_or_default();
        state::write_atomic(path, text.as_bytes())?;
        if !o.json {
            let p = path.display();
            println!("\nSaved the plan to {p}. Apply exactly this plan with: provision apply {p}");
        }
    }
    if let Some(why) = p.refusal() {
        eprintln!("error: {why}: apply would refuse this plan");
        return Ok(1);
    }
    let code = if o.detailed_exitcode && p.has_changes() {
        2
    } else {
        0
    };
    super::let_go(p);
    Ok(code)
}
