//! Gate conditions: every form of contract §3 normalized into one [`Condition`], and its
//! evaluation against a job's ledger.
//!
//! Forms accepted wherever a condition is expected (a gate's `condition`, the items of
//! `conditions[]`, of `clauses[]`, of `all[]`/`any[]`, and a gate stage's `config`):
//! * a clause: `{field, equals}` or `{field, operator, value, previous_value}` (and, in a gate
//!   stage's `config`, `{key, expected}` = `{field: key, operator: equals, value: expected}`);
//! * a group: `{match | mode: all|any, clauses: [...]}` (`match` defaults to `all`);
//! * `{all: [...], any: [...]}` (either or both; both are ANDed).
//!
//! Groups of one are collapsed and nested groups of the same kind flattened, so equivalent
//! forms give equal conditions.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::diag::Sink;
use super::read::{self, backticked, fmt_num, Map};
use super::yaml::{Loc, Node};

/// A comparison in a clause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// The field equals `value`.
    Equals,
    /// The field is set and differs from `value`.
    NotEquals,
    /// The field is set.
    Exists,
    /// The field is not set.
    NotExists,
    /// The field equals one of the items of the list `value`.
    In,
    /// The field is set and equals none of the items of the list `value`.
    NotIn,
    /// The field differs from `previous_value`, or else from the value seen at the first
    /// evaluation.
    Changed,
}

impl Operator {
    /// Every operator, in documentation order.
    pub const ALL: [Operator; 7] = [
        Operator::Equals,
        Operator::NotEquals,
        Operator::Exists,
        Operator::NotExists,
        Operator::In,
        Operator::NotIn,
        Operator::Changed,
    ];

    /// The operator's name in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Equals => "equals",
            Operator::NotEquals => "not_equals",
            Operator::Exists => "exists",
            Operator::NotExists => "not_exists",
            Operator::In => "in",
            Operator::NotIn => "not_in",
            Operator::Changed => "changed",
        }
    }

    /// The operator named `name`.
    pub fn parse(name: &str) -> Option<Operator> {
        Operator::ALL.into_iter().find(|o| o.as_str() == name)
    }

    fn needs_value(self) -> bool {
        matches!(self, Operator::Equals | Operator::NotEquals | Operator::In | Operator::NotIn)
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a condition's field lives: a bare field or `ledger.x` is a ledger field of the job;
/// `metadata.x` is in the job's ledger metadata.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum FieldRef {
    /// A ledger field (dots in the name are kept: `a.b` is the field `a.b`).
    Ledger(String),
    /// A key of the ledger metadata.
    Metadata(String),
}

impl FieldRef {
    /// Normalizes a field as written: `ledger.x` → `Ledger(x)`, `metadata.x` (also
    /// `ledger.metadata.x`) → `Metadata(x)`, `x` → `Ledger(x)`. `None` when nothing is left
    /// after the prefix (`ledger.`).
    pub fn parse(field: &str) -> Option<FieldRef> {
        let rest = field.strip_prefix("ledger.").unwrap_or(field);
        let r = match rest.strip_prefix("metadata.") {
            Some(m) => FieldRef::Metadata(m.to_string()),
            None => FieldRef::Ledger(rest.to_string()),
        };
        match &r {
            FieldRef::Ledger(s) | FieldRef::Metadata(s) if s.is_empty() => None,
            _ => Some(r),
        }
    }
}

impl fmt::Display for FieldRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldRef::Ledger(s) => f.write_str(s),
            FieldRef::Metadata(s) => write!(f, "metadata.{s}"),
        }
    }
}

/// One comparison of a ledger field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Clause {
    /// The field compared.
    pub field: FieldRef,
    /// The comparison.
    pub operator: Operator,
    /// The value compared with (a list for `in`/`not_in`; `None` for `exists`,
    /// `not_exists`, `changed`).
    pub value: Option<Value>,
    /// For `changed`: the baseline; absent, the value seen at the first evaluation.
    pub previous_value: Option<Value>,
}

/// A gate condition in normal form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Condition {
    /// Every part holds.
    All(Vec<Condition>),
    /// At least one part holds.
    Any(Vec<Condition>),
    /// One comparison.
    Clause(Clause),
}

/// The outcome of evaluating a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Eval {
    /// The condition holds.
    True,
    /// The condition does not hold (yet).
    False,
    /// A field it needs is not set yet (the gate keeps waiting; never an error).
    NotYet,
}

/// The values seen at the first evaluation, for `changed` clauses without a
/// `previous_value`. Keep one per gate wait (persist it with a parked run).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Baselines {
    /// Field (as displayed by [`FieldRef`]) → value first seen (`null`: it was not set).
    pub values: BTreeMap<String, Value>,
}

impl Baselines {
    /// No baseline recorded yet.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Condition {
    /// `All` of `parts`, flattened; a single part is returned as is.
    pub fn all(parts: Vec<Condition>) -> Condition {
        Self::group(parts, true)
    }

    /// `Any` of `parts`, flattened; a single part is returned as is.
    pub fn any(parts: Vec<Condition>) -> Condition {
        Self::group(parts, false)
    }

    fn group(parts: Vec<Condition>, all: bool) -> Condition {
        let mut flat = Vec::with_capacity(parts.len());
        for p in parts {
            match p {
                Condition::All(inner) if all => flat.extend(inner),
                Condition::Any(inner) if !all => flat.extend(inner),
                other => flat.push(other),
            }
        }
        if flat.len() == 1 {
            return flat.pop().unwrap_or(Condition::All(Vec::new()));
        }
        if all {
            Condition::All(flat)
        } else {
            Condition::Any(flat)
        }
    }

    /// Whether two conditions mean the same (numbers compared by value: `1` = `1.0`).
    pub fn equivalent(&self, other: &Condition) -> bool {
        match (self, other) {
            (Condition::All(a), Condition::All(b)) | (Condition::Any(a), Condition::Any(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.equivalent(y))
            }
            (Condition::Clause(a), Condition::Clause(b)) => {
                a.field == b.field
                    && a.operator == b.operator
                    && opt_json_eq(a.value.as_ref(), b.value.as_ref())
                    && opt_json_eq(a.previous_value.as_ref(), b.previous_value.as_ref())
            }
            _ => false,
        }
    }

    /// Every field the condition reads, in order of appearance.
    pub fn fields(&self) -> Vec<&FieldRef> {
        let mut out = Vec::new();
        self.collect_fields(&mut out);
        out
    }

    fn collect_fields<'a>(&'a self, out: &mut Vec<&'a FieldRef>) {
        match self {
            Condition::All(p) | Condition::Any(p) => p.iter().for_each(|c| c.collect_fields(out)),
            Condition::Clause(c) => out.push(&c.field),
        }
    }

    /// Evaluates the condition. `lookup` returns a field's current value (`None`, or JSON
    /// `null`, when it is not set). Every part is evaluated (no short cut), so `changed`
    /// clauses record their baseline in `baselines` at the first evaluation.
    ///
    /// `All`: false if a part is false, else not-yet if a part is not-yet, else true.
    /// `Any`: true if a part is true, else not-yet if a part is not-yet, else false.
    pub fn evaluate(&self, lookup: &dyn Fn(&FieldRef) -> Option<Value>, baselines: &mut Baselines) -> Eval {
        match self {
            Condition::All(parts) => {
                let r: Vec<Eval> = parts.iter().map(|p| p.evaluate(lookup, baselines)).collect();
                if r.contains(&Eval::False) {
                    Eval::False
                } else if r.contains(&Eval::NotYet) {
                    Eval::NotYet
                } else {
                    Eval::True
                }
            }
            Condition::Any(parts) => {
                let r: Vec<Eval> = parts.iter().map(|p| p.evaluate(lookup, baselines)).collect();
                if r.contains(&Eval::True) {
                    Eval::True
                } else if r.contains(&Eval::NotYet) {
                    Eval::NotYet
                } else {
                    Eval::False
                }
            }
            Condition::Clause(c) => c.evaluate(lookup, baselines),
        }
    }
}

impl Clause {
    /// Evaluates one clause (see [`Condition::evaluate`]).
    pub fn evaluate(&self, lookup: &dyn Fn(&FieldRef) -> Option<Value>, baselines: &mut Baselines) -> Eval {
        let current = lookup(&self.field).filter(|v| !v.is_null());
        let b = |x: bool| if x { Eval::True } else { Eval::False };
        let listed = |v: &Value| match &self.value {
            Some(Value::Array(items)) => items.iter().any(|i| json_eq(i, v)),
            _ => false,
        };
        match self.operator {
            Operator::NotExists => b(current.is_none()),
            Operator::Changed => {
                let key = self.field.to_string();
                let baseline = match &self.previous_value {
                    Some(p) => p.clone(),
                    None => match baselines.values.get(&key) {
                        Some(v) => v.clone(),
                        None => {
                            baselines.values.insert(key, current.clone().unwrap_or(Value::Null));
                            return if current.is_none() { Eval::NotYet } else { Eval::False };
                        }
                    },
                };
                match current {
                    None => Eval::NotYet,
                    Some(v) => b(!json_eq(&v, &baseline)),
                }
            }
            op => match current {
                None => Eval::NotYet,
                Some(v) => match op {
                    Operator::Equals => b(self.value.as_ref().is_some_and(|x| json_eq(x, &v))),
                    Operator::NotEquals => b(!self.value.as_ref().is_some_and(|x| json_eq(x, &v))),
                    Operator::Exists => Eval::True,
                    Operator::In => b(listed(&v)),
                    Operator::NotIn => b(!listed(&v)),
                    Operator::NotExists | Operator::Changed => unreachable!("handled above"),
                },
            },
        }
    }
}

/// JSON equality with numbers compared by value (`1` equals `1.0`).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || matches!((x.as_f64(), y.as_f64()), (Some(p), Some(q)) if p == q)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn opt_json_eq(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => json_eq(x, y),
        (None, None) => true,
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

const CLAUSE_KEYS: [&str; 5] = ["field", "equals", "operator", "value", "previous_value"];
const KEY_FORM_KEYS: [&str; 2] = ["key", "expected"];
const GROUP_KEYS: [&str; 3] = ["match", "mode", "clauses"];
const ALL_ANY_KEYS: [&str; 2] = ["all", "any"];

/// Where a condition is parsed, which decides the extra keys accepted.
pub(crate) struct CondParser<'s> {
    pub(crate) sink: &'s mut Sink,
    /// "of gate `x`", "in `config` of gate stage `s`": appended to messages.
    pub(crate) ctx: String,
    /// Accept `{key, expected}` clauses (in a gate stage's `config`).
    pub(crate) key_form: bool,
}

impl CondParser<'_> {
    /// Parses a condition mapping, ignoring the keys in `extra` (the caller reads them).
    pub(crate) fn mapping(&mut self, node: &Node, extra: &[&str]) -> Option<Condition> {
        let ctx = self.ctx.clone();
        let m = read::mapping(self.sink, node, &format!("a condition {ctx}"))?;
        self.map(m, extra)
    }

    fn map(&mut self, m: Map<'_>, extra: &[&str]) -> Option<Condition> {
        let ctx = self.ctx.clone();
        let is_clause = m.has("field") || (self.key_form && m.has("key"));
        let is_group = GROUP_KEYS.iter().any(|k| m.has(k));
        let is_all_any = ALL_ANY_KEYS.iter().any(|k| m.has(k));
        let mut allowed: Vec<&str> = Vec::new();
        if is_clause {
            allowed.extend(CLAUSE_KEYS);
            if self.key_form {
                allowed.extend(KEY_FORM_KEYS);
            }
            allowed.extend(extra);
            m.check_keys(self.sink, &allowed, &format!("in a condition clause {ctx}"));
            self.clause(m)
        } else if is_group {
            allowed.extend(GROUP_KEYS);
            allowed.extend(extra);
            m.check_keys(self.sink, &allowed, &format!("in a condition group {ctx}"));
            self.group(m)
        } else if is_all_any {
            allowed.extend(ALL_ANY_KEYS);
            allowed.extend(extra);
            m.check_keys(self.sink, &allowed, &format!("in a condition {ctx}"));
            self.all_any(m)
        } else {
            allowed.extend(CLAUSE_KEYS);
            if self.key_form {
                allowed.extend(KEY_FORM_KEYS);
            }
            allowed.extend(GROUP_KEYS);
            allowed.extend(ALL_ANY_KEYS);
            allowed.extend(extra);
            m.check_keys(self.sink, &allowed, &format!("in a condition {ctx}"));
            let forms = if self.key_form {
                "`field` (or `key`) for a clause, `clauses` for a group, or `all`/`any`"
            } else {
                "`field` for a clause, `clauses` for a group, or `all`/`any`"
            };
            self.sink.error(m.node.loc, format!("a condition {ctx} needs {forms}"));
            None
        }
    }

    fn clause(&mut self, m: Map<'_>) -> Option<Condition> {
        let ctx = self.ctx.clone();
        let cl = format!("in a condition clause {ctx}");
        let mut ok = true;
        // The field.
        let field_node = match (m.get_raw("field"), m.get_raw("key")) {
            (Some(f), Some(k)) if self.key_form => {
                self.sink.error(
                    k.loc,
                    format!("a condition clause {ctx} has both `field` and `key`; give one of them"),
                );
                ok = false;
                Some(f)
            }
            (Some(f), _) => Some(f),
            (None, k) => k,
        };
        let field = field_node.and_then(|n| {
            let raw = read::string(self.sink, n, &format!("the field {cl}"))?;
            if !read::is_field(&raw) {
                self.sink.error(
                    n.loc,
                    format!("field `{raw}` {cl} is invalid: use only letters, digits, `_`, `-` and `.`"),
                );
                return None;
            }
            match FieldRef::parse(&raw) {
                Some(f) => Some(f),
                None => {
                    self.sink.error(n.loc, format!("field `{raw}` {cl} names no field after its prefix"));
                    None
                }
            }
        });
        // The value: at most one of equals / expected / value.
        let sources: Vec<(&str, &Node)> = ["equals", "expected", "value"]
            .into_iter()
            .filter(|k| *k != "expected" || self.key_form)
            .filter_map(|k| m.get_raw(k).map(|n| (k, n)))
            .collect();
        if sources.len() > 1 {
            let names: Vec<&str> = sources.iter().map(|(k, _)| *k).collect();
            self.sink.error(
                sources[1].1.loc,
                format!(
                    "a condition clause {ctx} gives both {}; give one of them",
                    names.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(" and ")
                ),
            );
            ok = false;
        }
        let shorthand = sources.iter().find(|(k, _)| *k != "value").map(|(k, _)| *k);
        let value_node = sources.first().map(|(_, n)| *n);
        // The operator.
        let operator = match m.get_raw("operator") {
            Some(n) => {
                let name = read::string(self.sink, n, &format!("`operator` {cl}"))?;
                match Operator::parse(&name) {
                    Some(op) => {
                        if let Some(k) = shorthand {
                            if op != Operator::Equals {
                                self.sink.error(
                                    n.loc,
                                    format!(
                                        "`{k}` means operator `equals`, but a condition clause {ctx} says `operator: {op}`; use `value` with `{op}`"
                                    ),
                                );
                                ok = false;
                            }
                        }
                        Some(op)
                    }
                    None => {
                        let names = Operator::ALL.map(Operator::as_str);
                        self.sink.error(
                            n.loc,
                            format!(
                                "unknown operator `{name}` {cl}{}",
                                read::suggestion(&name, names, "valid operators")
                            ),
                        );
                        None
                    }
                }
            }
            None if shorthand.is_some() => Some(Operator::Equals),
            None => {
                self.sink.error(
                    m.node.loc,
                    format!(
                        "a condition clause {ctx} needs `equals` or an `operator` (one of {})",
                        backticked(&Operator::ALL.map(Operator::as_str))
                    ),
                );
                None
            }
        };
        let operator = operator?;
        let mut value = value_node.map(Node::to_json);
        if operator.needs_value() && value_node.is_none() {
            self.sink.error(m.node.loc, format!("operator `{operator}` {cl} needs a `value`"));
            ok = false;
        }
        if let (Operator::In | Operator::NotIn, Some(n)) = (operator, value_node) {
            if n.items().is_none() {
                self.sink.error(
                    n.loc,
                    format!("operator `{operator}` {cl} needs a list as its value, found {}", n.describe()),
                );
                ok = false;
            }
        }
        if !operator.needs_value() {
            if let Some(n) = value_node {
                self.sink.warning(
                    n.loc,
                    format!("the value {cl} is ignored: operator `{operator}` compares with no value"),
                );
                value = None;
            }
        }
        let mut previous_value = m.get_raw("previous_value").map(Node::to_json);
        if operator != Operator::Changed {
            if let Some(n) = m.get_raw("previous_value") {
                self.sink.warning(
                    n.loc,
                    format!("`previous_value` {cl} is ignored: only operator `changed` uses it"),
                );
                previous_value = None;
            }
        }
        let field = field?;
        ok.then_some(Condition::Clause(Clause { field, operator, value, previous_value }))
    }

    fn group(&mut self, m: Map<'_>) -> Option<Condition> {
        let ctx = self.ctx.clone();
        let mut ok = true;
        let mode_node = match (m.get_raw("match"), m.get_raw("mode")) {
            (Some(a), Some(b)) => {
                self.sink
                    .error(b.loc, format!("a condition group {ctx} has both `match` and `mode`; give one"));
                ok = false;
                Some(a)
            }
            (a, b) => a.or(b),
        };
        let all = match mode_node {
            None => true,
            Some(n) => match read::text_of(n) {
                Some("all") => true,
                Some("any") => false,
                _ => {
                    self.sink.error(
                        n.loc,
                        format!("`match` {ctx} must be `all` or `any`, found {}", n.describe()),
                    );
                    ok = false;
                    true
                }
            },
        };
        let parts = match m.get_raw("clauses") {
            Some(n) => self.list(n, "clauses"),
            None => {
                self.sink.error(
                    m.node.loc,
                    format!("a condition group {ctx} needs `clauses` (a list of conditions)"),
                );
                None
            }
        };
        let parts = parts?;
        if !ok {
            return None;
        }
        Some(if all { Condition::all(parts) } else { Condition::any(parts) })
    }

    fn all_any(&mut self, m: Map<'_>) -> Option<Condition> {
        let all = m.get_raw("all").map(|n| self.list(n, "all"));
        let any = m.get_raw("any").map(|n| self.list(n, "any"));
        let mut parts = Vec::new();
        if let Some(all) = all {
            parts.push(Condition::all(all?));
        }
        if let Some(any) = any {
            parts.push(Condition::any(any?));
        }
        Some(Condition::all(parts))
    }

    /// A non-empty list of conditions under `key`.
    pub(crate) fn list(&mut self, node: &Node, key: &str) -> Option<Vec<Condition>> {
        let ctx = self.ctx.clone();
        let items = read::list(self.sink, node, &format!("`{key}` {ctx}"), "conditions")?;
        if items.is_empty() {
            self.sink.error(node.loc, format!("`{key}` {ctx} is empty; list at least one condition"));
            return None;
        }
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items {
            match self.mapping(item, &[]) {
                Some(c) => out.push(c),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }
}

/// Gate timing read from one mapping: `timeout_seconds` (1–86,400) and
/// `poll_interval_seconds` (0.5–300), each with where it was written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timing {
    /// `timeout_seconds` and its location.
    pub timeout_seconds: Option<(f64, Loc)>,
    /// `poll_interval_seconds` and its location.
    pub poll_interval_seconds: Option<(f64, Loc)>,
}

/// Smallest and largest `timeout_seconds`.
pub const TIMEOUT_RANGE: (f64, f64) = (1.0, 86_400.0);
/// Smallest and largest `poll_interval_seconds`.
pub const POLL_RANGE: (f64, f64) = (0.5, 300.0);
/// `poll_interval_seconds` when none is given.
pub const DEFAULT_POLL_SECONDS: f64 = 5.0;
/// The shortest pause between two evaluations of a gate's condition, in seconds: a smaller
/// `retry.delay_seconds` (0 included) is raised to it, so a gate never busy-loops.
pub const MIN_GATE_PAUSE_SECONDS: f64 = POLL_RANGE.0;
/// The longest a gate may wait, in seconds (one day, the largest `timeout_seconds`): a gate
/// with no `timeout_seconds` whose `retry` allows a longer wait (`max_attempts` evaluations,
/// [`MIN_GATE_PAUSE_SECONDS`] or more apart) is a load-time error.
pub const MAX_GATE_WAIT_SECONDS: f64 = TIMEOUT_RANGE.1;

/// Reads the timing keys of a mapping (range-checked).
pub(crate) fn read_timing(sink: &mut Sink, m: Map<'_>, ctx: &str) -> Timing {
    let mut t = Timing::default();
    if let Some(n) = m.get("timeout_seconds") {
        t.timeout_seconds =
            read::number_in(sink, n, &format!("`timeout_seconds` {ctx}"), TIMEOUT_RANGE.0, TIMEOUT_RANGE.1)
                .map(|v| (v, n.loc));
    }
    if let Some(n) = m.get("poll_interval_seconds") {
        t.poll_interval_seconds =
            read::number_in(sink, n, &format!("`poll_interval_seconds` {ctx}"), POLL_RANGE.0, POLL_RANGE.1)
                .map(|v| (v, n.loc));
    }
    t
}

/// For messages: a number as written.
pub(crate) fn seconds(v: f64) -> String {
    fmt_num(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::yaml::parse_str;
    use serde_json::json;
    use std::path::Path;
    use std::sync::Arc;

    fn parse(text: &str, key_form: bool) -> (Option<Condition>, Vec<String>) {
        let path: Arc<Path> = Arc::from(Path::new("c.yaml"));
        let node = parse_str(&path, text).unwrap().value;
        let mut sink = Sink::new(&path);
        let c = CondParser { sink: &mut sink, ctx: "of gate `g`".into(), key_form }
            .mapping(&node, &["timeout_seconds", "poll_interval_seconds"]);
        (c, sink.sorted().iter().map(ToString::to_string).collect())
    }

    fn ok(text: &str) -> Condition {
        let (c, d) = parse(text, true);
        assert!(d.is_empty(), "{d:?}");
        c.unwrap()
    }

    fn clause(field: FieldRef, operator: Operator, value: Option<Value>) -> Condition {
        Condition::Clause(Clause { field, operator, value, previous_value: None })
    }

    fn ledger(f: &str) -> FieldRef {
        FieldRef::Ledger(f.into())
    }

    #[test]
    fn field_refs_normalize() {
        assert_eq!(FieldRef::parse("x"), Some(ledger("x")));
        assert_eq!(FieldRef::parse("ledger.x"), Some(ledger("x")));
        assert_eq!(FieldRef::parse("metadata.x"), Some(FieldRef::Metadata("x".into())));
        assert_eq!(FieldRef::parse("ledger.metadata.x.y"), Some(FieldRef::Metadata("x.y".into())));
        assert_eq!(FieldRef::parse("ledger."), None);
        assert_eq!(FieldRef::Metadata("x".into()).to_string(), "metadata.x");
    }

    #[test]
    fn all_forms_normalize_to_the_same_condition() {
        let want = clause(ledger("pdf_ir_ready"), Operator::Equals, Some(json!(true)));
        for text in [
            "field: pdf_ir_ready\nequals: true\n",
            "field: ledger.pdf_ir_ready\nequals: true\ntimeout_seconds: 9\n",
            "key: ledger.pdf_ir_ready\nexpected: true\n",
            "field: pdf_ir_ready\noperator: equals\nvalue: true\n",
            "match: all\nclauses:\n  - {field: pdf_ir_ready, operator: equals, value: true}\n",
            "mode: any\nclauses:\n  - {field: pdf_ir_ready, equals: true}\n",
            "all:\n  - {field: pdf_ir_ready, equals: true}\n",
        ] {
            assert_eq!(ok(text), want, "{text}");
        }
        let both = ok(
            "all: [{field: a, equals: 1}]\nany: [{field: b, equals: 2}, {field: metadata.c, operator: exists}]\n",
        );
        assert_eq!(
            both,
            Condition::All(vec![
                clause(ledger("a"), Operator::Equals, Some(json!(1))),
                Condition::Any(vec![
                    clause(ledger("b"), Operator::Equals, Some(json!(2))),
                    clause(FieldRef::Metadata("c".into()), Operator::Exists, None),
                ]),
            ])
        );
        assert!(ok("field: a\nequals: 1\n").equivalent(&ok("field: a\nequals: 1.0\n")));
    }

    #[test]
    fn unknown_operator_is_located() {
        let (c, d) = parse("field: a\noperator: equal\nvalue: 1\n", false);
        assert!(c.is_none());
        assert_eq!(
            d,
            ["c.yaml:2:11: error: unknown operator `equal` in a condition clause of gate `g`; did you mean `equals`?"]
        );
    }

    #[test]
    fn in_needs_a_list() {
        let (c, d) = parse("field: a\noperator: not_in\nvalue: x\n", false);
        assert!(c.is_none());
        assert_eq!(
            d,
            ["c.yaml:3:8: error: operator `not_in` in a condition clause of gate `g` needs a list as its value, found a string `x`"]
        );
        let (_, d) = parse("field: a\noperator: in\n", false);
        assert_eq!(d, ["c.yaml:1:1: error: operator `in` in a condition clause of gate `g` needs a `value`"]);
    }

    #[test]
    fn bad_clause_keys_and_fields() {
        let (_, d) = parse("field: a b\nequals: 1\nvalu: 2\n", false);
        assert_eq!(
            d,
            [
                "c.yaml:1:8: error: field `a b` in a condition clause of gate `g` is invalid: use only letters, digits, `_`, `-` and `.`",
                "c.yaml:3:1: error: unknown key `valu` in a condition clause of gate `g`; did you mean `value`?",
            ]
        );
        let (_, d) = parse("key: a\nexpected: 1\n", false);
        assert_eq!(
            d,
            [
                "c.yaml:1:1: error: unknown key `key` in a condition of gate `g`; valid keys: `field`, `equals`, `operator`, `value`, `previous_value`, `match`, `mode`, `clauses`, `all`, `any`, `timeout_seconds`, `poll_interval_seconds`",
                "c.yaml:1:1: error: a condition of gate `g` needs `field` for a clause, `clauses` for a group, or `all`/`any`",
                "c.yaml:2:1: error: unknown key `expected` in a condition of gate `g`; valid keys: `field`, `equals`, `operator`, `value`, `previous_value`, `match`, `mode`, `clauses`, `all`, `any`, `timeout_seconds`, `poll_interval_seconds`",
            ]
        );
        let (_, d) = parse("match: some\nclauses: []\n", false);
        assert_eq!(
            d,
            [
                "c.yaml:1:8: error: `match` of gate `g` must be `all` or `any`, found a string `some`",
                "c.yaml:2:10: error: `clauses` of gate `g` is empty; list at least one condition",
            ]
        );
        let (_, d) = parse("field: a\n", false);
        assert_eq!(
            d,
            ["c.yaml:1:1: error: a condition clause of gate `g` needs `equals` or an `operator` (one of `equals`, `not_equals`, `exists`, `not_exists`, `in`, `not_in`, `changed`)"]
        );
        let (c, d) = parse("field: a\noperator: exists\nvalue: 1\n", false);
        assert!(c.is_some());
        assert_eq!(
            d,
            ["c.yaml:3:8: warning: the value in a condition clause of gate `g` is ignored: operator `exists` compares with no value"]
        );
    }

    fn eval(c: &Condition, ledger_: &Value, b: &mut Baselines) -> Eval {
        let l = ledger_.clone();
        c.evaluate(
            &move |f: &FieldRef| match f {
                FieldRef::Ledger(k) => l.get(k).cloned(),
                FieldRef::Metadata(k) => l.get("metadata").and_then(|m| m.get(k)).cloned(),
            },
            b,
        )
    }

    fn op(o: Operator, v: Option<Value>) -> Condition {
        clause(ledger("f"), o, v)
    }

    #[test]
    fn operators_evaluate() {
        let b = &mut Baselines::new();
        let unset = json!({});
        let null = json!({"f": null});
        let one = json!({"f": 1});
        use Eval::*;
        let cases: Vec<(Condition, [Eval; 3])> = vec![
            // (condition, [unset, f = 1, f = null])
            (op(Operator::Equals, Some(json!(1.0))), [NotYet, True, NotYet]),
            (op(Operator::Equals, Some(json!(2))), [NotYet, False, NotYet]),
            (op(Operator::NotEquals, Some(json!(2))), [NotYet, True, NotYet]),
            (op(Operator::NotEquals, Some(json!(1))), [NotYet, False, NotYet]),
            (op(Operator::Exists, None), [NotYet, True, NotYet]),
            (op(Operator::NotExists, None), [True, False, True]),
            (op(Operator::In, Some(json!([0, 1]))), [NotYet, True, NotYet]),
            (op(Operator::In, Some(json!([2]))), [NotYet, False, NotYet]),
            (op(Operator::NotIn, Some(json!([2]))), [NotYet, True, NotYet]),
            (op(Operator::NotIn, Some(json!([1]))), [NotYet, False, NotYet]),
        ];
        for (c, want) in cases {
            assert_eq!(eval(&c, &unset, b), want[0], "{c:?} unset");
            assert_eq!(eval(&c, &one, b), want[1], "{c:?} one");
            assert_eq!(eval(&c, &null, b), want[2], "{c:?} null");
        }
        let metadata = clause(FieldRef::Metadata("m".into()), Operator::Equals, Some(json!("y")));
        assert_eq!(eval(&metadata, &json!({"metadata": {"m": "y"}}), b), True);
        assert_eq!(eval(&metadata, &json!({"m": "y"}), b), NotYet);
    }

    #[test]
    fn changed_uses_previous_value_or_first_seen() {
        let mut b = Baselines::new();
        let with_prev = Condition::Clause(Clause {
            field: ledger("f"),
            operator: Operator::Changed,
            value: None,
            previous_value: Some(json!("a")),
        });
        assert_eq!(eval(&with_prev, &json!({}), &mut b), Eval::NotYet);
        assert_eq!(eval(&with_prev, &json!({"f": "a"}), &mut b), Eval::False);
        assert_eq!(eval(&with_prev, &json!({"f": "b"}), &mut b), Eval::True);
        assert!(b.values.is_empty());

        let first_seen = op(Operator::Changed, None);
        assert_eq!(eval(&first_seen, &json!({"f": 1}), &mut b), Eval::False);
        assert_eq!(b.values.get("f"), Some(&json!(1)));
        assert_eq!(eval(&first_seen, &json!({"f": 1.0}), &mut b), Eval::False);
        assert_eq!(eval(&first_seen, &json!({"f": 2}), &mut b), Eval::True);
        assert_eq!(eval(&first_seen, &json!({}), &mut b), Eval::NotYet);

        // First seen unset: becoming set is a change.
        let mut b = Baselines::new();
        assert_eq!(eval(&first_seen, &json!({}), &mut b), Eval::NotYet);
        assert_eq!(eval(&first_seen, &json!({"f": 0}), &mut b), Eval::True);
    }

    #[test]
    fn groups_combine_three_valued() {
        let b = &mut Baselines::new();
        let a = op(Operator::Equals, Some(json!(1)));
        let g = clause(ledger("g"), Operator::Equals, Some(json!(1)));
        let all = Condition::all(vec![a.clone(), g.clone()]);
        let any = Condition::any(vec![a, g]);
        assert_eq!(eval(&all, &json!({"f": 1}), b), Eval::NotYet);
        assert_eq!(eval(&all, &json!({"f": 2}), b), Eval::False);
        assert_eq!(eval(&all, &json!({"f": 1, "g": 1}), b), Eval::True);
        assert_eq!(eval(&any, &json!({"f": 1}), b), Eval::True);
        assert_eq!(eval(&any, &json!({"f": 2}), b), Eval::NotYet);
        assert_eq!(eval(&any, &json!({"f": 2, "g": 2}), b), Eval::False);
    }
}
