//! Bounded top-k selection of scored chunks, and cosine similarity straight from stored bytes.
//!
//! A vector search keeps the `k` best chunks seen so far in a [`BinaryHeap`] whose top is the
//! worst of them: a row that does not beat it costs one comparison, and no allocation (its ids
//! are read as borrowed `&str` and copied only when the row enters the heap). The order is total
//! and deterministic: higher score first (`f64::total_cmp`), then chunk id, job id and row id
//! ascending, so equal scores always come out in the same order.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// One scored chunk. `Ord`: the better one is the greater.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scored {
    /// Cosine similarity (higher is better).
    pub(crate) score: f64,
    /// The chunk's id.
    pub(crate) chunk_id: String,
    /// The job that indexed it.
    pub(crate) job_id: String,
    /// Its row in `chunks`.
    pub(crate) rowid: i64,
}

/// Compares two candidates: `Greater` when `(score, chunk_id, job_id, rowid)` ranks first.
fn rank(a: (f64, &str, &str, i64), b: (f64, &str, &str, i64)) -> Ordering {
    a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)).then_with(|| b.2.cmp(a.2)).then_with(|| b.3.cmp(&a.3))
}

impl Eq for Scored {}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        rank(
            (self.score, &self.chunk_id, &self.job_id, self.rowid),
            (other.score, &other.chunk_id, &other.job_id, other.rowid),
        )
    }
}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The `k` best candidates offered so far.
#[derive(Debug)]
pub(crate) struct TopK {
    k: usize,
    /// A min-heap (by rank): its top is the worst kept candidate.
    heap: BinaryHeap<Reverse<Scored>>,
}

impl TopK {
    /// Keeps the best `k` (none when `k` is 0).
    pub(crate) fn new(k: usize) -> TopK {
        TopK { k, heap: BinaryHeap::with_capacity(k.min(4096) + 1) }
    }

    /// Offers a candidate; its ids are copied only when it is kept.
    pub(crate) fn offer(&mut self, score: f64, chunk_id: &str, job_id: &str, rowid: i64) {
        if self.k == 0 {
            return;
        }
        if self.heap.len() == self.k {
            let Some(Reverse(worst)) = self.heap.peek() else { return };
            if rank(
                (score, chunk_id, job_id, rowid),
                (worst.score, &worst.chunk_id, &worst.job_id, worst.rowid),
            ) != Ordering::Greater
            {
                return;
            }
            self.heap.pop();
        }
        self.heap.push(Reverse(Scored {
            score,
            chunk_id: chunk_id.to_owned(),
            job_id: job_id.to_owned(),
            rowid,
        }));
    }

    /// The kept candidates, best first.
    pub(crate) fn into_sorted(self) -> Vec<Scored> {
        // Ascending `Reverse` order is descending rank: best first.
        self.heap.into_sorted_vec().into_iter().map(|Reverse(s)| s).collect()
    }
}

/// A query vector with its norm, compared with stored vectors without decoding them.
#[derive(Debug)]
pub(crate) struct QueryVector<'a> {
    vector: &'a [f32],
    norm: f32,
}

impl<'a> QueryVector<'a> {
    /// Prepares `vector` for [`QueryVector::cosine_le_bytes`].
    pub(crate) fn new(vector: &'a [f32]) -> QueryVector<'a> {
        QueryVector { vector, norm: vector.iter().map(|x| x * x).sum::<f32>().sqrt() }
    }

    /// The cosine similarity with a stored vector (little-endian `f32` bytes, see
    /// [`super::encode_vector`]), read in place: no buffer, no allocation. `None` when the
    /// stored vector has another length; 0 when either vector is all zeros.
    pub(crate) fn cosine_le_bytes(&self, bytes: &[u8]) -> Option<f64> {
        if bytes.len() != self.vector.len() * 4 {
            return None;
        }
        // Eight independent lanes, so that the compiler can keep them in one SIMD register.
        let (mut dot, mut norm) = ([0f32; 8], [0f32; 8]);
        let whole = self.vector.len() / 8 * 8;
        for (q, b) in self.vector[..whole].chunks_exact(8).zip(bytes.chunks_exact(32)) {
            for lane in 0..8 {
                let y = f32::from_le_bytes([b[4 * lane], b[4 * lane + 1], b[4 * lane + 2], b[4 * lane + 3]]);
                dot[lane] += q[lane] * y;
                norm[lane] += y * y;
            }
        }
        let (mut d, mut n) = (dot.iter().sum::<f32>(), norm.iter().sum::<f32>());
        for (q, b) in self.vector[whole..].iter().zip(bytes[whole * 4..].chunks_exact(4)) {
            let y = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            d += q * y;
            n += y * y;
        }
        if self.norm == 0.0 || n == 0.0 {
            return Some(0.0);
        }
        Some(f64::from(d / (self.norm * n.sqrt())))
    }
}

/// A small deterministic generator (splitmix64), for tests.
#[cfg(test)]
#[derive(Debug)]
pub(crate) struct Rng(pub(crate) u64);

#[cfg(test)]
impl Rng {
    /// The next number.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::encode_vector;

    #[test]
    fn top_k_equals_a_full_sort_ties_included() {
        let mut rng = Rng(7);
        for round in 0..50 {
            let n = (rng.next() % 300) as usize;
            let k = (rng.next() % 40) as usize;
            // Few distinct scores and ids, so that ties on score and on chunk id are frequent.
            let all: Vec<Scored> = (0..n)
                .map(|i| Scored {
                    score: f64::from((rng.next() % 7) as u32) / 7.0 - 0.5,
                    chunk_id: format!("d#{}", rng.next() % 20),
                    job_id: format!("j{}", rng.next() % 3),
                    rowid: i as i64,
                })
                .collect();
            let mut top = TopK::new(k);
            for s in &all {
                top.offer(s.score, &s.chunk_id, &s.job_id, s.rowid);
            }
            let mut sorted = all.clone();
            sorted.sort_by(|a, b| {
                b.score
                    .total_cmp(&a.score)
                    .then_with(|| a.chunk_id.cmp(&b.chunk_id))
                    .then_with(|| a.job_id.cmp(&b.job_id))
                    .then_with(|| a.rowid.cmp(&b.rowid))
            });
            sorted.truncate(k);
            assert_eq!(top.into_sorted(), sorted, "round {round}: n {n}, k {k}");
        }
    }

    #[test]
    fn cosine_from_bytes_matches_the_decoded_cosine() {
        let mut rng = Rng(11);
        for dims in [1usize, 3, 8, 13, 256, 384] {
            let a: Vec<f32> = (0..dims).map(|_| (rng.next() % 2001) as f32 / 1000.0 - 1.0).collect();
            let b: Vec<f32> = (0..dims).map(|_| (rng.next() % 2001) as f32 / 1000.0 - 1.0).collect();
            let got = QueryVector::new(&a).cosine_le_bytes(&encode_vector(&b)).unwrap();
            let want = f64::from(crate::embed::cosine(&a, &b));
            assert!((got - want).abs() < 1e-5, "{dims}: {got} vs {want}");
        }
        let q = QueryVector::new(&[1.0, 0.0]);
        assert_eq!(q.cosine_le_bytes(&encode_vector(&[0.0, 0.0])), Some(0.0));
        assert_eq!(q.cosine_le_bytes(&encode_vector(&[1.0, 0.0, 0.0])), None, "another length");
        assert_eq!(q.cosine_le_bytes(&encode_vector(&[2.0, 0.0])), Some(1.0));
    }
}
