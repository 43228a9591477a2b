//! `stagectl query`: search what was indexed, walk the graph that was written.

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;
use stages_builtin::embed::{embedder_for_model, recorded_model_name};
use stages_builtin::fusion::{reciprocal_rank_fusion, RRF_K};
use stages_builtin::index::Hit;
use stages_builtin::store::Store;

use crate::table::table;
use crate::{CliError, Query, QueryModel, MAX_LIMIT};

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

/// Nearest chunks to `text`, embedded with the store's model; `model` (a user's name for a
/// model) must be that model.
fn similar(
    store: &Store,
    text: &str,
    limit: usize,
    model: Option<&str>,
    model_dir: Option<&Path>,
) -> Result<Vec<Hit>, CliError> {
    let models = store.vector_models()?;
    let (stored, dimensions) = match models.as_slice() {
        [] => return Ok(Vec::new()),
        [one] => one.clone(),
        many => {
            let names: Vec<String> = many.iter().map(|(m, d)| format!("`{m}` ({d})")).collect();
            return Err(format!(
                "{} holds vectors of several models ({}), which cannot be compared: re-index into a new store",
                store.location(),
                names.join(", ")
            )
            .into());
        }
    };
    if let Some(asked) = model {
        let Some(name) = recorded_model_name(asked) else {
            return Err(format!(
                "--model {asked:?} is not a known model: use `minilm-l6-v2` or `feature-hashing-<n>` (or omit --model to use the store's)"
            )
            .into());
        };
        if name != stored {
            return Err(format!(
                "--model {asked}: {} holds vectors of model `{stored}` ({dimensions} dimensions); a query embedded \
                 with `{name}` cannot be compared with them. Omit --model to use the store's model",
                store.location()
            )
            .into());
        }
    }
    let embedder = embedder_for_model(&stored, dimensions, model_dir)?;
    let vector = embedder.embed(&[text])?.pop().unwrap_or_default();
    Ok(store.search_vector_of(&stored, &vector, limit)?)
}

/// How many hits of each search `hybrid` fuses.
pub(crate) const HYBRID_DEPTH: usize = 100;

/// `text` and `similar` fused by reciprocal rank: each search's first [`HYBRID_DEPTH`] (or
/// `limit`, if more) hits. A store without vectors answers with the text search alone.
fn hybrid(
    store: &Store,
    text: &str,
    limit: usize,
    model: Option<&str>,
    model_dir: Option<&Path>,
) -> Result<Vec<Hit>, CliError> {
    let depth = limit.max(HYBRID_DEPTH);
    let words = store.search_text(text, depth)?;
    let meaning = similar(store, text, depth, model, model_dir)?;
    Ok(reciprocal_rank_fusion(&[words, meaning], RRF_K, limit))
}

pub(crate) fn query(store: &Path, what: Query, json: bool) -> Result<ExitCode, CliError> {
    let store = open(store)?;
    let hits = match what {
        Query::Text { query, limit } => store.search_text(&query, limit)?,
        Query::Similar { text, limit, embedder: QueryModel { model, model_dir } } => {
            similar(&store, &text, limit, model.as_deref(), model_dir.as_deref())?
        }
        Query::Hybrid { text, limit, embedder: QueryModel { model, model_dir } } => {
            hybrid(&store, &text, limit, model.as_deref(), model_dir.as_deref())?
        }
        Query::Neighbors { entity, limit } => {
            let (edges, more) = store.neighbors_limited(&entity, limit)?;
            let note = more.then(|| {
                format!("showing the first {limit} edges of `{entity}`; there are more: raise --limit (up to {MAX_LIMIT})")
            });
            if json {
                outln!("{}", serde_json::to_string_pretty(&edges)?)?;
                if let Some(note) = &note {
                    errln!("{note}");
                }
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
                if let Some(note) = &note {
                    outln!("{note}")?;
                }
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

#[cfg(test)]
mod tests {
    use stages_builtin::embed::{embed_chunks, FeatureHashingEmbedder};
    use stages_builtin::Chunk;

    use super::*;

    fn store_with(dims: usize, texts: &[&str]) -> Store {
        let chunks: Vec<Chunk> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| Chunk {
                id: format!("d#{i}"),
                doc_id: "d".into(),
                index: i,
                section: "S".into(),
                text: (*t).into(),
            })
            .collect();
        let batch = embed_chunks(&FeatureHashingEmbedder::new(dims), &chunks, 8).unwrap();
        let store = Store::in_memory().unwrap();
        store.index_batch("j", &batch).unwrap();
        store
    }

    #[test]
    fn similar_uses_the_stores_model_and_refuses_another() {
        let store = store_with(64, &["aspirin inhibits platelets", "statins lower LDL cholesterol"]);
        let hits = similar(&store, "cholesterol statins", 5, None, None).unwrap();
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].chunk_id, "d#1", "embedded with feature-hashing-64, the store's model");
        assert_eq!(similar(&store, "x", 5, Some("feature-hashing-64"), None).unwrap().len(), 2);
        let err = similar(&store, "x", 5, Some("minilm-l6-v2"), None).unwrap_err().to_string();
        assert!(err.contains("`feature-hashing-64`") && err.contains("`all-MiniLM-L6-v2`"), "{err}");
        let err = similar(&store, "x", 5, Some("feature-hashing-256"), None).unwrap_err().to_string();
        assert!(err.contains("cannot be compared"), "{err}");
        let err = similar(&store, "x", 5, Some("gpt"), None).unwrap_err().to_string();
        assert!(err.contains("not a known model"), "{err}");
        let empty = Store::in_memory().unwrap();
        assert!(similar(&empty, "x", 5, None, None).unwrap().is_empty());
    }

    #[test]
    fn hybrid_ranks_first_what_both_searches_find() {
        // "statins" matches chunk 1 by its words and by its vector; chunk 0 shares one word
        // ("lower") with the query and little else.
        let store = store_with(
            64,
            &["aspirin may lower fever", "statins lower LDL cholesterol", "a chunk about nothing relevant"],
        );
        let hits = hybrid(&store, "statins lower cholesterol", 3, None, None).unwrap();
        assert_eq!(hits[0].chunk_id, "d#1");
        assert!(hits.len() <= 3);
        let text = store.search_text("statins lower cholesterol", 100).unwrap();
        let similar_hits = similar(&store, "statins lower cholesterol", 100, None, None).unwrap();
        assert_eq!(hits, reciprocal_rank_fusion(&[text, similar_hits], RRF_K, 3));
        // The model check is `similar`'s: a wrong model is refused here too.
        let err = hybrid(&store, "x", 5, Some("minilm-l6-v2"), None).unwrap_err().to_string();
        assert!(err.contains("cannot be compared"), "{err}");
        // Without vectors, the text search alone.
        let plain = Store::in_memory().unwrap();
        assert!(hybrid(&plain, "statins", 5, None, None).unwrap().is_empty());
    }
}
