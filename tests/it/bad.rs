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
