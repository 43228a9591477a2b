//! Dotted paths into JSON values: `best_oa_location.pdf_url`, `locations[].pdf_url`,
//! `locations.0.pdf_url`.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One step of a [`UrlPath`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// A mapping key.
    Key(String),
    /// A numeric segment: a list index (on a mapping, the key with that text).
    Index(usize),
    /// `[]`: every element of a list, or every value of a mapping.
    Expand,
}

/// A dotted path evaluated over a JSON value, as `url_extractors[].path` and
/// `sources[].attribute` give it (contract §5).
///
/// Segments are separated by `.`. A segment is a key (`pdf_url`), a number (`0`: a list
/// index), or either followed by brackets: `locations[]` expands a list (or a mapping's
/// values, in key order), `locations[0]` indexes it. Evaluation yields every string the path
/// reaches; anything else it reaches (numbers, mappings, missing keys) yields nothing.
///
/// ```
/// use stages_builtin::download::UrlPath;
/// let v = serde_json::json!({"locations": [{"pdf_url": "https://a/1.pdf"}, {"pdf_url": null}]});
/// let p: UrlPath = "locations[].pdf_url".parse().unwrap();
/// assert_eq!(p.strings(&v), ["https://a/1.pdf"]);
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UrlPath {
    text: String,
    steps: Vec<Step>,
}

/// A path that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad path `{path}`: {reason}")]
pub struct PathError {
    /// The path as given.
    pub path: String,
    /// What is wrong with it.
    pub reason: String,
}

impl UrlPath {
    /// Parses a path.
    pub fn parse(text: &str) -> Result<UrlPath, PathError> {
        let err = |reason: &str| PathError { path: text.to_owned(), reason: reason.to_owned() };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(err("it is empty"));
        }
        let mut steps = Vec::new();
        for segment in trimmed.split('.') {
            let (name, mut rest) = match segment.find('[') {
                Some(i) => (&segment[..i], &segment[i..]),
                None => (segment, ""),
            };
            if name.contains(']') {
                return Err(err(&format!("segment `{segment}` has a `]` without `[`")));
            }
            if name.is_empty() && rest.is_empty() {
                return Err(err("it has an empty segment (two dots, or a leading or trailing dot)"));
            }
            if !name.is_empty() {
                steps.push(match name.parse::<usize>() {
                    Ok(i) if name.bytes().all(|b| b.is_ascii_digit()) => Step::Index(i),
                    _ => Step::Key(name.to_owned()),
                });
            }
            while !rest.is_empty() {
                let Some(close) = rest.find(']') else {
                    return Err(err(&format!("segment `{segment}` has a `[` without `]`")));
                };
                let inside = &rest[1..close];
                if inside.is_empty() {
                    steps.push(Step::Expand);
                } else if inside.bytes().all(|b| b.is_ascii_digit()) {
                    let i = inside
                        .parse::<usize>()
                        .map_err(|_| err(&format!("index `{inside}` is too large")))?;
                    steps.push(Step::Index(i));
                } else {
                    return Err(err(&format!(
                        "`[{inside}]` in segment `{segment}`: brackets hold nothing (`[]`, expand) or a list index"
                    )));
                }
                rest = &rest[close + 1..];
                if !rest.is_empty() && !rest.starts_with('[') {
                    return Err(err(&format!(
                        "segment `{segment}` continues after `]`: separate segments with `.`"
                    )));
                }
            }
        }
        Ok(UrlPath { text: trimmed.to_owned(), steps })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the path's first segment is the key `first`.
    pub(crate) fn starts_with_key(&self, first: &str) -> bool {
        matches!(self.steps.first(), Some(Step::Key(k)) if k == first) && self.steps.len() > 1
    }

    /// The same path without its first segment (`context.metadata.x` → `metadata.x`).
    pub(crate) fn without_first(&self) -> UrlPath {
        let text = self.text.split_once('.').map_or("", |(_, r)| r).to_owned();
        UrlPath { text, steps: self.steps[1..].to_vec() }
    }

    /// Every value the path reaches in `root`, in order.
    pub fn values<'v>(&self, root: &'v Value) -> Vec<&'v Value> {
        let mut current = vec![root];
        for step in &self.steps {
            let mut next = Vec::new();
            for v in current {
                match (step, v) {
                    (Step::Key(k), Value::Object(m)) => next.extend(m.get(k)),
                    (Step::Index(i), Value::Array(a)) => next.extend(a.get(*i)),
                    (Step::Index(i), Value::Object(m)) => next.extend(m.get(&i.to_string())),
                    (Step::Expand, Value::Array(a)) => next.extend(a.iter()),
                    (Step::Expand, Value::Object(m)) => next.extend(m.values()),
                    _ => {}
                }
            }
            current = next;
        }
        current
    }

    /// Every string the path reaches in `root`, in order.
    pub fn strings<'v>(&self, root: &'v Value) -> Vec<&'v str> {
        self.values(root).into_iter().filter_map(Value::as_str).collect()
    }
}

impl std::str::FromStr for UrlPath {
    type Err = PathError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UrlPath::parse(s)
    }
}

impl TryFrom<String> for UrlPath {
    type Error = PathError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        UrlPath::parse(&s)
    }
}

impl From<UrlPath> for String {
    fn from(p: UrlPath) -> String {
        p.text
    }
}

impl fmt::Display for UrlPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for UrlPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UrlPath({:?})", self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> UrlPath {
        UrlPath::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn keys_and_nesting() {
        let v = json!({"a": {"b": {"c": "x"}}, "s": "top"});
        assert_eq!(p("a.b.c").strings(&v), ["x"]);
        assert_eq!(p("s").strings(&v), ["top"]);
        assert!(p("a.b").strings(&v).is_empty(), "a mapping is not a string");
        assert!(p("a.z.c").strings(&v).is_empty());
        assert!(p("s.x").strings(&v).is_empty(), "a key on a string reaches nothing");
    }

    #[test]
    fn expand_lists_and_mappings() {
        let v = json!({
            "locations": [{"pdf_url": "u1"}, {"pdf_url": null}, {"other": 1}, {"pdf_url": "u2"}],
            "by_host": {"b": {"pdf_url": "vb"}, "a": {"pdf_url": "va"}},
            "nested": [[{"u": "n1"}], [{"u": "n2"}, {"u": "n3"}]],
            "list": ["l1", 2, "l2"],
        });
        assert_eq!(p("locations[].pdf_url").strings(&v), ["u1", "u2"]);
        assert_eq!(p("by_host[].pdf_url").strings(&v), ["va", "vb"], "mapping values, in key order");
        assert_eq!(p("nested[][].u").strings(&v), ["n1", "n2", "n3"]);
        assert_eq!(p("list[]").strings(&v), ["l1", "l2"]);
        assert!(p("list").strings(&v).is_empty(), "a list is expanded only by []");
        assert_eq!(p("[].pdf_url").strings(&json!([{"pdf_url": "r"}])), ["r"]);
    }

    #[test]
    fn numeric_segments_index() {
        let v = json!({"locations": [{"pdf_url": "u0"}, {"pdf_url": "u1"}], "m": {"0": "zero"}});
        assert_eq!(p("locations.1.pdf_url").strings(&v), ["u1"]);
        assert_eq!(p("locations[0].pdf_url").strings(&v), ["u0"]);
        assert!(p("locations.5.pdf_url").strings(&v).is_empty());
        assert_eq!(p("m.0").strings(&v), ["zero"], "a number on a mapping is a key");
        assert_eq!(p("locations[].pdf_url").values(&v).len(), 2);
    }

    #[test]
    fn bad_paths_are_errors() {
        for bad in ["", " ", "a..b", ".a", "a.", "a[", "a]", "a[x]", "a[]b", "a[-1]"] {
            assert!(UrlPath::parse(bad).is_err(), "{bad:?} should not parse");
        }
        let e = UrlPath::parse("a[x]").unwrap_err();
        assert!(e.to_string().contains("a[x]"), "{e}");
    }

    #[test]
    fn round_trips_as_a_string() {
        let path = p("locations[].pdf_url");
        assert_eq!(serde_json::to_value(&path).unwrap(), json!("locations[].pdf_url"));
        let back: UrlPath = serde_json::from_value(json!("locations[].pdf_url")).unwrap();
        assert_eq!(back, path);
        assert!(serde_json::from_value::<UrlPath>(json!("a..b")).is_err());
    }

    #[test]
    fn first_segment_helpers() {
        let path = p("context.metadata.pdf_url");
        assert!(path.starts_with_key("context"));
        assert_eq!(path.without_first().as_str(), "metadata.pdf_url");
        assert_eq!(path.without_first().strings(&json!({"metadata": {"pdf_url": "x"}})), ["x"]);
        assert!(!p("context").starts_with_key("context"));
    }
}
