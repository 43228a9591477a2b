//! `stagectl`, the reference host, as a library: a host of your own, with your plugins linked,
//! is a few lines.
//!
//! ```no_run
//! // src/main.rs of your host
//! use my_plugin as _; // link your plugin crates: their stages register themselves
//! # mod my_plugin {}
//! fn main() -> std::process::ExitCode {
//!     stagectl::main()
//! }
//! ```
//!
//! Commands (each takes `--json`): `list`, `describe <type>`, `validate <files or dirs>`,
//! `run <pipeline> <job or jobs file>`, `resume <job>`, `watch`, `graph <pipeline>`, `query text|similar|neighbors|stats`,
//! `ledger get|set`, `runs [job]`, `completions <shell>`. See `stagectl --help`.
//!
//! Every number on the command line is checked as it is parsed, with the allowed range in the
//! message (exit 2, before anything runs): `--max-gate-wait` 0–86,400 seconds (one day; not
//! negative, NaN or infinite), `--workers` and `--concurrency` 1–[`MAX_PARALLEL`], `--limit`
//! 1–[`MAX_LIMIT`]. Choices are checked the same way (`graph --format mermaid|dot`).
//!
//! Exit codes: 0 success; 1 a job failed (or `validate` found errors); 2 an error that ended
//! the command (bad arguments included); 3 `resume` of a run still parked, or run by another
//! process (it holds the run's lease); 141 stdout was closed early (a pipe into `head`): the
//! command stops quietly at its next write, as a process ended by `SIGPIPE` would, with no
//! message.
//!
//! # Conventions
//!
//! - **Logs** go to stderr through `tracing`, filtered by `STAGECTL_LOG` or, when it is unset,
//!   `RUST_LOG` (the same syntax: `warn`, `debug`, `stage_core=debug,info`; default `warn`).
//! - **Colour** only when stderr is a terminal and `NO_COLOR` is unset or empty: logs
//!   redirected to a file carry no ANSI escapes.
//! - **Progress** (on stderr, not with `--quiet` or `--json`): on a terminal a bar with the
//!   jobs done out of all, the completed / parked / failed counts and an ETA; otherwise one
//!   plain line per job as it ends. A failure, a retry or a park is one line, never repeated
//!   by the logs (the events the progress shows are not logged again; with `--quiet` or
//!   `--json` every event goes to the logs).
//! - **Tables** fit the terminal's width when stdout is one (wrapped cells, borders); when it
//!   is not (a pipe, a file) they are plain: columns padded with spaces, a dashed rule under
//!   the header, no borders and no wrapping.
//! - **`--json`**, on every command, prints JSON on stdout: each command's object (or one line
//!   per run for `run`, `resume` and `watch`), and, for an error that ends the command, the
//!   error object (exit code 2 unless said otherwise):
//!
//! ```json
//! {"error": {"message": "unknown stage type `chunck`; did you mean `chunk`?",
//!            "kind": "unknown_stage_type", "exit_code": 2, "suggestions": ["chunk"]}}
//! ```
//!
//!   `kind` is one of `usage` (bad arguments), `registry` (`--strict` or `--require` refused
//!   the registry; with `missing` or `problems`), `unknown_stage_type` (with `suggestions`),
//!   `pipeline` (the file cannot be planned; with `diagnostics`, each `{severity, line, column,
//!   message}`), `not_found` (a run, a job's field), `io`, or `error`.
//!   `validate --json` prints one object: `{"ok", "files_checked", "files_with_errors",
//!   "errors", "diagnostics": [{"file", "severity", "line", "column", "message"}], "files"}`.
//! - **Completions**: `stagectl completions bash|zsh|fish|elvish|powershell` prints the script
//!   (`stagectl completions bash > /etc/bash_completion.d/stagectl`).

/// `println!` that returns the write's `io::Result` instead of panicking when stdout is a
/// closed pipe (`stagectl list | head -1`): `outln!(...)?` ends the command, and [`main`]
/// exits quietly.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

/// `print!` that returns the write's `io::Result` (see `outln!`).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)
    }};
}

/// `eprintln!` that ignores a closed stderr instead of panicking.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

pub mod commands;
mod describe;
mod errors;
pub mod journal;
mod progress;
mod table;
mod term;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

pub use commands::run::{
    expand_jobs, parse_jobs, run_jobs, run_jobs_with, BatchCounts, BatchOptions, BatchOutcome, JobDone,
    JobResult,
};
pub use journal::Journal;

/// The command line.
#[derive(Debug, Parser)]
#[command(name = "stagectl", version, about = "Run pipelines of stages declared in YAML.")]
pub struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Refuse to start when the stage registry has any problem (invalid or duplicate
    /// registrations) or a stage type replaced by another registration (unless allowed with
    /// `--allow-replace`), instead of warning.
    #[arg(long, global = true)]
    pub strict: bool,
    /// Stage types that must be registered (comma-separated or repeated): the command fails at
    /// start-up naming those missing and how to link their crate.
    #[arg(long, global = true, value_delimiter = ',', value_name = "TYPE")]
    pub require: Vec<String>,
    /// Stage types another registration may replace under `--strict` (comma-separated or
    /// repeated).
    #[arg(long, global = true, value_delimiter = ',', value_name = "TYPE")]
    pub allow_replace: Vec<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// A command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the registered stage types.
    List,
    /// Describe one stage type: keys, inputs with types, config, version, where defined.
    Describe {
        /// The stage type.
        stage_type: String,
    },
    /// Check pipeline files (or directories of them) without running them.
    Validate {
        /// Pipeline files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The policy file stages' `policy` names are checked against (default: the host's
        /// own: `default`, `gpu-bound`, `polite-api`).
        #[arg(long)]
        policies: Option<PathBuf>,
    },
    /// Run one job (a `.json` file or inline JSON) or a batch (a `.jsonl` file) through a
    /// pipeline.
    Run {
        /// The pipeline file.
        pipeline: PathBuf,
        /// The job: a JSON file, a JSON Lines file of jobs, or inline JSON.
        jobs: String,
        /// How runs run.
        #[command(flatten)]
        run: RunArgs,
    },
    /// Continue a stored run: a parked one once its gate's condition holds, or one whose
    /// process died (from its last checkpoint). Completed stages never run again.
    Resume {
        /// The job whose run to continue.
        job_id: String,
        /// How runs run.
        #[command(flatten)]
        run: RunArgs,
    },
    /// Re-check parked runs at their gates' poll intervals and resume those that pass.
    Watch {
        /// Check every parked run once, resume what passes, and exit.
        #[arg(long)]
        once: bool,
        /// Exit when no parked run is left.
        #[arg(long)]
        until_idle: bool,
        /// How runs run.
        #[command(flatten)]
        run: RunArgs,
    },
    /// List the stored runs with their status, or show one run's record (its stages'
    /// report lines and outputs). A record that cannot be read is listed as `unreadable`
    /// with the reason.
    Runs {
        /// The run to show (all runs, listed, without it).
        job_id: Option<String>,
        /// The persistent store.
        #[arg(long, default_value = "stage-store")]
        store: PathBuf,
    },
    /// Draw a pipeline's stages and dependencies.
    Graph {
        /// The pipeline file.
        pipeline: PathBuf,
        /// The drawing's language.
        #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
        format: GraphFormat,
    },
    /// Print a shell completion script (`stagectl completions bash > stagectl.bash`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Search what was indexed, walk the graph that was written.
    Query {
        /// The persistent store.
        #[arg(long, default_value = "stage-store", global = true)]
        store: PathBuf,
        /// What to ask.
        #[command(subcommand)]
        what: Query,
    },
    /// Serve the linked stages as a Restate worker endpoint (`--restate`), until SIGTERM or
    /// SIGINT. Prints `listening on http://<addr>`.
    Serve {
        /// Serve on Restate (the only kind of serving there is; required, for clarity).
        #[arg(long, required = true)]
        restate: bool,
        /// The address to listen on (port 0: a free one).
        #[arg(long, default_value = "127.0.0.1:9080")]
        listen: std::net::SocketAddr,
        /// How stages run (the store, policies, path rebasing).
        #[command(flatten)]
        run: RunArgs,
    },
    /// An HTTP/2 load balancer in front of several `serve --restate` workers, until SIGTERM or
    /// SIGINT: register it as the deployment (`submit --register`) and the server's invocations
    /// go to the workers in turn. Prints `balancing on http://<addr>`.
    Balance {
        /// The address to listen on (port 0: a free one).
        #[arg(long, default_value = "127.0.0.1:9080")]
        listen: std::net::SocketAddr,
        /// The workers' addresses (`HOST:PORT`, as given to their `--listen`).
        #[arg(required = true)]
        workers: Vec<std::net::SocketAddr>,
    },
    /// Submit jobs to a Restate server: one workflow per job, keyed by job id. A job already
    /// submitted is reported, not run again, unless `--rerun`.
    Submit {
        /// The pipeline file (the same path must hold the same file on every worker).
        pipeline: PathBuf,
        /// The jobs: a JSON file, a JSON Lines file of jobs, or inline JSON.
        jobs: String,
        /// The server's ingress URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        restate: String,
        /// The server's admin URL (for `--register` and `--rerun`).
        #[arg(long)]
        admin: Option<String>,
        /// Register this worker endpoint with the server first: a worker, or the HTTP/2 load
        /// balancer in front of several (repeatable; new runs go to the last registered).
        #[arg(long)]
        register: Vec<String>,
        /// Run jobs whose runs already ended again (their old runs are purged).
        #[arg(long)]
        rerun: bool,
        /// Wait for each run and print its report.
        #[arg(long)]
        wait: bool,
        /// How the pipeline is planned (its policies): as the workers plan it.
        #[command(flatten)]
        run: RunArgs,
    },
    /// A run's status on a Restate server: its stage, its report lines, its ledger.
    Status {
        /// The job.
        job_id: String,
        /// The server's ingress URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        restate: String,
    },
    /// Read or set a job's ledger fields, as an external process would.
    Ledger {
        /// The persistent store.
        #[arg(long, default_value = "stage-store", global = true)]
        store: PathBuf,
        /// Read or set the ledger of the job's run on this Restate server (its ingress URL)
        /// instead of the store's: a set wakes the run's gate.
        #[arg(long, global = true)]
        restate: Option<String>,
        /// What to do.
        #[command(subcommand)]
        what: LedgerCommand,
    },
}

/// The language `graph` draws in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// A Mermaid flowchart.
    Mermaid,
    /// A Graphviz digraph.
    Dot,
}

/// How runs run: the store, concurrency, gate waits, policies.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The persistent store: ledger, run reports, index and graph.
    #[arg(long, default_value = "stage-store")]
    pub store: PathBuf,
    /// Stages of one run that may run at once (1–1024).
    #[arg(long, default_value_t = 1, value_parser = parallel, allow_hyphen_values = true)]
    pub workers: usize,
    /// Runs of a batch that may run at once (1–1024).
    #[arg(long, default_value_t = 2, value_parser = parallel, allow_hyphen_values = true)]
    pub concurrency: usize,
    /// Cap every gate wait at this many seconds, 0–86400 (real files wait 900–1800 s).
    #[arg(long, value_parser = gate_wait_seconds, allow_hyphen_values = true)]
    pub max_gate_wait: Option<f64>,
    /// Rebase absolute storage paths of stage configs under the store.
    #[arg(long)]
    pub rebase_paths: bool,
    /// The policy file (default: the host's own).
    #[arg(long)]
    pub policies: Option<PathBuf>,
    /// Print no per-stage progress.
    #[arg(long, short)]
    pub quiet: bool,
    /// Flush every stage's journal commit to disk, so that even a power loss between two
    /// stages loses nothing (slower: a disk flush per stage). By default every stage is
    /// committed to the journal — a crashed or killed process loses no completed stage — and
    /// the commit that ends or parks a run is flushed to disk.
    #[arg(long)]
    pub sync_every_stage: bool,
}

/// How `query similar` and `query hybrid` embed their text.
#[derive(Debug, Clone, clap::Args)]
pub struct QueryModel {
    /// The model to embed the query with (`minilm-l6-v2`, `feature-hashing-256`, ...):
    /// must be the store's; a different one is refused. Default: the store's.
    #[arg(long)]
    pub model: Option<String>,
    /// Where all-MiniLM-L6-v2's files are (default: the cache directory that
    /// `scripts/fetch-model` fills).
    #[arg(long)]
    pub model_dir: Option<std::path::PathBuf>,
}

/// A query.
#[derive(Debug, Subcommand)]
pub enum Query {
    /// Full-text search over indexed chunks.
    Text {
        /// The words to find.
        query: String,
        /// How many hits (1–10000).
        #[arg(long, default_value_t = 5, value_parser = limit, allow_hyphen_values = true)]
        limit: usize,
    },
    /// Nearest chunks to a text, by vector: the text is embedded with the model of the
    /// store's vectors.
    Similar {
        /// The text.
        text: String,
        /// How many hits (1–10000).
        #[arg(long, default_value_t = 5, value_parser = limit, allow_hyphen_values = true)]
        limit: usize,
        /// How the query is embedded.
        #[command(flatten)]
        embedder: QueryModel,
    },
    /// Both searches fused: the chunks that `text` and `similar` rank high, by reciprocal-rank
    /// fusion of their first 100 hits each (the query's words and its meaning both count).
    Hybrid {
        /// The text.
        text: String,
        /// How many hits (1–10000).
        #[arg(long, default_value_t = 5, value_parser = limit, allow_hyphen_values = true)]
        limit: usize,
        /// How the query is embedded.
        #[command(flatten)]
        embedder: QueryModel,
    },
    /// The edges of an entity in the knowledge graph (by id or name), sorted by subject,
    /// predicate, object and job: the first `--limit`. When there are more, the table ends
    /// with a line saying so, and `--json` prints the same note on stderr (stdout stays the
    /// JSON array of edges).
    Neighbors {
        /// The entity.
        entity: String,
        /// How many edges at most (1–10000).
        #[arg(long, default_value_t = NEIGHBORS_LIMIT, value_parser = limit, allow_hyphen_values = true)]
        limit: usize,
    },
    /// Counts of what the store holds.
    Stats,
}

/// A ledger command.
#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Print a job's fields (all, or one).
    Get {
        /// The job.
        job_id: String,
        /// One field.
        field: Option<String>,
    },
    /// Set a field (the value is JSON; a bare word is a string).
    Set {
        /// The job.
        job_id: String,
        /// The field.
        field: String,
        /// The value.
        value: String,
        /// Set a metadata entry instead of a field.
        #[arg(long)]
        metadata: bool,
    },
}

/// The largest `--workers` and `--concurrency`.
pub const MAX_PARALLEL: usize = 1024;
/// The largest `--limit` of a query.
pub const MAX_LIMIT: usize = 10_000;

/// `query neighbors`' default `--limit`.
pub const NEIGHBORS_LIMIT: usize = 100;
/// The largest `--max-gate-wait`, in seconds: one day, the longest gate wait a pipeline file
/// may ask for.
pub const MAX_GATE_WAIT_SECONDS: f64 = stage_core::spec::MAX_GATE_WAIT_SECONDS;
/// The exit code when stdout was closed early (128 + `SIGPIPE`).
pub const EXIT_BROKEN_PIPE: u8 = 141;

/// `--max-gate-wait`: seconds, finite, 0 to [`MAX_GATE_WAIT_SECONDS`].
fn gate_wait_seconds(s: &str) -> Result<f64, String> {
    let range = format!("seconds from 0 to {MAX_GATE_WAIT_SECONDS} (one day)");
    let v: f64 = s.trim().parse().map_err(|_| format!("not a number; give {range}"))?;
    if !v.is_finite() || !(0.0..=MAX_GATE_WAIT_SECONDS).contains(&v) {
        return Err(format!("out of range; give {range}"));
    }
    Ok(v)
}

/// A whole number in `lo..=hi`.
fn count_in(s: &str, lo: usize, hi: usize) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(v) if (lo..=hi).contains(&v) => Ok(v),
        _ => Err(format!("give a whole number from {lo} to {hi}")),
    }
}

/// `--workers`, `--concurrency`: 1 to [`MAX_PARALLEL`].
fn parallel(s: &str) -> Result<usize, String> {
    count_in(s, 1, MAX_PARALLEL)
}

/// `--limit`: 1 to [`MAX_LIMIT`].
fn limit(s: &str) -> Result<usize, String> {
    count_in(s, 1, MAX_LIMIT)
}

/// Runs the command line of this process and returns its exit code.
pub fn main() -> ExitCode {
    init_tracing();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return errors::usage(e),
    };
    let json = cli.json;
    match run(cli) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&*e) => ExitCode::from(EXIT_BROKEN_PIPE),
        Err(e) => {
            if json {
                // The error object on stdout; a closed stdout still ends as a closed pipe.
                let line = errors::error_json(&*e, 2);
                if outln!("{line}").is_err() {
                    return ExitCode::from(EXIT_BROKEN_PIPE);
                }
            } else {
                errln!("error: {e}");
            }
            ExitCode::from(2)
        }
    }
}

/// The shell completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "stagectl", &mut out);
    out
}

/// Whether `e` (or what caused it) is a write to a closed pipe.
fn is_broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Logs to stderr, filtered by `STAGECTL_LOG`, else `RUST_LOG`, else `warn`; coloured only on
/// a terminal without `NO_COLOR`.
fn init_tracing() {
    let from =
        |var: &str| std::env::var(var).ok().filter(|v| !v.trim().is_empty()).map(|v| (var.to_owned(), v));
    let filter = match from("STAGECTL_LOG").or_else(|| from("RUST_LOG")) {
        Some((var, spec)) => tracing_subscriber::EnvFilter::try_new(&spec).unwrap_or_else(|e| {
            errln!("warning: {var}={spec:?} is not a log filter ({e}); using `warn`");
            tracing_subscriber::EnvFilter::new("warn")
        }),
        None => tracing_subscriber::EnvFilter::new("warn"),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(term::stderr_colour())
        .with_writer(std::io::stderr)
        .try_init();
}

/// An error that ends a command: its message is printed, the exit code is 2.
pub type CliError = Box<dyn std::error::Error + Send + Sync>;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let registry = stage_core::StageRegistry::global();
    registry.require(cli.require.iter().map(String::as_str))?;
    if cli.strict {
        registry.check_strict(&cli.allow_replace.iter().map(String::as_str).collect::<Vec<_>>())?;
    }
    commands::dispatch(cli, registry)
}
