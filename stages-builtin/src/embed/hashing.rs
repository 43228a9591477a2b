//! The feature-hashing embedder (model name `feature-hashing-<dims>`): no model file, no
//! network, and the same vectors on every run and platform.
//!
//! It is a lexical embedding: texts that share words (and word pairs) are close; synonyms are
//! not. Each text is lowercased and split into tokens at every character that is not
//! alphanumeric; each token (weight 1) and each pair of adjacent tokens (`"type 2"`, weight 0.5)
//! is hashed with 64-bit FNV-1a (standard offset basis and prime); the hash modulo `dims` picks a
//! bucket and its top bit the sign added; the vector is then L2-normalized (a text without
//! tokens gives zeros).
//!
//! ```
//! use stages_builtin::embed::{cosine, FeatureHashingEmbedder};
//!
//! let e = FeatureHashingEmbedder::new(64);
//! let a = e.embed_one("metformin in type 2 diabetes");
//! assert!(cosine(&a, &e.embed_one("Metformin, diabetes")) > cosine(&a, &e.embed_one("aspirin")));
//! ```

use super::{EmbedError, Embedder};

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
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts.iter().map(|t| self.embed_one(t)).collect())
    }
}
