//! `embed`: turns [`Chunk`]s into vectors (`embedding_batch`).
//!
//! The default embedder is [`FeatureHashingEmbedder`] (model name `feature-hashing-<dims>`): no
//! model file, no network, and the same vectors on every run and platform. It is a lexical
//! embedding: texts that share words (and word pairs) are close; synonyms are not. Each text is
//! lowercased and split into tokens at every character that is not alphanumeric; each token
//! (weight 1) and each pair of adjacent tokens (`"type 2"`, weight 0.5) is hashed with 64-bit
//! FNV-1a (standard offset basis and prime); the hash modulo `dims` picks a bucket and its top
//! bit the sign added; the vector is then L2-normalized (a text without tokens gives zeros).
//!
//! Other embedders implement [`Embedder`]; [`embed_chunks`] applies any of them, and
//! [`cosine`] compares vectors for query code.

use serde::{Deserialize, Serialize};
use stage_core::stage;

use crate::types::{Chunk, EmbeddingBatch};

/// Something that turns texts into fixed-length vectors.
pub trait Embedder: Send + Sync {
    /// The model's name, recorded in the batch (`feature-hashing-256`).
    fn name(&self) -> String;
    /// The vectors' length.
    fn dimensions(&self) -> usize;
    /// One vector per text, in order.
    fn embed(&self, texts: &[&str]) -> Vec<Vec<f32>>;
}

/// The 64-bit FNV-1a offset basis: the hash's fixed seed.
pub const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// 64-bit FNV-1a of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET_BASIS, |h, b| (h ^ u64::from(*b)).wrapping_mul(FNV_PRIME))
}

/// The tokens the embedder hashes: lowercase runs of alphanumeric characters.
pub fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).map(str::to_lowercase).collect()
}

/// A deterministic lexical embedder: hashed, signed token and bigram counts, L2-normalized
/// (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureHashingEmbedder {
    dims: usize,
}

impl FeatureHashingEmbedder {
    /// An embedder with `dimensions` buckets (at least 1).
    pub fn new(dimensions: usize) -> Self {
        FeatureHashingEmbedder { dims: dimensions.max(1) }
    }

    /// The vector of one text.
    pub fn embed_one(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0f32; self.dims];
        let toks = tokens(text);
        let mut add = |feature: &str, weight: f32| {
            let h = fnv1a64(feature.as_bytes());
            let bucket = (h % self.dims as u64) as usize;
            v[bucket] += if h >> 63 == 1 { -weight } else { weight };
        };
        for t in &toks {
            add(t, 1.0);
        }
        for pair in toks.windows(2) {
            add(&format!("{} {}", pair[0], pair[1]), 0.5);
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        }
        v
    }
}

impl Default for FeatureHashingEmbedder {
    fn default() -> Self {
        FeatureHashingEmbedder::new(256)
    }
}

impl Embedder for FeatureHashingEmbedder {
    fn name(&self) -> String {
        format!("feature-hashing-{}", self.dims)
    }
    fn dimensions(&self) -> usize {
        self.dims
    }
    fn embed(&self, texts: &[&str]) -> Vec<Vec<f32>> {
        texts.iter().map(|t| self.embed_one(t)).collect()
    }
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

/// The batch `embedder` makes of `chunks`.
pub fn embed_chunks(embedder: &dyn Embedder, chunks: &[Chunk]) -> EmbeddingBatch {
    let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
    EmbeddingBatch {
        model: embedder.name(),
        dimensions: embedder.dimensions(),
        vectors: embedder.embed(&texts),
        chunks: chunks.to_vec(),
    }
}

/// The `embed` stage's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbedConfig {
    /// The vectors' length (at least 1).
    pub dimensions: usize,
}

impl Default for EmbedConfig {
    fn default() -> Self {
        EmbedConfig { dimensions: 256 }
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
}

/// Embeds the `chunks` with the deterministic feature-hashing embedder
/// (`feature-hashing-<dimensions>`), one vector per chunk, into an `embedding_batch`.
#[stage(type = "embed", state_key = "embedding_batch")]
#[allow(clippy::ptr_arg)] // state inputs are bound by their stored type
pub fn embed(chunks: &Vec<Chunk>, #[config] config: &EmbedConfig) -> Result<EmbeddingBatch, EmbedError> {
    if config.dimensions == 0 {
        return Err(EmbedError::Config { field: "dimensions", message: "must be at least 1".into() });
    }
    Ok(embed_chunks(&FeatureHashingEmbedder::new(config.dimensions), chunks))
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
        let b = embed(&chunks, &EmbedConfig::default()).unwrap();
        assert_eq!((b.model.as_str(), b.dimensions, b.vectors.len()), ("feature-hashing-256", 256, 2));
        assert_eq!(b.chunks, chunks);
        assert!(b.vectors.iter().all(|v| v.len() == 256));
        assert!(embed(&chunks, &EmbedConfig { dimensions: 0 })
            .unwrap_err()
            .to_string()
            .contains("`dimensions`"));
        assert!(serde_json::from_str::<EmbedConfig>(r#"{"dims": 3}"#).is_err());
    }
}
