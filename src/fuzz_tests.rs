//! Property-based tests: no stack file, however broken or hostile, makes
//! `load`, `validate` or `plan` panic, abort or hang. Every input gives a
//! stack or an error that names a place in the file.
//!
//! Three generators: the real stacks and examples mutated (bytes cut,
//! fragments of YAML and expressions inserted, lines repeated), random
//! expressions put into a small stack, and random text given to the
//! expression parser. Each case runs on its own thread with a deadline, so a
//! hang fails the test instead of stalling it. Cases per generator:
//! `PROVISION_FUZZ_CASES` (default 200; scripts/soak-fuzz.sh runs more).
//! A case that aborts the process (a stack overflow) cannot be caught: run
//! with `PROVISION_FUZZ_LAST=FILE` to keep it, then replay it (see [`replay`]).

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::diag::Error;
use crate::model::Refreshed;
use crate::plan;

/// A case that takes longer than this hangs (a debug build on a busy machine
/// loads the reference stack in well under a second).
const DEADLINE: Duration = Duration::from_secs(20);

fn cases() -> u32 {
    std::env::var("PROVISION_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        max_shrink_time: 60_000,
        ..Config::default()
    })
}

/// Loads, and plans what loads, on a thread of the default (small) stack size.
fn exercise(src: String) -> Result<(), TestCaseError> {
    let (tx, rx) = mpsc::channel();
    let shown = crate::diag::clip(&src, 400);
    if let Ok(path) = std::env::var("PROVISION_FUZZ_LAST") {
        let _ = std::fs::write(path, &src);
    }
    std::thread::Builder::new()
        .stack_size(4 << 20)
        .spawn(move || {
            let r = std::panic::catch_unwind(|| outcome(&src));
            let _ = tx.send(r);
        })
        .map_err(|e| TestCaseError::fail(format!("cannot start a thread: {e}")))?;
    match rx.recv_timeout(DEADLINE) {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(why))) => Err(TestCaseError::fail(format!("{why}\ninput:\n{shown}"))),
        Ok(Err(_)) => Err(TestCaseError::fail(format!("panicked on:\n{shown}"))),
        Err(_) => Err(TestCaseError::fail(format!(
            "no answer within {DEADLINE:?} on:\n{shown}"
        ))),
    }
}

static LOADED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static PLANNED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static REFUSED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn outcome(src: &str) -> Result<(), String> {
    use std::sync::atomic::Ordering::Relaxed;
    match crate::stack::load("fuzz.yaml", src, &[]) {
        Ok(stack) => {
            LOADED.fetch_add(1, Relaxed);
            if let Ok(p) = plan::plan(&stack, None, &Refreshed::default()) {
                PLANNED.fetch_add(1, Relaxed);
                let _ = crate::render::plan(&p);
                let _ = crate::render::json::plan(&p);
            }
            Ok(())
        }
        Err(e @ Error::Stack { .. }) => {
            let Error::Stack { errors, .. } = &e else {
                unreachable!()
            };
            if errors.is_empty() {
                return Err("a stack error without a message".into());
            }
            if let Some(bad) = errors
                .iter()
                .find(|x| x.loc.line == 0 || x.message.is_empty() || x.file != "fuzz.yaml")
            {
                return Err(format!("an error without a place or a message: {bad:?}"));
            }
            let _ = e.render();
            REFUSED.fetch_add(1, Relaxed);
            Ok(())
        }
        Err(other) => Err(format!("not a stack error: {other}")),
    }
}

/// What the cases did, for `--nocapture` (the counters are shared by the tests).
fn report(what: &str) {
    use std::sync::atomic::Ordering::Relaxed;
    eprintln!(
        "{what}: so far {} loaded ({} planned), {} refused with a place",
        LOADED.load(Relaxed),
        PLANNED.load(Relaxed),
        REFUSED.load(Relaxed)
    );
}

/// Every stack the project ships: the seeds that mutations start from.
fn seeds() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    // The stacks that load come four times: mutations of them reach further.
    for dir in [
        "stacks",
        "examples",
        "stacks",
        "examples",
        "stacks",
        "examples",
        "stacks",
        "examples",
        "tests/bad",
    ] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        for f in files {
            if f.extension().is_some_and(|x| x == "yaml")
                && let Ok(text) = std::fs::read_to_string(&f)
            {
                out.push(text);
            }
        }
    }
    out
}

/// What mutations insert: YAML structure, expressions near every limit,
/// reserved tags, odd characters.
const FRAGMENTS: &[&str] = &[
    "${",
    "}",
    "[",
    "]",
    "{",
    ": ",
    "- ",
    "\n",
    "\n  ",
    "\t",
    "&a ",
    "*a",
    "<<: *a",
    "'",
    "\"",
    "#",
    "!!binary ",
    "~",
    "\u{0}",
    "é",
    "🦀",
    "9223372036854775808",
    "-9223372036854775808",
    "1e309",
    ".nan",
    "10.0.0.0/33",
    "256.0.0.0/8",
    "${range(0 - 9223372036854775807, 9223372036854775807)}",
    "${range(10001)}",
    "${setproduct(range(100), range(100), range(100))}",
    "${concat(range(9999), range(9999))}",
    "${cidrsubnet(\"10.0.0.0/16\", 9223372036854775807, 1)}",
    "${cidrsubnet(\"10.0.0.0/16\", 8, -1)}",
    "${format(\"%s%s%s\", 1)}",
    "${9223372036854775807 * 2}",
    "${0 - 9223372036854775807 - 2}",
    "${((((((((((((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))))))))))))))}",
    "${each.key}",
    "${each.value}",
    "${each.index}",
    "${var.nope}",
    "${vpc.id}",
    "${vpc[*].id}",
    "${public[\"x\"].id}",
    "${length(var.x)}",
    "for_each: ${range(3)}\n    ",
    "depends_on: [vpc]\n    ",
    "enabled: false\n    ",
    "lifecycle: {create_before_destroy: true, ignore_changes: [tags]}\n    ",
    "timeouts: {create: 1h, in_use: 99999999999999h}\n    ",
    "tags: {\"provision:stack\": other}\n    ",
    "tags: {\"aws:x\": y}\n    ",
    "kind: ec2.nope\n    ",
    "region: \"\"\n",
    "backend: {bucket: b}\n",
];

#[derive(Debug, Clone)]
enum Mutation {
    Insert(u32, usize),
    Cut(u32, u16),
    RepeatLine(u32, u8),
    Random(u32, String),
    /// A value (after `: `) replaced by a fragment.
    Value(u32, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => (any::<u32>(), 0..FRAGMENTS.len()).prop_map(|(at, f)| Mutation::Insert(at, f)),
        1 => (any::<u32>(), 1u16..64).prop_map(|(at, n)| Mutation::Cut(at, n)),
        1 => (any::<u32>(), 1u8..40).prop_map(|(at, n)| Mutation::RepeatLine(at, n)),
        1 => (any::<u32>(), ".{0,12}").prop_map(|(at, s)| Mutation::Random(at, s)),
        3 => (any::<u32>(), 0..FRAGMENTS.len()).prop_map(|(at, f)| Mutation::Value(at, f)),
    ]
}

/// A char boundary of `s` near `at` (a fraction of its length).
fn boundary(s: &str, at: u32) -> usize {
    let mut i = (at as usize) % (s.len() + 1);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(mut s: String, m: &Mutation) -> String {
    match m {
        Mutation::Insert(at, f) => s.insert_str(boundary(&s, *at), FRAGMENTS[*f]),
        Mutation::Random(at, r) => s.insert_str(boundary(&s, *at), r),
        Mutation::Cut(at, n) => {
            let a = boundary(&s, *at);
            let b = boundary(&s, (a + *n as usize).min(s.len()) as u32);
            if b > a {
                s.replace_range(a..b, "");
            }
        }
        Mutation::Value(at, f) => {
            let a = boundary(&s, *at);
            if let Some(i) = s[a..].find(": ") {
                let start = a + i + 2;
                let end = s[start..].find('\n').map_or(s.len(), |j| start + j);
                s.replace_range(start..end, FRAGMENTS[*f]);
            }
        }
        Mutation::RepeatLine(at, n) => {
            let a = boundary(&s, *at);
            let start = s[..a].rfind('\n').map_or(0, |i| i + 1);
            let end = s[a..].find('\n').map_or(s.len(), |i| a + i + 1);
            let line = s[start..end].to_string();
            s.insert_str(end, &line.repeat(*n as usize));
        }
    }
    s
}

#[test]
fn mutated_stacks_load_or_fail_with_a_place() {
    let seeds = seeds();
    assert!(seeds.len() >= 20, "the seeds are the shipped stacks");
    let strategy = (0..seeds.len(), prop::collection::vec(mutation(), 1..4));
    runner()
        .run(&strategy, |(i, ms)| {
            let src = ms.iter().fold(seeds[i].clone(), apply);
            exercise(src)
        })
        .unwrap();
    report("mutated stacks");
}

/// Expressions from the language's own pieces, nested at random.
fn expression() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (0i64..20).prop_map(|n| n.to_string()),
        Just("9223372036854775807".to_string()),
        "\"[a-z0-9./%]{0,6}\"".prop_map(|s| s),
        prop::sample::select(vec![
            "var.l",
            "var.n",
            "var.m",
            "var.s",
            "each.key",
            "each.value",
            "each.index",
            "vpc.id",
            "vpc.cidr_block",
            "net[*].id",
            "var.nope",
            "nope.id",
            "net.id",
        ])
        .prop_map(str::to_string),
    ];
    leaf.prop_recursive(6, 64, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|a| format!("({a})")),
            (
                inner.clone(),
                prop::sample::select(vec!['+', '-', '*']),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            (
                prop::sample::select(vec![
                    "cidrsubnet",
                    "concat",
                    "format",
                    "length",
                    "range",
                    "setproduct",
                    "nope",
                ]),
                prop::collection::vec(inner.clone(), 0..4)
            )
                .prop_map(|(f, args)| format!("{f}({})", args.join(", "))),
            (inner.clone(), inner).prop_map(|(a, i)| format!("{a}[{i}]")),
        ]
    })
}

fn stack_with(for_each: &str, cidr: &str, tag: &str) -> String {
    let q = |e: &str| serde_json::Value::String(format!("${{{e}}}"));
    format!(
        "stack: fuzz
variables:
  l: {{default: [a, b, c]}}
  n: {{default: 3}}
  m: {{default: {{k: v, w: x}}}}
  s: {{default: \"10.0.0.0/16\"}}
resources:
  vpc:
    kind: ec2.vpc
    properties: {{cidr_block: 10.0.0.0/16}}
  net:
    kind: ec2.subnet
    for_each: {}
    properties:
      vpc_id: ${{vpc.id}}
      availability_zone: us-east-1a
      cidr_block: {}
      tags: {{Name: {}}}
",
        q(for_each),
        q(cidr),
        serde_json::Value::String(format!("n-${{{tag}}}"))
    )
}

/// One expression of a stack: often one that works there, else a random one.
fn sometimes(good: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(good).prop_map(str::to_string),
        2 => expression(),
    ]
}

#[test]
fn random_expressions_in_a_stack_evaluate_or_fail_with_a_place() {
    let for_each = sometimes(&[
        "var.l",
        "var.m",
        "range(var.n)",
        "range(1, 4)",
        "setproduct(var.l, range(2))",
        "concat(var.l, [])",
    ]);
    let cidr = sometimes(&[
        "cidrsubnet(var.s, 8, each.index)",
        "cidrsubnet(vpc.cidr_block, 8, each.index + 1)",
        "format(\"10.0.%s.0/24\", each.index)",
    ]);
    let tag = sometimes(&[
        "each.key",
        "var.n * 2 - 1",
        "length(var.l)",
        "format(\"%s\", var.s)",
    ]);
    let strategy = (for_each, cidr, tag);
    runner()
        .run(&strategy, |(a, b, c)| exercise(stack_with(&a, &b, &c)))
        .unwrap();
    report("random expressions");
}

#[test]
fn random_text_parses_or_fails_with_an_offset() {
    let strategy = prop_oneof![
        "[-+*/(),.\\[\\]\"a-z0-9 ${}]{0,200}",
        ".{0,100}",
        (1usize..30_000).prop_map(|n| "${".to_string()
            + &"(".repeat(n)
            + "1"
            + &")".repeat(n)
            + "}"),
        (1usize..30_000).prop_map(|n| format!("${{{}}}", vec!["1"; n].join("+"))),
        (1usize..30_000).prop_map(|n| "${".to_string()
            + &"a[".repeat(n)
            + "0"
            + &"]".repeat(n)
            + "}"),
        (1usize..30_000).prop_map(|n| "${".to_string() + &"f(".repeat(n) + &")".repeat(n) + "}"),
    ];
    runner()
        .run(&strategy, |text| {
            let t = text.clone();
            let (tx, rx) = mpsc::channel();
            std::thread::Builder::new()
                .stack_size(4 << 20)
                .spawn(move || {
                    let r = std::panic::catch_unwind(|| {
                        let len = t.chars().count();
                        match crate::expr::parse_template(&t) {
                            Ok(_) => true,
                            Err((off, msg)) => off <= len && !msg.is_empty(),
                        }
                    });
                    let _ = tx.send(r);
                })
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            match rx.recv_timeout(DEADLINE) {
                Ok(Ok(true)) => Ok(()),
                Ok(Ok(false)) => Err(TestCaseError::fail("an error offset outside the text")),
                Ok(Err(_)) => Err(TestCaseError::fail("panicked")),
                Err(_) => Err(TestCaseError::fail("no answer in time")),
            }
        })
        .unwrap();
}

/// `PROVISION_FUZZ_REPLAY=FILE cargo test --lib fuzz_tests::replay -- --ignored` runs one
/// saved case (`PROVISION_FUZZ_LAST=FILE` saves each case before it runs, so a
/// case that aborts the process is left there).
#[test]
#[ignore = "a tool, not a check: replays the case PROVISION_FUZZ_REPLAY names"]
fn replay() {
    if let Ok(p) = std::env::var("PROVISION_FUZZ_REPLAY") {
        let src = std::fs::read_to_string(&p).expect("PROVISION_FUZZ_REPLAY names a readable file");
        exercise(src).unwrap();
    } else {
        panic!("set PROVISION_FUZZ_REPLAY to the file of the case to replay");
    }
}

#[test]
fn the_stack_of_random_expressions_loads_with_good_ones() {
    let src = stack_with("var.l", "cidrsubnet(var.s, 8, each.index)", "1");
    if let Err(e) = crate::stack::load("fuzz.yaml", &src, &[]) {
        panic!("{}\n{src}", e.render());
    }
}
