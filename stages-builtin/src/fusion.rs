//! Hybrid search: reciprocal-rank fusion of several rankings of the same chunks.
//!
//! Full-text search (bm25) finds the chunks that share the query's words; the sentence model
//! finds chunks that mean the same thing in other words. Their scores are on different scales
//! (a negated bm25 rank against a cosine), so they are fused by rank alone, as Cormack, Clarke
//! and Büttcher's reciprocal-rank fusion does: a chunk's fused score is the sum, over the
//! rankings that hold it, of `1 / (k + rank)` (rank from 1). `k` ([`RRF_K`], 60, the paper's
//! value) damps the weight of the very first places.
//!
//! ```
//! use stages_builtin::fusion::{reciprocal_rank_fusion, RRF_K};
//! use stages_builtin::index::Hit;
//!
//! let hit = |id: &str, score: f64| Hit {
//!     chunk_id: id.into(),
//!     doc_id: id.split('#').next().unwrap().into(),
//!     job_id: "j".into(),
//!     text: String::new(),
//!     score,
//! };
//! let text = vec![hit("a#0", 9.1), hit("b#0", 7.0)];
//! let similar = vec![hit("b#0", 0.61), hit("c#0", 0.58)];
//! let fused = reciprocal_rank_fusion(&[text, similar], RRF_K, 10);
//! let ids: Vec<&str> = fused.iter().map(|h| h.chunk_id.as_str()).collect();
//! assert_eq!(ids, ["b#0", "a#0", "c#0"]); // b is in both rankings
//! assert!((fused[0].score - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-12);
//! ```

use std::collections::{HashMap, HashSet};

use crate::index::Hit;

/// The fusion's damping constant: 60, as in the paper that introduced it.
pub const RRF_K: f64 = 60.0;

/// Fuses `rankings` (each best first) into one, best first, at most `limit` hits. A chunk is
/// known by its chunk id and job id; its fused [`Hit::score`] is `Σ 1 / (k + rank)` over the
/// rankings that hold it. Ties are broken by chunk id, then job id, so the result does not
/// depend on the order of equal scores in the inputs. A chunk repeated within one ranking
/// counts at its best place only.
pub fn reciprocal_rank_fusion(rankings: &[Vec<Hit>], k: f64, limit: usize) -> Vec<Hit> {
    let mut fused: HashMap<(&str, &str), (f64, &Hit)> = HashMap::new();
    for ranking in rankings {
        let mut seen: HashSet<(&str, &str)> = HashSet::with_capacity(ranking.len());
        for (place, hit) in ranking.iter().enumerate() {
            let id = (hit.chunk_id.as_str(), hit.job_id.as_str());
            if !seen.insert(id) {
                continue;
            }
            let contribution = 1.0 / (k + (place + 1) as f64);
            fused.entry(id).and_modify(|(score, _)| *score += contribution).or_insert((contribution, hit));
        }
    }
    let mut hits: Vec<(f64, &Hit)> = fused.into_values().collect();
    hits.sort_by(|(a, x), (b, y)| {
        b.total_cmp(a).then_with(|| x.chunk_id.cmp(&y.chunk_id)).then_with(|| x.job_id.cmp(&y.job_id))
    });
    hits.into_iter().take(limit).map(|(score, hit)| Hit { score, ..hit.clone() }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(id: &str, job: &str) -> Hit {
        Hit { chunk_id: id.into(), doc_id: "d".into(), job_id: job.into(), text: id.into(), score: 0.0 }
    }

    fn ids(hits: &[Hit]) -> Vec<String> {
        hits.iter().map(|h| format!("{}@{}", h.chunk_id, h.job_id)).collect()
    }

    #[test]
    fn a_chunk_in_both_rankings_beats_one_first_in_only_one() {
        let a = vec![hit("x", "j"), hit("y", "j"), hit("z", "j")];
        let b = vec![hit("w", "j"), hit("y", "j")];
        let fused = reciprocal_rank_fusion(&[a, b], RRF_K, 10);
        assert_eq!(ids(&fused), ["y@j", "w@j", "x@j", "z@j"]);
        // x and w are both first once: equal scores, ordered by chunk id.
        assert_eq!(fused[1].score, fused[2].score);
        assert_eq!(fused[0].score, 1.0 / 62.0 + 1.0 / 62.0);
    }

    #[test]
    fn chunks_are_told_apart_by_job_and_repeats_count_once() {
        let a = vec![hit("x", "j1"), hit("x", "j1"), hit("x", "j2")];
        let fused = reciprocal_rank_fusion(&[a], RRF_K, 10);
        assert_eq!(ids(&fused), ["x@j1", "x@j2"]);
        assert_eq!(fused[0].score, 1.0 / 61.0);
        assert_eq!(fused[1].score, 1.0 / 63.0);
    }

    #[test]
    fn the_limit_and_empty_inputs() {
        let a = vec![hit("x", "j"), hit("y", "j"), hit("z", "j")];
        assert_eq!(reciprocal_rank_fusion(std::slice::from_ref(&a), RRF_K, 2).len(), 2);
        assert!(reciprocal_rank_fusion(&[a], RRF_K, 0).is_empty());
        assert!(reciprocal_rank_fusion(&[], RRF_K, 5).is_empty());
        assert!(reciprocal_rank_fusion(&[Vec::new(), Vec::new()], RRF_K, 5).is_empty());
    }

    #[test]
    fn the_order_of_the_rankings_does_not_matter() {
        let a = vec![hit("p", "j"), hit("q", "j"), hit("r", "j")];
        let b = vec![hit("r", "j"), hit("s", "j"), hit("p", "j")];
        let ab = reciprocal_rank_fusion(&[a.clone(), b.clone()], RRF_K, 10);
        let ba = reciprocal_rank_fusion(&[b, a], RRF_K, 10);
        assert_eq!(ids(&ab), ids(&ba));
    }
}
