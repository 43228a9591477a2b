//! `stagectl query`: search what was indexed, walk the graph that was written.

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;
use stages_builtin::embed::{Embedder, FeatureHashingEmbedder};
use stages_builtin::store::Store;

use crate::table::table;
use crate::{CliError, Query};

fn open(store: &Path) -> Result<Store, CliError> {
    if !store.join("store.sqlite").is_file() {
        return Err(format!(
            "no store at {}: run a pipeline with `--store {}` first",
            store.display(),
            store.display()
        )
        .into());
    }
    Ok(Store::open(store)?)
}

fn clip(text: &str, n: usize) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let t: String = text.chars().take(n).collect();
    if t.len() < text.len() {
        format!("{t}…")
    } else {
        t
    }
}

pub(crate) fn query(store: &Path, what: Query, json: bool) -> Result<ExitCode, CliError> {
    let store = open(store)?;
    let hits = match what {
        Query::Text { query, limit } => store.search_text(&query, limit)?,
        Query::Similar { text, limit } => {
            let embedder = FeatureHashingEmbedder::default();
            let vector = embedder.embed(&[text.as_str()]).pop().unwrap_or_default();
            store.search_vector(&vector, limit)?
        }
        Query::Neighbors { entity } => {
            let edges = store.neighbors(&entity)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&edges)?)?;
            } else if edges.is_empty() {
                outln!("no edges for `{entity}`")?;
            } else {
                let rows: Vec<Vec<String>> = edges
                    .iter()
                    .map(|e| {
                        vec![e.subject.clone(), e.predicate.clone(), e.object.clone(), clip(&e.evidence, 60)]
                    })
                    .collect();
                outln!("{}", table(&["SUBJECT", "PREDICATE", "OBJECT", "EVIDENCE"], &rows))?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        Query::Stats => {
            let graph = store.graph_stats()?;
            let chunks = store.chunk_count(None)?;
            if json {
                outln!("{}", json!({ "chunks": chunks, "nodes": graph.nodes, "edges": graph.edges }))?;
            } else {
                outln!(
                    "chunks indexed: {chunks}\ngraph nodes:    {}\ngraph edges:    {}",
                    graph.nodes,
                    graph.edges
                )?;
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&hits)?)?;
    } else if hits.is_empty() {
        outln!("no hits")?;
    } else {
        let rows: Vec<Vec<String>> = hits
            .iter()
            .map(|h| vec![format!("{:.3}", h.score), h.chunk_id.clone(), h.job_id.clone(), clip(&h.text, 70)])
            .collect();
        outln!("{}", table(&["SCORE", "CHUNK", "JOB", "TEXT"], &rows))?;
    }
    Ok(ExitCode::SUCCESS)
}
