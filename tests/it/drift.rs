//! `provision drift`, once and on a schedule, against moto.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{IpPermission, IpRange, ResourceType, Tag, TagSpecification};

use crate::harness::{Run, World};

const STACK: &str = r#"
stack: drifty
region: us-east-1
resources:
  vpc:
    kind: ec2.vpc
    properties: {cidr_block: 10.20.0.0/16}
  subnet:
    kind: ec2.subnet
    for_each: [a, b]
    properties:
      vpc_id: ${vpc.id}
      availability_zone: us-east-1${each.key}
      cidr_block: ${cidrsubnet("10.20.0.0/16", 8, each.index)}
  web:
    kind: ec2.security_group
    properties:
      name: web
      vpc_id: ${vpc.id}
      ingress:
        - {port: 443, cidr_blocks: [0.0.0.0/0]}
"#;

/// Applies the stack, then changes four things behind provision's back.
async fn drifted() -> (World, String) {
    let w = World::new();
    let s = w
        .write_stack("drifty.yaml", STACK)
        .to_str()
        .unwrap()
        .to_string();
    w.run(&["apply", "-s", &s, "--auto-approve"]).ok();
    let st = w.state("drifty");
    let id = |a: &str| st["resources"][a]["id"].as_str().unwrap().to_string();
    let ec2 = w.ec2().await;
    ec2.authorize_security_group_ingress()
        .group_id(id("web"))
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(IpRange::builder().cidr_ip("203.0.113.0/24").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    ec2.create_tags()
        .resources(id("vpc"))
        .tags(Tag::builder().key("Name").value("renamed-by-hand").build())
        .send()
        .await
        .unwrap();
    ec2.delete_subnet()
        .subnet_id(id("subnet[b]"))
        .send()
        .await
        .unwrap();
    ec2.create_subnet()
        .vpc_id(id("vpc"))
        .cidr_block("10.20.9.0/24")
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Subnet)
                .tags(
                    Tag::builder()
                        .key("provision:stack")
                        .value("drifty")
                        .build(),
                )
                .tags(
                    Tag::builder()
                        .key("provision:address")
                        .value("rogue")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    // A second subnet[a] this state made (its lineage) and recorded nowhere.
    let lineage = st["lineage"].as_str().unwrap();
    ec2.create_subnet()
        .vpc_id(id("vpc"))
        .cidr_block("10.20.8.0/24")
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Subnet)
                .tags(
                    Tag::builder()
                        .key("provision:stack")
                        .value("drifty")
                        .build(),
                )
                .tags(
                    Tag::builder()
                        .key("provision:address")
                        .value("subnet/a")
                        .build(),
                )
                .tags(
                    Tag::builder()
                        .key("provision:lineage")
                        .value(lineage)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    (w, s)
}

#[tokio::test]
async fn drift_reports_exactly_what_changed_outside_and_only_reads() {
    let (w, s) = drifted().await;
    let state_before = std::fs::read(w.dir.path().join(".provision/drifty.state.json")).unwrap();
    let r = w.run(&["drift", "-s", &s, "--json"]);
    r.code(2);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let items = v["items"].as_array().unwrap();
    let summary: Vec<(String, String, String)> = items
        .iter()
        .map(|i| {
            (
                i["class"].as_str().unwrap().to_string(),
                i["address"].as_str().unwrap().to_string(),
                i["property"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let want = |c: &str, a: &str, p: &str| (c.to_string(), a.to_string(), p.to_string());
    assert_eq!(
        summary,
        vec![
            want("deleted", "subnet[b]", ""),
            want("modified", "vpc", "tags"),
            want("modified", "web", "ingress"),
            want("orphan", "subnet[a]", ""),
            want("unmanaged", "rogue", ""),
        ],
        "{}",
        r.stdout
    );
    assert_eq!(
        v["counts"],
        serde_json::json!({"modified": 2, "deleted": 1, "orphan": 1, "unmanaged": 1})
    );
    let tags = &items[1];
    assert!(tags["recorded"].get("Name").is_none());
    assert_eq!(tags["live"]["Name"], "renamed-by-hand");
    assert_eq!(
        tags["diff"],
        serde_json::json!(["+   \"Name\": \"renamed-by-hand\","])
    );
    let ingress_diff = items[2]["diff"].as_array().unwrap();
    assert!(
        ingress_diff
            .iter()
            .any(|l| l.as_str().unwrap().contains("203.0.113.0/24")),
        "{ingress_diff:?}"
    );
    assert_eq!(items[3]["kind"], "ec2.subnet");
    // Read-only: only Describe calls, and state untouched.
    let ops: Vec<&str> = v["api_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["operation"].as_str().unwrap())
        .collect();
    assert!(ops.contains(&"DescribeSecurityGroups"), "{ops:?}");
    // Only the services the stack and state use: an EC2 stack asks EC2 alone.
    let services: Vec<&str> = v["api_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["service"].as_str().unwrap())
        .collect();
    assert!(services.iter().all(|s| *s == "EC2"), "{services:?}");
    assert!(
        ops.iter()
            .all(|o| o.starts_with("Describe") || o.starts_with("List") || o.starts_with("Get")),
        "{ops:?}"
    );
    assert_eq!(
        std::fs::read(w.dir.path().join(".provision/drifty.state.json")).unwrap(),
        state_before
    );

    // Ignore rules silence what is expected.
    let r = w.run(&[
        "drift",
        "-s",
        &s,
        "--json",
        "--ignore",
        "vpc.tags.Name",
        "--ignore",
        "web.ingress",
    ]);
    r.code(2);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        v["counts"],
        serde_json::json!({"modified": 0, "deleted": 1, "orphan": 1, "unmanaged": 1})
    );

    // Text mode, and plan shows drift apart from the YAML's changes.
    w.run(&["drift", "-s", &s])
        .code(2)
        .has("! subnet[b] was deleted outside provision")
        .has("? rogue subnet-")
        .has("exists with this stack's tags but another state made it")
        .has("+   \"Name\": \"renamed-by-hand\",")
        .has("Drift: 2 modified, 1 deleted, 1 orphaned, 1 unmanaged.");
    w.run(&["plan", "-s", &s])
        .ok()
        .has("Changed outside provision since the last apply:")
        .has("~ vpc changed outside provision: tags")
        .has("+ ec2.subnet subnet[b] will be created");

    // After apply puts things back (and deletes the orphan), only the
    // subnet another state made remains.
    w.run(&["apply", "-s", &s, "--auto-approve"]).ok();
    let r = w.run(&["drift", "-s", &s, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        v["counts"],
        serde_json::json!({"modified": 0, "deleted": 0, "orphan": 0, "unmanaged": 1}),
        "{}",
        r.stdout
    );
    w.run(&["drift", "-s", &s, "--ignore", "rogue.*"])
        .code(0)
        .has("No drift");
}

fn http_get(port: u16, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[tokio::test]
async fn scheduled_drift_writes_reports_serves_metrics_and_stops_on_sigterm() {
    let (w, s) = drifted().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let reports = w.dir.path().join("reports");
    let hook = w.dir.path().join("hook.log");
    let mut child = w
        .command(&[
            "drift",
            "-s",
            &s,
            "--every",
            "1s",
            "--jitter",
            "0",
            "--keep",
            "50",
            "--reports",
            reports.to_str().unwrap(),
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
            "--on-drift",
            &format!("echo \"$1\" >> {}; exit 3", hook.display()),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let count = || std::fs::read_dir(&reports).map(|d| d.count()).unwrap_or(0);
    let start = Instant::now();
    while count() < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no third report after 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let metrics = http_get(port, "/metrics");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(
        metrics.contains("provision_drift_resources{stack=\"drifty\",class=\"deleted\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("provision_drift_resources{stack=\"drifty\",class=\"modified\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("provision_drift_last_run_success{stack=\"drifty\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("# TYPE provision_drift_runs_total counter"),
        "{metrics}"
    );
    assert!(http_get(port, "/healthz").ends_with("ok\n"));

    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    let code = loop {
        if let Some(c) = child.try_wait().unwrap() {
            break c;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let r = Run {
        code: code.code().unwrap_or(-1),
        stdout: out,
        stderr: err,
    };
    r.ok()
        .has("drift watch stopped")
        .has("--on-drift command failed");
    // One report and one summary line per round; the hook saw every report.
    let rounds = r
        .stdout
        .lines()
        .filter(|l| l.contains("drifty: Drift: 2 modified, 1 deleted, 1 orphaned, 1 unmanaged."))
        .count();
    assert_eq!(rounds, count(), "{}", r.stdout);
    let hooked = std::fs::read_to_string(&hook).unwrap();
    assert_eq!(hooked.lines().count(), rounds);
    let first: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(hooked.lines().next().unwrap()).unwrap())
            .unwrap();
    assert_eq!(first["drifted"], true);
    assert!(r.stdout.contains(&format!(
        "serving metrics on http://127.0.0.1:{port}/metrics"
    )));
}

/// A subnet and a security group made by hand inside the stack's VPC carry
/// no tags of ours; drift finds them by the VPC, and leaves out what AWS
/// makes itself (the default group, the main route table).
#[tokio::test]
async fn what_was_made_by_hand_inside_a_managed_vpc_is_reported() {
    let w = World::new();
    let s = w.write_stack("drifty.yaml", STACK);
    let s = s.to_str().unwrap();
    w.run(&["apply", "-s", s, "--auto-approve"]).ok();
    w.run(&["drift", "-s", s]).code(0);
    let st = w.state("drifty");
    let vpc = st["resources"]["vpc"]["id"].as_str().unwrap().to_string();
    let ec2 = w.ec2().await;
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.20.7.0/24")
        .send()
        .await
        .unwrap();
    let subnet = subnet.subnet().unwrap().subnet_id().unwrap().to_string();
    let sg = ec2
        .create_security_group()
        .vpc_id(&vpc)
        .group_name("debug-access")
        .description("made by hand")
        .send()
        .await
        .unwrap();
    let sg = sg.group_id().unwrap().to_string();
    let eni = ec2
        .create_network_interface()
        .subnet_id(&subnet)
        .description("debug tap")
        .send()
        .await
        .unwrap();
    let eni = eni
        .network_interface()
        .unwrap()
        .network_interface_id()
        .unwrap()
        .to_string();
    let r = w.run(&["drift", "-s", s]);
    r.code(2)
        .has(&format!(
            "? ec2.subnet {subnet} made outside provision inside vpc ({vpc})"
        ))
        .has(&format!(
            "? ec2.security_group {sg} made outside provision inside vpc"
        ))
        .has(&format!(
            "? ec2.network_interface {eni} made outside provision inside vpc ({vpc}) (\"debug tap\")"
        ))
        .has("Drift: 0 modified, 0 deleted, 0 orphaned, 3 unmanaged.")
        .lacks("default");
    // An ignore rule silences one of them.
    let rule = format!("ec2.subnet[{subnet}].*");
    w.run(&["drift", "-s", s, "--ignore", &rule])
        .code(2)
        .has("2 unmanaged")
        .lacks(&format!("subnet {subnet}"));
}

/// Several stacks and environments in one loop: each checked on the
/// schedule, its reports in a folder of its own, one metrics endpoint with a
/// line per stack and environment.
#[tokio::test]
async fn one_loop_watches_several_stacks_and_environments() {
    let (w, s) = drifted().await;
    // A second stack with a staging environment, applied and clean.
    let calm = w.write_stack(
        "calm.yaml",
        "stack: calm\nregion: us-east-1\nresources:\n  vpc:\n    kind: ec2.vpc\n    properties: {cidr_block: 10.77.0.0/16}\n",
    );
    std::fs::create_dir_all(w.dir.path().join("env")).unwrap();
    std::fs::write(w.dir.path().join("env/staging.yaml"), "{}\n").unwrap();
    let calm = calm.to_str().unwrap();
    w.run(&["apply", "-s", calm, "-e", "staging", "--auto-approve"])
        .ok();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let reports = w.dir.path().join("reports");
    let mut child = w
        .command(&[
            "drift",
            "-s",
            &s,
            "--every",
            "1s",
            "--jitter",
            "0",
            "--reports",
            reports.to_str().unwrap(),
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
            "--also",
            &format!("{calm}@staging"),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let count = |d: &str| {
        std::fs::read_dir(reports.join(d))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let start = Instant::now();
    while count("drifty") < 2 || count("calm.staging") < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "two reports each within 90 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let metrics = http_get(port, "/metrics");
    assert!(
        metrics.contains("provision_drift_resources{stack=\"drifty\",class=\"deleted\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "provision_drift_resources{stack=\"calm\",env=\"staging\",class=\"modified\"} 0"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("provision_drift_last_run_success{stack=\"calm\",env=\"staging\"} 1"),
        "{metrics}"
    );
    assert_eq!(
        metrics
            .matches("# TYPE provision_drift_runs_total counter")
            .count(),
        1,
        "each metric once"
    );
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let start = Instant::now();
    let code = loop {
        if let Some(c) = child.try_wait().unwrap() {
            break c;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "stops on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(code.code(), Some(0));
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(out.contains(" calm (staging): No drift"), "{out}");
    assert!(out.contains("drift watch stopped"), "{out}");
    // A stack named twice is refused.
    w.run(&["drift", "-s", &s, "--every", "1m", "--also", &s])
        .code(1)
        .has("--also: stack drifty is watched twice");
}
