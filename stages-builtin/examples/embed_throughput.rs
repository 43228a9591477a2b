//! Measures all-MiniLM-L6-v2's throughput on this machine: chunks embedded per second at a few
//! batch sizes, over the bundled corpus's chunks (chunked as the `literature` pipeline does).
//!
//! ```sh
//! scripts/fetch-model
//! cargo run --release -p stages-builtin --example embed_throughput [BATCH_SIZE ...]
//! ```
//!
//! Default batch sizes: 1 8 32. Each size embeds the corpus's chunks (repeated to at least 256)
//! once after one warm-up batch, and prints chunks/s and the mean word pieces per chunk.

use std::path::PathBuf;
use std::time::Instant;

use serde_json::Value;
use stage_core::Job;
use stages_builtin::chunk::{chunk_document, ChunkConfig};
use stages_builtin::embed::minilm::MiniLmEmbedder;
use stages_builtin::embed::{default_model_dir, embed_chunks, Embedder};
use stages_builtin::ingest::{run_ingest, IngestConfig};
use stages_builtin::{parse, Chunk};

fn corpus_chunks() -> Result<Vec<Chunk>, Box<dyn std::error::Error>> {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/data");
    let config =
        IngestConfig { data_dir: Some(data.to_string_lossy().into_owned()), ..IngestConfig::default() };
    let mut chunks = Vec::new();
    for source in ["clinicaltrials", "openalex", "pmc", "semantic-scholar", "file"] {
        for record in run_ingest(&Job::new("bench", source), &Value::Null, &config, None)? {
            if let Some(doc) = parse::build(std::slice::from_ref(&record), None) {
                chunks.extend(chunk_document(&doc, &ChunkConfig { size: 400, overlap: 80 })?);
            }
        }
    }
    Ok(chunks)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sizes: Vec<usize> = std::env::args().skip(1).map(|a| a.parse()).collect::<Result<_, _>>()?;
    let sizes = if sizes.is_empty() { vec![1, 8, 32] } else { sizes };
    let dir = default_model_dir().ok_or("no default model directory (HOME unset)")?;
    let started = Instant::now();
    let model = MiniLmEmbedder::shared(&dir)?;
    println!("loaded {} from {} in {:.2} s", model.name(), dir.display(), started.elapsed().as_secs_f64());
    let corpus = corpus_chunks()?;
    let mut chunks = Vec::new();
    while chunks.len() < 256 {
        chunks.extend(corpus.iter().cloned());
    }
    let mut pieces = 0usize;
    for c in &chunks {
        pieces += model.token_ids(&c.text)?.len();
    }
    println!(
        "{} chunks ({} distinct), {:.0} word pieces per chunk on average",
        chunks.len(),
        corpus.len(),
        pieces as f64 / chunks.len() as f64
    );
    for size in sizes {
        embed_chunks(model.as_ref(), &chunks[..size.min(chunks.len())], size)?;
        let t = Instant::now();
        let batch = embed_chunks(model.as_ref(), &chunks, size)?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "batch size {size:>3}: {:>7.1} chunks/s ({} chunks in {secs:.2} s)",
            batch.vectors.len() as f64 / secs,
            batch.vectors.len()
        );
    }
    Ok(())
}
