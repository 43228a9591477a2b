//! all-MiniLM-L6-v2 (sentence-transformers) in process: a 6-layer BERT run with candle, its
//! WordPiece tokenizer run with `tokenizers`, then the model's own sentence-transformers
//! modules: mean pooling over the attention mask and L2 normalisation. 384 dimensions.
//!
//! # Files
//!
//! [`MiniLmEmbedder::load`] reads a directory laid out as sentence-transformers saves the model
//! (what `scripts/fetch-model` unpacks into [`super::default_model_dir`]):
//!
//! | file | use |
//! |---|---|
//! | `model.safetensors` | the BERT weights (`f32`), read into memory (no `mmap`) |
//! | `config.json` | the BERT configuration (layers, heads, sizes, `gelu`) |
//! | `tokenizer.json` | the tokenizer (lowercasing BERT normaliser, WordPiece) |
//! | `sentence_bert_config.json` | optional: `max_seq_length` (256 for this model) |
//! | `1_Pooling/config.json` | optional: must ask for mean pooling (the only pooling done here) |
//! | `modules.json` | optional: a `Normalize` module turns L2 normalisation on (on when absent) |
//!
//! `tokenizer.json` itself says to truncate at 128 tokens and pad every text to 128; both are
//! replaced: texts are truncated at `max_seq_length` word pieces (special tokens included, as
//! sentence-transformers does) and padded to the longest text of each batch.
//!
//! # Batches
//!
//! [`Embedder::embed`] runs the texts it is given as one padded batch; callers split large
//! inputs ([`super::embed_chunks`] uses the stage's `batch_size`). A text's vector does not
//! depend on the batch beyond floating-point rounding (padding is masked out).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use serde::Deserialize;
use tokenizers::{
    PaddingDirection, PaddingParams, PaddingStrategy, Tokenizer, TruncationDirection, TruncationParams,
    TruncationStrategy,
};

use super::{EmbedError, Embedder, FETCH_COMMAND, MINILM_MODEL_NAME, MODEL_FILES};

/// The maximum length in word pieces when `sentence_bert_config.json` does not say.
pub const DEFAULT_MAX_TOKENS: usize = 256;

/// all-MiniLM-L6-v2 loaded and ready (module docs). Cheap to share: [`MiniLmEmbedder::shared`]
/// loads each directory once per process.
pub struct MiniLmEmbedder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    dims: usize,
    max_tokens: usize,
    normalize: bool,
    dir: PathBuf,
}

impl std::fmt::Debug for MiniLmEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MiniLmEmbedder")
            .field("dir", &self.dir)
            .field("dimensions", &self.dims)
            .field("max_tokens", &self.max_tokens)
            .field("normalize", &self.normalize)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

#[derive(Deserialize)]
struct ModuleEntry {
    #[serde(rename = "type")]
    kind: String,
}

fn model_err(path: &Path, what: impl std::fmt::Display) -> EmbedError {
    EmbedError::Model { message: format!("{}: {what}", path.display()) }
}

fn read(path: &Path) -> Result<Vec<u8>, EmbedError> {
    std::fs::read(path)
        .map_err(|e| model_err(path, format!("cannot read: {e}; {FETCH_COMMAND} fetches it again")))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, EmbedError> {
    serde_json::from_slice(&read(path)?).map_err(|e| model_err(path, format!("not the expected JSON: {e}")))
}

fn read_optional_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, EmbedError> {
    if path.is_file() {
        read_json(path).map(Some)
    } else {
        Ok(None)
    }
}

impl MiniLmEmbedder {
    /// Loads the model from `dir` (module docs for the files). A missing file is an error that
    /// names it and the command that fetches the model.
    pub fn load(dir: &Path) -> Result<MiniLmEmbedder, EmbedError> {
        if let Some(missing) = MODEL_FILES.iter().find(|f| !dir.join(f).is_file()) {
            return Err(EmbedError::ModelMissing { dir: dir.to_owned(), file: (*missing).to_owned() });
        }
        let started = std::time::Instant::now();
        let config_path = dir.join("config.json");
        let config: BertConfig = read_json(&config_path)?;
        let max_tokens = read_optional_json::<SentenceBertConfig>(&dir.join("sentence_bert_config.json"))?
            .and_then(|c| c.max_seq_length)
            .unwrap_or(DEFAULT_MAX_TOKENS)
            .min(config.max_position_embeddings);
        if max_tokens < 2 {
            return Err(model_err(
                &dir.join("sentence_bert_config.json"),
                "`max_seq_length` must be at least 2",
            ));
        }
        let pooling_path = dir.join("1_Pooling").join("config.json");
        if let Some(p) = read_optional_json::<PoolingConfig>(&pooling_path)? {
            if !p.pooling_mode_mean_tokens
                || p.pooling_mode_cls_token
                || p.pooling_mode_max_tokens
                || p.pooling_mode_mean_sqrt_len_tokens
            {
                return Err(model_err(
                    &pooling_path,
                    "only mean pooling (`pooling_mode_mean_tokens` alone) is supported",
                ));
            }
        }
        let normalize = read_optional_json::<Vec<ModuleEntry>>(&dir.join("modules.json"))?
            .is_none_or(|modules| modules.iter().any(|m| m.kind.ends_with("Normalize")));

        let tokenizer_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_bytes(read(&tokenizer_path)?)
            .map_err(|e| model_err(&tokenizer_path, format!("not a tokenizer: {e}")))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length: max_tokens,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|e| model_err(&tokenizer_path, format!("cannot truncate at {max_tokens}: {e}")))?;
        let pad_token = tokenizer.id_to_token(0).unwrap_or_else(|| "[PAD]".to_owned());
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            direction: PaddingDirection::Right,
            pad_to_multiple_of: None,
            pad_id: u32::try_from(config.pad_token_id).unwrap_or(0),
            pad_type_id: 0,
            pad_token,
        }));

        let weights_path = dir.join("model.safetensors");
        let device = Device::Cpu;
        let vb = VarBuilder::from_buffered_safetensors(read(&weights_path)?, DType::F32, &device)
            .map_err(|e| model_err(&weights_path, format!("not a safetensors file: {e}")))?;
        let model = BertModel::load(vb, &config).map_err(|e| {
            model_err(&weights_path, format!("weights do not fit {}: {e}", config_path.display()))
        })?;
        let embedder = MiniLmEmbedder {
            model,
            tokenizer,
            device,
            dims: config.hidden_size,
            max_tokens,
            normalize,
            dir: dir.to_owned(),
        };
        tracing::debug!(dir = %dir.display(), ms = started.elapsed().as_millis() as u64, "loaded {MINILM_MODEL_NAME}");
        Ok(embedder)
    }

    /// The model of `dir`, loaded at most once per process (by canonical path) and shared.
    pub fn shared(dir: &Path) -> Result<Arc<MiniLmEmbedder>, EmbedError> {
        static LOADED: OnceLock<Mutex<HashMap<PathBuf, Arc<MiniLmEmbedder>>>> = OnceLock::new();
        let key = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
        // Held while loading, so that workers starting together load the model once.
        let mut loaded = LOADED.get_or_init(Mutex::default).lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = loaded.get(&key) {
            return Ok(Arc::clone(m));
        }
        let model = Arc::new(MiniLmEmbedder::load(dir)?);
        loaded.insert(key, Arc::clone(&model));
        Ok(model)
    }

    /// The directory the model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The maximum length of a text in word pieces, special tokens included; longer texts are
    /// truncated.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// The word-piece ids the model sees for `text` (truncated, with `[CLS]` and `[SEP]`).
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        let enc = self.tokenizer.encode(text, true).map_err(|e| EmbedError::Model {
            message: format!("{MINILM_MODEL_NAME}: cannot tokenize: {e}"),
        })?;
        Ok(enc.get_ids().to_vec())
    }

    fn forward(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        let encodings =
            self.tokenizer.encode_batch(texts.to_vec(), true).map_err(|e| format!("cannot tokenize: {e}"))?;
        let n = encodings.len();
        let len = encodings.first().map_or(0, |e| e.get_ids().len());
        let mut ids = Vec::with_capacity(n * len);
        let mut mask = Vec::with_capacity(n * len);
        for e in &encodings {
            if e.get_ids().len() != len {
                return Err("the tokenizer did not pad the batch".to_owned());
            }
            ids.extend_from_slice(e.get_ids());
            mask.extend_from_slice(e.get_attention_mask());
        }
        let t = |e: candle_core::Error| e.to_string();
        let input_ids = Tensor::from_vec(ids, (n, len), &self.device).map_err(t)?;
        let mask = Tensor::from_vec(mask, (n, len), &self.device).map_err(t)?;
        let type_ids = input_ids.zeros_like().map_err(t)?;
        let hidden = self.model.forward(&input_ids, &type_ids, Some(&mask)).map_err(t)?;
        // Mean pooling over the real tokens (sentence-transformers' Pooling, mean mode).
        let maskf = mask.to_dtype(DType::F32).and_then(|m| m.unsqueeze(2)).map_err(t)?;
        let summed = hidden.broadcast_mul(&maskf).and_then(|h| h.sum(1)).map_err(t)?;
        let counts = maskf.sum(1).and_then(|c| c.clamp(1e-9f32, f32::MAX)).map_err(t)?;
        let mut pooled = summed.broadcast_div(&counts).map_err(t)?;
        if self.normalize {
            // sentence-transformers' Normalize: x / max(‖x‖₂, 1e-12).
            let norm = pooled
                .sqr()
                .and_then(|x| x.sum_keepdim(1))
                .and_then(|x| x.sqrt())
                .and_then(|x| x.clamp(1e-12f32, f32::MAX))
                .map_err(t)?;
            pooled = pooled.broadcast_div(&norm).map_err(t)?;
        }
        pooled.to_vec2::<f32>().map_err(t)
    }
}

impl Embedder for MiniLmEmbedder {
    fn name(&self) -> String {
        MINILM_MODEL_NAME.to_owned()
    }
    fn dimensions(&self) -> usize {
        self.dims
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        self.forward(texts).map_err(|e| EmbedError::Model {
            message: format!("{MINILM_MODEL_NAME} ({}): {e}", self.dir.display()),
        })
    }
}
