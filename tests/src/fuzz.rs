//! A dependency-free, deterministic, seedable mutational fuzzer for the YAML loaders: the
//! pipeline-file loader (`spec::load_str`, `spec::load_file_partial`, `spec::check`), the
//! planner on the specs that load (`Plan::new` against stand-in stages), and the policy
//! loader (`PolicySet::load_str`).
//!
//! It runs in the test suite on a stable compiler (the coverage-guided cargo-fuzz targets in
//! `fuzz/` complement it, and use [`check_one`] as their oracle); it is structure-aware: it
//! mutates real pipeline and policy files line by line the way people get YAML wrong (bad
//! indentation, a scalar of the wrong type, a misspelt or missing key, a dependency cycle,
//! anchors, deep nesting, truncation, stray bytes) and checks that every input gives either a
//! value or located diagnostics, and never a panic.
//!
//! Every iteration is generated from `(seed, iteration)` alone, so any failing input can be
//! regenerated with [`input`]. See `tests/FUZZING.md`.

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use stage_core::policy::PolicySet;
use stage_core::spec::{self, Diagnostic};
use stage_core::{
    ConfigSpec, InputSpec, Location, OutputType, Plan, PlanOptions, SharedValue, StageArgs, StageError,
    StageMetadata, StageRegistry, StateKey,
};

// ---------------------------------------------------------------------------------------------
// Randomness

/// A small seedable pseudo-random generator (SplitMix64): fast, deterministic and good
/// enough to drive mutations.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.next_u64() % den < num
    }

    /// One of `items` (which must not be empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The generator of one iteration: every iteration is independent of the others.
fn iteration_rng(seed: u64, iteration: u64) -> Rng {
    let mut r = Rng::new(seed ^ iteration.wrapping_mul(0xD1B5_4A32_D192_ED03));
    r.next_u64();
    r
}

// ---------------------------------------------------------------------------------------------
// Seeds

/// Hand-written edge cases: empty and null documents, anchors and alias bombs, deep nesting,
/// huge numbers, NaN and infinities, tabs, a byte-order mark, invalid UTF-8 (lossily
/// converted), non-string and repeated keys, several documents.
pub fn edge_cases() -> Vec<String> {
    let minimal = "name: p\nversion: 2025-01-01\nstages:\n  - name: a\n    type: ingest\n";
    let mut v: Vec<String> = [
        "",
        "~",
        "null",
        "---\n",
        "...\n",
        "--- |\n  text\n",
        "\u{feff}",
        "# only a comment\n",
        "\t",
        "\r\n\r\n",
        "\r",
        "[]",
        "{}",
        "- a\n- b\n",
        "'just a string'",
        "name:\tx\n",
        "name: p\n\tversion: x\n",
        "a: 1\n---\nb: 2\n",
        "--- a\n--- b\n",
        "%YAML 1.2\n---\nname: p\n",
        "%TAG !e! tag:example.com,2000:\n---\nname: !e!x p\n",
        "a: &a [*a]\n",
        "a: *nope\n",
        "1: a\ntrue: b\n~: c\n.nan: d\n[a]: e\n",
        "{a: 1}: x\n",
        "? |\n  block key\n: v\n",
        "name: a\nname: b\nname: c\n",
        "\"a\\nb\": 1\nname: \"x\\ny\"\n",
        "name: \"\\x07\\0\\u200b\"\nversion: 2025-01-01\nstages: [{name: \"\\t\", type: \"\\n\"}]\n",
        "name: p\r\nversion: 2025-01-01\r\nstages:\r\n  - name: a\r\n    type: ingest\r\n",
        "name: p\rversion: 2025-01-01\rstages:\r  - name: a\r    type: ingest\r",
        "policies:\n  p: {max_attempts: .nan, timeout_seconds: 1e999}\n",
        "policies:\n  p:\n    max_attempts: 99999999999999999999\n    timeout_seconds: -.inf\n    backoff: {strategy: linear, initial: .nan, maximum: .inf}\n    circuit_breaker: {failure_threshold: 0x7FFFFFFFFFFFFFFF, recovery_timeout: .NaN}\n    rate_limit: {rate_limit_per_second: 1e-320}\n",
        "policies: {~: {max_attempts: 1, timeout_seconds: 1}, 1: {max_attempts: 1.0, timeout_seconds: 1}}\n",
        "name: p\nversion: 2025-01-01\nstages:\n  - {name: a, type: ingest}\n  - {name: g, type: gate, depends_on: [a], config: {field: x, equals: 1}}\ngates:\n  - name: g\n    stage: g\n    timeout_seconds: 1e400\n    poll_interval_seconds: .nan\n    retry: {max_attempts: 4294967296, delay_seconds: -.inf}\n",
        "name: p\nversion: 2025-01-01\nstages:\n  - {name: a, type: ingest, depends_on: [b]}\n  - {name: b, type: parse, depends_on: [c]}\n  - {name: c, type: chunk, depends_on: [a, c]}\n",
        "name: p\nversion: 2025-01-01\nphase_order: [pre-gate, pre-gate, gate]\nstages:\n  - {name: a, type: ingest, phase: nowhere}\n",
        "name: 99999999999999999999\nversion: 20250101\nstages: 0x10\n",
        "name: !!int p\n",
        "name: !!binary aGk=\n",
        "name: !custom p\nversion: !!str 2025-01-01\n",
        "base: &b {type: ingest}\nname: p\nversion: 2025-01-01\nstages:\n  - <<: *b\n    name: a\n  - *b\n",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    v.push(minimal.to_owned());
    v.push(format!("\u{feff}{minimal}"));
    // Invalid UTF-8, as a loader reading bytes lossily would see it.
    v.push(
        String::from_utf8_lossy(
            b"name: \xff\xfe p\nversion: 2025-01-01\nstages:\n  - name: \xc3\n    type: ingest\n",
        )
        .into_owned(),
    );
    // Deep nesting, flow and block, at and beyond the limit.
    for depth in [199, 201, 1_000] {
        v.push(format!("{}{}", "[".repeat(depth), "]".repeat(depth)));
    }
    let mut block = String::new();
    for d in 0..210 {
        let _ = writeln!(block, "{}k{d}:", " ".repeat(d));
    }
    v.push(block);
    v
}

/// Edge cases that are slow to load on purpose (an alias bomb the loader must refuse, a
/// deeply nested gate condition, a 100 kB string, 300 stages): in the long run's seeds and
/// checked once in the test suite, but not mutated there, where they would dominate the
/// time.
pub fn heavy_cases() -> Vec<String> {
    let mut v = Vec::new();
    // An alias bomb: 10^7 nodes from a few lines.
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..7 {
        let p = i - 1;
        let _ = writeln!(
            bomb,
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]"
        );
    }
    v.push(bomb);
    // A deeply nested gate condition.
    let mut cond = String::from("{field: x, equals: 1}");
    for i in 0..99 {
        cond = match i % 3 {
            0 => format!("{{all: [{cond}]}}"),
            1 => format!("{{any: [{cond}, {{field: y, operator: exists}}]}}"),
            _ => format!("{{match: any, clauses: [{cond}]}}"),
        };
    }
    v.push(format!(
        "name: p\nversion: 2025-01-01\nstages:\n  - {{name: a, type: ingest}}\n  - {{name: g, type: gate, depends_on: [a]}}\ngates:\n  - name: g\n    stage: g\n    condition: {cond}\n"
    ));
    // Huge strings and many stages.
    v.push(format!("name: {}\nversion: 2025-01-01\nstages: []\n", "x".repeat(100_000)));
    let mut many = String::from("name: p\nversion: 2025-01-01\nstages:\n");
    for i in 0..300 {
        let _ = writeln!(many, "  - {{name: s{i}, type: chunk, depends_on: [s{}]}}", (i * 7 + 3) % 300);
    }
    v.push(many);
    v
}

/// The seeds: the ten real pipeline files and the resilience policy file in
/// `tests/compat` (see [`crate::compat_dir`]), the repository's example
/// pipelines, the built-in policy file, and [`edge_cases`] (not [`heavy_cases`]).
pub fn seed_corpus() -> Vec<String> {
    let mut files: Vec<PathBuf> = crate::compat_pipelines();
    files.push(crate::compat_dir().join("resilience.yaml"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if let Ok(entries) = std::fs::read_dir(root.join("examples/pipelines")) {
        let mut examples: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .collect();
        examples.sort();
        files.extend(examples);
    }
    files.push(root.join("stage-core/src/policy/builtin.yaml"));
    let mut seeds: Vec<String> = files.iter().filter_map(|f| std::fs::read_to_string(f).ok()).collect();
    seeds.extend(edge_cases());
    seeds
}

// ---------------------------------------------------------------------------------------------
// Mutation

/// Every key the pipeline and policy files know, for renames to another valid key.
const KEYS: &[&str] = &[
    "name",
    "version",
    "applicable_sources",
    "metadata",
    "phase_order",
    "plugins",
    "stages",
    "gates",
    "owner",
    "description",
    "tags",
    "callable",
    "type",
    "policy",
    "depends_on",
    "config",
    "phase",
    "gate",
    "metadata_overrides",
    "state_key",
    "dependencies",
    "stage",
    "resume_stage",
    "resume_phase",
    "condition",
    "conditions",
    "timeout_seconds",
    "poll_interval_seconds",
    "retry",
    "skip_download_on_resume",
    "max_attempts",
    "delay_seconds",
    "backoff_seconds",
    "field",
    "equals",
    "operator",
    "value",
    "previous_value",
    "key",
    "expected",
    "match",
    "mode",
    "clauses",
    "all",
    "any",
    "policies",
    "backoff",
    "circuit_breaker",
    "rate_limit",
    "strategy",
    "initial",
    "maximum",
    "jitter",
    "failure_threshold",
    "recovery_timeout",
    "expected_exception",
    "rate_limit_per_second",
    "<<",
];

/// Words that are valid somewhere (stage types, phases, operators, strategies, fields...).
const WORDS: &[&str] = &[
    "ingest",
    "parse",
    "ir-validation",
    "chunk",
    "embed",
    "index",
    "extract",
    "knowledge-graph",
    "download",
    "gate",
    "no-such-type",
    "pre-gate",
    "post-gate",
    "custom-phase",
    "equals",
    "not_equals",
    "exists",
    "not_exists",
    "in",
    "not_in",
    "changed",
    "all",
    "any",
    "exponential",
    "linear",
    "none",
    "default",
    "gpu-bound",
    "polite-api",
    "no-such-policy",
    "ledger.pdf_ir_ready",
    "metadata.x",
    "ledger.",
    "ledger.metadata.",
    "\"@ledger\"",
    "\"@nowhere\"",
    "payloads",
    "document",
    "chunks",
    "job_id",
    "context",
    "2025-01-01",
    "2025-01-01-rc1",
];

/// Scalars and small values of every type, including the troublesome ones.
const VALUES: &[&str] = &[
    "0",
    "-1",
    "1",
    "3",
    "10",
    "600",
    "601",
    "86400",
    "86401",
    "0.5",
    "0.05",
    "-0.0",
    "1e309",
    "-1e309",
    "1e-320",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "99999999999999999999999999",
    "0x7FFFFFFFFFFFFFFF",
    "0xFFFFFFFFFFFFFFFFFF",
    "0o777",
    "0x",
    ".nan",
    ".inf",
    "-.inf",
    "4294967295",
    "4294967296",
    "9e15",
    "9007199254740993",
    "true",
    "false",
    "yes",
    "null",
    "~",
    "",
    "[]",
    "{}",
    "[a, b]",
    "{a: 1}",
    "[[[]]]",
    "''",
    "\"\"",
    "\"\\x00\"",
    "\"\\uD800\"",
    "\"\\U0010FFFF\"",
    "\"a\\nb\"",
    "\"a\\rb\"",
    "é",
    "日本語",
    "\u{202e}gnp",
    "🙂",
    "\u{feff}",
    "\u{0}",
    "\u{85}",
    "\u{2028}",
    "!!int x",
    "!!str 1",
    "!!float .nan",
    "!!null a",
    "!!bool yes",
    "!!map {}",
    "!!seq x",
    "!custom x",
    "!<tag:yaml.org,2002:str> x",
    "&x 1",
    "*x",
    "&y [*x]",
    "|\n  block",
    ">-\n  folded\n  text",
    "a b",
    "a:b",
    "- x",
    "? x",
    "%",
    "@x",
    "`x`",
    "\"unterminated",
    "'unterminated",
    "[unclosed",
    "{unclosed: 1",
    "#",
];

/// Characters that mean something in YAML, and some that should not be there at all.
const CHARS: &[char] = &[
    ':', '-', ' ', ' ', '\t', '\n', '\r', '[', ']', '{', '}', '&', '*', '!', '|', '>', '#', '"', '\'', '?',
    ',', '%', '@', '`', '\\', '\0', '\u{7f}', '\u{feff}', '\u{85}', '\u{2028}', 'é', '🙂', 'x', '0', '.',
];

struct Doc {
    lines: Vec<String>,
}

impl Doc {
    fn parse(text: &str) -> Doc {
        Doc { lines: text.split('\n').map(str::to_owned).collect() }
    }

    fn text(&self) -> String {
        self.lines.join("\n")
    }

    fn line(&mut self, rng: &mut Rng) -> usize {
        rng.below(self.lines.len())
    }
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// The byte ranges of a line's key (after the indentation and any `- `) and of its value
/// (what follows `: `), when the line looks like `key: value`.
fn key_value(line: &str) -> Option<(std::ops::Range<usize>, std::ops::Range<usize>)> {
    let mut start = indent_of(line);
    while line[start..].starts_with("- ") {
        start += 2;
        start += indent_of(&line[start..]);
    }
    let rest = &line[start..];
    if rest.is_empty() || rest.starts_with(['#', '"', '\'', '{', '[', '-']) {
        return None;
    }
    let colon = rest.find(": ").or_else(|| rest.strip_suffix(':').map(str::len))?;
    let key = start..start + colon;
    let value_start = (start + colon + 2).min(line.len());
    Some((key, value_start..line.len()))
}

/// Where a list item's value starts (`- value`), when the line is one.
fn item_value(line: &str) -> Option<usize> {
    let start = indent_of(line);
    line[start..].starts_with("- ").then_some(start + 2)
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn typo(rng: &mut Rng, word: &str) -> String {
    let mut chars: Vec<char> = word.chars().collect();
    if chars.is_empty() {
        return "x".to_owned();
    }
    let i = rng.below(chars.len());
    match rng.below(5) {
        0 => {
            chars.remove(i);
        }
        1 => chars.insert(i, *rng.pick(&['_', 'a', 's', 'e', '-'])),
        2 if chars.len() > 1 => {
            let j = (i + 1) % chars.len();
            chars.swap(i, j);
        }
        3 => chars[i] = chars[i].to_ascii_uppercase(),
        _ => chars.push('s'),
    }
    chars.into_iter().collect()
}

/// The names of the list items (`- name: x`) of the document.
fn item_names(doc: &Doc) -> Vec<String> {
    doc.lines
        .iter()
        .filter(|l| l.trim_start().starts_with("- name:"))
        .filter_map(|l| l.split_once("name:").map(|(_, v)| v.trim().to_owned()))
        .filter(|n| !n.is_empty())
        .collect()
}

/// The last line of the block that starts at `i` (lines indented more than line `i`).
fn block_end(doc: &Doc, i: usize, indent: usize) -> usize {
    let mut end = i;
    for (j, l) in doc.lines.iter().enumerate().skip(i + 1) {
        if l.trim().is_empty() || indent_of(l) > indent {
            end = j;
        } else {
            break;
        }
    }
    end
}

fn random_value(rng: &mut Rng, doc: &Doc) -> String {
    match rng.below(10) {
        0..=4 => (*rng.pick(VALUES)).to_owned(),
        5 | 6 => (*rng.pick(WORDS)).to_owned(),
        7 => {
            let names = item_names(doc);
            if names.is_empty() {
                "a".to_owned()
            } else {
                rng.pick(&names).clone()
            }
        }
        8 => match rng.below(3) {
            0 => "x".repeat(1 + rng.below(5_000)),
            1 => "é🙂".repeat(1 + rng.below(500)),
            _ => format!("\"{}\"", "\\u00e9".repeat(1 + rng.below(200))),
        },
        _ => {
            let depth = 1 + rng.below(260);
            if rng.chance(1, 2) {
                format!("{}{}", "[".repeat(depth), "]".repeat(depth))
            } else {
                format!("{}1{}", "{a: ".repeat(depth), "}".repeat(depth))
            }
        }
    }
}

/// Number of kinds of mutation [`mutate_once`] knows.
const MUTATIONS: usize = 25;

/// Mutations that mostly keep a file loadable, so that inputs reach the planner: a value
/// replaced, a key renamed or dropped, a dependency added, a line duplicated or removed.
const GENTLE: [usize; 12] = [9, 24, 24, 24, 12, 13, 14, 15, 16, 4, 3, 5];

/// Applies mutation `kind` (`0..MUTATIONS`) to `doc`. `others` are the seeds, for splicing.
fn mutate_once(rng: &mut Rng, doc: &mut Doc, others: &[String], kind: usize) {
    let n = doc.lines.len();
    match kind {
        // A character replaced, inserted or removed.
        0 | 1 => {
            let i = doc.line(rng);
            let line = &mut doc.lines[i];
            let at = floor_boundary(line, rng.below(line.len() + 1));
            let c = *rng.pick(CHARS);
            if rng.chance(1, 2) && at < line.len() {
                let end = at + line[at..].chars().next().map_or(0, char::len_utf8);
                line.replace_range(at..end, c.encode_utf8(&mut [0; 4]));
            } else {
                line.insert(at, c);
            }
        }
        2 => {
            let i = doc.line(rng);
            let line = &mut doc.lines[i];
            let a = floor_boundary(line, rng.below(line.len() + 1));
            let b = floor_boundary(line, a + rng.below(16));
            line.replace_range(a..b, "");
        }
        // Lines deleted, duplicated, swapped, moved.
        3 if n > 1 => {
            doc.lines.remove(rng.below(n));
        }
        4 => {
            let i = doc.line(rng);
            let l = doc.lines[i].clone();
            doc.lines.insert(i, l);
        }
        5 => {
            let (i, j) = (doc.line(rng), doc.line(rng));
            doc.lines.swap(i, j);
        }
        6 if n > 1 => {
            let l = doc.lines.remove(rng.below(n));
            let j = rng.below(doc.lines.len() + 1);
            doc.lines.insert(j, l);
        }
        // Indentation changed, for a line or for its block.
        7 | 8 => {
            let i = doc.line(rng);
            let indent = indent_of(&doc.lines[i]);
            let end = if rng.chance(1, 2) { block_end(doc, i, indent) } else { i };
            let delta: i64 = *rng.pick(&[-4, -2, -1, 1, 2, 4]);
            let tab = rng.chance(1, 8);
            for l in &mut doc.lines[i..=end] {
                let cur = indent_of(l) as i64;
                let new = (cur + delta).max(0) as usize;
                let body = l[cur as usize..].to_owned();
                *l = if tab { format!("\t{body}") } else { format!("{}{body}", " ".repeat(new)) };
            }
        }
        // A scalar replaced by a value of another type.
        9..=11 => {
            let i = doc.line(rng);
            let value = random_value(rng, doc);
            let line = &mut doc.lines[i];
            if let Some((_, v)) = key_value(line) {
                line.replace_range(v, &value);
            } else if let Some(v) = item_value(line) {
                line.replace_range(v.., &value);
            } else {
                line.push_str(&value);
            }
        }
        // A key renamed: a near typo or another valid key.
        12 | 13 => {
            let i = doc.line(rng);
            if let Some((k, _)) = key_value(&doc.lines[i]) {
                let key = doc.lines[i][k.clone()].to_owned();
                let new = if rng.chance(1, 2) { typo(rng, &key) } else { (*rng.pick(KEYS)).to_owned() };
                doc.lines[i].replace_range(k, &new);
            }
        }
        // A key dropped with its block (often a required one).
        14 => {
            let required =
                ["name", "version", "stages", "type", "policies", "max_attempts", "timeout_seconds"];
            let candidates: Vec<usize> = (0..n)
                .filter(|&i| {
                    key_value(&doc.lines[i]).is_some_and(|(k, _)| required.contains(&&doc.lines[i][k]))
                })
                .collect();
            let i = if candidates.is_empty() { doc.line(rng) } else { *rng.pick(&candidates) };
            let end = block_end(doc, i, indent_of(&doc.lines[i]));
            if let Some((k, _)) = key_value(&doc.lines[i]) {
                if k.start > indent_of(&doc.lines[i]) {
                    // `- key: v`: keep the item, drop the key.
                    let keep = doc.lines[i][..k.start].to_owned();
                    doc.lines[i] = format!("{keep}{{}}");
                    doc.lines.drain(i + 1..=end);
                    return;
                }
            }
            doc.lines.drain(i..=end);
        }
        // A dependency added at the end of a stage, often closing a cycle.
        15 | 16 => {
            let names = item_names(doc);
            let items: Vec<usize> =
                (0..n).filter(|&i| doc.lines[i].trim_start().starts_with("- name:")).collect();
            if names.is_empty() || items.is_empty() {
                return;
            }
            let i = *rng.pick(&items);
            let item_indent = indent_of(&doc.lines[i]);
            let end = block_end(doc, i, item_indent);
            let deps: Vec<&str> = (0..1 + rng.below(3)).map(|_| rng.pick(&names).as_str()).collect();
            let line = format!("{}depends_on: [{}]", " ".repeat(item_indent + 2), deps.join(", "));
            doc.lines.insert(end + 1, line);
        }
        // Lines spliced from another seed, or the tail of another seed.
        17 | 18 => {
            let other = Doc::parse(&others[rng.below(others.len())]);
            let a = rng.below(other.lines.len());
            let b = (a + 1 + rng.below(8)).min(other.lines.len());
            let at = rng.below(n + 1);
            if rng.chance(1, 4) {
                doc.lines.truncate(at);
                doc.lines.extend_from_slice(&other.lines[a..]);
            } else {
                for (k, l) in other.lines[a..b].iter().enumerate() {
                    doc.lines.insert(at + k, l.clone());
                }
            }
        }
        // Truncated at a random point.
        19 => {
            let text = doc.text();
            let at = floor_boundary(&text, rng.below(text.len() + 1));
            *doc = Doc::parse(&text[..at]);
        }
        // An anchor and aliases to it, or an alias bomb.
        20 => {
            let i = doc.line(rng);
            let j = doc.line(rng);
            let anchor = *rng.pick(&["a", "b", "x"]);
            if let Some((_, v)) = key_value(&doc.lines[i]) {
                doc.lines[i].insert_str(v.start, &format!("&{anchor} "));
            }
            if let Some((_, v)) = key_value(&doc.lines[j]) {
                doc.lines[j].replace_range(v, &format!("*{anchor}"));
            } else if rng.chance(1, 4) {
                // Up to 7^6 nodes: aliases expanded, under the loader's limit (a bomb over
                // it is a heavy case, see `heavy_cases`).
                let levels = 2 + rng.below(5);
                let fan = 2 + rng.below(6);
                doc.lines.push(format!("b0: &b0 [{}]", vec!["x"; fan].join(", ")));
                for l in 1..levels {
                    let refs = vec![format!("*b{}", l - 1); fan].join(", ");
                    doc.lines.push(format!("b{l}: &b{l} [{refs}]"));
                }
            }
        }
        // The whole document: a BOM, document markers, directives, line ends, tabs.
        21 => {
            let text = doc.text();
            let text = match rng.below(9) {
                0 => format!("\u{feff}{text}"),
                1 => format!("---\n{text}"),
                2 => format!("{text}\n...\n"),
                3 => format!("%YAML 1.2\n---\n{text}"),
                4 => text.replace('\n', "\r\n"),
                5 => text.replace('\n', "\r"),
                6 => format!("{text}\n---\n{text}"),
                7 => text.replace("  ", "\t"),
                _ => format!("{text}\n# trailing comment"),
            };
            *doc = Doc::parse(&text);
        }
        // Stray bytes, converted lossily as a reader of bytes would.
        22 => {
            let mut bytes = doc.text().into_bytes();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(bytes.len() + 1);
                let b = [0x80u8, 0xC3, 0xFF, 0xFE, 0xE2, 0xF0, 0x00, 0x1B][rng.below(8)];
                bytes.insert(at, b);
            }
            *doc = Doc::parse(&String::from_utf8_lossy(&bytes));
        }
        // A value replaced by a word valid somewhere: a stage type, phase, operator, policy,
        // or a stage name of the file.
        24 => {
            let i = doc.line(rng);
            let names = item_names(doc);
            let word = if !names.is_empty() && rng.chance(1, 3) {
                rng.pick(&names).clone()
            } else {
                (*rng.pick(WORDS)).to_owned()
            };
            let line = &mut doc.lines[i];
            if let Some((_, v)) = key_value(line) {
                if !v.is_empty() {
                    line.replace_range(v, &word);
                }
            } else if let Some(v) = item_value(line) {
                line.replace_range(v.., &word);
            }
        }
        // A block repeated many times (many stages, many keys).
        _ => {
            let i = doc.line(rng);
            let end = block_end(doc, i, indent_of(&doc.lines[i]));
            let block: Vec<String> = doc.lines[i..=end].to_vec();
            for _ in 0..1 + rng.below(40) {
                for (k, l) in block.iter().enumerate() {
                    doc.lines.insert(end + 1 + k, l.clone());
                }
            }
        }
    }
}

/// Largest input produced (bytes); longer mutants are cut.
pub const MAX_INPUT: usize = 256 * 1024;

/// The input of iteration `iteration` of a run with `seed`: a seed picked at random, with
/// one to eight mutations stacked on it. Deterministic: the same arguments give the same
/// input.
pub fn input(seed: u64, iteration: u64, seeds: &[String]) -> String {
    let mut rng = iteration_rng(seed, iteration);
    // Two times in three, a whole pipeline or policy file rather than an edge case.
    let files: Vec<&String> =
        seeds.iter().filter(|s| s.contains("stages:") || s.contains("policies:")).collect();
    let base = if !files.is_empty() && rng.chance(2, 3) { *rng.pick(&files) } else { rng.pick(seeds) };
    let mut doc = Doc::parse(base);
    // Half the inputs are one gentle mutation away from a seed; the others stack up to eight
    // mutations of any kind.
    let gentle = rng.chance(1, 2);
    let mutations =
        if gentle { 1 } else { 1 + rng.below(3) + if rng.chance(1, 3) { rng.below(6) } else { 0 } };
    for _ in 0..mutations {
        let kind = if gentle { *rng.pick(&GENTLE) } else { rng.below(MUTATIONS) };
        mutate_once(&mut rng, &mut doc, seeds, kind);
        if doc.lines.is_empty() {
            doc.lines.push(String::new());
        }
    }
    let mut text = doc.text();
    if text.len() > MAX_INPUT {
        text.truncate(floor_boundary(&text, MAX_INPUT));
    }
    text
}

// ---------------------------------------------------------------------------------------------
// Stand-in stages

/// Stand-in output types: distinct Rust types for the contract's state values (what the
/// planner compares is the type, not its content).
type Document = (String, Vec<String>);
type EmbeddingBatch = (Vec<Vec<f32>>, String);
type GraphReceipt = (u64, u64);

fn not_run(_: &StageArgs<'_>) -> Result<Option<SharedValue>, StageError> {
    Err(StageError::msg("a fuzzing stand-in is planned, never run"))
}

const fn standin(stage_type: &'static str) -> StageMetadata {
    StageMetadata::new(
        stage_type,
        "Fuzzing stand-in.",
        not_run,
        Location { crate_name: "stage-tests", module_path: module_path!(), file: file!(), line: line!() },
    )
    .with_version("1.0.0")
}

static STANDINS: [StageMetadata; 10] = [
    standin("ingest")
        .with_state_key(StateKey::One("payloads"))
        .with_inputs(&[InputSpec::required::<Value>("adapter_request")])
        .with_outputs(&[OutputType::of::<Vec<Value>>()], false)
        .with_config(ConfigSpec::of::<Value>()),
    standin("parse")
        .with_state_key(StateKey::One("document"))
        .with_inputs(&[
            InputSpec::required::<Vec<Value>>("payloads"),
            InputSpec::optional::<Document>("document"),
        ])
        .with_outputs(&[OutputType::of::<Document>()], false),
    standin("ir-validation")
        .with_state_key(StateKey::One("document"))
        .with_inputs(&[InputSpec::required::<Document>("document")])
        .with_outputs(&[OutputType::of::<Document>()], false),
    standin("chunk")
        .with_state_key(StateKey::One("chunks"))
        .with_inputs(&[InputSpec::required::<Document>("document")])
        .with_outputs(&[OutputType::of::<Vec<String>>()], false),
    standin("embed")
        .with_state_key(StateKey::One("embedding_batch"))
        .with_inputs(&[InputSpec::required::<Vec<String>>("chunks")])
        .with_outputs(&[OutputType::of::<EmbeddingBatch>()], false),
    standin("index")
        .with_state_key(StateKey::One("index_receipt"))
        .with_inputs(&[InputSpec::required::<EmbeddingBatch>("embedding_batch")])
        .with_outputs(&[OutputType::of::<u64>()], false),
    standin("extract")
        .with_state_key(StateKey::Many(&["entities", "claims"]))
        .with_inputs(&[InputSpec::required::<Document>("document")])
        .with_outputs(&[OutputType::of::<Vec<String>>(), OutputType::of::<Vec<(String, String)>>()], false),
    standin("knowledge-graph")
        .with_state_key(StateKey::One("graph_receipt"))
        .with_dependencies(&["extract"])
        .with_inputs(&[
            InputSpec::required::<Vec<String>>("entities"),
            InputSpec::required::<Vec<(String, String)>>("claims"),
        ])
        .with_outputs(&[OutputType::of::<GraphReceipt>()], false),
    standin("download")
        .with_state_key(StateKey::One("downloaded_files"))
        .with_inputs(&[InputSpec::required::<Vec<Value>>("payloads")])
        .with_outputs(&[OutputType::of::<Vec<String>>()], false)
        .with_config(ConfigSpec::of::<Value>()),
    standin("gate")
        .with_state_key(StateKey::One("document"))
        .with_dependencies(&["@ledger"])
        .with_outputs(&[OutputType::of::<Document>()], true)
        .with_config(ConfigSpec::of::<Value>())
        .with_parks(true),
];

/// A registry of stand-ins for the built-in stage types, with the contract's keys, inputs
/// and parking behaviour (like `tests/tests/common`), built explicitly so that it does not
/// depend on what a binary links.
pub fn standin_registry() -> &'static StageRegistry {
    static REGISTRY: OnceLock<StageRegistry> = OnceLock::new();
    REGISTRY.get_or_init(|| StageRegistry::builder().register_all(STANDINS.iter()).build())
}

// ---------------------------------------------------------------------------------------------
// Checking one input

thread_local! {
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
    static SCRATCH: Scratch = Scratch::new();
}

/// A file of this thread's own for `load_file_partial`, removed when the thread ends.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn new() -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("stage-fuzz-{}-{n}.yaml", std::process::id());
        Scratch { path: std::env::temp_dir().join(name) }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Installs (once) a panic hook that records the panics of the code under test instead of
/// printing them; panics elsewhere go to the previous hook.
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CAPTURING.with(Cell::get) {
                let msg = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(non-string panic payload)".to_owned());
                let at =
                    info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{msg}{at}")));
            } else {
                previous(info);
            }
        }));
    });
}

/// What went wrong with one input: `kind` identifies the failure (for deduplication and
/// shrinking), `detail` says everything.
#[derive(Clone, Debug)]
struct Finding {
    kind: String,
    detail: String,
}

fn finding(kind: impl Into<String>, detail: impl Into<String>) -> Finding {
    Finding { kind: kind.into(), detail: detail.into() }
}

/// Runs `f`, turning a panic into a finding named after `what`.
fn guarded<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, Finding> {
    install_hook();
    CAPTURING.with(|c| c.set(true));
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    CAPTURING.with(|c| c.set(false));
    r.map_err(|_| {
        let msg = LAST_PANIC.with(|p| p.borrow_mut().take()).unwrap_or_else(|| "unknown panic".to_owned());
        // The location identifies the bug; the message may hold input-dependent values.
        let at = msg.rsplit_once(" at ").map_or("", |(_, a)| a).to_owned();
        finding(format!("panic in {what} at {at}"), format!("panic in {what}: {msg}"))
    })
}

/// The length in characters of each line as YAML counts lines (`\n`, `\r\n` and `\r` end
/// one).
fn line_lengths(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut len = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => {
                out.push(len);
                len = 0;
            }
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push(len);
                len = 0;
            }
            _ => len += 1,
        }
    }
    out.push(len);
    out
}

/// Checks the invariants every diagnostic of `text` must meet.
fn check_diags(what: &str, diags: &[Diagnostic], path: &Path, lines: &[usize]) -> Result<(), Finding> {
    let bad = |rule: &str, d: &Diagnostic| {
        finding(format!("{what}: {rule}"), format!("{what}: {rule}: {d} ({}:{})", d.line, d.column))
    };
    for d in diags {
        if d.message.trim().is_empty() {
            return Err(bad("empty message", d));
        }
        if d.message.contains(|c: char| c.is_control() || c == '\u{2028}' || c == '\u{2029}') {
            return Err(bad("message spans lines or holds control characters", d));
        }
        if *d.path != *path {
            return Err(bad("wrong path", d));
        }
        let shown = d.to_string();
        let want = if d.line == 0 {
            format!("{}: {}: {}", path.display(), d.severity, d.message)
        } else {
            format!("{}:{}:{}: {}: {}", path.display(), d.line, d.column, d.severity, d.message)
        };
        if shown != want {
            return Err(bad("display is not `path:line:column: severity: message`", d));
        }
        if d.line == 0 {
            if d.column != 0 || !d.is_error() {
                return Err(bad("line 0 for something other than a whole-file error", d));
            }
            continue;
        }
        let line = d.line as usize;
        if line > lines.len() {
            return Err(bad("line beyond the end of the text", d));
        }
        let len = lines.get(line - 1).copied().unwrap_or(0);
        if d.column == 0 || d.column as usize > len + 1 {
            return Err(bad("column outside its line", d));
        }
    }
    let sorted = diags.windows(2).all(|w| (w[0].line, w[0].column) <= (w[1].line, w[1].column));
    if !sorted {
        return Err(finding(
            format!("{what}: not in file order"),
            format!("{what}: not in file order: {diags:?}"),
        ));
    }
    Ok(())
}

fn errors_and_warnings(
    what: &str,
    errors: &[Diagnostic],
    warnings: &[Diagnostic],
    path: &Path,
    lines: &[usize],
) -> Result<(), Finding> {
    if errors.is_empty() {
        return Err(finding(
            format!("{what}: failed with no error"),
            format!("{what}: failed with no error"),
        ));
    }
    if let Some(d) = errors.iter().find(|d| !d.is_error()) {
        return Err(finding(format!("{what}: a non-error among the errors"), format!("{what}: {d}")));
    }
    if let Some(d) = warnings.iter().find(|d| d.is_error()) {
        return Err(finding(format!("{what}: an error among the warnings"), format!("{what}: {d}")));
    }
    check_diags(&format!("{what} errors"), errors, path, lines)?;
    check_diags(&format!("{what} warnings"), warnings, path, lines)
}

fn display_key(d: &Diagnostic) -> (u32, u32, String) {
    (d.line, d.column, d.to_string())
}

/// What one input did, for the statistics.
#[derive(Clone, Copy, Debug, Default)]
struct Outcome {
    loaded: bool,
    planned: bool,
    plan_failed: bool,
    policies_loaded: bool,
}

fn check_detailed(text: &str) -> Result<Outcome, Finding> {
    SCRATCH.with(|s| check_with_file(text, &s.path))
}

fn check_with_file(text: &str, file: &Path) -> Result<Outcome, Finding> {
    let lines = line_lengths(text);
    let registry = standin_registry();
    let is_gate = |t: &str| registry.get_metadata(t).is_some_and(StageMetadata::parks);
    let mut outcome = Outcome::default();

    // The pipeline loader, on text.
    let loaded = guarded("spec::load_str", || spec::load_str(file, text))?;
    let mut all_diags: Vec<Diagnostic> = Vec::new();
    let spec = match loaded {
        Ok(l) => {
            check_diags("load_str warnings", &l.warnings, file, &lines)?;
            if let Some(d) = l.warnings.iter().find(|d| d.is_error()) {
                return Err(finding("load_str: an error among the warnings", format!("load_str: {d}")));
            }
            all_diags.extend(l.warnings);
            outcome.loaded = true;
            Some(l.value)
        }
        Err(e) => {
            errors_and_warnings("load_str", &e.errors, &e.warnings, file, &lines)?;
            let shown = e.to_string();
            let want = e.errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
            if shown != want {
                return Err(finding("load_str: error display", format!("{shown:?} != {want:?}")));
            }
            all_diags.extend(e.errors);
            all_diags.extend(e.warnings);
            None
        }
    };

    // A file that did not load, loaded as far as it goes: the same diagnostics, and a spec
    // `check` must take even when it has errors. (A file that loads gives the same spec.)
    let partial = spec.is_none().then(|| std::fs::write(file, text).ok()).flatten().map(|()| {
        let r = guarded("spec::load_file_partial", || spec::load_file_partial(file));
        let _ = std::fs::remove_file(file);
        r
    });
    if let Some(partial) = partial {
        let (partial_spec, diags) = partial?;
        check_diags("load_file_partial", &diags, file, &lines)?;
        let mut a: Vec<_> = diags.iter().map(display_key).collect();
        let mut b: Vec<_> = all_diags.iter().map(display_key).collect();
        a.sort();
        b.sort();
        if a != b {
            return Err(finding(
                "load_file_partial and load_str disagree",
                format!("load_file_partial: {a:#?}\nload_str: {b:#?}"),
            ));
        }
        if let Some(p) = partial_spec {
            let checked = guarded("spec::check (partial spec)", || spec::check(&p, &is_gate))?;
            check_diags("check (partial spec)", &checked.diagnostics, file, &lines)?;
        }
    }

    // The registry-level rules and the planner, on what loaded.
    if let Some(spec) = &spec {
        let checked = guarded("spec::check", || spec::check(spec, &is_gate))?;
        check_diags("check", &checked.diagnostics, file, &lines)?;
        let n = spec.stages.len();
        let mut order = checked.order.clone();
        order.sort_unstable();
        if order != (0..n).collect::<Vec<_>>() && !checked.has_errors() {
            return Err(finding("check: order is not a permutation", format!("{:?}", checked.order)));
        }
        let builtin = builtin_policies();
        for options in
            [PlanOptions::default(), PlanOptions { policies: Some(builtin.clone()), ..Default::default() }]
        {
            match guarded("Plan::new", || Plan::new(spec, registry, &options))? {
                Ok(plan) => {
                    check_diags("plan warnings", &plan.warnings, file, &lines)?;
                    let mut order = plan.order.clone();
                    order.sort_unstable();
                    if order != (0..plan.stages.len()).collect::<Vec<_>>() {
                        return Err(finding("plan: order is not a permutation", format!("{:?}", plan.order)));
                    }
                    outcome.planned = true;
                }
                Err(e) => {
                    errors_and_warnings("Plan::new", &e.errors, &e.warnings, file, &lines)?;
                    outcome.plan_failed = true;
                }
            }
        }
    }

    // The policy loader, on the same text.
    match guarded("PolicySet::load_str", || PolicySet::load_str(file, text))? {
        Ok(l) => {
            check_diags("policy warnings", &l.warnings, file, &lines)?;
            outcome.policies_loaded = true;
            for p in l.value.policies() {
                let ok = (1..=10).contains(&p.max_attempts)
                    && (1.0..=600.0).contains(&p.timeout_seconds)
                    && p.backoff.initial.is_finite()
                    && p.backoff.maximum.is_finite();
                if !ok {
                    return Err(finding("policy: value out of range accepted", format!("{p:?}")));
                }
            }
            if let Some(spec) = &spec {
                let set = l.value;
                let diags = guarded("PolicySet::check_names", || set.check_names(spec))?;
                check_diags("check_names", &diags, file, &lines)?;
            }
        }
        Err(e) => {
            errors_and_warnings("PolicySet::load_str", &e.errors, &e.warnings, file, &lines)?;
        }
    }
    Ok(outcome)
}

fn builtin_policies() -> &'static PolicySet {
    static BUILTIN: OnceLock<PolicySet> = OnceLock::new();
    BUILTIN.get_or_init(PolicySet::builtin)
}

/// Runs every loader on `text` — the pipeline loader (`load_str`, and `load_file_partial`
/// when the text does not load), `spec::check` (on partial specs too), the planner on what
/// loads (against [`standin_registry`], with and without the built-in policies) and the
/// policy loader with `check_names` — each under `catch_unwind`, and checks the invariants of
/// their diagnostics: a failed load has errors; each message is one non-empty line without
/// control characters; each is displayed `path:line:column: severity: message`, located on a
/// line of the text (line 0 only for a whole-file error) and a column of that line; they come
/// in file order; `load_file_partial` reports what `load_str` reports; accepted policies are
/// in range; a plan's order is a permutation. `Err` says what broke.
pub fn check_one(text: &str) -> Result<(), String> {
    check_detailed(text).map(|_| ()).map_err(|f| f.detail)
}

// ---------------------------------------------------------------------------------------------
// Shrinking

/// The smallest input found by deleting lines (then characters, for short inputs) of `text`
/// while `fails` still holds. At most `budget` calls of `fails`.
pub fn shrink(text: &str, budget: usize, fails: &mut dyn FnMut(&str) -> bool) -> String {
    let mut calls = 0;
    let mut units: Vec<String> = text.split_inclusive('\n').map(str::to_owned).collect();
    for by_char in [false, true] {
        if by_char {
            let joined: String = units.concat();
            if joined.chars().count() > 400 {
                break;
            }
            units = joined.chars().map(String::from).collect();
        }
        let mut chunk = units.len().div_ceil(2).max(1);
        loop {
            let mut i = 0;
            while i < units.len() && calls < budget {
                let end = (i + chunk).min(units.len());
                let candidate: String = units[..i].concat() + &units[end..].concat();
                calls += 1;
                if fails(&candidate) {
                    units.drain(i..end);
                } else {
                    i += chunk;
                }
            }
            if chunk == 1 || calls >= budget {
                break;
            }
            chunk = chunk.div_ceil(2);
        }
    }
    units.concat()
}

/// Shrinks an input that fails [`check_one`] to a small one failing the same way.
pub fn minimize(text: &str) -> String {
    let Err(first) = check_detailed(text) else { return text.to_owned() };
    shrink(text, 4_000, &mut |t| check_detailed(t).is_err_and(|f| f.kind == first.kind))
}

// ---------------------------------------------------------------------------------------------
// Runs

/// One failing input.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The iteration that found it (regenerate it with [`input`]).
    pub iteration: u64,
    /// What went wrong.
    pub message: String,
    /// The input as generated.
    pub input: String,
    /// The input shrunk by [`minimize`].
    pub minimized: String,
    /// How many inputs failed the same way.
    pub count: usize,
}

/// Counts of what the inputs did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Inputs that loaded as pipeline files.
    pub loaded: u64,
    /// Inputs that loaded and planned (with at least one of the option sets).
    pub planned: u64,
    /// Inputs that loaded but did not plan (with at least one of the option sets).
    pub plan_errors: u64,
    /// Inputs that loaded as policy files.
    pub policies_loaded: u64,
}

/// The result of a run.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The run's seed.
    pub seed: u64,
    /// Iterations done.
    pub iterations: u64,
    /// Time spent.
    pub elapsed: Duration,
    /// The slowest input's time and iteration.
    pub slowest: (Duration, u64),
    /// What the inputs did.
    pub stats: Stats,
    /// The failures, one per kind, in the order found.
    pub failures: Vec<Failure>,
    kinds: Vec<String>,
}

impl Report {
    /// Iterations per second so far.
    pub fn per_second(&self) -> f64 {
        self.iterations as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// How a run goes: see [`run_with`].
#[derive(Clone, Debug)]
pub struct Config {
    /// The seed of every input.
    pub seed: u64,
    /// The first iteration.
    pub start: u64,
    /// How many iterations.
    pub iterations: u64,
    /// Stop after this long, whatever is left.
    pub time_limit: Option<Duration>,
    /// Call the progress callback about this often.
    pub progress_every: Duration,
}

/// Runs `iterations` inputs generated from `seed` and `seeds` through [`check_one`]; the
/// report holds every distinct failure with its input minimized.
pub fn run(seed: u64, iterations: usize, seeds: &[String]) -> Report {
    let config = Config {
        seed,
        start: 0,
        iterations: iterations as u64,
        time_limit: None,
        progress_every: Duration::MAX,
    };
    run_with(&config, seeds, &mut |_| {})
}

/// [`run`] with a start, a time limit and a progress callback (given the report so far).
pub fn run_with(config: &Config, seeds: &[String], progress: &mut dyn FnMut(&Report)) -> Report {
    let mut report = Report { seed: config.seed, ..Default::default() };
    let started = Instant::now();
    let mut last = Instant::now();
    for i in config.start..config.start.saturating_add(config.iterations) {
        if config.time_limit.is_some_and(|t| started.elapsed() >= t) {
            break;
        }
        let text = input(config.seed, i, seeds);
        let t0 = Instant::now();
        let result = check_detailed(&text);
        let took = t0.elapsed();
        if took > report.slowest.0 {
            report.slowest = (took, i);
        }
        report.iterations += 1;
        match result {
            Ok(o) => {
                let s = &mut report.stats;
                s.loaded += u64::from(o.loaded);
                s.planned += u64::from(o.planned);
                s.plan_errors += u64::from(o.plan_failed);
                s.policies_loaded += u64::from(o.policies_loaded);
            }
            Err(f) => match report.kinds.iter().position(|k| *k == f.kind) {
                Some(k) => report.failures[k].count += 1,
                None => {
                    let minimized = minimize(&text);
                    report.kinds.push(f.kind);
                    report.failures.push(Failure {
                        iteration: i,
                        message: f.detail,
                        input: text,
                        minimized,
                        count: 1,
                    });
                }
            },
        }
        if last.elapsed() >= config.progress_every {
            last = Instant::now();
            report.elapsed = started.elapsed();
            progress(&report);
        }
    }
    report.elapsed = started.elapsed();
    report
}
