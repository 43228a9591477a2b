//! Resilience policies (contract §6): a policy file `policies: {name: {...}}` loaded with the
//! same located YAML layer and diagnostics as pipeline files, the built-in set, and the
//! check that every stage's policy exists.
//!
//! Per policy: `max_attempts` (required, 1–10), `timeout_seconds` (required, 1–600),
//! `backoff{strategy: exponential|linear|none, initial, maximum, jitter}` (defaults:
//! exponential, 0.5, 30, true; `initial` and `maximum` at most [`MAX_BACKOFF_SECONDS`], one
//! day; for strategies other than `none`: `initial ≥ 0.05`, `maximum ≥ 0.1`,
//! `maximum ≥ initial`), `circuit_breaker{failure_threshold 3–10, recovery_timeout 1–600}`
//! (also `expected_exception`, a historical key that is accepted and ignored),
//! `rate_limit{rate_limit_per_second 0.1–100}`.
//!
//! Every number is checked where it is read: a negative, non-finite (`.nan`, `.inf`) or
//! out-of-range value is an error at its `file:line:column`, naming the field and the allowed
//! range, so `stagectl validate` reports it and `stagectl run` refuses the file before anything
//! runs. The runtime turns seconds into [`Duration`]s only through [`duration_from_secs`],
//! which never panics, so even a [`Policy`] built in code with a wild value cannot bring a run
//! down.
//!
//! Layering: this module is built on the pipeline-file layer ([`crate::spec`]'s located YAML,
//! readers and diagnostics), and that layer knows nothing of policies; the plan and the
//! runner sit above both.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::spec::diag::{self, Diagnostic, Loaded, Sink};
use crate::spec::read::{self, suggestion};
use crate::spec::yaml::{self, Loc, Node};
use crate::spec::{LoadError, PipelineSpec};
use crate::suggest;

/// The original platform's policy file (`default`, `gpu-bound`, `polite-api`).
const BUILTIN_YAML: &str = include_str!("policy/builtin.yaml");
/// The path shown in diagnostics about the built-in policies.
pub const BUILTIN_PATH: &str = "<builtin>/resilience.yaml";

/// The largest `backoff.initial` and `backoff.maximum`, in seconds: one day. A pause longer
/// than that is a mistake, not a policy.
pub const MAX_BACKOFF_SECONDS: f64 = 86_400.0;

/// `secs` seconds as a [`Duration`], clamped to `0..=max_secs`; NaN is zero. Never panics,
/// unlike [`Duration::from_secs_f64`] (which panics on negative, NaN, infinite and huge
/// values): the one conversion the runtime uses for user-given seconds.
///
/// ```
/// use std::time::Duration;
/// use stage_core::policy::duration_from_secs;
/// assert_eq!(duration_from_secs(1.5, 10.0), Duration::from_millis(1500));
/// assert_eq!(duration_from_secs(1e308, 10.0), Duration::from_secs(10));
/// assert_eq!(duration_from_secs(f64::INFINITY, 10.0), Duration::from_secs(10));
/// assert_eq!(duration_from_secs(-1.0, 10.0), Duration::ZERO);
/// assert_eq!(duration_from_secs(f64::NAN, 10.0), Duration::ZERO);
/// ```
pub fn duration_from_secs(secs: f64, max_secs: f64) -> Duration {
    if secs.is_nan() {
        return Duration::ZERO;
    }
    let max = if max_secs.is_nan() { 0.0 } else { max_secs.clamp(0.0, 1e15) };
    Duration::try_from_secs_f64(secs.clamp(0.0, max)).unwrap_or(Duration::ZERO)
}

const TOP_KEYS: [&str; 1] = ["policies"];
const POLICY_KEYS: [&str; 5] =
    ["max_attempts", "timeout_seconds", "backoff", "circuit_breaker", "rate_limit"];
const BACKOFF_KEYS: [&str; 4] = ["strategy", "initial", "maximum", "jitter"];
const BREAKER_KEYS: [&str; 3] = ["failure_threshold", "recovery_timeout", "expected_exception"];
const RATE_KEYS: [&str; 1] = ["rate_limit_per_second"];

/// How the pause between attempts grows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackoffStrategy {
    /// `initial`, doubling each attempt, capped at `maximum`.
    Exponential,
    /// `initial`, growing by `initial` each attempt, capped at `maximum`.
    Linear,
    /// No pause.
    None,
}

impl BackoffStrategy {
    /// The strategy's name in files.
    pub fn as_str(self) -> &'static str {
        match self {
            BackoffStrategy::Exponential => "exponential",
            BackoffStrategy::Linear => "linear",
            BackoffStrategy::None => "none",
        }
    }
}

impl fmt::Display for BackoffStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `backoff` of a policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Backoff {
    /// `strategy` (default `exponential`).
    pub strategy: BackoffStrategy,
    /// `initial` pause in seconds (default 0.5).
    pub initial: f64,
    /// `maximum` pause in seconds (default 30).
    pub maximum: f64,
    /// `jitter` (default `true`).
    pub jitter: bool,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { strategy: BackoffStrategy::Exponential, initial: 0.5, maximum: 30.0, jitter: true }
    }
}

/// `circuit_breaker` of a policy.
#[derive(Clone, Debug, PartialEq)]
pub struct CircuitBreaker {
    /// `failure_threshold` (3–10): consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// `recovery_timeout` in seconds (1–600): how long the circuit stays open.
    pub recovery_timeout: f64,
}

/// `rate_limit` of a policy.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimit {
    /// `rate_limit_per_second` (0.1–100).
    pub rate_limit_per_second: f64,
}

/// One named resilience policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// The policy's name (its key under `policies`).
    pub name: String,
    /// `max_attempts` (1–10).
    pub max_attempts: u32,
    /// `timeout_seconds` (1–600): the bound on each attempt.
    pub timeout_seconds: f64,
    /// `backoff`.
    pub backoff: Backoff,
    /// `circuit_breaker`, if any.
    pub circuit_breaker: Option<CircuitBreaker>,
    /// `rate_limit`, if any.
    pub rate_limit: Option<RateLimit>,
    /// Where the policy's name is written.
    pub loc: Loc,
}

/// A policy file that did not load: every error, one per line when displayed.
#[derive(Clone, Debug, thiserror::Error)]
pub struct PolicyError {
    /// The errors, in file order (never empty).
    pub errors: Vec<Diagnostic>,
    /// Warnings found alongside, in file order.
    pub warnings: Vec<Diagnostic>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        diag::write_lines(f, &self.errors)
    }
}

impl From<LoadError> for PolicyError {
    fn from(e: LoadError) -> Self {
        PolicyError { errors: e.errors, warnings: e.warnings }
    }
}

/// The policies of one policy file, in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicySet {
    /// The file they came from ([`BUILTIN_PATH`] for [`PolicySet::builtin`]).
    pub path: Arc<Path>,
    policies: Vec<Policy>,
}

impl PolicySet {
    /// The original platform's three policies, `default`, `gpu-bound` and `polite-api`,
    /// with its values.
    pub fn builtin() -> PolicySet {
        match Self::load_str(BUILTIN_PATH, BUILTIN_YAML) {
            Ok(l) => l.value,
            // The embedded file is tested; this cannot happen.
            Err(e) => panic!("the built-in policy file is invalid:\n{e}"),
        }
    }

    /// Loads a policy file.
    pub fn load_file(path: impl AsRef<Path>) -> Result<Loaded<PolicySet>, PolicyError> {
        let path: Arc<Path> = Arc::from(path.as_ref());
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::load_text(&path, &text),
            Err(e) => Err(LoadError::whole_file(&path, format!("cannot read the policy file: {e}")).into()),
        }
    }

    /// Loads policy text; `path` is used in messages.
    pub fn load_str(path: impl AsRef<Path>, text: &str) -> Result<Loaded<PolicySet>, PolicyError> {
        let path: Arc<Path> = Arc::from(path.as_ref());
        Self::load_text(&path, text)
    }

    fn load_text(path: &Arc<Path>, text: &str) -> Result<Loaded<PolicySet>, PolicyError> {
        let doc = yaml::parse_str(path, text)?;
        let mut sink = Sink::new(path);
        sink.diags.extend(doc.warnings);
        let policies = read_policies(&mut sink, &doc.value);
        sink.finish(PolicySet { path: Arc::clone(path), policies }).map_err(PolicyError::from)
    }

    /// The policy named `name`.
    pub fn get(&self, name: &str) -> Option<&Policy> {
        self.policies.iter().find(|p| p.name == name)
    }

    /// Every policy, in file order.
    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    /// The policy names, in file order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.policies.iter().map(|p| p.name.as_str())
    }

    /// One error per stage whose policy (its `policy`, else `default`) is not in this set,
    /// located in the pipeline file and naming the nearest policy.
    pub fn check_names(&self, spec: &PipelineSpec) -> Vec<Diagnostic> {
        let mut sink = Sink::new(&spec.path);
        for s in &spec.stages {
            let name = s.policy_name();
            if self.get(name).is_some() {
                continue;
            }
            let tail = suggestion(name, self.names(), "policies");
            match (&s.policy, s.locs.policy) {
                (Some(p), Some(loc)) => sink.error(
                    loc,
                    format!("stage `{}` uses unknown policy `{p}`{tail}", s.name),
                ),
                _ => sink.error(
                    s.locs.name,
                    format!(
                        "stage `{}` has no `policy`, so it uses `default`, which the policy set does not define{tail}",
                        s.name
                    ),
                ),
            }
        }
        sink.sorted()
    }
}

fn read_policies(sink: &mut Sink, root: &Node) -> Vec<Policy> {
    let mut out = Vec::new();
    let Some(top) = root.entries() else {
        sink.error(
            root.loc,
            format!("a policy file must be a mapping with `policies`, found {}", root.describe()),
        );
        return out;
    };
    let m = read::Map { node: root, entries: top };
    m.check_keys(sink, &TOP_KEYS, "at top level");
    let Some(p) = m.require(sink, "policies", "at top level") else {
        return out;
    };
    let Some(pm) = read::mapping(sink, p, "`policies`") else {
        return out;
    };
    for (key, node) in pm.entries {
        if let Some(policy) = read_policy(sink, &key.text, key.loc, node) {
            out.push(policy);
        }
    }
    out
}

fn read_policy(sink: &mut Sink, name: &str, loc: Loc, node: &Node) -> Option<Policy> {
    let ctx = format!("policy `{name}`");
    let m = read::mapping(sink, node, &format!("`{name}` in `policies`"))?;
    m.check_keys(sink, &POLICY_KEYS, &format!("in {ctx}"));
    let max_attempts = m
        .require(sink, "max_attempts", &format!("in {ctx}"))
        .and_then(|n| read::integer_in(sink, n, &format!("`max_attempts` of {ctx}"), 1, 10));
    let timeout_seconds = m
        .require(sink, "timeout_seconds", &format!("in {ctx}"))
        .and_then(|n| read::number_in(sink, n, &format!("`timeout_seconds` of {ctx}"), 1.0, 600.0));
    let backoff = match m.get("backoff") {
        Some(n) => read_backoff(sink, n, &ctx),
        None => Some(Backoff::default()),
    };
    // Read every part before combining them, so every problem is reported.
    let circuit_breaker = m.get("circuit_breaker").map(|n| read_breaker(sink, n, &ctx));
    let rate_limit = m.get("rate_limit").map(|n| read_rate_limit(sink, n, &ctx));
    let circuit_breaker = match circuit_breaker {
        Some(b) => Some(b?),
        None => None,
    };
    let rate_limit = match rate_limit {
        Some(r) => Some(r?),
        None => None,
    };
    Some(Policy {
        name: name.to_string(),
        max_attempts: u32::try_from(max_attempts?).ok()?,
        timeout_seconds: timeout_seconds?,
        backoff: backoff?,
        circuit_breaker,
        rate_limit,
        loc,
    })
}

fn read_backoff(sink: &mut Sink, n: &Node, ctx: &str) -> Option<Backoff> {
    let what = format!("`backoff` of {ctx}");
    let m = read::mapping(sink, n, &what)?;
    m.check_keys(sink, &BACKOFF_KEYS, &format!("in {what}"));
    let d = Backoff::default();
    let mut ok = true;
    let strategy = match m.get("strategy") {
        None => d.strategy,
        Some(s) => match read::text_of(s) {
            Some("exponential") => BackoffStrategy::Exponential,
            Some("linear") => BackoffStrategy::Linear,
            Some("none") => BackoffStrategy::None,
            other => {
                let found = other.map_or_else(|| s.describe(), |t| format!("`{t}`"));
                sink.error(
                    s.loc,
                    format!(
                        "`strategy` in {what} must be `exponential`, `linear` or `none`, found {found}{}",
                        other.map_or_else(String::new, |t| suggest::did_you_mean(&suggest::nearest(
                            t,
                            ["exponential", "linear", "none"],
                            1
                        )))
                    ),
                );
                ok = false;
                d.strategy
            }
        },
    };
    let mut num = |key: &str, default: f64| -> Option<(f64, Option<Loc>)> {
        match m.get(key) {
            None => Some((default, None)),
            Some(v) => {
                let x = read::number_in(sink, v, &format!("`{key}` in {what}"), 0.0, MAX_BACKOFF_SECONDS)?;
                Some((x, Some(v.loc)))
            }
        }
    };
    let initial = num("initial", d.initial);
    let maximum = num("maximum", d.maximum);
    let jitter = match m.get("jitter") {
        None => Some(d.jitter),
        Some(j) => read::boolean(sink, j, &format!("`jitter` in {what}")),
    };
    let ((initial, iloc), (maximum, mloc)) = (initial?, maximum?);
    if strategy != BackoffStrategy::None {
        if initial < 0.05 {
            sink.error(
                iloc.unwrap_or(n.loc),
                format!(
                    "`initial` in {what} must be at least 0.05 for strategy `{strategy}`, found {}",
                    read::fmt_num(initial)
                ),
            );
            ok = false;
        }
        if maximum < 0.1 {
            sink.error(
                mloc.unwrap_or(n.loc),
                format!(
                    "`maximum` in {what} must be at least 0.1 for strategy `{strategy}`, found {}",
                    read::fmt_num(maximum)
                ),
            );
            ok = false;
        } else if maximum < initial {
            sink.error(
                mloc.unwrap_or(n.loc),
                format!(
                    "`maximum` in {what} ({}) must be at least `initial` ({}) for strategy `{strategy}`",
                    read::fmt_num(maximum),
                    read::fmt_num(initial)
                ),
            );
            ok = false;
        }
    }
    let jitter = jitter?;
    ok.then_some(Backoff { strategy, initial, maximum, jitter })
}

fn read_rate_limit(sink: &mut Sink, n: &Node, ctx: &str) -> Option<RateLimit> {
    let what = format!("`rate_limit` of {ctx}");
    let m = read::mapping(sink, n, &what)?;
    m.check_keys(sink, &RATE_KEYS, &format!("in {what}"));
    let r = m
        .require(sink, "rate_limit_per_second", &format!("in {what}"))
        .and_then(|v| read::number_in(sink, v, &format!("`rate_limit_per_second` in {what}"), 0.1, 100.0))?;
    Some(RateLimit { rate_limit_per_second: r })
}

fn read_breaker(sink: &mut Sink, n: &Node, ctx: &str) -> Option<CircuitBreaker> {
    let what = format!("`circuit_breaker` of {ctx}");
    let m = read::mapping(sink, n, &what)?;
    m.check_keys(sink, &BREAKER_KEYS, &format!("in {what}"));
    let threshold = m
        .require(sink, "failure_threshold", &format!("in {what}"))
        .and_then(|v| read::integer_in(sink, v, &format!("`failure_threshold` in {what}"), 3, 10));
    let recovery = m
        .require(sink, "recovery_timeout", &format!("in {what}"))
        .and_then(|v| read::number_in(sink, v, &format!("`recovery_timeout` in {what}"), 1.0, 600.0));
    if let Some(e) = m.get("expected_exception") {
        read::string(sink, e, &format!("`expected_exception` in {what}"));
    }
    Some(CircuitBreaker { failure_threshold: u32::try_from(threshold?).ok()?, recovery_timeout: recovery? })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compat_file() -> std::path::PathBuf {
        std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/compat/resilience.yaml"))
    }

    fn errors(text: &str) -> Vec<String> {
        match PolicySet::load_str("r.yaml", text) {
            Ok(_) => panic!("loaded without error:\n{text}"),
            Err(e) => e.errors.iter().map(ToString::to_string).collect(),
        }
    }

    fn one(body: &str) -> String {
        format!("policies:\n  p:\n    max_attempts: 3\n    timeout_seconds: 30\n{body}")
    }

    #[test]
    fn the_compat_policy_file_loads_and_equals_the_builtin_set() {
        let path = compat_file();
        let loaded = PolicySet::load_file(&path).unwrap();
        assert!(loaded.warnings.is_empty());
        let builtin = PolicySet::builtin();
        assert_eq!(loaded.value.policies(), builtin.policies());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            BUILTIN_YAML,
            "the embedded copy is the compat file"
        );
    }

    #[test]
    fn builtin_policies_have_the_original_values() {
        let set = PolicySet::builtin();
        assert_eq!(set.names().collect::<Vec<_>>(), ["default", "gpu-bound", "polite-api"]);
        assert_eq!(&*set.path, Path::new(BUILTIN_PATH));
        let breaker = Some(CircuitBreaker { failure_threshold: 5, recovery_timeout: 60.0 });
        let d = set.get("default").unwrap();
        assert_eq!((d.max_attempts, d.timeout_seconds), (3, 30.0));
        assert_eq!(
            d.backoff,
            Backoff { strategy: BackoffStrategy::Exponential, initial: 0.5, maximum: 30.0, jitter: true }
        );
        assert_eq!(d.circuit_breaker, breaker);
        assert_eq!(d.rate_limit, None);
        let g = set.get("gpu-bound").unwrap();
        assert_eq!((g.max_attempts, g.timeout_seconds), (1, 60.0));
        assert_eq!(
            g.backoff,
            Backoff { strategy: BackoffStrategy::None, initial: 0.0, maximum: 0.0, jitter: false }
        );
        assert_eq!(g.circuit_breaker, breaker);
        let p = set.get("polite-api").unwrap();
        assert_eq!((p.max_attempts, p.timeout_seconds), (10, 10.0));
        assert_eq!(
            p.backoff,
            Backoff { strategy: BackoffStrategy::Linear, initial: 1.0, maximum: 10.0, jitter: false }
        );
        assert_eq!(p.circuit_breaker, None);
        assert_eq!(p.rate_limit, Some(RateLimit { rate_limit_per_second: 5.0 }));
        assert!(set.get("nope").is_none());
    }

    #[test]
    fn ranges_are_checked() {
        let text = "policies:\n  p:\n    max_attempts: 11\n    timeout_seconds: 0.5\n    circuit_breaker: {failure_threshold: 2, recovery_timeout: 601}\n    rate_limit: {rate_limit_per_second: 0.05}\n";
        assert_eq!(
            errors(text),
            [
                "r.yaml:3:19: error: `max_attempts` of policy `p` must be between 1 and 10, found 11",
                "r.yaml:4:22: error: `timeout_seconds` of policy `p` must be between 1 and 600, found 0.5",
                "r.yaml:5:42: error: `failure_threshold` in `circuit_breaker` of policy `p` must be between 3 and 10, found 2",
                "r.yaml:5:63: error: `recovery_timeout` in `circuit_breaker` of policy `p` must be between 1 and 600, found 601",
                "r.yaml:6:41: error: `rate_limit_per_second` in `rate_limit` of policy `p` must be between 0.1 and 100, found 0.05",
            ]
        );
    }

    #[test]
    fn backoff_bounds_apply_to_strategies_other_than_none() {
        assert_eq!(
            errors(&one("    backoff: {strategy: linear, initial: 0.01, maximum: 0.05}\n")),
            [
                "r.yaml:5:42: error: `initial` in `backoff` of policy `p` must be at least 0.05 for strategy `linear`, found 0.01",
                "r.yaml:5:57: error: `maximum` in `backoff` of policy `p` must be at least 0.1 for strategy `linear`, found 0.05",
            ]
        );
        assert_eq!(
            errors(&one("    backoff: {initial: 2, maximum: 1}\n")),
            ["r.yaml:5:36: error: `maximum` in `backoff` of policy `p` (1) must be at least `initial` (2) for strategy `exponential`"]
        );
        assert_eq!(
            errors(&one("    backoff: {strategy: exponentail}\n")),
            ["r.yaml:5:25: error: `strategy` in `backoff` of policy `p` must be `exponential`, `linear` or `none`, found `exponentail`; did you mean `exponential`?"]
        );
        let none =
            PolicySet::load_str("r.yaml", &one("    backoff: {strategy: none, initial: 0, maximum: 0}\n"))
                .unwrap();
        assert_eq!(none.value.get("p").unwrap().backoff.strategy, BackoffStrategy::None);
        let default = PolicySet::load_str("r.yaml", &one("")).unwrap();
        assert_eq!(default.value.get("p").unwrap().backoff, Backoff::default());
    }

    #[test]
    fn hostile_backoff_numbers_are_located_errors_with_the_range() {
        assert_eq!(
            errors(&one("    backoff: {initial: 1e308, maximum: 1e308}\n")),
            [
                "r.yaml:5:24: error: `initial` in `backoff` of policy `p` must be between 0 and 86400, found 1e308",
                "r.yaml:5:40: error: `maximum` in `backoff` of policy `p` must be between 0 and 86400, found 1e308",
            ]
        );
        assert_eq!(
            errors(&one("    backoff: {maximum: 1e9}\n")),
            ["r.yaml:5:24: error: `maximum` in `backoff` of policy `p` must be between 0 and 86400, found 1e9"]
        );
        assert_eq!(
            errors(&one("    backoff: {initial: .nan, maximum: .inf}\n")),
            [
                "r.yaml:5:24: error: `initial` in `backoff` of policy `p` must be between 0 and 86400, found .nan",
                "r.yaml:5:39: error: `maximum` in `backoff` of policy `p` must be between 0 and 86400, found .inf",
            ]
        );
        assert_eq!(
            errors(&one("    backoff: {initial: -1, maximum: 1e400}\n")),
            [
                "r.yaml:5:24: error: `initial` in `backoff` of policy `p` must be between 0 and 86400, found -1",
                "r.yaml:5:37: error: `maximum` in `backoff` of policy `p` must be between 0 and 86400, found 1e400",
            ]
        );
        let text = "policies:\n  p:\n    max_attempts: 1e30\n    timeout_seconds: -.inf\n    rate_limit: {rate_limit_per_second: .nan}\n";
        assert_eq!(
            errors(text),
            [
                "r.yaml:3:19: error: `max_attempts` of policy `p` must be between 1 and 10, found 1e30",
                "r.yaml:4:22: error: `timeout_seconds` of policy `p` must be between 1 and 600, found -.inf",
                "r.yaml:5:41: error: `rate_limit_per_second` in `rate_limit` of policy `p` must be between 0.1 and 100, found .nan",
            ]
        );
        // The documented maximum itself is accepted.
        let day =
            PolicySet::load_str("r.yaml", &one("    backoff: {initial: 86400, maximum: 86400}\n")).unwrap();
        assert_eq!(day.value.get("p").unwrap().backoff.maximum, MAX_BACKOFF_SECONDS);
    }

    #[test]
    fn unknown_and_missing_keys() {
        let text = "policy: {}\npolicies:\n  p:\n    max_attempt: 3\n    backoff: {jiter: true}\n    circuit_breaker: {failure_threshold: 5, recovery_timeout: 60, expected_exception: IOError}\n";
        assert_eq!(
            errors(text),
            [
                "r.yaml:1:1: error: unknown key `policy` at top level; valid keys: `policies`",
                "r.yaml:4:5: error: unknown key `max_attempt` in policy `p`; did you mean `max_attempts`?",
                "r.yaml:4:5: error: missing required key `max_attempts` in policy `p`",
                "r.yaml:4:5: error: missing required key `timeout_seconds` in policy `p`",
                "r.yaml:5:15: error: unknown key `jiter` in `backoff` of policy `p`; did you mean `jitter`?",
            ]
        );
        assert_eq!(
            errors("policies: [default]\n"),
            ["r.yaml:1:11: error: `policies` must be a mapping, found a list"]
        );
    }

    #[test]
    fn stage_policies_must_exist() {
        let spec = crate::spec::load_str(
            "p.yaml",
            "name: p\nversion: 2025-01-01\nstages:\n  - name: chunk\n    type: chunk\n    policy: gpu-bond\n  - name: embed\n    type: embed\n    policy: zzz\n  - name: index\n    type: index\n",
        )
        .unwrap()
        .value;
        let set = PolicySet::builtin();
        let msgs: Vec<String> = set.check_names(&spec).iter().map(ToString::to_string).collect();
        assert_eq!(
            msgs,
            [
                "p.yaml:6:13: error: stage `chunk` uses unknown policy `gpu-bond`; did you mean `gpu-bound`?",
                "p.yaml:9:13: error: stage `embed` uses unknown policy `zzz`; policies: `default`, `gpu-bound`, `polite-api`",
            ]
        );
        let only_gpu =
            PolicySet::load_str("r.yaml", "policies:\n  gpu-bound: {max_attempts: 1, timeout_seconds: 60}\n")
                .unwrap()
                .value;
        let msgs: Vec<String> = only_gpu.check_names(&spec).iter().map(ToString::to_string).collect();
        assert_eq!(
            msgs[2],
            "p.yaml:10:11: error: stage `index` has no `policy`, so it uses `default`, which the policy set does not define; policies: `gpu-bound`"
        );
    }
}
