//! The command line: parses arguments and calls one `commands::` function.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use provision::commands::plan::PlanOpts;
use provision::commands::state::StateOp;
use provision::commands::{self, ApplyOpts, Common};
use provision::diag::Error;
use provision::session::Interrupt;

#[derive(Parser)]
#[command(
    name = "provision",
    version,
    about = "Plan, apply, destroy and watch AWS infrastructure written as YAML"
)]
struct Cli {
    /// Send every AWS call to this endpoint (for example a local emulator).
    #[arg(long, global = true, value_name = "URL")]
    endpoint_url: Option<String>,
    /// Print the AWS API calls made, per service and operation.
    #[arg(long, global = true)]
    stats: bool,
    /// No colour, even on a terminal (NO_COLOR=1 does the same).
    #[arg(long, global = true)]
    no_color: bool,
    /// Wait this long (for example 2m) for a lock another run holds, instead of failing at once.
    #[arg(long, global = true, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "0s")]
    lock_timeout: std::time::Duration,
    // The stack, its variables and its state mean the same to every command:
    // they are taken before or after the command's name (`state list --state x`).
    #[command(flatten)]
    s: StackArgs,
    #[command(flatten)]
    st: StateArgs,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct StackArgs {
    /// The stack file.
    #[arg(
        short = 's',
        long = "stack",
        default_value = "stack.yaml",
        global = true
    )]
    stack: PathBuf,
    /// Set a variable: NAME=VALUE (VALUE is read as YAML, so [a, b] is a list); wins over var files.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var, global = true)]
    vars: Vec<(String, String)>,
    /// Variables from a YAML file (NAME: VALUE); repeatable, later files win.
    #[arg(long = "var-file", value_name = "FILE", global = true)]
    var_files: Vec<PathBuf>,
    /// The environment: loads env/NAME.yaml beside the stack as a var file, and keeps a
    /// state (and objects) of its own.
    #[arg(short = 'e', long = "env", value_name = "NAME", global = true)]
    env: Option<String>,
}

#[derive(Args, Clone)]
struct StateArgs {
    /// The state file (default: .provision/STACK.state.json beside the stack file).
    #[arg(long, global = true)]
    state: Option<PathBuf>,
    /// The region of the state's S3 bucket (default: the backend's `region:`, else the
    /// stack's): the standby region's replica of the state during a failover.
    #[arg(long = "state-region", value_name = "REGION", global = true)]
    state_region: Option<String>,
}

#[derive(Args, Clone)]
struct RunArgs {
    /// Do not ask for confirmation.
    #[arg(long)]
    auto_approve: bool,
    /// How many resource operations may run at once (1 or more).
    #[arg(long, default_value_t = 10, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1000))]
    parallelism: usize,
}

/// What plan and apply can be narrowed or turned to.
#[derive(Args, Clone)]
struct ControlArgs {
    /// Only this resource (a module's address: all of it) and what it depends on; repeatable.
    /// The rest is not looked at: a warning says so.
    #[arg(long = "target", value_name = "ADDRESS")]
    targets: Vec<String>,
    /// Replace this object though nothing of it changed (a broken instance); repeatable.
    #[arg(long = "replace", value_name = "ADDRESS")]
    replace: Vec<String>,
    /// Accept what changed outside provision into state; write nothing in AWS.
    #[arg(long, conflicts_with_all = ["targets", "replace"])]
    refresh_only: bool,
    /// Check the plan against these rules before anything is applied: a policy FILE, or
    /// `baseline` (the built-in set); repeatable, beside the stack's own `policy:`.
    #[arg(long = "policy", value_name = "FILE|baseline")]
    policies: Vec<String>,
}

impl ControlArgs {
    fn controls(&self) -> commands::Controls {
        commands::Controls {
            targets: self.targets.clone(),
            replace: self.replace.clone(),
            refresh_only: self.refresh_only,
            policies: self.policies.clone(),
        }
    }
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("`{s}` is not NAME=VALUE"))
}

#[derive(Clone, Copy, ValueEnum)]
enum GraphFormat {
    Dot,
    Json,
    Svg,
}

#[derive(Subcommand)]
enum StateCmd {
    /// Addresses, kinds and ids.
    List,
    /// One resource as recorded.
    Show { address: String },
    /// Forget resources without deleting them.
    Rm {
        #[arg(required = true)]
        addresses: Vec<String>,
    },
    /// Rename an address (after renaming it in the YAML), recreating nothing.
    Mv { from: String, to: String },
    /// Stored versions of the state (S3 with versioning).
    History,
    /// Print the state, or one stored version of it.
    Pull {
        #[arg(long)]
        version: Option<String>,
    },
    /// Write a state file (a backup, an earlier pull) as the state: refused when it is
    /// another lineage's or older than the state, unless --force.
    Push {
        from: PathBuf,
        #[arg(long)]
        force: bool,
    },
    /// Copy the state to another place: a path or s3://BUCKET/KEY.
    Migrate {
        #[arg(long, value_name = "PATH_OR_S3_URL")]
        to: PathBuf,
        /// Overwrite a state that is there already.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum Cmd {
    /// Parse and check a stack; print nothing on success.
    Validate,
    /// Show what apply would change, attribute by attribute.
    Plan {
        /// Exit 0 when there is nothing to change, 2 when there is, 1 on error.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Print the plan as JSON (see docs/plan-json.md).
        #[arg(long)]
        json: bool,
        /// Save the plan, to apply exactly it later.
        #[arg(short = 'o', long = "out", value_name = "PLANFILE")]
        out: Option<PathBuf>,
        /// Draw the dependency graph with each resource coloured by its planned action:
        /// FILE.svg or FILE.dot.
        #[arg(long, value_name = "FILE")]
        graph: Option<PathBuf>,
        #[command(flatten)]
        ctl: ControlArgs,
    },
    /// Make the live infrastructure match the stack (or a saved plan).
    Apply {
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        ctl: ControlArgs,
        /// A plan saved with `plan -o`.
        plan_file: Option<PathBuf>,
    },
    /// Delete everything the stack's state records, dependents first.
    Destroy {
        #[command(flatten)]
        run: RunArgs,
    },
    /// Compare what is live with the last apply: modified, deleted, unmanaged.
    /// Read-only. Exit 0 no drift, 2 drift, 1 error.
    Drift {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Do not report this change: ADDRESS.PROPERTY[.KEY]; ADDRESS may be `*` or `name[*]`.
        #[arg(long = "ignore", value_name = "ADDRESS.PROPERTY")]
        ignore: Vec<String>,
        /// Check on a schedule (for example 5m) until SIGINT or SIGTERM.
        #[arg(long, value_name = "DURATION", value_parser = interval)]
        every: Option<std::time::Duration>,
        /// With --every: vary each interval by up to this many percent.
        #[arg(long, value_name = "PERCENT", default_value_t = 10, value_parser = clap::value_parser!(u8).range(0..=100))]
        jitter: u8,
        /// With --every: folder for the JSON reports (default .provision/drift-reports beside the stack).
        #[arg(long, value_name = "DIR")]
        reports: Option<PathBuf>,
        /// With --every: how many reports to keep.
        #[arg(long, default_value_t = 100)]
        keep: usize,
        /// With --every: serve Prometheus metrics on /metrics and /healthz at this address.
        #[arg(long, value_name = "ADDR")]
        metrics_addr: Option<std::net::SocketAddr>,
        /// With --every: run this shell command when drift is found; the report path is $1.
        #[arg(long, value_name = "COMMAND")]
        on_drift: Option<String>,
        /// With --every: watch this stack too, in the same loop (shared clients, one metrics
        /// endpoint labelled by stack and environment); FILE or FILE@ENV; repeatable.
        #[arg(long = "also", value_name = "FILE[@ENV]", requires = "every")]
        also: Vec<String>,
    },
    /// Release a stale lock (left by a killed run), only if LOCK_ID is its id.
    ForceUnlock { lock_id: String },
    /// Read and change the state without touching AWS.
    State {
        #[command(subcommand)]
        op: StateCmd,
    },
    /// Record an existing AWS resource under an address of the stack, or (--discover)
    /// list resources no stack owns and suggest YAML for them.
    Import {
        /// List resources in the account and region that carry no stack's ownership tags.
        #[arg(long, conflicts_with_all = ["address", "id"])]
        discover: bool,
        /// The address in the stack, for example vpc or public[us-east-1a].
        #[arg(required_unless_present = "discover")]
        address: Option<String>,
        /// The AWS id (vpc-..., an ARN, a name: what the kind's `id` is).
        #[arg(required_unless_present = "discover")]
        id: Option<String>,
    },
    /// Show a plan saved with `plan -o` (no AWS call, no state read).
    Show {
        plan_file: PathBuf,
        /// As JSON (docs/plan-json.md), with what it was made against.
        #[arg(long)]
        json: bool,
    },
    /// Print the stack's outputs as the last apply recorded them (sensitive ones masked);
    /// NAME prints one value raw, for scripts.
    Output {
        name: Option<String>,
        /// All outputs as one JSON object (sensitive values included).
        #[arg(long)]
        json: bool,
    },
    /// Print a JSON Schema of the stack format (or, --module, of a module's files) for
    /// editors: with the YAML language server, `# yaml-language-server: $schema=FILE`.
    Schema {
        #[arg(long)]
        module: bool,
    },
    /// Print a shell completion script: `provision completions bash > /etc/bash_completion.d/provision`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the dependency graph.
    Graph {
        #[arg(long, value_enum, default_value = "dot")]
        format: GraphFormat,
    },
}

/// `--every`: a duration of at least a second (0s would run rounds back to back).
fn interval(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d < std::time::Duration::from_secs(1) {
        return Err(
            "the interval must be at least 1s (drift is usually checked every 5m to 1h)".into(),
        );
    }
    Ok(d)
}

fn common(cli: &Cli, i: &Interrupt) -> Common {
    Common {
        stack: cli.s.stack.clone(),
        state: cli.st.state.clone(),
        state_region: cli.st.state_region.clone(),
        vars: cli.s.vars.clone(),
        var_files: cli.s.var_files.clone(),
        env: cli.s.env.clone(),
        endpoint_url: cli.endpoint_url.clone(),
        stats: cli.stats,
        lock_timeout: cli.lock_timeout,
        interrupt: i.clone(),
    }
}

/// SIGINT (Ctrl-C) and SIGTERM: the first raises the interrupt (nothing new
/// starts; what runs finishes and is recorded; the lock is released); the
/// second exits at once (state is written atomically, so it stays whole).
fn on_signals(interrupt: Interrupt) {
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        loop {
            let t = async {
                match term.as_mut() {
                    Some(t) => t.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = t => {}
            }
            if interrupt.raise() {
                eprintln!(
                    "\nInterrupted: nothing new starts; waits stop now, state is saved and the lock released. Interrupt again to stop at once."
                );
            } else {
                let released = provision::interrupt::release_now().await;
                eprintln!(
                    "\nStopped at once{}.",
                    if released { " (lock released)" } else { "" }
                );
                std::process::exit(130);
            }
        }
    });
}

fn apply_opts(r: &RunArgs, ctl: Option<&ControlArgs>, i: &Interrupt) -> ApplyOpts {
    ApplyOpts {
        controls: ctl.map(ControlArgs::controls).unwrap_or_default(),
        auto_approve: r.auto_approve,
        parallelism: r.parallelism,
        cancel: i.flag(),
    }
}

async fn run(cli: Cli, i: Interrupt) -> Result<i32, Error> {
    match &cli.cmd {
        Cmd::Validate => commands::validate(&common(&cli, &i)),
        Cmd::Plan {
            detailed_exitcode,
            json,
            out,
            graph,
            ctl,
        } => {
            let o = PlanOpts {
                controls: ctl.controls(),
                detailed_exitcode: *detailed_exitcode,
                json: *json,
                out: out.clone(),
                graph: graph.clone(),
            };
            commands::plan::run(&common(&cli, &i), &o).await
        }
        Cmd::Apply {
            run,
            ctl,
            plan_file,
        } => {
            let o = apply_opts(run, Some(ctl), &i);
            commands::apply::run(&common(&cli, &i), &o, plan_file.as_deref()).await
        }
        Cmd::Destroy { run } => {
            let o = apply_opts(run, None, &i);
            commands::destroy::run(&common(&cli, &i), &o).await
        }
        Cmd::Drift {
            json,
            ignore,
            every,
            jitter,
            reports,
            keep,
            metrics_addr,
            on_drift,
            also,
        } => {
            let o = commands::drift::DriftOpts {
                json: *json,
                ignore: ignore.clone(),
                every: every.map(|every| provision::watch::WatchOpts {
                    every,
                    jitter_percent: *jitter,
                    reports: reports.clone(),
                    keep: *keep,
                    metrics_addr: *metrics_addr,
                    on_drift: on_drift.clone(),
                    also: also.clone(),
                }),
            };
            commands::drift::run(&common(&cli, &i), &o).await
        }
        Cmd::ForceUnlock { lock_id } => {
            commands::state::force_unlock(&common(&cli, &i), lock_id).await
        }
        Cmd::State { op } => {
            let op = match op {
                StateCmd::List => StateOp::List,
                StateCmd::Show { address } => StateOp::Show(address.clone()),
                StateCmd::Rm { addresses } => StateOp::Rm(addresses.clone()),
                StateCmd::Mv { from, to } => StateOp::Mv(from.clone(), to.clone()),
                StateCmd::History => StateOp::History,
                StateCmd::Pull { version } => StateOp::Pull(version.clone()),
                StateCmd::Migrate { to, force } => StateOp::Migrate {
                    to: to.clone(),
                    force: *force,
                },
                StateCmd::Push { from, force } => StateOp::Push {
                    from: from.clone(),
                    force: *force,
                },
            };
            commands::state::run(&common(&cli, &i), op).await
        }
        Cmd::Import {
            discover,
            address,
            id,
        } => {
            let c = common(&cli, &i);
            match (discover, address, id) {
                (true, _, _) => commands::import::discover(&c).await,
                (false, Some(address), Some(id)) => commands::import::run(&c, address, id).await,
                _ => Err(Error::other("import needs ADDRESS and ID, or --discover")),
            }
        }
        Cmd::Show { plan_file, json } => commands::plan::show(plan_file, *json),
        Cmd::Output { name, json } => {
            commands::output::run(&common(&cli, &i), name.as_deref(), *json).await
        }
        Cmd::Schema { module } => commands::schema(*module),
        Cmd::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            clap_complete::generate(*shell, &mut cmd, "provision", &mut std::io::stdout());
            Ok(0)
        }
        Cmd::Graph { format } => {
            let format = match format {
                GraphFormat::Dot => commands::graph::Format::Dot,
                GraphFormat::Json => commands::graph::Format::Json,
                GraphFormat::Svg => commands::graph::Format::Svg,
            };
            commands::graph::run(&common(&cli, &i), format).await
        }
    }
}

/// A plan builds and drops millions of small JSON values: at 10,002 objects
/// glibc's trimming of the heap and its mmap of large blocks (given back at
/// each free, faulted in again at the next) were a tenth of a no-op plan's
/// CPU. A command is short-lived: it keeps what it freed for reuse.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TOP_PAD, 16 << 20);
    }
}

fn main() -> ExitCode {
    // Output piped into a program that stops reading (`| head`) ends this
    // one quietly, as command-line tools do, instead of a panic.
    // SAFETY: restoring the default disposition of one signal, before any
    // thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // A mistake on the command line exits 1, as every other bad input does:
    // 2 means "changes" (plan --detailed-exitcode) or "drift" to scripts.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    if cli.no_color {
        anstream::ColorChoice::Never.write_global();
    }
    // `drift --every` lives for weeks: there glibc gives memory back
    // between rounds, as it does by default.
    if !matches!(cli.cmd, Cmd::Drift { every: Some(_), .. }) {
        keep_freed_memory();
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("PROVISION_LOG"))
        .with_writer(std::io::stderr)
        .init();
    commands::process_ends_after_the_command();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let i = provision::interrupt::global().clone();
    let r = rt.block_on(async {
        on_signals(i.clone());
        run(cli, i).await
    });
    match r {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprint!("{}", e.render());
            let interrupted = matches!(e, Error::Interrupted(_));
            ExitCode::from(if interrupted { 130 } else { 1 })
        }
    }
}
