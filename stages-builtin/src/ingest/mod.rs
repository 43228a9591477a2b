//! `ingest`: reads a job's records from a local data directory through a pluggable adapter.
//!
//! Adapters never touch the network: they read files a harvester saved in the sources' own
//! public formats, under one subfolder of the data directory per adapter.
//!
//! | adapter | serves sources | folder | format |
//! |---|---|---|---|
//! | `clinicaltrials` | `clinicaltrials`, `clinical-trials` | `clinicaltrials/` | ClinicalTrials.gov API v2 study JSON |
//! | `file` | `file` | `file/` | JSON array, object or JSON Lines of `{id, title, ...}` records |
//! | `openalex` | `openalex` | `openalex/` | OpenAlex Work JSON |
//! | `pmc` | `pmc`, `pmc-fulltext` | `pmc/` | PubMed Central JATS XML |
//! | `semantic-scholar` | `semantic-scholar` | `semantic-scholar/` | Semantic Scholar Graph API paper JSON |
//!
//! The JSON adapters read `.json` files (one item, a list, or the source's list envelope:
//! `{"studies": [...]}`, `{"results": [...]}`, `{"data": [...]}`) and `.jsonl` files (one
//! item a line).
//!
//! ## The data directory
//!
//! The first of: the stage's `config.data_dir`, the adapter request's `data_dir`, the
//! environment variable `STAGES_DATA_DIR`. None of them is an error saying so.
//!
//! ## Which files
//!
//! The adapter request (the job's `adapter_request`, with the stage's `config.parameters`
//! filling in keys it lacks) selects them:
//! - `path` (or `file`): a file or folder relative to the data directory, or to the adapter's
//!   folder (absolute paths and `..` are refused: reads stay inside the data directory);
//! - `id` (or `nct_id`, `pmcid`, `openalex_id`, `paper_id`): the file `<folder>/<id>.<ext>`
//!   (`NCT01234567` → `clinicaltrials/NCT01234567.json`), else the record with that id among
//!   all the folder's files;
//! - `doi`: the record with that DOI among all the folder's files;
//! - nothing: every file of the adapter's folder, in file-name order.
//!
//! A request that is a bare string is an `id` (a `doi` when it starts with `10.`).
//!
//! Reads never leave the data directory, symbolic links included: every file or folder is
//! resolved (links followed) and must lie inside the data directory (itself resolved, so the
//! data directory may be a link). A link that stays inside is followed; one that leads outside
//! is refused — an error naming it when the request names it (`path`, `id`, the adapter's
//! folder), a warning and a skip when it is one entry of a listed folder.
//!
//! `parameters.include` (a list of field names, dotted for nested ones) keeps only those fields
//! of each record's `raw` source JSON.
//!
//! ## Files and records that cannot be read
//!
//! A record file that cannot be read (not UTF-8, not the format: invalid JSON or XML) and a
//! record that lacks what its adapter needs are [`RecordOrSkip::Skip`]s: the stage logs a
//! `tracing` warning naming the file and the record and goes on with the folder's other files
//! and records, or, with `strict`, fails naming them. (A `null` element of a Semantic Scholar
//! batch response is not malformed: it is skipped with a warning even when strict.) Only a
//! folder that cannot be listed fails the whole request.
//!
//! ## Text as a reader sees it
//!
//! The adapters turn their sources' markup into plain text with the shared [`text`] module:
//! JATS (MathML linearised, TeX preambles dropped, tables, figures and sub-articles as
//! sections: [`PmcAdapter`]), ClinicalTrials.gov's Markdown ([`ClinicalTrialsAdapter`]), the
//! HTML in OpenAlex and Semantic Scholar titles and abstracts. `examples/real-records/` holds
//! real public records of every source (with their attribution); the crate's
//! `tests/real_records.rs` checks what the adapters make of each.
//!
//! ## Adding an adapter
//!
//! Adapters are registered like stages, at link time, in [`STAGES_BUILTIN_ADAPTERS`]: a crate
//! that is linked adds its adapters (name the crate once, `use my_adapters as _;`, or it is not
//! linked). When several adapters have the same name or serve the same source, the first in
//! name order wins.
//!
//! ```
//! use stages_builtin::ingest::{Adapter, AdapterError, AdapterRequest, RecordOrSkip, STAGES_BUILTIN_ADAPTERS};
//! use stages_builtin::Record;
//!
//! struct Fixed;
//! impl Adapter for Fixed {
//!     fn name(&self) -> &'static str { "fixed" }
//!     fn sources(&self) -> &'static [&'static str] { &["fixed"] }
//!     fn fetch(&self, request: &AdapterRequest) -> Result<Vec<RecordOrSkip>, AdapterError> {
//!         Ok(vec![RecordOrSkip::Record(Record {
//!             source: request.source.clone(), id: "F1".into(), title: "Fixed".into(),
//!             abstract_text: None, sections: vec![], authors: vec![], year: None, doi: None,
//!             pdf_url: None, raw: serde_json::Value::Null,
//!         })])
//!     }
//! }
//!
//! #[linkme::distributed_slice(STAGES_BUILTIN_ADAPTERS)]
//! #[linkme(crate = stages_builtin::ingest::linkme)]
//! static FIXED: &'static dyn Adapter = &Fixed;
//!
//! assert_eq!(stages_builtin::ingest::adapter_for_source("fixed").unwrap().name(), "fixed");
//! ```

use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use stage_core::{stage, Job, StageContext};

use crate::types::Record;

mod clinicaltrials;
mod expand;
mod file;
mod openalex;
mod pmc;
mod semantic_scholar;
pub mod text;

pub use clinicaltrials::ClinicalTrialsAdapter;
pub use expand::{expand_for_plan, expand_job, RECORD_SEPARATOR};
pub use file::FileAdapter;
pub use openalex::{rebuild_abstract, OpenAlexAdapter};
pub use pmc::{PmcAdapter, MAX_XML_DEPTH};
pub use semantic_scholar::SemanticScholarAdapter;

/// The `linkme` this crate uses, for `#[linkme(crate = stages_builtin::ingest::linkme)]` in
/// crates that register adapters without depending on `linkme` themselves.
pub use linkme;

/// The environment variable naming the data directory when neither the config nor the
/// adapter request does.
pub const DATA_DIR_ENV: &str = "STAGES_DATA_DIR";

/// A source adapter: reads a source's records from the local data directory.
pub trait Adapter: Sync {
    /// The adapter's name (`config.adapter` names it).
    fn name(&self) -> &'static str;
    /// The job sources it serves (`auto` picks the adapter serving the job's source).
    fn sources(&self) -> &'static [&'static str];
    /// Reads the records the request selects. A malformed record is returned as
    /// [`RecordOrSkip::Skip`]: the stage decides (with `strict`) whether it fails the run.
    fn fetch(&self, request: &AdapterRequest) -> Result<Vec<RecordOrSkip>, AdapterError>;
}

/// The adapters other crates add, by being linked. Add one with
/// `#[linkme::distributed_slice(STAGES_BUILTIN_ADAPTERS)]` on a `static X: &'static dyn Adapter`
/// (module docs). This crate's own adapters are in [`BUILTIN_ADAPTERS`].
#[linkme::distributed_slice]
pub static STAGES_BUILTIN_ADAPTERS: [&'static dyn Adapter];

/// This crate's adapters. (They are listed here rather than registered in
/// [`STAGES_BUILTIN_ADAPTERS`]: a registration expands to a `#[link_section]` static, which the
/// workspace's `unsafe_code = "forbid"` refuses inside the crate that declares the slice.)
pub const BUILTIN_ADAPTERS: &[&'static dyn Adapter] =
    &[&ClinicalTrialsAdapter, &FileAdapter, &OpenAlexAdapter, &PmcAdapter, &SemanticScholarAdapter];

/// Every adapter: this crate's and every linked crate's, sorted by name (then by the sources
/// they serve): deterministic whatever the link order.
pub fn adapters() -> Vec<&'static dyn Adapter> {
    let mut all: Vec<&'static dyn Adapter> =
        BUILTIN_ADAPTERS.iter().chain(STAGES_BUILTIN_ADAPTERS.iter()).copied().collect();
    all.sort_by(|a, b| a.name().cmp(b.name()).then_with(|| a.sources().cmp(b.sources())));
    all
}

/// Every source some adapter serves, sorted, without repeats.
pub fn served_sources() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = adapters().iter().flat_map(|a| a.sources().iter().copied()).collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// The adapter serving `source` (the first by name when several do).
pub fn adapter_for_source(source: &str) -> Result<&'static dyn Adapter, IngestError> {
    adapters().into_iter().find(|a| a.sources().contains(&source)).ok_or_else(|| IngestError::UnknownSource {
        job_source: source.to_owned(),
        served: served_sources().join(", "),
    })
}

/// The adapter `name` names: `auto` (the one serving `source`), an adapter name, or a source
/// name some adapter serves.
pub fn find_adapter(name: &str, source: &str) -> Result<&'static dyn Adapter, IngestError> {
    if name == "auto" {
        return adapter_for_source(source);
    }
    let all = adapters();
    if let Some(a) = all.iter().find(|a| a.name() == name) {
        return Ok(*a);
    }
    if let Some(a) = all.iter().find(|a| a.sources().contains(&name)) {
        return Ok(*a);
    }
    Err(IngestError::UnknownAdapter {
        name: name.to_owned(),
        known: all.iter().map(|a| a.name()).collect::<Vec<_>>().join(", "),
    })
}

/// A record an adapter read, or one it could not.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordOrSkip {
    /// A record.
    Record(Record),
    /// A malformed record: it fails the stage when `strict`, else it is skipped with a warning.
    Skip(Malformed),
}

/// Where a malformed record is, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// The file, relative to the data directory.
    pub file: String,
    /// The record within it (`record 2`, `line 3`, `record 1 (id W1)`, `whole file`).
    pub record: String,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed record ({}) in `{}`: {}", self.record, self.file, self.reason)
    }
}

/// Why an adapter could not read what a request selects.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// A file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Nothing matches the request.
    #[error("{0}")]
    NotFound(String),
    /// The request is unusable.
    #[error("invalid adapter request: {0}")]
    Request(String),
}

/// Why the `ingest` stage failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// No data directory was given.
    #[error(
        "no data directory: set the ingest stage's `config.data_dir`, the adapter request's `data_dir`, or the `STAGES_DATA_DIR` environment variable"
    )]
    NoDataDir,
    /// The data directory is not a directory.
    #[error("the data directory `{0}` does not exist or is not a directory")]
    DataDirMissing(String),
    /// `auto` found no adapter for the job's source.
    #[error("no adapter serves source `{job_source}`; sources served: {served}")]
    UnknownSource {
        /// The job's source.
        job_source: String,
        /// The sources the linked adapters serve.
        served: String,
    },
    /// `config.adapter` names no adapter.
    #[error("unknown adapter `{name}`; adapters: {known}")]
    UnknownAdapter {
        /// The name given.
        name: String,
        /// The linked adapters.
        known: String,
    },
    /// The adapter request is not an object, a string or null, or a parameter has the wrong type.
    #[error("invalid adapter request: {0}")]
    BadRequest(String),
    /// The adapter failed.
    #[error("adapter `{adapter}`: {source}")]
    Adapter {
        /// The adapter.
        adapter: &'static str,
        /// Its error.
        source: AdapterError,
    },
    /// A malformed record, with `strict`.
    #[error("{0} (strict mode)")]
    Malformed(Malformed),
}

/// What an adapter is asked for: the job, the data directory and the merged request.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterRequest {
    /// The source records are attributed to (`Record::source`): the job's source when the
    /// adapter serves it, else the adapter's name.
    pub source: String,
    /// The job's identifier.
    pub job_id: String,
    /// The job's document identifier.
    pub doc_id: Option<String>,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The adapter request merged with `config.parameters` (the request's keys win).
    pub params: Map<String, Value>,
    /// The domain (`config.domain`, default `biomedical`).
    pub domain: String,
}

/// Request keys read as `id`, in order.
const ID_KEYS: &[&str] = &["id", "nct_id", "nctId", "pmcid", "pmc_id", "openalex_id", "paper_id", "paperId"];

impl AdapterRequest {
    /// A request for `source` records under `data_dir`, with no parameters.
    pub fn new(source: impl Into<String>, data_dir: impl Into<PathBuf>) -> Self {
        AdapterRequest {
            source: source.into(),
            job_id: String::new(),
            doc_id: None,
            data_dir: data_dir.into(),
            params: Map::new(),
            domain: "biomedical".into(),
        }
    }

    /// With parameter `key` set to `value`.
    pub fn with_param(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.params.insert(key.to_owned(), value.into());
        self
    }

    /// A non-empty string parameter.
    pub fn param_str(&self, key: &str) -> Option<&str> {
        self.params.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
    }

    /// The requested record id (`id` or one of its aliases), when given.
    pub fn id(&self) -> Option<&str> {
        ID_KEYS.iter().find_map(|k| self.param_str(k))
    }

    /// The requested DOI, without its `https://doi.org/` or `doi:` prefix, when given.
    pub fn doi(&self) -> Option<&str> {
        self.param_str("doi").map(strip_doi)
    }

    /// `path` relative to the data directory, for messages.
    pub fn display_path(&self, path: &Path) -> String {
        path.strip_prefix(&self.data_dir).unwrap_or(path).to_string_lossy().replace('\\', "/")
    }

    /// Reads the files this request selects in the adapter folder `folder` (with one of
    /// `extensions`), each with `read(path, display name)`, and keeps the records the request
    /// asks for (module docs: "Which files").
    pub fn read_files(
        &self,
        folder: &str,
        extensions: &[&str],
        read: impl Fn(&Path, &str) -> Result<Vec<RecordOrSkip>, AdapterError>,
    ) -> Result<Vec<RecordOrSkip>, AdapterError> {
        let (files, filtered) = self.select_files(folder, extensions)?;
        let mut out = Vec::new();
        for f in &files {
            out.extend(read(f, &self.display_path(f))?);
        }
        if !filtered {
            return Ok(out);
        }
        let (id, doi) = (self.id(), self.doi());
        if id.is_none() && doi.is_none() {
            return Ok(out);
        }
        let kept: Vec<RecordOrSkip> = out
            .into_iter()
            .filter(|r| match r {
                RecordOrSkip::Record(r) => {
                    id.is_none_or(|id| same_id(&r.id, id))
                        && doi.is_none_or(|d| {
                            r.doi.as_deref().is_some_and(|rd| strip_doi(rd).eq_ignore_ascii_case(d))
                        })
                }
                RecordOrSkip::Skip(_) => true,
            })
            .collect();
        if !kept.iter().any(|r| matches!(r, RecordOrSkip::Record(_))) {
            let what = match (id, doi) {
                (Some(id), _) => format!("id `{id}`"),
                (None, Some(d)) => format!("DOI `{d}`"),
                (None, None) => unreachable!("checked above"),
            };
            return Err(AdapterError::NotFound(format!(
                "no record with {what} in `{}`",
                self.display_path(&self.data_dir.join(folder))
            )));
        }
        Ok(kept)
    }

    /// The selected files, and whether their records must still be filtered by id or DOI.
    fn select_files(&self, folder: &str, extensions: &[&str]) -> Result<(Vec<PathBuf>, bool), AdapterError> {
        let root = self.data_dir.canonicalize().unwrap_or_else(|_| self.data_dir.clone());
        if let Some(rel) = self.param_str("path").or_else(|| self.param_str("file")) {
            let rel_path = Path::new(rel);
            if !rel_path.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir)) {
                return Err(AdapterError::Request(format!(
                    "`path` `{rel}` must be relative to the data directory, without `..`"
                )));
            }
            for base in [self.data_dir.clone(), self.data_dir.join(folder)] {
                let p = base.join(rel_path);
                if p.is_file() || p.is_dir() {
                    self.confine(&root, &p)?;
                }
                if p.is_file() {
                    return Ok((vec![p], false));
                }
                if p.is_dir() {
                    return Ok((list_dir(&p, extensions, self, &root)?, true));
                }
            }
            return Err(AdapterError::NotFound(format!(
                "`{rel}` is neither in the data directory `{}` nor in its `{folder}/` folder",
                self.data_dir.display()
            )));
        }
        let dir = self.data_dir.join(folder);
        if dir.is_dir() {
            self.confine(&root, &dir)?;
        }
        if let Some(id) = self.id() {
            for stem in id_stems(id) {
                for ext in extensions {
                    let p = dir.join(format!("{stem}.{ext}"));
                    if p.is_file() {
                        self.confine(&root, &p)?;
                        return Ok((vec![p], false));
                    }
                }
            }
        }
        if !dir.is_dir() {
            return Err(AdapterError::NotFound(format!(
                "the data directory `{}` has no `{folder}/` folder",
                self.data_dir.display()
            )));
        }
        Ok((list_dir(&dir, extensions, self, &root)?, true))
    }

    /// An error unless `p` resolves (symbolic links followed) inside `root`, the resolved data
    /// directory.
    fn confine(&self, root: &Path, p: &Path) -> Result<(), AdapterError> {
        match resolves_inside(root, p) {
            Ok(()) => Ok(()),
            Err(target) => Err(AdapterError::Request(format!(
                "`{}` leads outside the data directory (to `{target}`, through a symbolic link), refused: reads stay inside the data directory",
                self.display_path(p)
            ))),
        }
    }
}

/// `Ok` when `p` resolves inside `root`; else where it leads (or why it cannot be resolved).
fn resolves_inside(root: &Path, p: &Path) -> Result<(), String> {
    match p.canonicalize() {
        Ok(real) if real.starts_with(root) => Ok(()),
        Ok(real) => Err(real.display().to_string()),
        Err(e) => Err(format!("unresolvable: {e}")),
    }
}

/// The files of `dir` with one of `extensions`, sorted by name. An entry that resolves
/// outside `root` (through a symbolic link) is skipped with a warning.
fn list_dir(
    dir: &Path,
    extensions: &[&str],
    req: &AdapterRequest,
    root: &Path,
) -> Result<Vec<PathBuf>, AdapterError> {
    let io = |e| AdapterError::Io { path: req.display_path(dir), source: e };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let p = entry.map_err(io)?.path();
        let ext_ok = p.extension().and_then(|e| e.to_str()).is_some_and(|e| extensions.contains(&e));
        if ext_ok && p.is_file() {
            if let Err(target) = resolves_inside(root, &p) {
                tracing::warn!(
                    file = %req.display_path(&p),
                    target = %target,
                    "ingest: skipping a file that leads outside the data directory through a symbolic link"
                );
                continue;
            }
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

/// File stems an id may be saved under: as given, without a URL prefix, with and without a
/// `PMC` prefix. Only safe stems (no separators, no `..`).
fn id_stems(id: &str) -> Vec<String> {
    let short = id.rsplit('/').next().unwrap_or(id);
    let mut stems = vec![id.to_owned(), short.to_owned()];
    if short.chars().all(|c| c.is_ascii_digit()) {
        stems.push(format!("PMC{short}"));
    }
    if let Some(rest) = short.strip_prefix("PMC") {
        stems.push(rest.to_owned());
    }
    stems.dedup();
    stems.retain(|s| !s.is_empty() && !s.contains(['/', '\\']) && !s.contains(".."));
    stems
}

/// Whether two record ids name the same record: case-insensitive, ignoring a URL prefix
/// (`https://openalex.org/W1` = `W1`) and a `PMC` prefix.
fn same_id(a: &str, b: &str) -> bool {
    norm_id(a) == norm_id(b)
}

/// A record id as [`same_id`] compares it.
fn norm_id(s: &str) -> String {
    let s = s.trim().rsplit('/').next().unwrap_or(s).to_ascii_lowercase();
    s.strip_prefix("pmc").map(str::to_owned).unwrap_or(s)
}

/// A DOI without its `https://doi.org/`, `http://dx.doi.org/` or `doi:` prefix.
pub fn strip_doi(doi: &str) -> &str {
    let d = doi.trim();
    for prefix in ["https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "http://dx.doi.org/", "doi:"]
    {
        if d.len() >= prefix.len() && d[..prefix.len()].eq_ignore_ascii_case(prefix) {
            return d[prefix.len()..].trim();
        }
    }
    d
}

/// A record file's text, or a [`Malformed`] (`whole file`) saying why it cannot be read (not
/// UTF-8, unreadable): the adapters skip such a file with a warning (non-strict) or fail naming
/// it (strict), and read the folder's other files.
pub(crate) fn read_text(path: &Path, file: &str) -> Result<String, Malformed> {
    std::fs::read_to_string(path).map_err(|e| Malformed {
        file: file.to_owned(),
        record: "whole file".into(),
        reason: match e.kind() {
            std::io::ErrorKind::InvalidData => "not UTF-8 text: save the record file as UTF-8".into(),
            _ => format!("cannot read the file: {e}"),
        },
    })
}

/// The non-empty, trimmed string at `path` in `v`.
pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_str().map(str::trim).filter(|s| !s.is_empty())
}

/// A year from a JSON number or a string starting with four digits (`"2021-03"`).
pub(crate) fn year_of(v: Option<&Value>) -> Option<i32> {
    match v? {
        Value::Number(n) => n.as_i64().and_then(|y| i32::try_from(y).ok()),
        Value::String(s) => {
            s.get(..4).filter(|y| y.bytes().all(|b| b.is_ascii_digit())).and_then(|y| y.parse().ok())
        }
        _ => None,
    }
}

/// One item of a JSON source file, labelled (`record 2`, `line 3`), or why it does not parse.
pub(crate) type JsonItem = Result<(String, Value), Malformed>;

/// The items of a JSON source file: one item a line for `.jsonl`/`.ndjson`; else a list, a
/// list under one of `envelopes`, or a single item. Each item is labelled for messages; an item
/// that does not parse is a [`Malformed`].
pub(crate) fn json_items(
    req: &AdapterRequest,
    path: &Path,
    envelopes: &[&str],
) -> Result<Vec<JsonItem>, AdapterError> {
    let file = req.display_path(path);
    let text = match read_text(path, &file) {
        Ok(text) => text,
        Err(m) => return Ok(vec![Err(m)]),
    };
    let malformed = |record: String, reason: String| Malformed { file: file.clone(), record, reason };
    let is_lines = path.extension().and_then(|e| e.to_str()).is_some_and(|e| e == "jsonl" || e == "ndjson");
    if is_lines {
        return Ok(text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                let label = format!("line {}", i + 1);
                serde_json::from_str::<Value>(l)
                    .map(|v| (label.clone(), v))
                    .map_err(|e| malformed(label, format!("invalid JSON: {e}")))
            })
            .collect());
    }
    let value: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => return Ok(vec![Err(malformed("whole file".into(), format!("invalid JSON: {e}")))]),
    };
    let list = match value {
        Value::Array(items) => items,
        Value::Object(mut o) => match envelopes.iter().find(|k| o.get(**k).is_some_and(Value::is_array)) {
            Some(k) => match o.remove(*k) {
                Some(Value::Array(items)) => items,
                _ => unreachable!("checked to be an array"),
            },
            None => return Ok(vec![Ok(("record".into(), Value::Object(o)))]),
        },
        other => {
            return Ok(vec![Err(malformed(
                "whole file".into(),
                format!("expected a JSON object or array, found {}", json_kind(&other)),
            ))])
        }
    };
    Ok(list.into_iter().enumerate().map(|(i, v)| Ok((format!("record {}", i + 1), v))).collect())
}

/// Reads a JSON source file, converting each item with `convert` (which says what is wrong
/// with a malformed item).
pub(crate) fn json_records(
    req: &AdapterRequest,
    path: &Path,
    envelopes: &[&str],
    convert: impl Fn(&AdapterRequest, &Value) -> Result<Record, String>,
) -> Result<Vec<RecordOrSkip>, AdapterError> {
    Ok(convert_items(req, path, json_items(req, path, envelopes)?, convert))
}

/// Converts the items [`json_items`] read from `path` with `convert`; an item it refuses is a
/// [`Malformed`] labelled with the item's id when it has one.
pub(crate) fn convert_items(
    req: &AdapterRequest,
    path: &Path,
    items: Vec<JsonItem>,
    convert: impl Fn(&AdapterRequest, &Value) -> Result<Record, String>,
) -> Vec<RecordOrSkip> {
    let file = req.display_path(path);
    items
        .into_iter()
        .map(|item| match item {
            Ok((label, v)) => match convert(req, &v) {
                Ok(r) => RecordOrSkip::Record(r),
                Err(reason) => {
                    let id = ["id", "paperId"]
                        .iter()
                        .find_map(|k| v.get(k).and_then(Value::as_str))
                        .or_else(|| str_at(&v, &["protocolSection", "identificationModule", "nctId"]));
                    let record = match id {
                        Some(id) => format!("{label} (id {id})"),
                        None => label,
                    };
                    RecordOrSkip::Skip(Malformed { file: file.clone(), record, reason })
                }
            },
            Err(m) => RecordOrSkip::Skip(m),
        })
        .collect()
}

/// `null`, `a boolean`, ... for messages.
pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The `ingest` stage's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// The adapter: `auto` (the one serving the job's source), an adapter name or a source name.
    pub adapter: String,
    /// Merged into the adapter request (the request's own keys win). `include`: the record
    /// fields kept in `raw`.
    pub parameters: Map<String, Value>,
    /// The domain, passed to the adapter.
    pub domain: String,
    /// Whether a malformed record fails the stage (else it is skipped with a warning).
    pub strict: bool,
    /// The data directory (else the request's `data_dir`, else `STAGES_DATA_DIR`).
    pub data_dir: Option<String>,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            adapter: "auto".into(),
            parameters: Map::new(),
            domain: "biomedical".into(),
            strict: false,
            data_dir: None,
        }
    }
}

/// Reads the job's records (`payloads`) from the local data directory through the adapter that
/// serves the job's source (or `config.adapter`), in the source's public format.
#[stage(type = "ingest", state_key = "payloads")]
pub fn ingest(
    ctx: &StageContext,
    adapter_request: &Value,
    #[config] config: &IngestConfig,
) -> Result<Vec<Record>, IngestError> {
    let env = std::env::var(DATA_DIR_ENV).ok();
    run_ingest(ctx.job(), adapter_request, config, env.as_deref())
}

/// The `ingest` stage's work, with the environment's `STAGES_DATA_DIR` passed in.
pub fn run_ingest(
    job: &Job,
    adapter_request: &Value,
    config: &IngestConfig,
    env_data_dir: Option<&str>,
) -> Result<Vec<Record>, IngestError> {
    let adapter = find_adapter(&config.adapter, &job.source)?;
    let params = merge_request(adapter_request, &config.parameters)?;
    let include = include_list(&params)?;
    let data_dir = resolve_data_dir(config, &params, env_data_dir)?;
    let source = if adapter.sources().contains(&job.source.as_str()) {
        job.source.clone()
    } else {
        adapter.name().to_owned()
    };
    let request = AdapterRequest {
        source,
        job_id: job.job_id.clone(),
        doc_id: job.doc_id.clone(),
        data_dir,
        params,
        domain: config.domain.clone(),
    };
    let fetched =
        adapter.fetch(&request).map_err(|source| IngestError::Adapter { adapter: adapter.name(), source })?;
    let mut records = Vec::with_capacity(fetched.len());
    let mut seen = std::collections::HashSet::with_capacity(fetched.len());
    for item in fetched {
        match item {
            // The same record in two files (a results page and the record's own file) is
            // one record: the first, in file-name order.
            RecordOrSkip::Record(r) if !seen.insert(norm_id(&r.id)) => {
                tracing::debug!(job = %job.job_id, record = %r.id, "record read twice; kept once");
            }
            RecordOrSkip::Record(mut r) => {
                if let Some(fields) = &include {
                    r.raw = keep_fields(&r.raw, fields);
                }
                records.push(r);
            }
            RecordOrSkip::Skip(m) if config.strict => return Err(IngestError::Malformed(m)),
            RecordOrSkip::Skip(m) => {
                tracing::warn!(job = %job.job_id, file = %m.file, record = %m.record, "skipped: {}", m.reason);
            }
        }
    }
    if records.is_empty() {
        tracing::warn!(job = %job.job_id, adapter = adapter.name(), "the adapter read no records");
    }
    Ok(records)
}

/// The adapter request as a map, with `parameters` filling in the keys it lacks.
fn merge_request(
    request: &Value,
    parameters: &Map<String, Value>,
) -> Result<Map<String, Value>, IngestError> {
    let mut params = match request {
        Value::Null => Map::new(),
        Value::Object(o) => o.clone(),
        Value::String(s) => {
            let key = if s.trim_start().starts_with("10.") || s.trim_start().starts_with("doi:") {
                "doi"
            } else {
                "id"
            };
            Map::from_iter([(key.to_owned(), Value::String(s.clone()))])
        }
        other => {
            return Err(IngestError::BadRequest(format!(
                "expected an object, a string or null, found {}",
                json_kind(other)
            )))
        }
    };
    for (k, v) in parameters {
        params.entry(k.clone()).or_insert_with(|| v.clone());
    }
    Ok(params)
}

/// `include`, when given: a list of field names.
fn include_list(params: &Map<String, Value>) -> Result<Option<Vec<String>>, IngestError> {
    match params.get("include") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    IngestError::BadRequest(format!("`include` lists field names, found {}", json_kind(v)))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(IngestError::BadRequest(format!(
            "`include` must be a list of field names, found {}",
            json_kind(other)
        ))),
    }
}

/// The data directory: config, then request, then environment.
fn resolve_data_dir(
    config: &IngestConfig,
    params: &Map<String, Value>,
    env: Option<&str>,
) -> Result<PathBuf, IngestError> {
    let given = config
        .data_dir
        .as_deref()
        .or_else(|| params.get("data_dir").and_then(Value::as_str))
        .or(env)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(IngestError::NoDataDir)?;
    let dir = PathBuf::from(given);
    if !dir.is_dir() {
        return Err(IngestError::DataDirMissing(given.to_owned()));
    }
    Ok(dir)
}

/// `raw` with only the (dotted) `fields` kept; anything but an object is kept whole.
fn keep_fields(raw: &Value, fields: &[String]) -> Value {
    let Value::Object(_) = raw else { return raw.clone() };
    let mut out = Value::Object(Map::new());
    for field in fields {
        let parts: Vec<&str> = field.split('.').collect();
        let mut cur = raw;
        let found = parts.iter().all(|p| match cur.get(p) {
            Some(v) => {
                cur = v;
                true
            }
            None => false,
        });
        if !found {
            continue;
        }
        let mut target = &mut out;
        for p in &parts[..parts.len() - 1] {
            let obj = target.as_object_mut().expect("built from objects");
            let next = obj.entry((*p).to_owned()).or_insert_with(|| Value::Object(Map::new()));
            if !next.is_object() {
                *next = Value::Object(Map::new());
            }
            target = next;
        }
        target
            .as_object_mut()
            .expect("built from objects")
            .insert(parts[parts.len() - 1].to_owned(), cur.clone());
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// The sample corpus, `examples/data/`.
    pub(crate) fn data_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data")
    }

    fn config() -> IngestConfig {
        IngestConfig { data_dir: Some(data_dir().to_string_lossy().into_owned()), ..IngestConfig::default() }
    }

    fn records(r: Vec<RecordOrSkip>) -> Vec<Record> {
        r.into_iter()
            .filter_map(|r| match r {
                RecordOrSkip::Record(r) => Some(r),
                RecordOrSkip::Skip(_) => None,
            })
            .collect()
    }

    #[test]
    fn adapters_are_registered_sorted_and_serve_the_contract_sources() {
        let names: Vec<&str> = adapters().iter().map(|a| a.name()).collect();
        assert_eq!(names, ["clinicaltrials", "file", "openalex", "pmc", "semantic-scholar"]);
        for (source, adapter) in [
            ("clinicaltrials", "clinicaltrials"),
            ("clinical-trials", "clinicaltrials"),
            ("openalex", "openalex"),
            ("pmc", "pmc"),
            ("pmc-fulltext", "pmc"),
            ("semantic-scholar", "semantic-scholar"),
            ("file", "file"),
        ] {
            assert_eq!(adapter_for_source(source).unwrap().name(), adapter, "{source}");
        }
        assert_eq!(find_adapter("clinical-trials", "whatever").unwrap().name(), "clinicaltrials");
    }

    #[test]
    fn unknown_source_and_adapter_are_named() {
        let e = adapter_for_source("arxiv").err().unwrap().to_string();
        assert!(
            e.contains("`arxiv`") && e.contains("clinical-trials") && e.contains("semantic-scholar"),
            "{e}"
        );
        let e = find_adapter("nope", "pmc").err().unwrap().to_string();
        assert!(e.contains("`nope`") && e.contains("openalex"), "{e}");
    }

    #[test]
    fn auto_ingests_a_trial_by_id() {
        let job = Job::new("j1", "clinical-trials");
        let out = run_ingest(&job, &json!({"id": "NCT90000001"}), &config(), None).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].id, "NCT90000001");
        assert_eq!(out[0].source, "clinical-trials");
        // A bare string request is an id.
        let out = run_ingest(&job, &json!("NCT90000002"), &config(), None).unwrap();
        assert_eq!(out[0].id, "NCT90000002");
    }

    #[test]
    fn whole_folder_in_file_name_order() {
        let job = Job::new("j1", "clinicaltrials");
        let out = run_ingest(&job, &Value::Null, &config(), None).unwrap();
        let ids: Vec<&str> = out.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["NCT90000001", "NCT90000002", "NCT90000003"]);
    }

    #[test]
    fn data_dir_precedence_and_absence() {
        let params = Map::from_iter([("data_dir".to_owned(), json!("/nonexistent-request"))]);
        let mut cfg = IngestConfig::default();
        let e = resolve_data_dir(&cfg, &Map::new(), None).unwrap_err();
        assert!(e.to_string().contains("STAGES_DATA_DIR"), "{e}");
        let dd = data_dir();
        let dd_s = dd.to_string_lossy().into_owned();
        assert_eq!(resolve_data_dir(&cfg, &Map::new(), Some(&dd_s)).unwrap(), dd);
        let e = resolve_data_dir(&cfg, &params, Some(&dd_s)).unwrap_err();
        assert!(e.to_string().contains("/nonexistent-request"), "request beats env: {e}");
        cfg.data_dir = Some(dd_s.clone());
        assert_eq!(resolve_data_dir(&cfg, &params, None).unwrap(), dd, "config beats request");
    }

    #[test]
    fn parameters_merge_and_include_filters_raw() {
        let mut cfg = config();
        cfg.parameters.insert("id".into(), json!("NCT90000003"));
        cfg.parameters
            .insert("include".into(), json!(["hasResults", "protocolSection.identificationModule.nctId"]));
        let job = Job::new("j", "clinicaltrials");
        let out = run_ingest(&job, &Value::Null, &cfg, None).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].raw,
            json!({"hasResults": false, "protocolSection": {"identificationModule": {"nctId": "NCT90000003"}}})
        );
        // The request's own keys win over parameters.
        let out = run_ingest(&job, &json!({"id": "NCT90000001"}), &cfg, None).unwrap();
        assert_eq!(out[0].id, "NCT90000001");
        cfg.parameters.insert("include".into(), json!("title"));
        assert!(matches!(run_ingest(&job, &Value::Null, &cfg, None), Err(IngestError::BadRequest(_))));
    }

    #[test]
    fn path_is_confined_to_the_data_dir() {
        let req = AdapterRequest::new("file", data_dir()).with_param("path", "../README.md");
        let e = req.read_files("file", &["json"], |_, _| Ok(vec![])).unwrap_err();
        assert!(matches!(e, AdapterError::Request(_)), "{e}");
        let req = AdapterRequest::new("file", data_dir()).with_param("path", "/etc/passwd");
        assert!(matches!(
            req.read_files("file", &["json"], |_, _| Ok(vec![])),
            Err(AdapterError::Request(_))
        ));
    }

    #[test]
    fn id_not_found_is_an_error() {
        let job = Job::new("j", "openalex");
        let e = run_ingest(&job, &json!({"id": "W0"}), &config(), None).unwrap_err().to_string();
        assert!(e.contains("no record with id `W0`") && e.contains("openalex"), "{e}");
    }

    #[test]
    fn doi_selects_among_all_files() {
        let job = Job::new("j", "openalex");
        let out = run_ingest(&job, &json!("10.5555/synthetic.oa.2"), &config(), None).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].doi.as_deref(), Some("10.5555/synthetic.oa.2"));
    }

    #[test]
    fn malformed_records_skip_or_fail_with_strict() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("file")).unwrap();
        std::fs::write(
            dir.path().join("file/bad.jsonl"),
            "{\"id\": \"a\", \"title\": \"Good\"}\n{\"id\": \"b\"}\nnot json\n",
        )
        .unwrap();
        let mut cfg =
            IngestConfig { data_dir: Some(dir.path().to_string_lossy().into_owned()), ..Default::default() };
        let job = Job::new("j", "file");
        let out = run_ingest(&job, &Value::Null, &cfg, None).unwrap();
        assert_eq!(out.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["a"]);
        cfg.strict = true;
        let e = run_ingest(&job, &Value::Null, &cfg, None).unwrap_err().to_string();
        assert!(e.contains("file/bad.jsonl") && e.contains("line 2") && e.contains("title"), "{e}");
    }

    #[test]
    fn an_unreadable_file_is_skipped_or_fails_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        for folder in ["openalex", "pmc"] {
            std::fs::create_dir(dir.path().join(folder)).unwrap();
        }
        std::fs::write(dir.path().join("openalex/a.json"), r#"{"id": "W1", "title": "Good"}"#).unwrap();
        // Latin-1 bytes: not UTF-8.
        std::fs::write(dir.path().join("openalex/b.json"), b"{\"id\": \"W2\", \"title\": \"Caf\xe9\"}")
            .unwrap();
        std::fs::write(dir.path().join("openalex/c.json"), r#"{"id": "W3", "title": "Also good"}"#).unwrap();
        std::fs::write(
            dir.path().join("pmc/a.xml"),
            r#"<article><front><article-meta><article-id pub-id-type="pmc">1</article-id><title-group><article-title>T</article-title></title-group></article-meta></front></article>"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("pmc/b.xml"), b"<article>\xff\xfe</article>").unwrap();
        let mut cfg =
            IngestConfig { data_dir: Some(dir.path().to_string_lossy().into_owned()), ..Default::default() };
        let out = run_ingest(&Job::new("j", "openalex"), &Value::Null, &cfg, None).unwrap();
        assert_eq!(out.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["W1", "W3"]);
        let out = run_ingest(&Job::new("j", "pmc"), &Value::Null, &cfg, None).unwrap();
        assert_eq!(out.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["PMC1"]);
        cfg.strict = true;
        for (source, file) in [("openalex", "openalex/b.json"), ("pmc", "pmc/b.xml")] {
            let e = run_ingest(&Job::new("j", source), &Value::Null, &cfg, None).unwrap_err().to_string();
            assert!(e.contains(file) && e.contains("not UTF-8") && e.contains("strict"), "{e}");
        }
    }

    #[test]
    fn a_null_batch_element_is_skipped_even_when_strict() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("semantic-scholar")).unwrap();
        std::fs::write(
            dir.path().join("semantic-scholar/batch.json"),
            r#"[{"paperId": "p1", "title": "One"}, null, {"paperId": "p2", "title": "Two"}]"#,
        )
        .unwrap();
        let cfg = IngestConfig {
            data_dir: Some(dir.path().to_string_lossy().into_owned()),
            strict: true,
            ..Default::default()
        };
        let out = run_ingest(&Job::new("j", "semantic-scholar"), &Value::Null, &cfg, None).unwrap();
        assert_eq!(out.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["p1", "p2"]);
    }

    #[test]
    fn unknown_config_fields_are_rejected() {
        let e = serde_json::from_value::<IngestConfig>(json!({"adaptor": "pmc"})).unwrap_err();
        assert!(e.to_string().contains("adaptor"));
        let c: IngestConfig = serde_json::from_value(json!({})).unwrap();
        assert_eq!(c, IngestConfig::default());
        assert_eq!(c.adapter, "auto");
        assert_eq!(c.domain, "biomedical");
    }

    #[test]
    fn keep_fields_copies_nested_paths() {
        let raw = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": 4});
        assert_eq!(
            keep_fields(&raw, &["b.c".into(), "a".into(), "zz".into()]),
            json!({"a": 1, "b": {"c": 2}})
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(strip_doi("https://doi.org/10.1/X"), "10.1/X");
        assert_eq!(strip_doi("doi:10.1/X"), "10.1/X");
        assert!(same_id("https://openalex.org/W12", "w12"));
        assert!(same_id("PMC900001", "900001"));
        assert!(!same_id("W1", "W12"));
        assert_eq!(id_stems("900001"), ["900001", "PMC900001"]);
        assert!(id_stems("../x").iter().all(|s| !s.contains("..")));
        assert_eq!(year_of(Some(&json!("2021-03"))), Some(2021));
        assert_eq!(year_of(Some(&json!(2019))), Some(2019));
        assert_eq!(year_of(Some(&json!("March"))), None);
    }

    pub(crate) fn fetch(adapter: &dyn Adapter, req: &AdapterRequest) -> Vec<Record> {
        records(adapter.fetch(req).unwrap())
    }

    /// The stages of this crate's ingest-to-extract chain are registered with their keys,
    /// inputs, descriptions and config defaults.
    #[test]
    fn stages_are_registered_with_the_contract_keys() {
        let registry = stage_core::StageRegistry::global();
        for (ty, writes, reads) in [
            ("ingest", &["payloads"][..], &[("adapter_request", true)][..]),
            ("parse", &["document"], &[("payloads", true), ("document", false)]),
            ("ir-validation", &["document"], &[("document", true)]),
            ("chunk", &["chunks"], &[("document", true)]),
            ("embed", &["embedding_batch"], &[("chunks", true)]),
            ("extract", &["entities", "claims"], &[("document", true)]),
        ] {
            let meta = registry.get_metadata(ty).unwrap_or_else(|| panic!("{ty} is registered"));
            assert_eq!(meta.state_key().keys(), writes, "{ty}");
            let inputs: Vec<(&str, bool)> = meta.inputs().iter().map(|i| (i.key, i.required)).collect();
            assert_eq!(inputs, reads, "{ty}");
            assert!(!meta.description().is_empty(), "{ty}");
            if let Some(config) = meta.config() {
                assert!(config.defaults().is_ok(), "{ty}: an empty config is valid");
            }
        }
        let defaults = registry.get_metadata("chunk").unwrap().config().unwrap().defaults().unwrap();
        assert_eq!(defaults, json!({"size": 800, "overlap": 100}));
        let e = registry
            .get_metadata("ingest")
            .unwrap()
            .config()
            .unwrap()
            .parse(json!({"stric": true}))
            .err()
            .unwrap();
        assert!(e.message.contains("stric"), "{e}");
    }

    /// Every record of the sample corpus goes through parse, validation, chunking, embedding
    /// and extraction, and the corpus yields entities and claims from every source.
    #[test]
    fn the_sample_corpus_flows_through_every_stage() {
        use crate::{chunk, embed, extract, parse, validate};
        let mut total_claims = 0;
        for source in ["clinicaltrials", "openalex", "pmc", "semantic-scholar", "file"] {
            let job = Job::new("corpus", source);
            let all = run_ingest(&job, &Value::Null, &config(), None).unwrap();
            assert!(all.len() >= 2, "{source}: {}", all.len());
            assert!(all.iter().any(|r| r.pdf_url.is_some()), "{source} has a PDF link");
            let (mut entities, mut claims) = (0, 0);
            for record in &all {
                let one = run_ingest(&job, &json!({"id": record.id}), &config(), None).unwrap();
                assert_eq!(one, vec![record.clone()], "{source}: by id");
                let doc = parse::build(&one, None).unwrap();
                validate::validate(&doc, &validate::ValidationConfig::default()).unwrap();
                let chunks = chunk::chunk_document(&doc, &chunk::ChunkConfig::default()).unwrap();
                assert!(!chunks.is_empty(), "{}", record.id);
                let batch = embed::embed(&chunks, &embed::EmbedConfig::default()).unwrap();
                assert_eq!(batch.vectors.len(), chunks.len());
                let (e, c) = extract::extract(&doc, &extract::ExtractConfig::default()).unwrap();
                entities += e.len();
                claims += c.len();
            }
            assert!(entities >= all.len() && claims >= 1, "{source}: {entities} entities, {claims} claims");
            total_claims += claims;
        }
        assert!(total_claims >= 15, "{total_claims}");
    }
}
