//! A small YAML tree whose every node keeps its `line:column`, built from `saphyr-parser`
//! events.
//!
//! * Plain scalars are resolved with the YAML 1.2 core schema (`null`/`~`/empty, `true`/`false`,
//!   integers including `0x`/`0o`, floats including `.inf`/`.nan`); anything else is a string,
//!   so `version: 2025-01-01` is the string `2025-01-01`. Quoted and block scalars are always
//!   strings; [`Scalar::quoted`] remembers which was which.
//! * Core-schema tags (`!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, `!!map`, `!!seq`) are
//!   honoured; any other tag is a located error.
//! * Anchors and aliases are resolved: an alias is a copy of the anchored node (its sub-nodes
//!   keep the locations of the anchored text; the copy itself is located at the alias). Merge
//!   keys (`<<`) get no special meaning.
//! * Bounded by what is materialised, not by what is written: a document whose tree (every
//!   node, anchored copies and alias expansions included) holds more than [`MAX_NODES`] nodes
//!   or weighs more than [`MAX_EXPANDED_BYTES`] is rejected, at the node that crossed the
//!   line, before it is built. A node weighs [`NODE_WEIGHT`] bytes plus the text of its
//!   scalar (twice for a string) or key; so a 10 KB anchor referenced 50,000 times (500 MB) is refused after a few
//!   thousand aliases, in milliseconds, whatever the number of aliases.
//! * A key repeated in one mapping: the last value wins (it takes the first key's slot), with a
//!   warning naming both lines (found through a hash map: linear in the number of keys). Keys
//!   must be scalars.
//! * A file holds one document; malformed YAML is one error at the parser's line and column.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span, StrInput, Tag};
use serde_json::Value;

use super::diag::{LoadError, Loaded, Sink};

/// Most nodes a document may expand to (through aliases) before it is rejected.
pub const MAX_NODES: usize = 1_000_000;
/// Most bytes a document may materialise (its nodes at [`NODE_WEIGHT`] each, plus the text of
/// every scalar and key, twice for a string, which is held as its value and as its text; alias
/// expansions and anchored copies included) before it is rejected:
/// 64 MiB, a few thousand times any real pipeline file, and a bound on the loader's memory
/// (a few hundred MB at most).
pub const MAX_EXPANDED_BYTES: usize = 64 * 1024 * 1024;
/// What one node counts for in [`MAX_EXPANDED_BYTES`], besides its text.
pub const NODE_WEIGHT: usize = 64;
/// Deepest nesting of mappings and sequences accepted.
pub const MAX_DEPTH: usize = 200;

/// A position in a file: 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Loc {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl Loc {
    /// A location from a 1-based line and column.
    pub fn new(line: u32, column: u32) -> Self {
        Loc { line, column }
    }

    fn from_marker(m: &saphyr_parser::Marker) -> Self {
        Loc {
            line: u32::try_from(m.line()).unwrap_or(u32::MAX),
            column: u32::try_from(m.col() + 1).unwrap_or(u32::MAX),
        }
    }
}

impl std::fmt::Display for Loc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// The resolved value of a scalar.
#[derive(Clone, Debug, PartialEq)]
pub enum ScalarValue {
    /// `null`, `~` or nothing.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer that fits in `i64`.
    Int(i64),
    /// A float (also integers too large for `i64`).
    Float(f64),
    /// Anything else, and every quoted or block scalar.
    Str(String),
}

/// A scalar: its resolved value, its text as written (after unescaping) and its style.
#[derive(Clone, Debug, PartialEq)]
pub struct Scalar {
    /// The resolved value.
    pub value: ScalarValue,
    /// The text of the scalar (unescaped, unquoted).
    pub text: String,
    /// Whether the scalar was quoted or a block scalar (`|`, `>`), not plain.
    pub quoted: bool,
}

/// A mapping key: its text and location.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyNode {
    /// The key's text (a key `1` is the text `1`).
    pub text: String,
    /// Where the key starts.
    pub loc: Loc,
}

/// What a node holds.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// A mapping, in file order, keys unique (a repeated key kept its last value).
    Mapping(Vec<(KeyNode, Node)>),
    /// A sequence.
    Sequence(Vec<Node>),
    /// A scalar.
    Scalar(Scalar),
}

/// A YAML node and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The content.
    pub kind: NodeKind,
    /// Where the node starts (for a mapping or sequence in block style: its first key or
    /// `-`).
    pub loc: Loc,
}

/// One step of a path into a tree: a mapping key or a sequence index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathSeg<'a> {
    /// A mapping key.
    Key(&'a str),
    /// A 0-based sequence index.
    Index(usize),
}

impl<'a> From<&'a str> for PathSeg<'a> {
    fn from(key: &'a str) -> Self {
        PathSeg::Key(key)
    }
}

impl From<usize> for PathSeg<'_> {
    fn from(index: usize) -> Self {
        PathSeg::Index(index)
    }
}

impl Node {
    /// A null scalar at `loc`.
    pub fn null(loc: Loc) -> Self {
        Node {
            kind: NodeKind::Scalar(Scalar { value: ScalarValue::Null, text: String::new(), quoted: false }),
            loc,
        }
    }

    /// The entries, when this is a mapping.
    pub fn entries(&self) -> Option<&[(KeyNode, Node)]> {
        match &self.kind {
            NodeKind::Mapping(m) => Some(m),
            _ => None,
        }
    }

    /// The items, when this is a sequence.
    pub fn items(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Sequence(s) => Some(s),
            _ => None,
        }
    }

    /// The scalar, when this is one.
    pub fn scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The string, when this is a string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar(Scalar { value: ScalarValue::Str(s), .. }) => Some(s),
            _ => None,
        }
    }

    /// Whether this is a null scalar.
    pub fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Scalar(Scalar { value: ScalarValue::Null, .. }))
    }

    /// The value under `key`, when this is a mapping holding it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries()?.iter().find(|(k, _)| k.text == key).map(|(_, v)| v)
    }

    /// The key node of `key`, when this is a mapping holding it.
    pub fn key(&self, key: &str) -> Option<&KeyNode> {
        self.entries()?.iter().find(|(k, _)| k.text == key).map(|(k, _)| k)
    }

    /// The node at `path` (keys into mappings, indexes into sequences), if it exists.
    pub fn find(&self, path: &[PathSeg<'_>]) -> Option<&Node> {
        let mut node = self;
        for seg in path {
            node = match seg {
                PathSeg::Key(k) => node.get(k)?,
                PathSeg::Index(i) => node.items()?.get(*i)?,
            };
        }
        Some(node)
    }

    /// The location of the node at `path`, or of the deepest node on the way to it when the
    /// path does not fully exist (for "bad config value at line N" messages).
    pub fn locate(&self, path: &[PathSeg<'_>]) -> Loc {
        let mut node = self;
        for seg in path {
            let next = match seg {
                PathSeg::Key(k) => node.get(k),
                PathSeg::Index(i) => node.items().and_then(|s| s.get(*i)),
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node.loc
    }

    /// The node as JSON: mappings become objects (keys as text), sequences arrays, scalars
    /// their resolved values. Non-finite floats (`.inf`, `.nan`) become `null`.
    pub fn to_json(&self) -> Value {
        match &self.kind {
            NodeKind::Mapping(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.text.clone(), v.to_json())).collect())
            }
            NodeKind::Sequence(s) => Value::Array(s.iter().map(Node::to_json).collect()),
            NodeKind::Scalar(s) => match &s.value {
                ScalarValue::Null => Value::Null,
                ScalarValue::Bool(b) => Value::Bool(*b),
                ScalarValue::Int(i) => Value::from(*i),
                ScalarValue::Float(f) => {
                    serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null)
                }
                ScalarValue::Str(s) => Value::String(s.clone()),
            },
        }
    }

    /// A short description for messages: "a mapping", "a list", "a string `x`", "a number
    /// `3`", "a boolean `true`", "null".
    pub fn describe(&self) -> String {
        match &self.kind {
            NodeKind::Mapping(_) => "a mapping".to_string(),
            NodeKind::Sequence(_) => "a list".to_string(),
            NodeKind::Scalar(s) => match &s.value {
                ScalarValue::Null => "null".to_string(),
                ScalarValue::Bool(b) => format!("a boolean `{b}`"),
                ScalarValue::Int(_) | ScalarValue::Float(_) => format!("a number `{}`", s.text),
                ScalarValue::Str(v) => format!("a string `{v}`"),
            },
        }
    }
}

/// Parses one YAML document. The result is the root node (a null scalar at 1:1 for an empty
/// file) and the warnings (repeated keys); a malformed document is a [`LoadError`] located at
/// the parser's line and column.
pub fn parse_str(path: &Arc<Path>, text: &str) -> Result<Loaded<Node>, LoadError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut b = Builder {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        sink: Sink::new(path),
        nodes: 0,
        bytes: 0,
        end: end_of_text(text),
    };
    match b.document() {
        Ok(root) => b.sink.finish(root),
        Err(e) => {
            let mut sink = Sink::new(path);
            sink.error(within(directive_column(e.loc, text), end_of_text(text)), e.message);
            Err(LoadError { errors: sink.diags, warnings: Vec::new() })
        }
    }
}

/// `loc` with its column in characters. saphyr-parser counts the name and parameters of a
/// directive (`%NAME param`) in bytes, so on a directive line holding non-ASCII text the
/// column of an error is a byte offset, possibly past the end of the line: on such a line
/// (one starting with `%`) the column is read as the byte offset it is. Elsewhere, and on
/// ASCII lines, the parser's columns are characters already.
fn directive_column(loc: Loc, text: &str) -> Loc {
    let Some(line) = nth_line(text, loc.line) else { return loc };
    if !line.starts_with('%') || line.is_ascii() || loc.column == 0 {
        return loc;
    }
    let mut byte = (loc.column as usize - 1).min(line.len());
    while !line.is_char_boundary(byte) {
        byte -= 1;
    }
    let column = line[..byte].chars().count() + 1;
    Loc { line: loc.line, column: u32::try_from(column).unwrap_or(u32::MAX) }
}

/// The end of `text`: its last line and the column after that line's last character. At the
/// end of a text that does not end with a line break, saphyr-parser locates errors and nodes
/// on the line after the last one, a line no editor shows; such locations are moved here.
fn end_of_text(text: &str) -> Loc {
    // `rest` ends as the last line; lines end at `\n`, `\r\n` or `\r` (see `nth_line`).
    let (mut lines, mut rest) = (1u32, text);
    while let Some(end) = rest.find(['\n', '\r']) {
        rest = &rest[end + if rest[end..].starts_with("\r\n") { 2 } else { 1 }..];
        lines = lines.saturating_add(1);
    }
    Loc { line: lines, column: u32::try_from(rest.chars().count() + 1).unwrap_or(u32::MAX) }
}

/// `loc`, or `end` (see [`end_of_text`]) when `loc` is past its line.
fn within(loc: Loc, end: Loc) -> Loc {
    if loc.line > end.line {
        end
    } else {
        loc
    }
}

/// Line `n` (1-based) of `text`, without its end; lines end at `\n`, `\r\n` or `\r`, as in
/// YAML.
fn nth_line(text: &str, n: u32) -> Option<&str> {
    let mut rest = text;
    for _ in 1..n {
        let end = rest.find(['\n', '\r'])?;
        let skip = if rest[end..].starts_with("\r\n") { 2 } else { 1 };
        rest = &rest[end + skip..];
    }
    Some(&rest[..rest.find(['\n', '\r']).unwrap_or(rest.len())])
}

struct YamlError {
    loc: Loc,
    message: String,
}

impl From<ScanError> for YamlError {
    fn from(e: ScanError) -> Self {
        YamlError { loc: Loc::from_marker(e.marker()), message: format!("invalid YAML: {}", e.info()) }
    }
}

fn err<T>(loc: Loc, message: impl Into<String>) -> Result<T, YamlError> {
    Err(YamlError { loc, message: message.into() })
}

struct Builder<'a> {
    parser: Parser<'a, StrInput<'a>>,
    /// Anchored nodes, with their node count and weight.
    anchors: HashMap<usize, (Node, Size)>,
    sink: Sink,
    nodes: usize,
    bytes: usize,
    /// The end of the text: no location is past it (see [`end_of_text`]).
    end: Loc,
}

/// What a subtree costs: its nodes and its weight in bytes.
#[derive(Clone, Copy, Default)]
struct Size {
    nodes: usize,
    bytes: usize,
}

enum Want {
    Map,
    Seq,
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), YamlError> {
        match self.parser.next_event() {
            Some(r) => Ok(r?),
            None => Ok((Event::StreamEnd, Span::default())),
        }
    }

    /// Adds `size` to what the document materialises; an error at `loc` past a limit.
    fn count(&mut self, size: Size, loc: Loc) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(size.nodes);
        self.bytes = self.bytes.saturating_add(size.bytes);
        if self.nodes > MAX_NODES {
            return err(
                loc,
                format!(
                    "the document expands to more than {MAX_NODES} nodes (through aliases); make it smaller"
                ),
            );
        }
        if self.bytes > MAX_EXPANDED_BYTES {
            return err(
                loc,
                format!(
                    "the document expands to more than {} MiB (through aliases or very long text); make it smaller",
                    MAX_EXPANDED_BYTES >> 20
                ),
            );
        }
        Ok(())
    }

    fn document(&mut self) -> Result<Node, YamlError> {
        let mut root = None;
        loop {
            let (ev, span) = self.next()?;
            let loc = within(Loc::from_marker(&span.start), self.end);
            match ev {
                Event::StreamStart | Event::Nothing => {}
                Event::StreamEnd => break,
                Event::DocumentStart(_) => {
                    if root.is_some() {
                        return err(loc, "a second YAML document (`---`); this file may hold only one");
                    }
                    let (ev, span) = self.next()?;
                    let node = if matches!(ev, Event::DocumentEnd) {
                        Node::null(within(Loc::from_marker(&span.start), self.end))
                    } else {
                        let node = self.node(ev, span, 0)?;
                        let (end, span) = self.next()?;
                        if !matches!(end, Event::DocumentEnd) {
                            return err(
                                within(Loc::from_marker(&span.start), self.end),
                                "invalid YAML: expected the end of the document",
                            );
                        }
                        node
                    };
                    root = Some(node);
                }
                _ => return err(loc, "invalid YAML: unexpected content outside a document"),
            }
        }
        Ok(root.unwrap_or_else(|| Node::null(Loc::new(1, 1))))
    }

    fn node(&mut self, ev: Event<'a>, span: Span, depth: usize) -> Result<Node, YamlError> {
        let loc = within(Loc::from_marker(&span.start), self.end);
        if depth > MAX_DEPTH {
            return err(loc, format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        match ev {
            Event::Alias(id) => match self.anchors.get(&id) {
                Some((_, size)) => {
                    // Counted before it is copied: an alias bomb is refused before it is built.
                    self.count(*size, loc)?;
                    let mut n = self.anchors.get(&id).map_or_else(|| Node::null(loc), |(n, _)| n.clone());
                    n.loc = loc;
                    Ok(n)
                }
                None => err(loc, "alias to an anchor that is not defined before it"),
            },
            Event::Scalar(text, style, anchor, tag) => {
                self.count(Size { nodes: 1, bytes: NODE_WEIGHT.saturating_add(text.len()) }, loc)?;
                let scalar = resolve_scalar(&text, style, tag.as_deref(), loc)?;
                if let ScalarValue::Str(v) = &scalar.value {
                    // A string is held twice: as its value and as its text.
                    self.count(Size { nodes: 0, bytes: v.len() }, loc)?;
                }
                let node = Node { kind: NodeKind::Scalar(scalar), loc };
                self.remember(anchor, &node)?;
                Ok(node)
            }
            Event::SequenceStart(anchor, tag) => {
                self.count(Size { nodes: 1, bytes: NODE_WEIGHT }, loc)?;
                check_collection_tag(tag.as_deref(), Want::Seq, loc)?;
                let mut items = Vec::new();
                loop {
                    let (ev, span) = self.next()?;
                    match ev {
                        Event::SequenceEnd => break,
                        ev => items.push(self.node(ev, span, depth + 1)?),
                    }
                }
                let node = Node { kind: NodeKind::Sequence(items), loc };
                self.remember(anchor, &node)?;
                Ok(node)
            }
            Event::MappingStart(anchor, tag) => {
                self.count(Size { nodes: 1, bytes: NODE_WEIGHT }, loc)?;
                check_collection_tag(tag.as_deref(), Want::Map, loc)?;
                let mut entries: Vec<(KeyNode, Node)> = Vec::new();
                // Each key's slot in `entries`: repeated keys are found in constant time.
                let mut slots: HashMap<String, usize> = HashMap::new();
                loop {
                    let (ev, span) = self.next()?;
                    let key = match ev {
                        Event::MappingEnd => break,
                        ev => self.node(ev, span, depth + 1)?,
                    };
                    let key = match key.kind {
                        NodeKind::Scalar(s) => KeyNode { text: s.text, loc: key.loc },
                        _ => {
                            return err(
                                key.loc,
                                "a mapping key must be a scalar (complex keys are not supported)",
                            )
                        }
                    };
                    let (ev, span) = self.next()?;
                    let value = self.node(ev, span, depth + 1)?;
                    if let Some(slot) = slots.get(&key.text).and_then(|&i| entries.get_mut(i)) {
                        self.sink.warning(
                            key.loc,
                            format!(
                                "key `{}` repeated in one mapping (lines {} and {}); the last value (line {}) wins",
                                key.text, slot.0.loc.line, key.loc.line, key.loc.line
                            ),
                        );
                        *slot = (key, value);
                    } else {
                        slots.insert(key.text.clone(), entries.len());
                        entries.push((key, value));
                    }
                }
                let node = Node { kind: NodeKind::Mapping(entries), loc };
                self.remember(anchor, &node)?;
                Ok(node)
            }
            _ => err(loc, "invalid YAML: unexpected event"),
        }
    }

    /// Keeps a copy of an anchored node for its aliases. The copy is materialised too, so it
    /// counts (nested anchors would otherwise copy a large subtree once per level).
    fn remember(&mut self, anchor: usize, node: &Node) -> Result<(), YamlError> {
        if anchor > 0 {
            let size = size_of(node);
            self.count(size, node.loc)?;
            self.anchors.insert(anchor, (node.clone(), size));
        }
        Ok(())
    }
}

/// The nodes and weight of a subtree (a mapping's keys count as nodes, as when parsed).
fn size_of(n: &Node) -> Size {
    let mut size = Size { nodes: 1, bytes: NODE_WEIGHT };
    let mut add = |s: Size| {
        size.nodes = size.nodes.saturating_add(s.nodes);
        size.bytes = size.bytes.saturating_add(s.bytes);
    };
    match &n.kind {
        NodeKind::Scalar(s) => {
            let value = if let ScalarValue::Str(v) = &s.value { v.len() } else { 0 };
            add(Size { nodes: 0, bytes: s.text.len().saturating_add(value) });
        }
        NodeKind::Sequence(items) => items.iter().for_each(|i| add(size_of(i))),
        NodeKind::Mapping(entries) => {
            for (k, v) in entries {
                add(Size { nodes: 1, bytes: NODE_WEIGHT.saturating_add(k.text.len()) });
                add(size_of(v));
            }
        }
    }
    size
}

fn tag_text(tag: &Tag) -> String {
    if tag.is_yaml_core_schema() {
        format!("!!{}", tag.suffix)
    } else if tag.handle == "!" || tag.handle.is_empty() {
        format!("!{}", tag.suffix)
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    }
}

fn core_suffix(tag: &Tag) -> Option<&str> {
    tag.is_yaml_core_schema().then_some(tag.suffix.as_str())
}

fn check_collection_tag(tag: Option<&Tag>, want: Want, loc: Loc) -> Result<(), YamlError> {
    let Some(tag) = tag else { return Ok(()) };
    match (core_suffix(tag), want) {
        (Some("map"), Want::Map) | (Some("seq"), Want::Seq) => Ok(()),
        _ => err(
            loc,
            format!("unsupported tag `{}` here; only the core-schema tags (`!!map`, `!!seq`, `!!str`, `!!int`, `!!float`, `!!bool`, `!!null`) are accepted", tag_text(tag)),
        ),
    }
}

fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>, loc: Loc) -> Result<Scalar, YamlError> {
    let quoted = !matches!(style, ScalarStyle::Plain);
    let value = match tag {
        None if quoted => ScalarValue::Str(text.to_string()),
        None => resolve_plain(text),
        Some(tag) => {
            let bad =
                |what: &str| err(loc, format!("`{text}` is not a valid {what} (tagged `{}`)", tag_text(tag)));
            match core_suffix(tag) {
                Some("str") => ScalarValue::Str(text.to_string()),
                Some("null") => match resolve_plain(text) {
                    ScalarValue::Null => ScalarValue::Null,
                    _ => return bad("null"),
                },
                Some("bool") => match resolve_plain(text) {
                    v @ ScalarValue::Bool(_) => v,
                    _ => return bad("boolean"),
                },
                Some("int") => match resolve_plain(text) {
                    v @ ScalarValue::Int(_) => v,
                    _ => return bad("integer"),
                },
                Some("float") => match resolve_plain(text) {
                    v @ ScalarValue::Float(_) => v,
                    ScalarValue::Int(i) => ScalarValue::Float(i as f64),
                    _ => return bad("float"),
                },
                _ => {
                    return err(
                        loc,
                        format!("unsupported tag `{}`; only the core-schema tags (`!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, `!!map`, `!!seq`) are accepted", tag_text(tag)),
                    )
                }
            }
        }
    };
    Ok(Scalar { value, text: text.to_string(), quoted })
}

/// Resolves a plain scalar with the YAML 1.2 core schema.
pub(crate) fn resolve_plain(text: &str) -> ScalarValue {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return ScalarValue::Null,
        "true" | "True" | "TRUE" => return ScalarValue::Bool(true),
        "false" | "False" | "FALSE" => return ScalarValue::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return ScalarValue::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return ScalarValue::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return ScalarValue::Float(f64::NAN),
        _ => {}
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            if let Ok(i) = i64::from_str_radix(hex, 16) {
                return ScalarValue::Int(i);
            }
        }
    }
    if let Some(oct) = text.strip_prefix("0o") {
        if !oct.is_empty() && oct.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            if let Ok(i) = i64::from_str_radix(oct, 8) {
                return ScalarValue::Int(i);
            }
        }
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<i64>() {
            Ok(i) => ScalarValue::Int(i),
            Err(_) => ScalarValue::Float(text.parse::<f64>().unwrap_or(f64::NAN)),
        };
    }
    if is_core_float(digits) {
        if let Ok(f) = text.parse::<f64>() {
            return ScalarValue::Float(f);
        }
    }
    ScalarValue::Str(text.to_string())
}

/// `( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?` (sign already removed).
fn is_core_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let int_digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    i += int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        i += frac_digits;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        let exp = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp == 0 {
            return false;
        }
        i += exp;
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p() -> Arc<Path> {
        Arc::from(Path::new("t.yaml"))
    }

    fn parse(text: &str) -> Loaded<Node> {
        parse_str(&p(), text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn parse_err(text: &str) -> String {
        parse_str(&p(), text).unwrap_err().to_string()
    }

    #[test]
    fn core_schema_plain_scalars() {
        let cases = [
            ("~", ScalarValue::Null),
            ("", ScalarValue::Null),
            ("null", ScalarValue::Null),
            ("True", ScalarValue::Bool(true)),
            ("false", ScalarValue::Bool(false)),
            ("42", ScalarValue::Int(42)),
            ("-7", ScalarValue::Int(-7)),
            ("0x1F", ScalarValue::Int(31)),
            ("0o17", ScalarValue::Int(15)),
            ("10.0", ScalarValue::Float(10.0)),
            ("1e3", ScalarValue::Float(1000.0)),
            (".5", ScalarValue::Float(0.5)),
            ("-.inf", ScalarValue::Float(f64::NEG_INFINITY)),
            ("2025-01-01", ScalarValue::Str("2025-01-01".into())),
            ("yes", ScalarValue::Str("yes".into())),
            ("1.2.3", ScalarValue::Str("1.2.3".into())),
            ("e3", ScalarValue::Str("e3".into())),
        ];
        for (text, want) in cases {
            assert_eq!(resolve_plain(text), want, "{text:?}");
        }
        assert!(matches!(resolve_plain(".nan"), ScalarValue::Float(f) if f.is_nan()));
    }

    #[test]
    fn quoted_and_plain_dates_are_both_strings() {
        let doc = parse("a: 2025-01-01\nb: \"2025-01-01\"\nc: '42'\nd: 42\n").value;
        let a = doc.get("a").unwrap().scalar().unwrap();
        let b = doc.get("b").unwrap().scalar().unwrap();
        assert_eq!(a.value, ScalarValue::Str("2025-01-01".into()));
        assert!(!a.quoted);
        assert_eq!(b.value, ScalarValue::Str("2025-01-01".into()));
        assert!(b.quoted);
        assert_eq!(doc.get("c").unwrap().to_json(), json!("42"));
        assert_eq!(doc.get("d").unwrap().to_json(), json!(42));
    }

    #[test]
    fn nodes_carry_one_based_locations() {
        let doc = parse("top:\n  list:\n    - a\n    - {k: v}\n").value;
        assert_eq!(doc.loc, Loc::new(1, 1));
        assert_eq!(doc.key("top").unwrap().loc, Loc::new(1, 1));
        let list = doc.find(&["top".into(), "list".into()]).unwrap();
        assert_eq!(list.loc, Loc::new(3, 5));
        let item = doc.find(&["top".into(), "list".into(), 1.into(), "k".into()]).unwrap();
        assert_eq!(item.loc, Loc::new(4, 11));
        assert_eq!(item.as_str(), Some("v"));
        // A path that leaves the tree locates its deepest existing node.
        assert_eq!(doc.locate(&["top".into(), "list".into(), 7.into()]), Loc::new(3, 5));
        assert!(doc.find(&["top".into(), "nope".into()]).is_none());
    }

    #[test]
    fn to_json_converts_the_tree() {
        let doc = parse("a: [1, 2.5, x, null, true]\nb: {c: .inf}\n").value;
        assert_eq!(doc.to_json(), json!({"a": [1, 2.5, "x", null, true], "b": {"c": null}}));
    }

    #[test]
    fn repeated_key_last_wins_with_warning() {
        let loaded = parse("a: 1\nb: 2\na: 3\n");
        assert_eq!(loaded.value.to_json(), json!({"a": 3, "b": 2}));
        let w: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            w,
            ["t.yaml:3:1: warning: key `a` repeated in one mapping (lines 1 and 3); the last value (line 3) wins"]
        );
    }

    #[test]
    fn malformed_yaml_is_located() {
        assert_eq!(
            parse_err("a: [1, 2\nb: 3\n"),
            "t.yaml:2:2: error: invalid YAML: illegal placement of ':' indicator"
        );
        assert_eq!(
            parse_err("a: 1\n\tb: 2\n"),
            "t.yaml:1:4: error: invalid YAML: while scanning a plain scalar, found a tab"
        );
    }

    #[test]
    fn aliases_are_resolved_and_located_at_the_alias() {
        let doc = parse("base: &b {x: 1}\ncopy: *b\n").value;
        assert_eq!(doc.get("copy").unwrap().to_json(), json!({"x": 1}));
        assert_eq!(doc.get("copy").unwrap().loc, Loc::new(2, 7));
        assert_eq!(
            parse_err("a: *nope\n"),
            "t.yaml:1:4: error: invalid YAML: while parsing node, found unknown anchor"
        );
    }

    /// `f`'s result, failing the test if it takes more than 60 s: a hang fails instead of
    /// holding the suite (no timing is asserted; the inputs take well under a second).
    fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(std::time::Duration::from_secs(60)).expect("finished within 60 s (a hang otherwise)")
    }

    /// A document of `n` aliases to one anchored `size`-byte string.
    fn wide_alias_doc(size: usize, n: usize) -> String {
        let mut text = format!("a: &a \"{}\"\nb: [", "x".repeat(size));
        for i in 0..n {
            text.push_str(if i == 0 { "*a" } else { ", *a" });
        }
        text.push_str("]\n");
        text
    }

    #[test]
    fn aliases_are_bounded_by_expanded_bytes_not_alias_count() {
        // 10 KB × 50,000 = 500 MB if materialised: refused at the alias that crosses 64 MiB.
        let e = bounded(|| parse_err(&wide_alias_doc(10_000, 50_000)));
        assert!(e.starts_with("t.yaml:2:"), "{e}");
        assert!(e.contains("expands to more than 64 MiB"), "{e}");
        // 1 MB × 400,000 (400 GB): refused after 64 of them, not out of memory.
        let e = bounded(|| parse_err(&wide_alias_doc(1_000_000, 400_000)));
        assert!(e.contains("expands to more than 64 MiB"), "{e}");
        // A modest use of aliases still loads: 1 KB × 1,000 = 1 MB.
        let ok = bounded(|| parse(&wide_alias_doc(1_000, 1_000)));
        assert_eq!(ok.value.get("b").and_then(Node::items).map(<[Node]>::len), Some(1_000));
    }

    #[test]
    fn anchored_copies_count_too() {
        // An anchor on every level of a deep nest copies the big scalar once per level.
        let mut text = String::new();
        let depth = 150;
        for i in 0..depth {
            text.push_str(&format!("&n{i} ["));
        }
        text.push_str(&format!("\"{}\"", "y".repeat(1_000_000)));
        text.push_str(&"]".repeat(depth));
        text.push('\n');
        let e = bounded(move || parse_err(&text));
        assert!(e.contains("expands to more than 64 MiB"), "{e}");
    }

    #[test]
    fn a_mapping_with_100000_keys_loads_in_linear_time() {
        let mut text = String::new();
        for i in 0..100_000 {
            text.push_str(&format!("k{i}: {i}\n"));
        }
        text.push_str("k5: again\n");
        let l = bounded(move || parse(&text));
        let entries = l.value.entries().map_or(0, <[(KeyNode, Node)]>::len);
        assert_eq!(entries, 100_000);
        assert_eq!(l.value.get("k5").and_then(Node::as_str), Some("again"));
        assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
        assert!(l.warnings[0].to_string().contains("key `k5` repeated in one mapping (lines 6 and 100001)"));
    }

    #[test]
    fn alias_bombs_are_rejected() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n",
                p = i - 1
            ));
        }
        let e = parse_err(&text);
        assert!(e.contains("expands to more than 1000000 nodes"), "{e}");
    }

    #[test]
    fn tags_core_only() {
        let doc = parse("a: !!str 12\nb: !!float 3\n").value;
        assert_eq!(doc.to_json(), json!({"a": "12", "b": 3.0}));
        assert_eq!(
            parse_err("a: !custom x\n"),
            "t.yaml:1:4: error: unsupported tag `!custom`; only the core-schema tags (`!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, `!!map`, `!!seq`) are accepted"
        );
        assert_eq!(
            parse_err("a: !!int x\n"),
            "t.yaml:1:4: error: `x` is not a valid integer (tagged `!!int`)"
        );
    }

    #[test]
    fn one_document_only_and_empty_is_null() {
        assert!(parse("").value.is_null());
        assert!(parse("# only a comment\n").value.is_null());
        assert_eq!(
            parse_err("a: 1\n---\nb: 2\n"),
            "t.yaml:2:1: error: a second YAML document (`---`); this file may hold only one"
        );
    }

    #[test]
    fn errors_on_non_ascii_directive_lines_have_character_columns() {
        // The parser counts a directive's name in bytes: `%é\0` would be 1:4.
        assert_eq!(parse_err("%\u{e9}\0"), "t.yaml:1:3: error: invalid YAML: found unprintable character");
        assert_eq!(
            parse_err("# c\r\n%Y\u{e9}\u{e9}L x\u{e9}\0\n"),
            "t.yaml:2:9: error: invalid YAML: found unprintable character"
        );
        assert_eq!(nth_line("a\r\nb\rc\nd", 3), Some("c"));
        assert_eq!(nth_line("a\n", 2), Some(""));
        assert_eq!(nth_line("a", 3), None);
    }

    #[test]
    fn complex_keys_are_rejected() {
        assert_eq!(
            parse_err("? [a, b]\n: 1\n"),
            "t.yaml:1:3: error: a mapping key must be a scalar (complex keys are not supported)"
        );
    }
}
