//! A small, dependency-free timing harness shared by the benchmarks (`#[path]`-included).
//!
//! Each group holds a baseline and the variants measured against it. Every variant is
//! calibrated to a batch of iterations lasting about [`sample_ms`] milliseconds and warmed up;
//! then the samples are taken round-robin (one batch of each variant in turn), so that drift
//! of the machine affects every variant alike. A row reports the median time per operation
//! over the samples, the spread (interquartile range over median) and the ratio of its median
//! to the baseline's median, measured in the same run.
//!
//! Environment: `BENCH_SAMPLES` (default 25), `BENCH_SAMPLE_MS` (default 5). A command-line
//! argument that does not start with `-` filters groups by name (as `cargo bench -- lookup`).
#![allow(dead_code, reason = "`#[path]`-included by several benches, each using a part")]

use std::time::{Duration, Instant};

pub(crate) use std::hint::black_box;

/// Samples per variant.
pub(crate) fn samples() -> usize {
    std::env::var("BENCH_SAMPLES").ok().and_then(|s| s.parse().ok()).unwrap_or(25).max(3)
}

/// Target length of one sample, in milliseconds.
pub(crate) fn sample_ms() -> f64 {
    std::env::var("BENCH_SAMPLE_MS").ok().and_then(|s| s.parse().ok()).unwrap_or(5.0)
}

/// Whether the group named `name` is selected by the command line's filter.
pub(crate) fn selected(name: &str) -> bool {
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
}

type Batch<'a> = Box<dyn FnMut(u64) -> Duration + 'a>;

struct Variant<'a> {
    name: String,
    /// Operations per call of the closure (the table reports time per operation).
    ops: u64,
    batch: Batch<'a>,
    iters: u64,
    ns_per_op: Vec<f64>,
}

/// Summary of one variant's samples.
#[derive(Debug, Clone)]
pub(crate) struct Stats {
    pub(crate) name: String,
    pub(crate) median_ns: f64,
    pub(crate) q1_ns: f64,
    pub(crate) q3_ns: f64,
    pub(crate) ratio: f64,
}

/// A group of variants measured side by side; the first one added is the baseline.
pub(crate) struct Group<'a> {
    title: String,
    unit: String,
    variants: Vec<Variant<'a>>,
}

fn batch_of<'a, R, F: FnMut() -> R + 'a>(mut f: F) -> Batch<'a> {
    Box::new(move |n| {
        let t = Instant::now();
        for _ in 0..n {
            black_box(f());
        }
        t.elapsed()
    })
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

impl<'a> Group<'a> {
    /// A group; `unit` names the operation the times are per (`stage`, `lookup`, `run`).
    pub(crate) fn new(title: &str, unit: &str) -> Self {
        Group { title: title.to_owned(), unit: unit.to_owned(), variants: Vec::new() }
    }

    /// Adds a variant: `f` is called once per iteration and performs `ops` operations.
    pub(crate) fn add<R, F: FnMut() -> R + 'a>(&mut self, name: &str, ops: u64, f: F) -> &mut Self {
        self.variants.push(Variant {
            name: name.to_owned(),
            ops: ops.max(1),
            batch: batch_of(f),
            iters: 1,
            ns_per_op: Vec::new(),
        });
        self
    }

    /// Calibrates, warms up and samples every variant; prints the table; returns the rows.
    pub(crate) fn run(&mut self) -> Vec<Stats> {
        if !selected(&self.title) || self.variants.is_empty() {
            return Vec::new();
        }
        let target = Duration::from_secs_f64(sample_ms() / 1000.0);
        for v in &mut self.variants {
            // Calibrate: double the batch until it lasts the target, then warm up ~3 batches.
            let mut n = 1u64;
            loop {
                let d = (v.batch)(n);
                if d >= target || n >= 1 << 40 {
                    let scale = target.as_secs_f64() / d.as_secs_f64().max(1e-9);
                    n = ((n as f64 * scale).ceil() as u64).max(1);
                    break;
                }
                n *= 2;
            }
            v.iters = n;
            for _ in 0..3 {
                (v.batch)(n);
            }
        }
        for _ in 0..samples() {
            for v in &mut self.variants {
                let d = (v.batch)(v.iters);
                v.ns_per_op.push(d.as_nanos() as f64 / (v.iters * v.ops) as f64);
            }
        }
        let mut rows: Vec<Stats> = self
            .variants
            .iter()
            .map(|v| {
                let mut s = v.ns_per_op.clone();
                s.sort_by(|a, b| a.total_cmp(b));
                Stats {
                    name: v.name.clone(),
                    median_ns: quantile(&s, 0.5),
                    q1_ns: quantile(&s, 0.25),
                    q3_ns: quantile(&s, 0.75),
                    ratio: 1.0,
                }
            })
            .collect();
        let base = rows[0].median_ns;
        for r in &mut rows {
            r.ratio = r.median_ns / base;
        }
        print_table(&self.title, &self.unit, &rows);
        rows
    }
}

/// A time in ns, µs or ms, to 3 significant digits.
pub(crate) fn fmt_ns(ns: f64) -> String {
    let (v, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.digits$} {unit}")
}

/// Prints rows as a Markdown table, the first row being the baseline.
pub(crate) fn print_table(title: &str, unit: &str, rows: &[Stats]) {
    println!("\n### {title}\n");
    println!("| variant | median per {unit} | IQR / median | ratio to `{}` |", rows[0].name);
    println!("|---|---:|---:|---:|");
    for r in rows {
        let spread = (r.q3_ns - r.q1_ns) / r.median_ns * 100.0;
        println!("| {} | {} | {spread:.1} % | {:.3} |", r.name, fmt_ns(r.median_ns), r.ratio);
    }
    println!("\n({} samples of ~{} ms each, taken round-robin)", samples(), sample_ms());
}
