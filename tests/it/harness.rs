//! Test harness: a moto server per test on a free 127.0.0.1 port, a scratch
//! folder, and a way to run the `provision` binary against both.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    child: Child,
    pub url: String,
    pub port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where moto_server is: $MOTO_SERVER, the project's virtualenv, or nowhere.
fn moto_server() -> PathBuf {
    if let Some(p) = std::env::var_os("MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let venv = std::env::var_os("PROVISION_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv"));
    let p = venv.join("bin/moto_server");
    if p.exists() {
        return p;
    }
    panic!(
        "\n\nThe AWS emulator is not installed: {} does not exist.\n\
         Fix: run `scripts/setup-moto.sh` (installs moto[server] from PyPI into .venv),\n\
         or set MOTO_SERVER to a moto_server binary.\n",
        p.display()
    );
}

/// Copies a folder's files (and folders) into another.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Moto {
    pub fn start() -> Moto {
        let bin = moto_server();
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            let log = std::env::temp_dir().join(format!("provision-moto-{port}.log"));
            let child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                // ACM issues a DNS-validated certificate after this many
                // seconds (AWS: once it sees the record; moto: 60 s by default).
                .env("MOTO_ACM_VALIDATION_WAIT", "2")
                // AWS's managed policies exist (moto loads them only when asked).
                .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot start {}: {e}\nFix: run scripts/setup-moto.sh",
                        bin.display()
                    )
                });
            let mut m = Moto {
                child,
                url: format!("http://127.0.0.1:{port}"),
                port,
            };
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(30) {
                if let Ok(Some(status)) = m.child.try_wait() {
                    last = format!(
                        "moto_server exited with {status}: {}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                    break;
                }
                if m.get("/moto-api/").is_some() {
                    return m;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            if last.is_empty() {
                last = format!("moto_server did not answer on port {port} within 30 s");
            }
            let _ = m.child.kill();
        }
        panic!("cannot start the AWS emulator: {last}\nFix: run scripts/setup-moto.sh");
    }

    fn get(&mut self, path: &str) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        out.starts_with("HTTP/").then_some(out)
    }
}

/// What the reference stack (`stacks/three-az.yaml`) turns off against
/// moto 5.1.22, as `scripts/demo.sh` does: each variable's description there
/// says what the emulator lacks.
pub const REFERENCE_OFF: [&str; 10] = [
    "--var",
    "health_check=false",
    "--var",
    "standby_database=false",
    "--var",
    "documents_replica_key=false",
    "--var",
    "backup_selection=false",
    "--var",
    "alarms=false",
];

/// One test's world: an emulator, maybe the strict layer in front of it,
/// and a folder holding stacks and state.
pub struct World {
    pub proxy: Option<crate::strict::Proxy>,
    pub moto: Moto,
    pub dir: tempfile::TempDir,
}

impl World {
    pub fn new() -> World {
        World {
            proxy: None,
            moto: Moto::start(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A world whose AWS behaves as `cfg` says (see `strict`): provision talks
    /// to the strict layer, which talks to the emulator.
    pub fn strict(cfg: crate::strict::Strict) -> World {
        let moto = Moto::start();
        World {
            proxy: Some(crate::strict::Proxy::start(&moto.url, cfg)),
            moto,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Where provision sends its calls.
    pub fn endpoint(&self) -> &str {
        self.proxy.as_ref().map_or(&self.moto.url, |p| &p.url)
    }

    pub fn layer(&self) -> &crate::strict::Proxy {
        self.proxy.as_ref().expect("a strict world")
    }

    /// Copies an example or stack of the repository into the scratch folder.
    /// A stack of `stacks/` comes with the repository's `modules/` and its
    /// `env/` files, laid out as in the repository (`stacks/NAME.yaml`).
    pub fn stack_from(&self, rel: &str) -> PathBuf {
        let src = std::fs::read_to_string(repo().join(rel)).unwrap();
        let name = Path::new(rel).file_name().unwrap().to_str().unwrap();
        if rel.starts_with("stacks/") {
            copy_dir(&repo().join("modules"), &self.dir.path().join("modules"));
            copy_dir(
                &repo().join("stacks/env"),
                &self.dir.path().join("stacks/env"),
            );
            let p = self.dir.path().join("stacks").join(name);
            std::fs::write(&p, &src).unwrap();
            return p;
        }
        self.write_stack(name, &src)
    }

    pub fn write_stack(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn edit(&self, path: &Path, from: &str, to: &str) {
        let t = std::fs::read_to_string(path).unwrap();
        assert!(t.contains(from), "{from:?} not in {}", path.display());
        std::fs::write(path, t.replacen(from, to, 1)).unwrap();
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let out = self.command(args).output().unwrap();
        Run::from(out)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        // PROVISION_BIN: another build of the binary (scripts/bench.sh --release).
        let bin = std::env::var("PROVISION_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_provision").to_string());
        let mut c = Command::new(bin);
        c.args(args)
            .current_dir(self.dir.path())
            .env("AWS_ENDPOINT_URL", self.endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_MAX_ATTEMPTS", "2")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .stdin(Stdio::null());
        c
    }

    async fn sdk(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.moto.url)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_ec2::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .load()
            .await
    }

    pub async fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.sdk().await)
    }

    /// An SDK configuration whose calls go through the strict layer (as
    /// provision's do): to show a test's premise, what the layer refuses.
    pub async fn sdk_through_layer(&self) -> aws_config::SdkConfig {
        self.sdk()
            .await
            .into_builder()
            .endpoint_url(self.endpoint())
            .build()
    }

    /// The emulator's SDK configuration in another region (moto keeps each
    /// region apart).
    pub async fn sdk_in(&self, region: &str) -> aws_config::SdkConfig {
        self.sdk()
            .await
            .into_builder()
            .region(aws_config::Region::new(region.to_string()))
            .build()
    }

    pub async fn ec2_in(&self, region: &str) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.sdk_in(region).await)
    }

    /// The scratch folder the commands run in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// An EC2 client whose calls go through the strict layer, as provision's do.
    pub async fn ec2_through_the_layer(&self) -> aws_sdk_ec2::Client {
        let sdk = self
            .sdk()
            .await
            .into_builder()
            .endpoint_url(self.endpoint())
            .build();
        aws_sdk_ec2::Client::new(&sdk)
    }

    pub async fn elbv2(&self) -> aws_sdk_elasticloadbalancingv2::Client {
        aws_sdk_elasticloadbalancingv2::Client::new(&self.sdk().await)
    }

    pub async fn rds(&self) -> aws_sdk_rds::Client {
        aws_sdk_rds::Client::new(&self.sdk().await)
    }

    pub async fn elasticache(&self) -> aws_sdk_elasticache::Client {
        aws_sdk_elasticache::Client::new(&self.sdk().await)
    }

    pub async fn efs(&self) -> aws_sdk_efs::Client {
        aws_sdk_efs::Client::new(&self.sdk().await)
    }

    pub async fn wafv2(&self) -> aws_sdk_wafv2::Client {
        aws_sdk_wafv2::Client::new(&self.sdk().await)
    }

    pub async fn shield(&self) -> aws_sdk_shield::Client {
        aws_sdk_shield::Client::new(&self.sdk().await)
    }

    pub async fn route53(&self) -> aws_sdk_route53::Client {
        aws_sdk_route53::Client::new(&self.sdk().await)
    }

    pub async fn acm(&self) -> aws_sdk_acm::Client {
        aws_sdk_acm::Client::new(&self.sdk().await)
    }

    pub async fn kms(&self) -> aws_sdk_kms::Client {
        aws_sdk_kms::Client::new(&self.sdk().await)
    }

    pub async fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk().await)
    }

    pub async fn guardduty(&self) -> aws_sdk_guardduty::Client {
        aws_sdk_guardduty::Client::new(&self.sdk().await)
    }

    pub async fn s3(&self) -> aws_sdk_s3::Client {
        let cfg = aws_sdk_s3::config::Builder::from(&self.sdk().await)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(cfg)
    }

    /// The state of a stack written in the scratch folder, or in its
    /// `stacks/` (see [`World::stack_from`]).
    pub fn state(&self, stack_name: &str) -> serde_json::Value {
        let file = format!("{stack_name}.state.json");
        let top = self.dir.path().join(".provision").join(&file);
        let p = if top.exists() {
            top
        } else {
            self.dir.path().join("stacks/.provision").join(&file)
        };
        let st = provision::state::LocalStore::new(p)
            .load()
            .unwrap()
            .unwrap();
        serde_json::to_value(st).unwrap()
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).to_string(),
            stderr: String::from_utf8_lossy(&o.stderr).to_string(),
        }
    }
}

impl Run {
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "exit {}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
    #[track_caller]
    pub fn code(&self, c: i32) -> &Self {
        assert_eq!(
            self.code, c,
            "exit {}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
    #[track_caller]
    pub fn has(&self, s: &str) -> &Self {
        assert!(
            self.stdout.contains(s) || self.stderr.contains(s),
            "expected {s:?} in output\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
    #[track_caller]
    pub fn lacks(&self, s: &str) -> &Self {
        assert!(
            !self.stdout.contains(s) && !self.stderr.contains(s),
            "did not expect {s:?} in output\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}
