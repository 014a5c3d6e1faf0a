//! What a person at a terminal sees: colour on a terminal (run under a
//! pseudo-terminal with util-linux `script`), none when piped, with
//! `NO_COLOR` or with `--no-color`.

use std::process::Command;

use crate::harness::World;

const STACK: &str = "stack: colours\nresources:\n  vpc:\n    kind: ec2.vpc\n    properties: {cidr_block: 10.7.0.0/16}\n";

/// The plan's output as a terminal receives it.
fn under_a_terminal(w: &World, extra_env: &[(&str, &str)], flags: &str) -> String {
    in_a_terminal(w, extra_env, &format!("{flags} plan -s colours.yaml"))
}

/// A command's output as a terminal receives it.
fn in_a_terminal(w: &World, extra_env: &[(&str, &str)], args: &str) -> String {
    let bin = env!("CARGO_BIN_EXE_provision");
    let mut c = Command::new("script");
    c.args(["-qec", &format!("{bin} {args}"), "/dev/null"])
        .current_dir(w.dir.path())
        .env("AWS_ENDPOINT_URL", w.endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE");
    for (k, v) in extra_env {
        c.env(k, v);
    }
    let out = c.output().unwrap_or_else(|e| {
        panic!(
            "cannot run `script` (util-linux) to make a pseudo-terminal: {e}; install util-linux"
        )
    });
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn plans_are_coloured_on_a_terminal_only() {
    let w = World::new();
    w.write_stack("colours.yaml", STACK);
    let green = "\u{1b}[32m  + ec2.vpc vpc will be created";
    let tty = under_a_terminal(&w, &[], "");
    assert!(tty.contains(green), "{tty:?}");
    assert!(tty.contains("\u{1b}[32m      + cidr_block"), "{tty:?}");
    // A spinner while live state is read, cleared before the plan.
    assert!(tty.contains("reading what is live"), "{tty:?}");
    let no_color = under_a_terminal(&w, &[("NO_COLOR", "1")], "");
    assert!(
        no_color.contains("  + ec2.vpc vpc will be created"),
        "{no_color:?}"
    );
    // No colour (the spinner still moves the cursor: ESC[2K clears its line).
    assert!(!no_color.contains("\u{1b}[3"), "{no_color:?}");
    let flag = under_a_terminal(&w, &[], "--no-color");
    assert!(!flag.contains("\u{1b}[3"), "{flag:?}");
    let piped = w.run(&["plan", "-s", "colours.yaml"]);
    piped
        .ok()
        .has("  + ec2.vpc vpc will be created")
        .lacks("reading what is live");
    assert!(!piped.stdout.contains('\u{1b}'));
}

#[tokio::test]
async fn plan_draws_the_graph_coloured_by_action() {
    let w = World::new();
    let s = w.write_stack("colours.yaml", STACK);
    w.run(&["apply", "-s", "colours.yaml", "--auto-approve"])
        .ok();
    w.edit(
        &s,
        "properties: {cidr_block: 10.7.0.0/16}\n",
        "properties: {cidr_block: 10.7.0.0/16, tags: {Team: courts}}\n  \
         net:\n    kind: ec2.subnet\n    properties: {vpc_id: '${vpc.id}', cidr_block: 10.7.1.0/24, \
         availability_zone: us-east-1a}\n",
    );
    w.run(&["plan", "-s", "colours.yaml", "--graph", "plan.dot"])
        .ok();
    let dot = std::fs::read_to_string(w.dir.path().join("plan.dot")).unwrap();
    assert!(
        dot.contains("\"vpc\" [label=\"vpc\\nec2.vpc\", style=filled, fillcolor=\"#fbefb0\", tooltip=\"update\"]"),
        "{dot}"
    );
    assert!(dot.contains("tooltip=\"create\""), "{dot}");
    assert!(dot.contains("\"vpc\" -> \"net\""), "{dot}");
    assert!(dot.contains("cluster_legend"), "{dot}");
}

#[tokio::test]
async fn apply_shows_progress_on_a_terminal_and_plain_lines_elsewhere() {
    let w = World::new();
    w.write_stack(
        "colours.yaml",
        &STACK.replace(
            "properties: {cidr_block: 10.7.0.0/16}\n",
            "properties: {cidr_block: 10.7.0.0/16}\n  net:\n    kind: ec2.subnet\n    \
             properties: {vpc_id: '${vpc.id}', cidr_block: 10.7.1.0/24, availability_zone: us-east-1a}\n",
        ),
    );
    let tty = in_a_terminal(&w, &[], "apply -s colours.yaml --auto-approve");
    // The bar: done/total, then what is in flight; a line per finished operation.
    assert!(tty.contains("0/2 ["), "{tty:?}");
    assert!(tty.contains("in flight: vpc"), "{tty:?}");
    assert!(tty.contains("vpc: created after"), "{tty:?}");
    assert!(
        tty.contains("Apply complete: 2 operations succeeded."),
        "{tty:?}"
    );
    assert!(!tty.contains("vpc: creating..."), "{tty:?}");
    let piped = w.run(&["destroy", "-s", "colours.yaml", "--auto-approve"]);
    piped
        .ok()
        .has("net: deleting...")
        .has("net: deleted after")
        .lacks("in flight");
}
