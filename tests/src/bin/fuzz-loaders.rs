//! The long fuzzing run of the YAML loaders (see `tests/FUZZING.md`):
//!
//! ```text
//! cargo run --release -p stage-tests --bin fuzz-loaders -- --iterations 1000000 --seed 42
//! ```
//!
//! Options: `--iterations N` (default 1,000,000), `--seed S` (default 42), `--start I` (first
//! iteration), `--seconds T` (stop after T seconds), `--out DIR` (default
//! `target/fuzz-failures`), `--replay I` (check iteration I alone and print its input),
//! `--mutate-heavy` (mutate the slow edge cases too; by default each is checked once).
//! Prints progress and iterations per second; writes each distinct failing input, as
//! generated and minimized, to the output folder; exits 1 when anything failed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use stage_tests::fuzz::{self, Config, Report};

struct Args {
    config: Config,
    out: PathBuf,
    replay: Option<u64>,
    mutate_heavy: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut config = Config {
        seed: 42,
        start: 0,
        iterations: 1_000_000,
        time_limit: None,
        progress_every: Duration::from_secs(5),
    };
    let mut out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-failures");
    let mut replay = None;
    let mut mutate_heavy = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String| v.replace('_', "").parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--iterations" => config.iterations = number(value()?)?,
            "--seed" => config.seed = number(value()?)?,
            "--start" => config.start = number(value()?)?,
            "--seconds" => config.time_limit = Some(Duration::from_secs(number(value()?)?)),
            "--out" => out = PathBuf::from(value()?),
            "--replay" => replay = Some(number(value()?)?),
            "--mutate-heavy" => mutate_heavy = true,
            "-h" | "--help" => {
                return Err("usage: fuzz-loaders [--iterations N] [--seed S] [--start I] [--seconds T] \
                            [--out DIR] [--replay I] [--mutate-heavy]"
                    .to_owned())
            }
            other => return Err(format!("unknown argument `{other}` (see --help)")),
        }
    }
    Ok(Args { config, out, replay, mutate_heavy })
}

fn summary(r: &Report) -> String {
    format!(
        "{} iterations in {:.1} s ({:.0}/s); loaded {}, planned {}, plan errors {}, policy files {}; \
         slowest {:.1} ms (iteration {}); failures {}",
        r.iterations,
        r.elapsed.as_secs_f64(),
        r.per_second(),
        r.stats.loaded,
        r.stats.planned,
        r.stats.plan_errors,
        r.stats.policies_loaded,
        r.slowest.0.as_secs_f64() * 1e3,
        r.slowest.1,
        r.failures.len()
    )
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut seeds = fuzz::seed_corpus();
    // The heavy cases are slow by design: each is checked once, and mutated only on request.
    for (i, case) in fuzz::heavy_cases().into_iter().enumerate() {
        if let Err(e) = fuzz::check_one(&case) {
            eprintln!("heavy case #{i} fails: {e}");
            return ExitCode::FAILURE;
        }
        if args.mutate_heavy {
            seeds.push(case);
        }
    }
    if let Some(i) = args.replay {
        let text = fuzz::input(args.config.seed, i, &seeds);
        println!("{text}");
        return match fuzz::check_one(&text) {
            Ok(()) => {
                eprintln!("iteration {i} of seed {}: ok", args.config.seed);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("iteration {i} of seed {}: {e}", args.config.seed);
                ExitCode::FAILURE
            }
        };
    }
    eprintln!(
        "fuzzing the pipeline and policy loaders: seed {}, iterations {}..{}, {} seeds",
        args.config.seed,
        args.config.start,
        args.config.start.saturating_add(args.config.iterations),
        seeds.len()
    );
    // The size of a test thread's stack, so that what passes here passes in the test suite.
    let config = args.config.clone();
    let worker = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || fuzz::run_with(&config, &seeds, &mut |r| eprintln!("{}", summary(r))));
    let report = match worker.map(|w| w.join()) {
        Ok(Ok(r)) => r,
        _ => {
            eprintln!("the fuzzing thread died");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", summary(&report));
    if report.failures.is_empty() {
        return ExitCode::SUCCESS;
    }
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        eprintln!("cannot create {}: {e}", args.out.display());
    }
    for f in &report.failures {
        let base = args.out.join(format!("seed{}-iter{}", report.seed, f.iteration));
        let written = std::fs::write(base.with_extension("yaml"), &f.input)
            .and_then(|()| std::fs::write(base.with_extension("min.yaml"), &f.minimized));
        println!(
            "FAILED ({} inputs): {}\n  input: {}.yaml{}\n  minimized:\n{}",
            f.count,
            f.message,
            base.display(),
            written.err().map(|e| format!(" (not written: {e})")).unwrap_or_default(),
            f.minimized.lines().map(|l| format!("    | {l}")).collect::<Vec<_>>().join("\n")
        );
    }
    ExitCode::FAILURE
}
