//! The embedded stores: index, graph and ledger, on disk, from several threads and processes.
//!
//! Multi-process tests re-run this test binary as children: `current_exe() --exact <child test>`
//! with [`ROLE`] set. The child tests (`child_*`) do nothing when [`ROLE`] is not set.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use stage_core::{Job, Ledger, ResourceContext, StageContext, StageRegistry};
use stages_builtin::graph::{knowledge_graph, GraphStats};
use stages_builtin::index::index;
use stages_builtin::ledger::SqliteLedger;
use stages_builtin::store::Store;
use stages_builtin::{Chunk, Claim, EmbeddingBatch, Entity};

/// Selects a child's role; children read their arguments from the other `STORE_TEST_*` vars.
const ROLE: &str = "STORE_TEST_ROLE";
const DIR: &str = "STORE_TEST_DIR";
const CHILD: &str = "STORE_TEST_CHILD";
const JOB: &str = "STORE_TEST_JOB";

const LEDGER_CHILDREN: usize = 4;
const SETS_PER_CHILD: usize = 200;
const INDEX_ROUNDS: usize = 15;

fn ctx(job_id: &str, stage_type: &'static str) -> StageContext {
    StageContext::new(Arc::new(Job::new(job_id, "pmc")), stage_type, stage_type)
}

/// A batch of chunks of document `doc` with one-hot-ish vectors: chunk `i` points along axis
/// `i % 4`, so vector search has a known answer.
fn batch(doc: &str, texts: &[&str]) -> EmbeddingBatch {
    let chunks: Vec<Chunk> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| Chunk {
            id: format!("{doc}#{i}"),
            doc_id: doc.to_owned(),
            index: i,
            section: "Results".to_owned(),
            text: (*t).to_owned(),
        })
        .collect();
    let vectors = (0..chunks.len())
        .map(|i| {
            let mut v = vec![0.1f32; 4];
            v[i % 4] = 1.0;
            v
        })
        .collect();
    EmbeddingBatch { model: "test-4".to_owned(), dimensions: 4, vectors, chunks }
}

fn entity(id: &str, name: &str) -> Entity {
    Entity { id: id.to_owned(), name: name.to_owned(), kind: id.split(':').next().unwrap().to_owned() }
}

fn claim(s: &str, p: &str, o: &str, evidence: &str) -> Claim {
    Claim {
        subject: s.to_owned(),
        predicate: p.to_owned(),
        object: o.to_owned(),
        evidence: evidence.to_owned(),
        chunk_id: Some("d#0".to_owned()),
    }
}

const TEXTS: &[&str] = &[
    "Aspirin reduced fever in most patients.",
    "Metformin lowers blood glucose in type 2 diabetes.",
    "Adverse events were mild; no deaths (p < 0.05).",
];

#[test]
fn index_then_search_text_and_vector() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let receipt = index(&ctx("job-1", "index"), &batch("PMC1", TEXTS), &store).unwrap();
    assert_eq!(receipt.chunks_indexed, 3);
    assert_eq!(receipt.doc_id, "PMC1");
    assert_eq!(Path::new(&receipt.store), dir.path().join("store.sqlite"));

    let hits = store.search_text("glucose diabetes", 10).unwrap();
    assert_eq!(hits.len(), 1);
    let h = &hits[0];
    assert_eq!((h.chunk_id.as_str(), h.doc_id.as_str(), h.job_id.as_str()), ("PMC1#1", "PMC1", "job-1"));
    assert_eq!(h.text, TEXTS[1]);
    assert!(h.score > 0.0);
    // Punctuation and FTS5 syntax in the query are harmless.
    assert_eq!(store.search_text("\"aspirin\" AND (fever*", 10).unwrap()[0].chunk_id, "PMC1#0");
    assert_eq!(store.search_text("p < 0.05); DROP TABLE chunks; --", 10).unwrap()[0].chunk_id, "PMC1#2");
    assert!(store.search_text("...", 10).unwrap().is_empty());
    // The better match first: two words beat one.
    let hits = store.search_text("aspirin glucose diabetes", 10).unwrap();
    assert_eq!(hits.iter().map(|h| h.chunk_id.as_str()).collect::<Vec<_>>(), ["PMC1#1", "PMC1#0"]);

    let hits = store.search_vector(&[0.0, 0.0, 3.0, 0.0], 2).unwrap();
    assert_eq!(hits[0].chunk_id, "PMC1#2");
    assert_eq!(hits[0].text, TEXTS[2]);
    assert!(hits[0].score > hits[1].score);
    assert!((hits[0].score - 1.0 / (1.0f64 + 3.0 * 0.01).sqrt()).abs() < 1e-6);
    assert_eq!(hits.len(), 2);

    // Persisted: a new store on the same directory sees it.
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.chunk_count(Some("job-1")).unwrap(), 3);
    assert_eq!(store.search_text("metformin", 1).unwrap()[0].chunk_id, "PMC1#1");
}

#[test]
fn reindexing_a_job_replaces_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let c = ctx("job-1", "index");
    for _ in 0..3 {
        assert_eq!(index(&c, &batch("PMC1", TEXTS), &store).unwrap().chunks_indexed, 3);
    }
    assert_eq!(store.chunk_count(None).unwrap(), 3);
    assert_eq!(store.search_text("aspirin", 10).unwrap().len(), 1);
    assert_eq!(store.search_vector(&[1.0, 0.0, 0.0, 0.0], 10).unwrap().len(), 3);

    // A shorter second run leaves no stale chunk behind, in the table or the full-text index.
    let receipt = index(&c, &batch("PMC1", &["Only ibuprofen now."]), &store).unwrap();
    assert_eq!(receipt.chunks_indexed, 1);
    assert_eq!(store.chunk_count(Some("job-1")).unwrap(), 1);
    assert!(store.search_text("aspirin metformin adverse", 10).unwrap().is_empty());
    assert_eq!(store.search_text("ibuprofen", 10).unwrap().len(), 1);
    assert_eq!(store.search_vector(&[1.0, 1.0, 1.0, 1.0], 10).unwrap().len(), 1);
}

#[test]
fn two_jobs_do_not_clobber_each_other() {
    let store = Store::in_memory().unwrap();
    // The same document in two jobs: same chunk ids, kept apart by job.
    index(&ctx("job-a", "index"), &batch("PMC1", TEXTS), &store).unwrap();
    index(&ctx("job-b", "index"), &batch("PMC1", &TEXTS[..2]), &store).unwrap();
    assert_eq!(store.chunk_count(Some("job-a")).unwrap(), 3);
    assert_eq!(store.chunk_count(Some("job-b")).unwrap(), 2);
    assert_eq!(store.chunk_count(None).unwrap(), 5);
    let hits = store.search_text("aspirin", 10).unwrap();
    assert_eq!(
        hits.iter().map(|h| h.job_id.as_str()).collect::<Vec<_>>(),
        ["job-a", "job-b"],
        "tie by job id"
    );

    index(&ctx("job-b", "index"), &batch("PMC1", &[]), &store).unwrap();
    assert_eq!(store.chunk_count(Some("job-b")).unwrap(), 0);
    assert_eq!(store.chunk_count(Some("job-a")).unwrap(), 3);
    assert_eq!(store.search_text("aspirin", 10).unwrap().len(), 1);
}

#[test]
fn graph_upserts_nodes_and_finds_neighbors() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let entities = vec![
        entity("drug:aspirin", "Aspirin"),
        entity("disease:fever", "fever"),
        entity("gene:cox2", "COX-2"),
    ];
    let claims = vec![
        claim("drug:aspirin", "treats", "disease:fever", "Aspirin reduced fever."),
        claim("drug:aspirin", "inhibits", "gene:cox2", "Aspirin inhibits COX-2."),
    ];
    let r = knowledge_graph(&ctx("job-1", "knowledge-graph"), &entities, &claims, &store).unwrap();
    assert_eq!((r.nodes_written, r.edges_written), (3, 2));

    // A second job shares the aspirin node (renaming it: upsert) and adds an edge into it.
    let entities2 = vec![entity("drug:aspirin", "ASPIRIN"), entity("disease:stroke", "stroke")];
    let claims2 = vec![claim("drug:aspirin", "prevents", "disease:stroke", "Aspirin prevents stroke.")];
    let r = knowledge_graph(&ctx("job-2", "knowledge-graph"), &entities2, &claims2, &store).unwrap();
    assert_eq!((r.nodes_written, r.edges_written), (2, 1));
    assert_eq!(store.graph_stats().unwrap(), GraphStats { nodes: 4, edges: 3 });
    let aspirin = store.node("drug:aspirin").unwrap().unwrap();
    assert_eq!((aspirin.name.as_str(), aspirin.kind.as_str()), ("ASPIRIN", "drug"));
    assert_eq!(aspirin.jobs, ["job-1", "job-2"]);
    assert!(store.node("drug:nothing").unwrap().is_none());

    let by_id = store.neighbors("drug:aspirin").unwrap();
    let preds: Vec<&str> = by_id.iter().map(|e| e.predicate.as_str()).collect();
    assert_eq!(preds, ["inhibits", "prevents", "treats"]);
    assert_eq!(store.neighbors("aspirin").unwrap(), by_id, "by name, case-insensitive");
    let fever = store.neighbors("disease:fever").unwrap();
    assert_eq!(fever.len(), 1, "incoming edges too");
    assert_eq!((fever[0].subject.as_str(), fever[0].job_id.as_str()), ("drug:aspirin", "job-1"));
    assert_eq!(fever[0].chunk_id.as_deref(), Some("d#0"));
    assert!(store.neighbors("nobody").unwrap().is_empty());

    // Re-running job 1 replaces its edges and mentions; job 2's survive.
    for _ in 0..2 {
        let claims = vec![claim("drug:aspirin", "treats", "disease:fever", "Aspirin reduced fever.")];
        knowledge_graph(&ctx("job-1", "knowledge-graph"), &entities[..2].to_vec(), &claims, &store).unwrap();
    }
    assert_eq!(store.edges_for_job("job-1").unwrap().len(), 1);
    assert_eq!(store.edges_for_job("job-2").unwrap()[0].object, "disease:stroke");
    assert!(store.node("gene:cox2").unwrap().is_none(), "no job mentions it any more");
    assert_eq!(store.graph_stats().unwrap(), GraphStats { nodes: 3, edges: 2 });
}

#[test]
fn ledger_set_get_fields_metadata_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = SqliteLedger::open(dir.path()).unwrap();
    assert_eq!(ledger.path(), Some(dir.path().join("ledger.sqlite").as_path()));
    ledger.set("job-1", "pdf_downloaded", json!(true)).unwrap();
    ledger.set("job-1", "pdf_url", json!("https://example.org/a.pdf")).unwrap();
    ledger.set("job-1", "pdf_downloaded", json!(false)).unwrap();
    ledger.set_metadata("job-1", "owner", json!({"team": "x"})).unwrap();
    ledger.set("job-2", "gate.g.status", json!("parked")).unwrap();
    drop(ledger);

    let ledger: Arc<dyn Ledger> = Arc::new(SqliteLedger::open(dir.path()).unwrap());
    assert_eq!(ledger.get("job-1", "pdf_downloaded").unwrap(), Some(json!(false)));
    assert_eq!(ledger.get("job-1", "missing").unwrap(), None);
    assert_eq!(ledger.get_metadata("job-1", "owner").unwrap(), Some(json!({"team": "x"})));
    assert_eq!(ledger.get_metadata("job-1", "pdf_url").unwrap(), None, "fields and metadata are apart");
    let fields = ledger.fields("job-1").unwrap();
    assert_eq!(
        fields.into_iter().collect::<Vec<_>>(),
        [
            ("pdf_downloaded".to_owned(), json!(false)),
            ("pdf_url".to_owned(), json!("https://example.org/a.pdf")),
        ]
    );
    assert_eq!(SqliteLedger::open(dir.path()).unwrap().jobs().unwrap(), ["job-1", "job-2"]);
}

fn spawn_child(test: &str, role: &str, envs: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1", "-q"])
        .env(ROLE, role)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

fn wait_all(children: Vec<Child>) {
    for mut c in children {
        let status = c.wait().unwrap();
        assert!(status.success(), "a child failed: {status}");
    }
}

fn all_done(children: &mut [Child]) -> bool {
    children.iter_mut().all(|c| c.try_wait().unwrap().is_some())
}

fn ledger_value(child: usize, i: usize) -> serde_json::Value {
    json!({"child": child, "i": i, "text": format!("value {child}/{i}")})
}

/// Child role `ledger`: sets [`SETS_PER_CHILD`] distinct fields of job `shared`.
#[test]
fn child_ledger_writer() {
    if std::env::var(ROLE).as_deref() != Ok("ledger") {
        return;
    }
    let dir = PathBuf::from(std::env::var(DIR).unwrap());
    let child: usize = std::env::var(CHILD).unwrap().parse().unwrap();
    let ledger = SqliteLedger::open(&dir).unwrap();
    for i in 0..SETS_PER_CHILD {
        ledger.set("shared", &format!("c{child}.f{i:03}"), ledger_value(child, i)).unwrap();
        if i % 50 == 0 {
            ledger.set_metadata("shared", &format!("c{child}"), json!(i)).unwrap();
        }
    }
}

#[test]
fn ledger_is_safe_for_several_processes() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = SqliteLedger::open(dir.path()).unwrap();
    let mut children: Vec<Child> = (0..LEDGER_CHILDREN)
        .map(|k| {
            spawn_child(
                "child_ledger_writer",
                "ledger",
                &[(DIR, dir.path().display().to_string()), (CHILD, k.to_string())],
            )
        })
        .collect();
    // Read while they write: what is there is whole, and it only grows.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = 0;
    let mut reads = 0;
    while !all_done(&mut children) {
        assert!(Instant::now() < deadline, "children took too long");
        let fields = ledger.fields("shared").unwrap();
        assert!(fields.len() >= seen, "fields went from {seen} to {}", fields.len());
        seen = fields.len();
        for (k, v) in &fields {
            let (c, i) = k[1..].split_once(".f").unwrap();
            assert_eq!(*v, ledger_value(c.parse().unwrap(), i.parse().unwrap()));
        }
        let _ = ledger.get("shared", "c0.f000").unwrap();
        reads += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
    wait_all(children);
    let fields = ledger.fields("shared").unwrap();
    assert_eq!(fields.len(), LEDGER_CHILDREN * SETS_PER_CHILD);
    for k in 0..LEDGER_CHILDREN {
        for i in 0..SETS_PER_CHILD {
            assert_eq!(fields[&format!("c{k}.f{i:03}")], ledger_value(k, i));
        }
        assert_eq!(ledger.get_metadata("shared", &format!("c{k}")).unwrap(), Some(json!(150)));
    }
    assert!(reads > 0);
}

/// The batch round `round` of job `job` indexes; the last round is [`final_batch`].
fn round_batch(job: &str, round: usize) -> EmbeddingBatch {
    let texts: Vec<String> =
        (0..(2 + round % 4)).map(|i| format!("{job} round{round} piece{i} shared")).collect();
    batch(job, &texts.iter().map(String::as_str).collect::<Vec<_>>())
}

fn final_batch(job: &str) -> EmbeddingBatch {
    batch(job, &[&format!("{job} final alpha"), &format!("{job} final beta"), &format!("{job} final gamma")])
}

fn index_rounds(store: &Store, job: &str) {
    let c = ctx(job, "index");
    for round in 0..INDEX_ROUNDS {
        index(&c, &round_batch(job, round), store).unwrap();
    }
    assert_eq!(index(&c, &final_batch(job), store).unwrap().chunks_indexed, 3);
}

fn assert_final(store: &Store, jobs: &[&str]) {
    assert_eq!(store.chunk_count(None).unwrap(), 3 * jobs.len() as u64);
    let hits = store.search_text("final", 100).unwrap();
    assert_eq!(hits.len(), 3 * jobs.len(), "{hits:?}");
    for job in jobs {
        assert_eq!(store.chunk_count(Some(job)).unwrap(), 3);
        let mine = hits.iter().filter(|h| h.job_id == *job && h.doc_id == *job && h.text.starts_with(job));
        assert_eq!(mine.count(), 3, "{job}: {hits:?}");
    }
    assert!(store.search_text("round0 round1 round2 piece0", 10).unwrap().is_empty());
}

#[test]
fn index_writes_from_two_threads() {
    let dir = tempfile::tempdir().unwrap();
    // One store shared by threads (one connection), and a second store on the same files (a
    // second connection, locking like another process would).
    let shared = Arc::new(Store::open(dir.path()).unwrap());
    let other = Store::open(dir.path()).unwrap();
    std::thread::scope(|s| {
        let a = s.spawn(|| index_rounds(&shared, "job-a"));
        let b = s.spawn(|| index_rounds(&other, "job-b"));
        let c = s.spawn(|| {
            for _ in 0..20 {
                shared.search_text("shared", 5).unwrap();
                other.search_vector(&[1.0, 0.0, 0.0, 0.0], 5).unwrap();
            }
        });
        for h in [a, b, c] {
            h.join().unwrap();
        }
    });
    assert_final(&shared, &["job-a", "job-b"]);
    assert_final(&other, &["job-a", "job-b"]);
}

/// Child role `index`: re-indexes job `$STORE_TEST_JOB` [`INDEX_ROUNDS`] times, then its
/// final batch.
#[test]
fn child_index_writer() {
    if std::env::var(ROLE).as_deref() != Ok("index") {
        return;
    }
    let dir = PathBuf::from(std::env::var(DIR).unwrap());
    let store = Store::open(&dir).unwrap();
    index_rounds(&store, &std::env::var(JOB).unwrap());
}

#[test]
fn store_is_safe_for_several_processes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let jobs = ["job-p0", "job-p1"];
    let mut children: Vec<Child> = jobs
        .iter()
        .map(|job| {
            spawn_child(
                "child_index_writer",
                "index",
                &[(DIR, dir.path().display().to_string()), (JOB, (*job).to_owned())],
            )
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !all_done(&mut children) {
        assert!(Instant::now() < deadline, "children took too long");
        // A job's chunks are replaced in one transaction: a reader sees one whole batch.
        for job in jobs {
            let n = store.chunk_count(Some(job)).unwrap();
            assert!(n == 0 || (2..=5).contains(&n), "{job}: {n} chunks");
        }
        store.search_text("shared final", 10).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    wait_all(children);
    assert_final(&store, &jobs);
}

#[test]
fn stages_are_registered_with_the_store_resource() {
    let registry = StageRegistry::global();
    let meta = registry.get_metadata("index").unwrap();
    assert_eq!(meta.state_key().keys(), ["index_receipt"]);
    assert_eq!(meta.inputs()[0].key, "embedding_batch");
    let meta = registry.get_metadata("knowledge-graph").unwrap();
    assert_eq!(meta.state_key().keys(), ["graph_receipt"]);
    assert_eq!(meta.dependencies(), ["extract"]);
    assert_eq!(meta.inputs().iter().map(|i| i.key).collect::<Vec<_>>(), ["entities", "claims"]);
    assert!(!meta.description().is_empty());

    // The resource opens the host's store directory.
    let dir = tempfile::tempdir().unwrap();
    let spec = meta.resources()[0];
    let value = spec.create(&ResourceContext::new("p", Some(dir.path().to_owned()))).unwrap();
    let store = value.downcast_ref::<Store>().unwrap();
    assert_eq!(store.path(), Some(dir.path().join("store.sqlite").as_path()));
}
