//! Builds synthetic stores for `bench/search.py`, and measures the ANN index's recall.
//!
//! ```sh
//! cargo run --release -p stages-builtin --example search_store -- build DIR CHUNKS
//! cargo run --release -p stages-builtin --example search_store -- recall DIR QUERIES
//! cargo run --release -p stages-builtin --example search_store -- crossover DIR
//! ```
//!
//! `build` writes `CHUNKS` chunks of synthetic text (words drawn from a fixed vocabulary with
//! a Zipf-like law, 20–60 words each), embedded with feature hashing (256 dimensions), through
//! the index's own API (`Store::index_batch`, one job per 100 chunks), then brings the ANN index
//! up to date (`Store::update_ann_index`), as the `index` stage does. Deterministic: the same
//! arguments write the same store. `recall` compares `search_vector_of` (ANN when the store
//! has one) with `search_vector_brute_force` on `QUERIES` query texts: recall@10 and the
//! in-process times. `crossover` grows a store and times both in process at each size (the
//! ANN's time includes mapping the index, as a query process does).

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use stages_builtin::embed::{embed_chunks, Embedder, FeatureHashingEmbedder};
use stages_builtin::store::Store;
use stages_builtin::Chunk;

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A vocabulary of pronounceable words, and a Zipf-like sampler over it.
struct Words {
    words: Vec<String>,
}

impl Words {
    fn new() -> Words {
        const SYLLABLES: [&str; 24] = [
            "ka", "ro", "mi", "ne", "tol", "zin", "pra", "ves", "lu", "dar", "cef", "am", "ox", "tri",
            "quen", "sul", "by", "gen", "mab", "ide", "or", "stat", "pha", "nib",
        ];
        let mut rng = Rng(42);
        let words = (0..4000)
            .map(|_| {
                let n = 2 + rng.below(3);
                (0..n).map(|_| SYLLABLES[rng.below(SYLLABLES.len())]).collect::<String>()
            })
            .collect();
        Words { words }
    }

    /// A word: rank r drawn with probability ∝ 1/(r+1) (approximately).
    fn pick(&self, rng: &mut Rng) -> &str {
        let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
        let r = ((self.words.len() as f64 + 1.0).powf(u) - 1.0) as usize;
        &self.words[r.min(self.words.len() - 1)]
    }

    fn text(&self, rng: &mut Rng, min: usize, max: usize) -> String {
        let n = min + rng.below(max - min + 1);
        (0..n).map(|_| self.pick(rng)).collect::<Vec<_>>().join(" ")
    }
}

fn build(dir: &Path, chunks: usize) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let store = Store::open(dir)?;
    let words = Words::new();
    let embedder = FeatureHashingEmbedder::new(256);
    let mut rng = Rng(7);
    const PER_JOB: usize = 100;
    let mut written = 0;
    let mut job = 0;
    while written < chunks {
        let n = PER_JOB.min(chunks - written);
        let doc = format!("D{job}");
        let batch: Vec<Chunk> = (0..n)
            .map(|i| Chunk {
                id: format!("{doc}#{i}"),
                doc_id: doc.clone(),
                index: i,
                section: "Body".to_owned(),
                text: words.text(&mut rng, 20, 60),
            })
            .collect();
        let embedded = embed_chunks(&embedder, &batch, 64)?;
        store.index_batch(&format!("job-{job}"), &embedded)?;
        written += n;
        job += 1;
    }
    let indexed = started.elapsed().as_secs_f64();
    let update = store.update_ann_index()?;
    // Words of rank 0 (in most chunks), 30 and 1000 (in a few percent, a few per mille), for
    // the benchmark's queries.
    println!(
        "{{\"chunks\": {}, \"index_s\": {indexed:.2}, \"ann_s\": {:.2}, \"ann\": \"{update:?}\", \"words\": [\"{}\", \"{}\", \"{}\"]}}",
        store.chunk_count(None)?,
        started.elapsed().as_secs_f64() - indexed,
        words.words[0],
        words.words[30],
        words.words[1000],
    );
    Ok(())
}

fn queries(n: usize) -> Vec<String> {
    let words = Words::new();
    let mut rng = Rng(99);
    (0..n).map(|_| words.text(&mut rng, 3, 8)).collect()
}

fn recall(dir: &Path, n: usize) -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::open(dir)?;
    let embedder = FeatureHashingEmbedder::new(256);
    let model = embedder.name();
    // Recall two ways: by identity (the approximate top 10 holds the exact top 10's chunks),
    // and by score (an approximate hit scoring at least the exact 10th counts: with feature
    // hashing many chunks tie, and which of equal-scored chunks is 10th is arbitrary).
    let (mut found, mut found_by_score, mut wanted) = (0usize, 0usize, 0usize);
    let (mut ann_s, mut brute_s) = (0f64, 0f64);
    for q in queries(n) {
        let v = embedder.embed(&[&q])?.pop().unwrap_or_default();
        let t = Instant::now();
        let approx = store.search_vector_of(&model, &v, 10)?;
        ann_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let exact = store.search_vector_brute_force(&model, &v, 10)?;
        brute_s += t.elapsed().as_secs_f64();
        wanted += exact.len();
        found += exact
            .iter()
            .filter(|e| approx.iter().any(|a| a.chunk_id == e.chunk_id && a.job_id == e.job_id))
            .count();
        if let Some(tenth) = exact.last() {
            found_by_score +=
                approx.iter().filter(|a| a.score >= tenth.score - 1e-9).count().min(exact.len());
        }
    }
    println!(
        "{{\"queries\": {n}, \"recall_at_10\": {:.4}, \"recall_at_10_by_score\": {:.4}, \"search_ms\": {:.3}, \"brute_force_ms\": {:.3}}}",
        found as f64 / wanted.max(1) as f64,
        found_by_score as f64 / wanted.max(1) as f64,
        ann_s * 1000.0 / n as f64,
        brute_s * 1000.0 / n as f64
    );
    Ok(())
}

fn crossover(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    println!("| chunks | brute force ms | ANN ms (map + search) |");
    println!("|---:|---:|---:|");
    let embedder = FeatureHashingEmbedder::new(256);
    let model = embedder.name();
    let qs: Vec<Vec<f32>> = queries(50).iter().map(|q| embedder.embed_one(q)).collect();
    let words = Words::new();
    let mut rng = Rng(7);
    let store = Store::open(dir)?;
    let mut written = 0;
    for (job, size) in [1000usize, 2000, 4000, 8000, 16000, 32000].into_iter().enumerate() {
        let batch: Vec<Chunk> = (written..size)
            .map(|i| Chunk {
                id: format!("D#{i}"),
                doc_id: "D".to_owned(),
                index: i,
                section: "Body".to_owned(),
                text: words.text(&mut rng, 20, 60),
            })
            .collect();
        store.index_batch(&format!("job-{job}"), &embed_chunks(&embedder, &batch, 64)?)?;
        written = size;
        // Build the index whatever the threshold, to time both paths at every size.
        store.rebuild_ann_index()?;
        let t = Instant::now();
        for v in &qs {
            store.search_vector_brute_force(&model, v, 10)?;
        }
        let brute = t.elapsed().as_secs_f64() * 1000.0 / qs.len() as f64;
        let t = Instant::now();
        for v in &qs {
            // A new store handle per query maps the index again, as a query process does.
            Store::open(dir)?.search_vector_of(&model, v, 10)?;
        }
        let approx = t.elapsed().as_secs_f64() * 1000.0 / qs.len() as f64;
        println!("| {size} | {brute:.2} | {approx:.2} |");
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["build", dir, n] => n.parse().map_err(Into::into).and_then(|n| build(Path::new(dir), n)),
        ["recall", dir, n] => n.parse().map_err(Into::into).and_then(|n| recall(Path::new(dir), n)),
        ["crossover", dir] => crossover(Path::new(dir)),
        _ => Err("usage: search_store build DIR CHUNKS | recall DIR QUERIES | crossover DIR".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("search_store: {e}");
            ExitCode::FAILURE
        }
    }
}
