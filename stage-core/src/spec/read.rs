//! Typed readers over the marked tree that report located, explanatory diagnostics.
//! Shared by the pipeline loader and the policy loader.

use super::diag::Sink;
use super::yaml::{KeyNode, Loc, Node, NodeKind, Scalar, ScalarValue};
use crate::suggest::{did_you_mean, nearest};

/// A mapping node and its entries.
#[derive(Clone, Copy)]
pub(crate) struct Map<'a> {
    pub(crate) node: &'a Node,
    pub(crate) entries: &'a [(KeyNode, Node)],
}

impl<'a> Map<'a> {
    /// The value under `key`; `None` when absent or null (an optional key set to null is
    /// treated as absent).
    pub(crate) fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries.iter().find(|(k, _)| k.text == key).map(|(_, v)| v).filter(|v| !v.is_null())
    }

    /// The value under `key`, null included.
    pub(crate) fn get_raw(&self, key: &str) -> Option<&'a Node> {
        self.entries.iter().find(|(k, _)| k.text == key).map(|(_, v)| v)
    }

    /// Whether `key` is present (even with a null value).
    pub(crate) fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _)| k.text == key)
    }

    /// Reports every key not in `allowed`, naming the nearest allowed one.
    pub(crate) fn check_keys(&self, sink: &mut Sink, allowed: &[&str], ctx: &str) {
        for (k, _) in self.entries {
            if !allowed.contains(&k.text.as_str()) {
                sink.error(k.loc, unknown_key(&k.text, allowed, ctx));
            }
        }
    }

    /// Reports a missing required key at the mapping.
    pub(crate) fn require(&self, sink: &mut Sink, key: &str, ctx: &str) -> Option<&'a Node> {
        match self.get_raw(key) {
            Some(v) => Some(v),
            None => {
                sink.error(self.node.loc, format!("missing required key `{key}` {ctx}"));
                None
            }
        }
    }
}

/// "unknown key `k` {ctx}; did you mean `x`?" (or the list of valid keys when none is near).
pub(crate) fn unknown_key(key: &str, allowed: &[&str], ctx: &str) -> String {
    format!("unknown key `{key}` {ctx}{}", suggestion(key, allowed.iter().copied(), "valid keys"))
}

/// "; did you mean `x`?" for the nearest candidate, else "; {noun}: `a`, `b`", else "".
pub(crate) fn suggestion<'a, I>(name: &str, candidates: I, noun: &str) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    let all: Vec<&str> = candidates.into_iter().collect();
    let near = nearest(name, all.iter().copied(), 1);
    if !near.is_empty() {
        did_you_mean(&near)
    } else if all.is_empty() {
        String::new()
    } else {
        format!("; {noun}: {}", backticked(&all))
    }
}

/// "`a`, `b`, `c`".
pub(crate) fn backticked<S: AsRef<str>>(items: &[S]) -> String {
    items.iter().map(|s| format!("`{}`", s.as_ref())).collect::<Vec<_>>().join(", ")
}

/// Expects a mapping.
pub(crate) fn mapping<'a>(sink: &mut Sink, node: &'a Node, what: &str) -> Option<Map<'a>> {
    match &node.kind {
        NodeKind::Mapping(entries) => Some(Map { node, entries }),
        _ => {
            sink.error(node.loc, format!("{what} must be a mapping, found {}", node.describe()));
            None
        }
    }
}

/// Expects a list.
pub(crate) fn list<'a>(sink: &mut Sink, node: &'a Node, what: &str, of: &str) -> Option<&'a [Node]> {
    match &node.kind {
        NodeKind::Sequence(items) => Some(items),
        _ => {
            sink.error(node.loc, format!("{what} must be a list of {of}, found {}", node.describe()));
            None
        }
    }
}

/// The text of a string scalar; plain numbers are accepted as their text.
pub(crate) fn text_of(node: &Node) -> Option<&str> {
    match &node.kind {
        NodeKind::Scalar(s) => match s.value {
            ScalarValue::Str(_) | ScalarValue::Int(_) | ScalarValue::Float(_) => Some(&s.text),
            _ => None,
        },
        _ => None,
    }
}

/// Expects a string (a plain number is taken as its text).
pub(crate) fn string(sink: &mut Sink, node: &Node, what: &str) -> Option<String> {
    match text_of(node) {
        Some(s) => Some(s.to_string()),
        None => {
            sink.error(node.loc, format!("{what} must be a string, found {}", node.describe()));
            None
        }
    }
}

/// Expects a list of strings; `of` names the items ("stage names").
pub(crate) fn string_list(sink: &mut Sink, node: &Node, what: &str, of: &str) -> Option<Vec<(String, Loc)>> {
    let items = list(sink, node, what, of)?;
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        match text_of(item) {
            Some(s) => out.push((s.to_string(), item.loc)),
            None => {
                sink.error(
                    item.loc,
                    format!("{what} must be a list of {of}; item {} is {}", i + 1, item.describe()),
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// Expects a number (integer or float, finite).
pub(crate) fn number(sink: &mut Sink, node: &Node, what: &str) -> Option<f64> {
    if let NodeKind::Scalar(s) = &node.kind {
        match s.value {
            ScalarValue::Int(i) => return Some(i as f64),
            ScalarValue::Float(f) if f.is_finite() => return Some(f),
            ScalarValue::Float(_) => {
                sink.error(node.loc, format!("{what} must be a finite number, found `{}`", s.text));
                return None;
            }
            _ => {}
        }
    }
    sink.error(node.loc, format!("{what} must be a number, found {}", node.describe()));
    None
}

/// Expects a number within `lo..=hi`; a non-finite one (`.nan`, `.inf`, `1e400`) is out of
/// range too. The message names the range and the number as written.
pub(crate) fn number_in(sink: &mut Sink, node: &Node, what: &str, lo: f64, hi: f64) -> Option<f64> {
    let out_of_range = |sink: &mut Sink, written: &str| {
        sink.error(
            node.loc,
            format!("{what} must be between {} and {}, found {written}", fmt_num(lo), fmt_num(hi)),
        );
    };
    let written = match &node.kind {
        NodeKind::Scalar(Scalar { value: ScalarValue::Float(f), text, .. }) if !f.is_finite() => {
            out_of_range(sink, text);
            return None;
        }
        NodeKind::Scalar(Scalar { text, .. }) => text.clone(),
        _ => String::new(),
    };
    let v = number(sink, node, what)?;
    if v < lo || v > hi {
        out_of_range(sink, &written);
        return None;
    }
    Some(v)
}

/// Expects a whole number within `lo..=hi`.
pub(crate) fn integer_in(sink: &mut Sink, node: &Node, what: &str, lo: i64, hi: i64) -> Option<i64> {
    let v = match &node.kind {
        NodeKind::Scalar(s) => match s.value {
            ScalarValue::Int(i) => Some(i),
            ScalarValue::Float(f) if f.fract() == 0.0 && f.abs() < 9e15 => Some(f as i64),
            // A whole number too large for `i64` (or infinite): out of range, said so.
            ScalarValue::Float(f) if !f.is_nan() && (f.is_infinite() || f.fract() == 0.0) => {
                sink.error(node.loc, format!("{what} must be between {lo} and {hi}, found {}", s.text));
                return None;
            }
            _ => None,
        },
        _ => None,
    };
    let Some(v) = v else {
        sink.error(node.loc, format!("{what} must be a whole number, found {}", node.describe()));
        return None;
    };
    if v < lo || v > hi {
        sink.error(node.loc, format!("{what} must be between {lo} and {hi}, found {v}"));
        return None;
    }
    Some(v)
}

/// Expects a boolean.
pub(crate) fn boolean(sink: &mut Sink, node: &Node, what: &str) -> Option<bool> {
    match &node.kind {
        NodeKind::Scalar(s) => match s.value {
            ScalarValue::Bool(b) => Some(b),
            _ => {
                sink.error(node.loc, format!("{what} must be `true` or `false`, found {}", node.describe()));
                None
            }
        },
        _ => {
            sink.error(node.loc, format!("{what} must be `true` or `false`, found {}", node.describe()));
            None
        }
    }
}

/// A number as people write it: `900`, `0.5`.
pub(crate) fn fmt_num(v: f64) -> String {
    format!("{v}")
}

/// `^[A-Za-z0-9_-]+$`
pub(crate) fn is_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `^[A-Za-z0-9_.-]+$`
pub(crate) fn is_field(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// `^[0-9]{4}-[0-9]{2}-[0-9]{2}(-[A-Za-z0-9]+)?$`
pub(crate) fn is_version(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() < 10 || !digits(0..4) || b[4] != b'-' || !digits(5..7) || b[7] != b'-' || !digits(8..10) {
        return false;
    }
    match &b[10..] {
        [] => true,
        [b'-', rest @ ..] => !rest.is_empty() && rest.iter().all(u8::is_ascii_alphanumeric),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(is_name("gate_pdf-ir1"));
        assert!(!is_name("a b"));
        assert!(!is_name(""));
        assert!(!is_name("a.b"));
        assert!(is_field("ledger.pdf_ir_ready"));
        assert!(!is_field("a/b"));
        for ok in ["2025-01-01", "2025-01-01-rc1", "0000-00-00-X"] {
            assert!(is_version(ok), "{ok}");
        }
        for bad in ["2025-1-01", "2025-01-01-", "2025-01-01_x", "v2025-01-01", "2025-01-01-a.b", ""] {
            assert!(!is_version(bad), "{bad}");
        }
    }

    #[test]
    fn suggestion_names_nearest_or_lists() {
        assert_eq!(
            suggestion("depend_on", ["name", "depends_on"], "valid keys"),
            "; did you mean `depends_on`?"
        );
        assert_eq!(suggestion("zzz", ["name", "type"], "valid keys"), "; valid keys: `name`, `type`");
        assert_eq!(suggestion("zzz", [], "valid keys"), "");
    }
}
