//! Every stack in tests/bad/ fails `validate` with exit 1 and exactly the
//! error in its `.err` file (first line of stderr, after "error: ").

use std::path::Path;
use std::process::Command;

#[test]
fn bad_stacks_give_their_exact_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad");
    let mut checked = 0;
    let mut wrong = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for path in names
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
    {
        let name = path.file_name().unwrap().to_str().unwrap();
        let want = std::fs::read_to_string(path.with_extension("err"))
            .unwrap_or_else(|_| panic!("{name} has no .err file beside it"));
        let out = Command::new(env!("CARGO_BIN_EXE_provision"))
            .args(["validate", "-s", name])
            .current_dir(&dir)
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let got = stderr
            .lines()
            .next()
            .unwrap_or("")
            .trim_start_matches("error: ");
        if out.status.code() != Some(1) || got != want.trim() {
            wrong.push(format!(
                "{name}: exit {:?}\n  want: {}\n  got:  {got}",
                out.status.code(),
                want.trim()
            ));
        }
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} bad stacks found");
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn every_example_and_stack_validates_and_draws() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for dir in ["examples", "stacks"] {
        let Ok(rd) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.extension().is_none_or(|x| x != "yaml") {
                continue;
            }
            let out = Command::new(env!("CARGO_BIN_EXE_provision"))
                .args(["validate", "-s", p.to_str().unwrap()])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: {}",
                p.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                out.stdout.is_empty() && out.stderr.is_empty(),
                "validate prints nothing on success"
            );
            let g = Command::new(env!("CARGO_BIN_EXE_provision"))
                .args(["graph", "-s", p.to_str().unwrap(), "--format", "json"])
                .output()
                .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&g.stdout).unwrap();
            assert!(!v["nodes"].as_array().unwrap().is_empty());
            n += 1;
        }
    }
    assert!(n >= 1);
}

fn provision(args: &[&str]) -> (i32, String, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_provision"))
        .args(args)
        .current_dir(root)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn var_errors_point_into_the_stack_and_into_the_value() {
    let s = "examples/network.yaml";
    let (code, _, err) = provision(&["validate", "-s", s, "--var", "az=[a]"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with(
            "error: examples/network.yaml:13:3: --var az: the stack declares no variable `az`, \
             did you mean `azs`? (it declares: azs, vpc_cidr, app_port)"
        ),
        "{err}"
    );
    let (code, _, err) = provision(&["validate", "-s", s, "--var", "azs=[a"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("examples/network.yaml:13:3: --var azs=[a: "),
        "{err}"
    );
    assert!(err.contains("(column 1 of the value)"), "{err}");
    assert!(!err.contains(":0:0:"), "{err}");
}

#[test]
fn stack_state_and_var_flags_are_taken_wherever_they_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("none.json");
    let state = state.to_str().unwrap();
    let s = "examples/network.yaml";
    // After the subcommand of `state`, before it, and before `validate`.
    for args in [
        vec!["state", "list", "--state", state, "-s", s],
        vec!["state", "--state", state, "-s", s, "list"],
        vec!["-s", s, "--var", "app_port=8080", "validate"],
        vec!["validate", "--var", "app_port=8080", "-s", s],
    ] {
        let (code, _, err) = provision(&args);
        assert_eq!(code, 0, "{args:?}: {err}");
    }
}

#[test]
fn completions_cover_every_command_for_three_shells() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = provision(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        for word in [
            "plan",
            "apply",
            "destroy",
            "drift",
            "force-unlock",
            "lock-timeout",
            "endpoint-url",
        ] {
            assert!(out.contains(word), "{shell} completion lacks {word}");
        }
    }
}
