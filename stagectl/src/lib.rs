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
//! `ledger get|set`. See `stagectl --help`.

pub mod commands;
mod describe;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use commands::run::{run_jobs, BatchOptions, BatchOutcome};
pub use commands::store::FileCheckpoint;

/// The command line.
#[derive(Debug, Parser)]
#[command(name = "stagectl", version, about = "Run pipelines of stages declared in YAML.")]
pub struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Refuse to start when the stage registry has any problem (invalid or duplicate
    /// registrations), instead of warning.
    #[arg(long, global = true)]
    pub strict: bool,
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
    /// Draw a pipeline's stages and dependencies.
    Graph {
        /// The pipeline file.
        pipeline: PathBuf,
        /// `mermaid` or `dot`.
        #[arg(long, default_value = "mermaid")]
        format: String,
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
    /// Read or set a job's ledger fields, as an external process would.
    Ledger {
        /// The persistent store.
        #[arg(long, default_value = "stage-store", global = true)]
        store: PathBuf,
        /// What to do.
        #[command(subcommand)]
        what: LedgerCommand,
    },
}

/// How runs run: the store, concurrency, gate waits, policies.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The persistent store: ledger, run reports, index and graph.
    #[arg(long, default_value = "stage-store")]
    pub store: PathBuf,
    /// Stages of one run that may run at once.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Runs of a batch that may run at once.
    #[arg(long, default_value_t = 2)]
    pub concurrency: usize,
    /// Cap every gate wait at this many seconds (real files wait 900–1800 s).
    #[arg(long)]
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
    /// Fsync each run's record after every stage, so that even a power loss between two
    /// stages loses nothing (slower: a disk flush per stage). By default every stage's
    /// checkpoint is written atomically — a crashed or killed process loses no completed
    /// stage — and the record is flushed to disk when the run ends or parks.
    #[arg(long)]
    pub sync_every_stage: bool,
}

/// A query.
#[derive(Debug, Subcommand)]
pub enum Query {
    /// Full-text search over indexed chunks.
    Text {
        /// The words to find.
        query: String,
        /// How many hits.
        #[arg(long, default_value_t = 5)]
        limit: usize,
    },
    /// Nearest chunks to a text, by vector: the text is embedded with the model of the
    /// store's vectors.
    Similar {
        /// The text.
        text: String,
        /// How many hits.
        #[arg(long, default_value_t = 5)]
        limit: usize,
        /// The model to embed the query with (`minilm-l6-v2`, `feature-hashing-256`, ...):
        /// must be the store's; a different one is refused. Default: the store's.
        #[arg(long)]
        model: Option<String>,
        /// Where all-MiniLM-L6-v2's files are (default: the cache directory that
        /// `scripts/fetch-model` fills).
        #[arg(long)]
        model_dir: Option<std::path::PathBuf>,
    },
    /// The edges of an entity in the knowledge graph (by id or name).
    Neighbors {
        /// The entity.
        entity: String,
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

/// Runs the command line of this process and returns its exit code.
pub fn main() -> ExitCode {
    init_tracing();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STAGECTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// An error that ends a command: its message is printed, the exit code is 2.
pub type CliError = Box<dyn std::error::Error + Send + Sync>;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let registry = stage_core::StageRegistry::global();
    if cli.strict {
        registry.check()?;
    }
    commands::dispatch(cli, registry)
}
