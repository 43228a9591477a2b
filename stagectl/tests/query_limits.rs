//! `stagectl query` at scale: `neighbors`' default limit and `--limit`, and `similar` answered
//! by the ANN index of a store past the brute-force threshold.

mod common;

use common::stagectl;
use stages_builtin::embed::{embed_chunks, FeatureHashingEmbedder};
use stages_builtin::index::ann::{AnnUpdate, BRUTE_FORCE_MAX_CHUNKS};
use stages_builtin::store::Store;
use stages_builtin::{Chunk, Claim, Entity};

fn entity(id: &str) -> Entity {
    let (kind, name) = id.split_once(':').unwrap();
    Entity { id: id.to_owned(), name: name.to_owned(), kind: kind.to_owned() }
}

/// A store whose node `drug:hub` has `n` edges (`hub treats disease:tNNN`).
fn hub_store(dir: &std::path::Path, n: usize) {
    let store = Store::open(dir).unwrap();
    let mut entities = vec![entity("drug:hub")];
    let mut claims = Vec::new();
    for i in 0..n {
        let target = format!("disease:t{i:03}");
        entities.push(entity(&target));
        claims.push(Claim {
            subject: "drug:hub".to_owned(),
            predicate: "treats".to_owned(),
            object: target,
            evidence: format!("hub treats t{i:03}."),
            chunk_id: None,
        });
    }
    store.write_graph("job", &entities, &claims).unwrap();
}

fn json_edges(args: &[&str]) -> (Vec<serde_json::Value>, String) {
    let out = stagectl(args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let edges: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (edges.as_array().unwrap().clone(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn neighbors_returns_100_edges_by_default_and_says_when_there_are_more() {
    let dir = tempfile::tempdir().unwrap();
    hub_store(dir.path(), 150);
    let s = dir.path().to_str().unwrap();

    let (edges, err) = json_edges(&["query", "neighbors", "drug:hub", "--json", "--store", s]);
    assert_eq!(edges.len(), 100);
    assert_eq!(edges[0]["object"], "disease:t000", "sorted by object");
    assert_eq!(edges[99]["object"], "disease:t099");
    assert!(
        err.contains("showing the first 100 edges of `drug:hub`; there are more: raise --limit"),
        "{err}"
    );

    let (all, err) =
        json_edges(&["query", "neighbors", "drug:hub", "--json", "--limit", "1000", "--store", s]);
    assert_eq!(all.len(), 150);
    assert!(!err.contains("there are more"), "{err}");
    assert_eq!(all[..100], edges[..], "the limit cuts the same order");

    let (few, _) = json_edges(&["query", "neighbors", "hub", "--json", "--limit", "7", "--store", s]);
    assert_eq!(few[..], all[..7], "by name too");
    let (exact, err) =
        json_edges(&["query", "neighbors", "drug:hub", "--json", "--limit", "150", "--store", s]);
    assert_eq!(exact.len(), 150);
    assert!(!err.contains("there are more"), "exactly the limit is not cut: {err}");

    let table = stagectl(&["query", "neighbors", "drug:hub", "--limit", "3", "--store", s]);
    let out = String::from_utf8_lossy(&table.stdout);
    assert!(out.contains("disease:t002") && !out.contains("disease:t003"), "{out}");
    assert!(out.trim_end().ends_with("raise --limit (up to 10000)"), "{out}");

    for bad in ["0", "-1", "10001", "x"] {
        let out = stagectl(&["query", "neighbors", "drug:hub", "--limit", bad, "--store", s]);
        assert!(!out.status.success(), "--limit {bad}");
    }
}

#[test]
fn similar_is_answered_by_the_ann_index_of_a_large_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let n = usize::try_from(BRUTE_FORCE_MAX_CHUNKS).unwrap() + 100;
    let chunks: Vec<Chunk> = (0..n)
        .map(|i| Chunk {
            id: format!("d#{i}"),
            doc_id: "d".to_owned(),
            index: i,
            section: "Body".to_owned(),
            text: format!("term{} term{} term{} chunk{i}", i % 97, i % 89, i % 83),
        })
        .collect();
    let batch = embed_chunks(&FeatureHashingEmbedder::new(256), &chunks, 256).unwrap();
    store.index_batch("j", &batch).unwrap();
    assert!(matches!(store.update_ann_index().unwrap(), AnnUpdate::Built { .. }));
    assert!(dir.path().join("store.ann.json").is_file());
    let s = dir.path().to_str().unwrap();
    let out =
        stagectl(&["query", "similar", "term5 term5 term5 chunk5", "--json", "--limit", "3", "--store", s]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let hits: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hits[0]["chunk_id"], "d#5", "{hits}");
    let exact = store
        .search_vector_brute_force(
            &batch.model,
            &FeatureHashingEmbedder::new(256).embed_one("term5 term5 term5 chunk5"),
            1,
        )
        .unwrap();
    assert_eq!(exact[0].chunk_id, "d#5");
    assert!((hits[0]["score"].as_f64().unwrap() - exact[0].score).abs() < 1e-9, "exact scores: {hits}");
}
