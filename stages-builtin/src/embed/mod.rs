//! `embed`: turns [`Chunk`]s into vectors (`embedding_batch`).
//!
//! Two embedders implement [`Embedder`]:
//!
//! | config `model` | embedder | batch `model` | dims |
//! |---|---|---|---|
//! | `minilm-l6-v2` | [`MiniLmEmbedder`](minilm::MiniLmEmbedder): sentence-transformers' all-MiniLM-L6-v2 run in process (candle), feature `minilm` | `all-MiniLM-L6-v2` | 384 |
//! | `feature-hashing` (or `feature-hashing-256`) | [`FeatureHashingEmbedder`]: deterministic hashed tokens, no model file ([`hashing`]) | `feature-hashing-<dimensions>` | `dimensions` (256) |
//! | `auto` (default) | the model when its weights are found, else feature hashing | | |
//!
//! # Choosing the model
//!
//! `auto` looks for the weights in `model_dir` when the config sets it, else in the default
//! cache directory [`default_model_dir`]:
//! `${XDG_CACHE_HOME:-$HOME/.cache}/stage-framework/models/all-MiniLM-L6-v2/`. Found, the model
//! is used; not found (or the crate built without its `minilm` feature), feature hashing is. The
//! choice is logged once per process (`tracing::info`) and recorded as each batch's `model`.
//! `minilm-l6-v2` insists: missing weights are an error naming the file and the command that
//! fetches them:
//!
//! ```sh
//! scripts/fetch-model            # into the default cache directory; idempotent, checks sha256s
//! scripts/fetch-model DIR        # elsewhere (then set `model_dir: DIR`)
//! ```
//!
//! The environment variable [`FORCE_EMBEDDER_ENV`] (`STAGES_EMBEDDER=feature-hashing`) forces
//! feature hashing whatever the config says (for benchmarks, and for tests of other stages).
//!
//! The model is loaded once per process and directory
//! ([`MiniLmEmbedder::shared`](minilm::MiniLmEmbedder::shared)), not per job. A job's chunks are
//! embedded `batch_size` (32) at a time, chunks of similar length together, each batch padded
//! to its longest chunk; chunks longer than 256 word pieces are truncated (the model's
//! `max_seq_length`).
//!
//! ```yaml
//! - name: embed
//!   type: embed
//!   config:
//!     model: auto          # auto | minilm-l6-v2 | feature-hashing
//!     # model_dir: /data/models/all-MiniLM-L6-v2
//!     # batch_size: 32
//!     # dimensions: 256    # feature hashing only
//! ```
//!
//! The store keeps each vector's model and refuses to mix models (see [`crate::index`]);
//! `stagectl query similar` embeds the query with the store's model. [`cosine`] compares
//! vectors.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use stage_core::stage;

use crate::types::{Chunk, EmbeddingBatch};

pub mod hashing;
#[cfg(feature = "minilm")]
pub mod minilm;

pub use hashing::{fnv1a64, tokens, FeatureHashingEmbedder, FNV_OFFSET_BASIS};

/// Something that turns texts into fixed-length vectors.
pub trait Embedder: Send + Sync {
    /// The model's name, recorded in the batch (`feature-hashing-256`, `all-MiniLM-L6-v2`).
    fn name(&self) -> String;
    /// The vectors' length.
    fn dimensions(&self) -> usize;
    /// One vector per text, in order. A model embeds the texts as one batch.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// The name all-MiniLM-L6-v2 records in batches and the store.
pub const MINILM_MODEL_NAME: &str = "all-MiniLM-L6-v2";

/// The files a model directory must hold for all-MiniLM-L6-v2 to be found.
pub const MODEL_FILES: &[&str] = &["model.safetensors", "tokenizer.json", "config.json"];

/// The command that fetches the model's weights into the default cache directory.
pub const FETCH_COMMAND: &str = "`scripts/fetch-model` (in the stage-framework repository)";

/// The environment variable that forces an embedder: `feature-hashing` is the one value
/// (unset or empty: the config decides).
pub const FORCE_EMBEDDER_ENV: &str = "STAGES_EMBEDDER";

/// The chunks embedded per model call when the config does not say.
pub const DEFAULT_BATCH_SIZE: usize = 32;

/// The default directory of all-MiniLM-L6-v2's files:
/// `${XDG_CACHE_HOME:-$HOME/.cache}/stage-framework/models/all-MiniLM-L6-v2` (`XDG_CACHE_HOME`
/// counts only when absolute, as the XDG spec says). `None` without either variable.
pub fn default_model_dir() -> Option<PathBuf> {
    model_dir_from(std::env::var_os("XDG_CACHE_HOME").as_deref(), std::env::var_os("HOME").as_deref())
}

fn model_dir_from(xdg_cache: Option<&std::ffi::OsStr>, home: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    let cache = match xdg_cache.map(Path::new) {
        Some(p) if p.is_absolute() => p.to_owned(),
        _ => Path::new(home.filter(|h| !h.is_empty())?).join(".cache"),
    };
    Some(cache.join("stage-framework").join("models").join(MINILM_MODEL_NAME))
}

/// Whether `dir` holds the model's files ([`MODEL_FILES`]).
pub fn model_files_present(dir: &Path) -> bool {
    MODEL_FILES.iter().all(|f| dir.join(f).is_file())
}

/// The cosine similarity of two vectors, over their common length; 0 when either is zero.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut na, mut nb) = (0f32, 0f32, 0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}

/// The batch `embedder` makes of `chunks`, embedding `batch_size` chunks per call (at least 1).
///
/// The chunks are grouped into calls by text length (shortest first, ties in chunk order), so
/// that a model pads each batch little; the vectors come back in chunk order.
pub fn embed_chunks(
    embedder: &dyn Embedder,
    chunks: &[Chunk],
    batch_size: usize,
) -> Result<EmbeddingBatch, EmbedError> {
    let mut order: Vec<usize> = (0..chunks.len()).collect();
    order.sort_by_key(|&i| (chunks[i].text.len(), i));
    let mut vectors = vec![Vec::new(); chunks.len()];
    for group in order.chunks(batch_size.max(1)) {
        let texts: Vec<&str> = group.iter().map(|&i| chunks[i].text.as_str()).collect();
        let got = embedder.embed(&texts)?;
        if got.len() != texts.len() {
            return Err(EmbedError::Model {
                message: format!(
                    "{} returned {} vectors for {} texts",
                    embedder.name(),
                    got.len(),
                    texts.len()
                ),
            });
        }
        for (&i, v) in group.iter().zip(got) {
            vectors[i] = v;
        }
    }
    Ok(EmbeddingBatch {
        model: embedder.name(),
        dimensions: embedder.dimensions(),
        vectors,
        chunks: chunks.to_vec(),
    })
}

/// Which embedder the `embed` stage uses (module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModelChoice {
    /// all-MiniLM-L6-v2 when its weights are found, else feature hashing.
    #[default]
    #[serde(rename = "auto")]
    Auto,
    /// all-MiniLM-L6-v2; missing weights are an error.
    #[serde(rename = "minilm-l6-v2", alias = "all-MiniLM-L6-v2")]
    MiniLmL6V2,
    /// The feature-hashing embedder, `dimensions` long.
    #[serde(rename = "feature-hashing", alias = "feature-hashing-256")]
    FeatureHashing,
}

/// The `embed` stage's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbedConfig {
    /// The embedder: `auto` (default), `minilm-l6-v2` or `feature-hashing`.
    pub model: ModelChoice,
    /// Where all-MiniLM-L6-v2's files are; default [`default_model_dir`].
    pub model_dir: Option<PathBuf>,
    /// The feature-hashing vectors' length (at least 1; default 256). The model's length is its
    /// own (384): setting another value with the model is an error.
    pub dimensions: Option<usize>,
    /// Chunks per model call (at least 1; default [`DEFAULT_BATCH_SIZE`]).
    pub batch_size: usize,
}

impl Default for EmbedConfig {
    fn default() -> Self {
        EmbedConfig {
            model: ModelChoice::Auto,
            model_dir: None,
            dimensions: None,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
}

impl EmbedConfig {
    /// A configuration that uses feature hashing with `dimensions` buckets.
    pub fn feature_hashing(dimensions: usize) -> Self {
        EmbedConfig {
            model: ModelChoice::FeatureHashing,
            dimensions: Some(dimensions),
            ..EmbedConfig::default()
        }
    }
}

/// Why `embed` failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// The configuration is unusable.
    #[error("embed config: `{field}` {message}")]
    Config {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The model's weights are not where they were looked for.
    #[error(
        "{} not found: {} is missing; fetch the model with {}{}, or set `model: feature-hashing`",
        MINILM_MODEL_NAME,
        dir.join(file).display(),
        FETCH_COMMAND,
        fetch_dir_hint(dir)
    )]
    ModelMissing {
        /// The directory searched.
        dir: PathBuf,
        /// The first missing file.
        file: String,
    },
    /// The model could not be loaded or run (the message names the file or model).
    #[error("embedding model: {message}")]
    Model {
        /// What went wrong.
        message: String,
    },
    /// This build has no such embedder.
    #[error("{0}")]
    Unavailable(String),
}

fn fetch_dir_hint(dir: &Path) -> String {
    if default_model_dir().as_deref() == Some(dir) {
        String::new()
    } else {
        format!(" (`scripts/fetch-model {}`)", dir.display())
    }
}

/// Logs each distinct embedder choice once per process.
fn log_choice_once(message: String) {
    static LOGGED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let mut logged = LOGGED.get_or_init(Mutex::default).lock().unwrap_or_else(|p| p.into_inner());
    if logged.insert(message.clone()) {
        tracing::info!("{message}");
    }
}

fn feature_hashing_for(config: &EmbedConfig) -> Result<Arc<dyn Embedder>, EmbedError> {
    match config.dimensions {
        Some(0) => Err(EmbedError::Config { field: "dimensions", message: "must be at least 1".into() }),
        d => Ok(Arc::new(FeatureHashingEmbedder::new(d.unwrap_or(256)))),
    }
}

/// The embedder for the model in `dir`, loaded once per process.
#[cfg(feature = "minilm")]
pub fn load_minilm(dir: &Path) -> Result<Arc<dyn Embedder>, EmbedError> {
    Ok(minilm::MiniLmEmbedder::shared(dir)?)
}

/// The embedder for the model in `dir`: this build has no model (feature `minilm` off).
#[cfg(not(feature = "minilm"))]
pub fn load_minilm(dir: &Path) -> Result<Arc<dyn Embedder>, EmbedError> {
    Err(EmbedError::Unavailable(format!(
        "{MINILM_MODEL_NAME} ({}) is not in this build: stages-builtin was built without its `minilm` feature",
        dir.display()
    )))
}

/// The embedder `config` chooses (module docs), `forced` being the value of
/// [`FORCE_EMBEDDER_ENV`].
pub fn select_embedder(config: &EmbedConfig, forced: Option<&str>) -> Result<Arc<dyn Embedder>, EmbedError> {
    if config.batch_size == 0 {
        return Err(EmbedError::Config { field: "batch_size", message: "must be at least 1".into() });
    }
    match forced.map(str::trim) {
        None | Some("") => {}
        Some("feature-hashing" | "feature-hashing-256") => {
            let e = feature_hashing_for(config)?;
            log_choice_once(format!("embed: {} ({FORCE_EMBEDDER_ENV} forces feature hashing)", e.name()));
            return Ok(e);
        }
        Some(other) => {
            return Err(EmbedError::Config {
                field: "model",
                message: format!(
                    "is forced by the environment variable {FORCE_EMBEDDER_ENV}={other:?}, which is not a known value: use `feature-hashing`, or unset it"
                ),
            })
        }
    }
    let dir = || {
        config.model_dir.clone().or_else(default_model_dir).ok_or_else(|| EmbedError::Config {
            field: "model_dir",
            message:
                "is needed: neither XDG_CACHE_HOME nor HOME is set, so there is no default model directory"
                    .into(),
        })
    };
    let model = |dir: &Path| -> Result<Arc<dyn Embedder>, EmbedError> {
        let e = load_minilm(dir)?;
        if let Some(d) = config.dimensions.filter(|d| *d != e.dimensions()) {
            return Err(EmbedError::Config {
                field: "dimensions",
                message: format!(
                    "is {d}, but {} gives {} dimensions: remove `dimensions` or use `model: feature-hashing`",
                    e.name(),
                    e.dimensions()
                ),
            });
        }
        log_choice_once(format!("embed: {} from {}", e.name(), dir.display()));
        Ok(e)
    };
    match config.model {
        ModelChoice::FeatureHashing => feature_hashing_for(config),
        ModelChoice::MiniLmL6V2 => {
            let dir = dir()?;
            if let Some(missing) = MODEL_FILES.iter().find(|f| !dir.join(f).is_file()) {
                return Err(EmbedError::ModelMissing { dir, file: (*missing).to_owned() });
            }
            model(&dir)
        }
        ModelChoice::Auto => match dir() {
            Ok(dir) if cfg!(feature = "minilm") && model_files_present(&dir) => model(&dir),
            found => {
                let e = feature_hashing_for(config)?;
                let why = match found {
                    Ok(dir) if cfg!(feature = "minilm") => {
                        format!(
                            "no {MINILM_MODEL_NAME} weights in {}; {FETCH_COMMAND} fetches them",
                            dir.display()
                        )
                    }
                    Ok(_) => "stages-builtin was built without its `minilm` feature".to_owned(),
                    Err(e) => e.to_string(),
                };
                log_choice_once(format!("embed: {} (model: auto, {why})", e.name()));
                Ok(e)
            }
        },
    }
}

/// The embedder for vectors recorded as model `name` with `dimensions` (a store's model, for
/// embedding queries): `feature-hashing-<n>` or `all-MiniLM-L6-v2` (from `model_dir`, else
/// [`default_model_dir`]).
pub fn embedder_for_model(
    name: &str,
    dimensions: usize,
    model_dir: Option<&Path>,
) -> Result<Arc<dyn Embedder>, EmbedError> {
    if let Some(n) = name.strip_prefix("feature-hashing-") {
        if n.parse::<usize>().ok() == Some(dimensions) && dimensions > 0 {
            return Ok(Arc::new(FeatureHashingEmbedder::new(dimensions)));
        }
    }
    if name == MINILM_MODEL_NAME {
        let config = EmbedConfig {
            model: ModelChoice::MiniLmL6V2,
            model_dir: model_dir.map(Path::to_owned),
            dimensions: Some(dimensions),
            ..EmbedConfig::default()
        };
        return select_embedder(&config, None);
    }
    Err(EmbedError::Unavailable(format!(
        "no embedder for model `{name}` with {dimensions} dimensions: this build knows `feature-hashing-<n>` and `{MINILM_MODEL_NAME}`"
    )))
}

/// The name a model is recorded under, for a name a user gives (`--model`): the config names
/// (`minilm-l6-v2`, `feature-hashing`) and the recorded names, any case. `None` when unknown.
pub fn recorded_model_name(user: &str) -> Option<String> {
    let lower = user.trim().to_ascii_lowercase();
    match lower.as_str() {
        "minilm-l6-v2" | "all-minilm-l6-v2" | "sentence-transformers/all-minilm-l6-v2" => {
            Some(MINILM_MODEL_NAME.to_owned())
        }
        "feature-hashing" => Some("feature-hashing-256".to_owned()),
        _ => lower
            .strip_prefix("feature-hashing-")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .map(|n| format!("feature-hashing-{n}")),
    }
}

/// Embeds the `chunks` into an `embedding_batch` with the embedder the config chooses
/// (all-MiniLM-L6-v2 when found, else feature hashing; module docs), `batch_size` chunks per
/// model call.
#[stage(type = "embed", state_key = "embedding_batch")]
pub fn embed(chunks: &Vec<Chunk>, #[config] config: &EmbedConfig) -> Result<EmbeddingBatch, EmbedError> {
    let forced = std::env::var(FORCE_EMBEDDER_ENV).ok();
    let embedder = select_embedder(config, forced.as_deref())?;
    embed_chunks(embedder.as_ref(), chunks, config.batch_size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(i: usize, text: &str) -> Chunk {
        Chunk { id: format!("d#{i}"), doc_id: "d".into(), index: i, section: "S".into(), text: text.into() }
    }

    #[test]
    fn fnv1a_matches_the_reference_values() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn tokens_are_lowercase_alphanumeric_runs() {
        assert_eq!(tokens("COVID-19 and Type 2 Diabetes!"), ["covid", "19", "and", "type", "2", "diabetes"]);
    }

    #[test]
    fn vectors_are_normalized_deterministic_and_lexical() {
        let e = FeatureHashingEmbedder::new(64);
        let a = e.embed_one("Metformin reduces HbA1c in type 2 diabetes");
        assert_eq!(a.len(), 64);
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
        assert_eq!(a, e.embed_one("metformin REDUCES hba1c, in type 2 diabetes."));
        let near = e.embed_one("metformin in diabetes");
        let far = e.embed_one("aspirin inhibits platelet aggregation");
        assert!(cosine(&a, &near) > cosine(&a, &far));
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-5);
        assert_eq!(e.embed_one("  -- "), vec![0.0; 64]);
    }

    #[test]
    fn stable_across_runs_and_platforms() {
        // The bucket and sign of one token, pinned: they depend on FNV-1a alone.
        let e = FeatureHashingEmbedder::new(8);
        let v = e.embed_one("a");
        let h = 0xaf63dc4c8601ec8cu64;
        let mut expected = vec![0.0f32; 8];
        expected[(h % 8) as usize] = if h >> 63 == 1 { -1.0 } else { 1.0 };
        assert_eq!(v, expected);
    }

    #[test]
    fn cosine_edge_cases() {
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        assert!((cosine(&[1.0, 0.0], &[0.0, 1.0])).abs() < 1e-6);
        assert!((cosine(&[1.0, 1.0], &[2.0, 2.0]) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn the_stage_embeds_every_chunk() {
        let chunks = vec![chunk(0, "aspirin"), chunk(1, "insulin")];
        let b = embed(&chunks, &EmbedConfig::feature_hashing(256)).unwrap();
        assert_eq!((b.model.as_str(), b.dimensions, b.vectors.len()), ("feature-hashing-256", 256, 2));
        assert_eq!(b.chunks, chunks);
        assert!(b.vectors.iter().all(|v| v.len() == 256));
        assert!(embed(&chunks, &EmbedConfig::feature_hashing(0))
            .unwrap_err()
            .to_string()
            .contains("`dimensions`"));
        assert!(serde_json::from_str::<EmbedConfig>(r#"{"dims": 3}"#).is_err());
    }

    fn names(e: Result<Arc<dyn Embedder>, EmbedError>) -> (String, usize) {
        let e = e.unwrap_or_else(|e| panic!("{e}"));
        (e.name(), e.dimensions())
    }

    #[test]
    fn config_names_the_model() {
        let parse = |s: &str| serde_json::from_str::<EmbedConfig>(s);
        assert_eq!(parse("{}").unwrap(), EmbedConfig::default());
        assert_eq!(EmbedConfig::default().model, ModelChoice::Auto);
        for (text, model) in [
            ("auto", ModelChoice::Auto),
            ("minilm-l6-v2", ModelChoice::MiniLmL6V2),
            ("all-MiniLM-L6-v2", ModelChoice::MiniLmL6V2),
            ("feature-hashing", ModelChoice::FeatureHashing),
            ("feature-hashing-256", ModelChoice::FeatureHashing),
        ] {
            assert_eq!(parse(&format!(r#"{{"model": "{text}"}}"#)).unwrap().model, model, "{text}");
        }
        assert!(parse(r#"{"model": "bert"}"#).unwrap_err().to_string().contains("unknown variant"));
        let c = parse(r#"{"model_dir": "/m", "batch_size": 8, "dimensions": 64}"#).unwrap();
        assert_eq!(
            (c.model_dir.as_deref(), c.batch_size, c.dimensions),
            (Some(Path::new("/m")), 8, Some(64))
        );
    }

    #[test]
    fn the_default_model_dir_follows_xdg() {
        let os = |s: &'static str| Some(std::ffi::OsStr::new(s));
        let want = "stage-framework/models/all-MiniLM-L6-v2";
        assert_eq!(model_dir_from(os("/x"), os("/h")), Some(Path::new("/x").join(want)));
        assert_eq!(model_dir_from(os("rel"), os("/h")), Some(Path::new("/h/.cache").join(want)));
        assert_eq!(model_dir_from(None, os("/h")), Some(Path::new("/h/.cache").join(want)));
        assert_eq!(model_dir_from(None, os("")), None);
        assert_eq!(model_dir_from(None, None), None);
    }

    #[test]
    fn auto_without_weights_falls_back_to_feature_hashing() {
        let empty = tempfile::tempdir().unwrap();
        let config = EmbedConfig { model_dir: Some(empty.path().to_owned()), ..EmbedConfig::default() };
        assert_eq!(names(select_embedder(&config, None)), ("feature-hashing-256".to_owned(), 256));
        let config = EmbedConfig { dimensions: Some(32), ..config };
        assert_eq!(names(select_embedder(&config, None)), ("feature-hashing-32".to_owned(), 32));
    }

    #[test]
    fn a_missing_model_says_how_to_fetch_it() {
        let empty = tempfile::tempdir().unwrap();
        let config = EmbedConfig {
            model: ModelChoice::MiniLmL6V2,
            model_dir: Some(empty.path().to_owned()),
            ..EmbedConfig::default()
        };
        let err = select_embedder(&config, None).err().expect("no weights: an error");
        assert!(
            matches!(&err, EmbedError::ModelMissing { file, .. } if file == "model.safetensors"),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&empty.path().join("model.safetensors").display().to_string()), "{msg}");
        assert!(msg.contains(&format!("scripts/fetch-model {}", empty.path().display())), "{msg}");
        // Forcing feature hashing wins over the config.
        assert_eq!(
            names(select_embedder(&config, Some("feature-hashing"))),
            ("feature-hashing-256".to_owned(), 256)
        );
        assert!(select_embedder(&config, Some(" ")).is_err(), "blank is unset: the config decides");
    }

    #[test]
    fn bad_settings_are_config_errors() {
        let err = |c: &EmbedConfig, forced| select_embedder(c, forced).err().expect("an error").to_string();
        assert!(err(&EmbedConfig::feature_hashing(0), None).contains("`dimensions` must be at least 1"));
        let c = EmbedConfig { batch_size: 0, ..EmbedConfig::feature_hashing(8) };
        assert!(err(&c, None).contains("`batch_size`"));
        let msg = err(&EmbedConfig::feature_hashing(8), Some("bert"));
        assert!(msg.contains("STAGES_EMBEDDER") && msg.contains("\"bert\""), "{msg}");
    }

    #[test]
    fn queries_use_the_recorded_model() {
        assert_eq!(
            names(embedder_for_model("feature-hashing-64", 64, None)),
            ("feature-hashing-64".to_owned(), 64)
        );
        for (name, dims) in [("feature-hashing-64", 32), ("feature-hashing-x", 3), ("bert", 3)] {
            let msg = embedder_for_model(name, dims, None).err().expect("unknown").to_string();
            assert!(msg.contains(name), "{msg}");
        }
        let empty = tempfile::tempdir().unwrap();
        let msg = embedder_for_model(MINILM_MODEL_NAME, 384, Some(empty.path()))
            .err()
            .expect("missing")
            .to_string();
        assert!(msg.contains("scripts/fetch-model") || msg.contains("`minilm` feature"), "{msg}");
        assert_eq!(recorded_model_name("minilm-l6-v2").as_deref(), Some(MINILM_MODEL_NAME));
        assert_eq!(recorded_model_name("ALL-MiniLM-L6-v2").as_deref(), Some(MINILM_MODEL_NAME));
        assert_eq!(recorded_model_name("feature-hashing").as_deref(), Some("feature-hashing-256"));
        assert_eq!(recorded_model_name("feature-hashing-64").as_deref(), Some("feature-hashing-64"));
        assert_eq!(recorded_model_name("feature-hashing-0"), None);
        assert_eq!(recorded_model_name("gpt"), None);
    }

    /// Records the texts of every call; a text's vector is `[its length, its place in the call]`.
    struct Counting(Mutex<Vec<Vec<String>>>, bool);

    impl Embedder for Counting {
        fn name(&self) -> String {
            "counting".into()
        }
        fn dimensions(&self) -> usize {
            2
        }
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
            self.0.lock().unwrap().push(texts.iter().map(|t| (*t).to_owned()).collect());
            let mut out: Vec<Vec<f32>> =
                texts.iter().enumerate().map(|(i, t)| vec![t.len() as f32, i as f32]).collect();
            if self.1 {
                out.push(vec![0.0, 0.0]);
            }
            Ok(out)
        }
    }

    #[test]
    fn chunks_are_embedded_in_batches_by_length_in_order() {
        let texts = ["ccc", "a", "eeeee", "bb", "dddd"];
        let chunks: Vec<Chunk> = texts.iter().enumerate().map(|(i, t)| chunk(i, t)).collect();
        let e = Counting(Mutex::default(), false);
        let b = embed_chunks(&e, &chunks, 2).unwrap();
        assert_eq!(*e.0.lock().unwrap(), [vec!["a", "bb"], vec!["ccc", "dddd"], vec!["eeeee"]]);
        assert_eq!(b.vectors, [[3.0, 0.0], [1.0, 0.0], [5.0, 0.0], [2.0, 1.0], [4.0, 1.0]]);
        assert_eq!((b.model.as_str(), b.dimensions), ("counting", 2));
        assert_eq!(b.chunks, chunks, "chunks keep their order");
        let e = Counting(Mutex::default(), false);
        embed_chunks(&e, &chunks, 0).unwrap();
        assert_eq!(e.0.lock().unwrap().len(), 5, "a batch size of 0 counts as 1");
        let e = Counting(Mutex::default(), true);
        assert!(embed_chunks(&e, &chunks, 8).unwrap_err().to_string().contains("6 vectors for 5 texts"));
    }
}
