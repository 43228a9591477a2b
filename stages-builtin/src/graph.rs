//! The `knowledge-graph` stage and the graph queries of the [`Store`].
//!
//! Nodes are entities, shared by every job: writing an entity that exists updates its name and
//! kind. Each job records which nodes it mentions and owns its edges (one per distinct claim).
//! Running a job again replaces its mentions and edges in one transaction, and deletes the
//! nodes no job mentions any more: the graph holds one copy of each job's contribution
//! (contract §2).
//!
//! A claim whose subject or object is not among the job's entities still gets its edge: the
//! node is taken from the store when it exists, else made from the id (`<kind>:<name>`, the
//! [`Entity`] id convention). A claim without a subject, predicate or object, or an entity
//! without an id, is skipped with a warning.

use std::collections::BTreeSet;

use rusqlite::{params, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};
use stage_core::{stage, StageContext};

use crate::store::{Store, StoreError};
use crate::types::{Claim, Entity, GraphReceipt};

/// Why the knowledge-graph stage failed.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// The runtime abandoned the attempt; nothing was written.
    #[error("cancelled before the graph was written; nothing was written")]
    Cancelled,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for GraphError {
    fn from(e: rusqlite::Error) -> Self {
        GraphError::Store(e.into())
    }
}

/// A graph node: an entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Its id (`<kind>:<normalized name>`).
    pub id: String,
    /// Its name, as last written.
    pub name: String,
    /// Its kind (`drug`, `disease`, ...).
    pub kind: String,
    /// The jobs that mention it, sorted.
    pub jobs: Vec<String>,
}

/// A graph edge: a claim of one job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edge {
    /// The subject node's id.
    pub subject: String,
    /// The relation.
    pub predicate: String,
    /// The object node's id.
    pub object: String,
    /// The sentence the claim was found in.
    pub evidence: String,
    /// The job that wrote it.
    pub job_id: String,
    /// The chunk the claim was found in, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_id: Option<String>,
}

/// The size of the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphStats {
    /// Nodes.
    pub nodes: u64,
    /// Edges.
    pub edges: u64,
}

/// The node an id stands for when no entity describes it: `(name, kind)` from `<kind>:<name>`.
fn node_from_id(id: &str) -> (&str, &str) {
    match id.split_once(':') {
        Some((kind, name)) if !kind.is_empty() && !name.is_empty() => (name, kind),
        _ => (id, "unknown"),
    }
}

const EDGE_COLUMNS: &str = "subject, predicate, object, evidence, job_id, chunk_id";

fn edge_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Edge> {
    Ok(Edge {
        subject: r.get(0)?,
        predicate: r.get(1)?,
        object: r.get(2)?,
        evidence: r.get(3)?,
        job_id: r.get(4)?,
        chunk_id: r.get(5)?,
    })
}

fn as_count(n: i64) -> u64 {
    n.max(0) as u64
}

impl Store {
    /// Replaces job `job_id`'s part of the graph with `entities` and `claims`, in one
    /// transaction; returns `(nodes written, edges written)`.
    pub fn write_graph(
        &self,
        job_id: &str,
        entities: &[Entity],
        claims: &[Claim],
    ) -> Result<(u64, u64), GraphError> {
        self.write_graph_unless(job_id, entities, claims, &|| false)
    }

    fn write_graph_unless(
        &self,
        job_id: &str,
        entities: &[Entity],
        claims: &[Claim],
        cancelled: &dyn Fn() -> bool,
    ) -> Result<(u64, u64), GraphError> {
        self.write(|tx| {
            let previous: Vec<String> = {
                let mut stmt = tx.prepare("SELECT entity_id FROM mentions WHERE job_id = ?1")?;
                let rows = stmt.query_map([job_id], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            tx.execute("DELETE FROM edges WHERE job_id = ?1", [job_id])?;
            tx.execute("DELETE FROM mentions WHERE job_id = ?1", [job_id])?;

            let mut written = BTreeSet::new();
            let mut edges = 0u64;
            {
                let mut upsert = tx.prepare(
                    "INSERT INTO nodes (id, name, kind) VALUES (?1, ?2, ?3)
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind",
                )?;
                let mut ensure =
                    tx.prepare("INSERT OR IGNORE INTO nodes (id, name, kind) VALUES (?1, ?2, ?3)")?;
                let mut mention =
                    tx.prepare("INSERT OR IGNORE INTO mentions (entity_id, job_id) VALUES (?1, ?2)")?;
                let mut edge = tx.prepare(
                    "INSERT OR IGNORE INTO edges (job_id, subject, predicate, object, evidence, chunk_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for e in entities {
                    if e.id.is_empty() {
                        tracing::warn!(job = job_id, name = %e.name, "skipping an entity without an id");
                        continue;
                    }
                    upsert.execute(params![e.id, e.name, e.kind])?;
                    mention.execute(params![e.id, job_id])?;
                    written.insert(e.id.clone());
                }
                for c in claims {
                    if c.subject.is_empty() || c.predicate.is_empty() || c.object.is_empty() {
                        tracing::warn!(
                            job = job_id,
                            subject = %c.subject,
                            predicate = %c.predicate,
                            object = %c.object,
                            "skipping a claim without a subject, predicate or object"
                        );
                        continue;
                    }
                    for id in [&c.subject, &c.object] {
                        if !written.contains(id) {
                            let (name, kind) = node_from_id(id);
                            ensure.execute(params![id, name, kind])?;
                            mention.execute(params![id, job_id])?;
                            written.insert(id.clone());
                        }
                    }
                    edges += edge.execute(params![
                        job_id,
                        c.subject,
                        c.predicate,
                        c.object,
                        c.evidence,
                        c.chunk_id
                    ])? as u64;
                }
            }
            collect_orphans(tx, previous.iter().filter(|id| !written.contains(*id)))?;
            if cancelled() {
                return Err(GraphError::Cancelled);
            }
            Ok((written.len() as u64, edges))
        })
    }

    /// A node, with the jobs that mention it.
    pub fn node(&self, id: &str) -> Result<Option<Node>, StoreError> {
        self.read(|tx| {
            let found: Option<(String, String)> = tx
                .query_row("SELECT name, kind FROM nodes WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((name, kind)) = found else { return Ok(None) };
            let mut stmt = tx.prepare("SELECT job_id FROM mentions WHERE entity_id = ?1 ORDER BY job_id")?;
            let jobs = stmt.query_map([id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            Ok(Some(Node { id: id.to_owned(), name, kind, jobs }))
        })
    }

    /// The edges of a node, in both directions, sorted (subject, predicate, object, job). The
    /// node is named by its id or, when no node has that id, by its name (case-insensitive;
    /// every node of that name).
    pub fn neighbors(&self, entity_id_or_name: &str) -> Result<Vec<Edge>, StoreError> {
        self.neighbors_limited(entity_id_or_name, usize::MAX).map(|(edges, _)| edges)
    }

    /// As [`Store::neighbors`], the first `limit` edges in the same order, and whether there
    /// were more. SQLite sorts and cuts each node's edges (`ORDER BY ... LIMIT limit + 1`), so
    /// the edges past the limit are never copied out: a hub with a million edges costs a
    /// bounded sort, not a million [`Edge`]s.
    pub fn neighbors_limited(
        &self,
        entity_id_or_name: &str,
        limit: usize,
    ) -> Result<(Vec<Edge>, bool), StoreError> {
        let wanted = i64::try_from(limit).unwrap_or(i64::MAX - 1).saturating_add(1);
        self.read(|tx| {
            let exists: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM nodes WHERE id = ?1)",
                [entity_id_or_name],
                |r| r.get(0),
            )?;
            let ids: Vec<String> = if exists {
                vec![entity_id_or_name.to_owned()]
            } else {
                let mut stmt =
                    tx.prepare("SELECT id FROM nodes WHERE name = ?1 COLLATE NOCASE ORDER BY id")?;
                let rows = stmt.query_map([entity_id_or_name], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            // Each node's first `limit + 1` edges hold the first `limit + 1` of all of them.
            let mut stmt = tx.prepare(&format!(
                "SELECT {EDGE_COLUMNS}, id FROM edges WHERE subject = ?1
                 UNION SELECT {EDGE_COLUMNS}, id FROM edges WHERE object = ?1
                 ORDER BY subject, predicate, object, job_id, id LIMIT ?2"
            ))?;
            let mut edges: Vec<(i64, Edge)> = Vec::new();
            for id in &ids {
                let rows =
                    stmt.query_map(params![id, wanted], |r| Ok((r.get::<_, i64>(6)?, edge_from_row(r)?)))?;
                for row in rows {
                    edges.push(row?);
                }
            }
            edges.sort_by(|(ia, a), (ib, b)| {
                (&a.subject, &a.predicate, &a.object, &a.job_id, ia).cmp(&(
                    &b.subject,
                    &b.predicate,
                    &b.object,
                    &b.job_id,
                    ib,
                ))
            });
            edges.dedup_by_key(|(id, _)| *id);
            let more = edges.len() > limit;
            edges.truncate(limit);
            Ok((edges.into_iter().map(|(_, e)| e).collect(), more))
        })
    }

    /// The number of nodes and edges.
    pub fn graph_stats(&self) -> Result<GraphStats, StoreError> {
        self.read(|tx| {
            tx.query_row("SELECT (SELECT count(*) FROM nodes), (SELECT count(*) FROM edges)", [], |r| {
                Ok(GraphStats { nodes: as_count(r.get(0)?), edges: as_count(r.get(1)?) })
            })
        })
    }

    /// The edges job `job_id` wrote, in the order of its claims.
    pub fn edges_for_job(&self, job_id: &str) -> Result<Vec<Edge>, StoreError> {
        self.read(|tx| {
            let mut stmt =
                tx.prepare(&format!("SELECT {EDGE_COLUMNS} FROM edges WHERE job_id = ?1 ORDER BY id"))?;
            let rows = stmt.query_map([job_id], edge_from_row)?;
            rows.collect()
        })
    }
}

/// Deletes the nodes among `ids` that no job mentions any more.
fn collect_orphans<'a>(tx: &Transaction<'_>, ids: impl Iterator<Item = &'a String>) -> rusqlite::Result<()> {
    let mut delete = tx.prepare(
        "DELETE FROM nodes WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM mentions WHERE entity_id = ?1)
         AND NOT EXISTS (SELECT 1 FROM edges WHERE subject = ?1 OR object = ?1)",
    )?;
    for id in ids {
        delete.execute([id])?;
    }
    Ok(())
}

/// Writes the entities as graph nodes (shared by all jobs) and the claims as edges between
/// them, replacing what this job wrote before; counts the nodes written.
#[stage(type = "knowledge-graph", state_key = "graph_receipt", dependencies = ["extract"])]
pub fn knowledge_graph(
    ctx: &StageContext,
    entities: &Vec<Entity>,
    claims: &Vec<Claim>,
    #[resource] store: &Store,
) -> Result<GraphReceipt, GraphError> {
    if ctx.is_cancelled() {
        return Err(GraphError::Cancelled);
    }
    let job = &ctx.job().job_id;
    let (nodes_written, edges_written) =
        store.write_graph_unless(job, entities, claims, &|| ctx.is_cancelled())?;
    tracing::debug!(job = %job, nodes_written, edges_written, store = store.location(), "graph written");
    Ok(GraphReceipt { nodes_written, edges_written, store: store.location().to_owned() })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use stage_core::Job;

    use super::*;

    fn entity(id: &str, name: &str) -> Entity {
        Entity { id: id.to_owned(), name: name.to_owned(), kind: id.split(':').next().unwrap().to_owned() }
    }

    fn claim(s: &str, p: &str, o: &str) -> Claim {
        Claim {
            subject: s.to_owned(),
            predicate: p.to_owned(),
            object: o.to_owned(),
            evidence: format!("{s} {p} {o}."),
            chunk_id: None,
        }
    }

    #[test]
    fn node_from_id_follows_the_convention() {
        assert_eq!(node_from_id("drug:aspirin"), ("aspirin", "drug"));
        assert_eq!(node_from_id("aspirin"), ("aspirin", "unknown"));
        assert_eq!(node_from_id(":x"), (":x", "unknown"));
    }

    #[test]
    fn claims_about_unknown_entities_make_nodes() {
        let store = Store::in_memory().unwrap();
        let (n, e) = store
            .write_graph(
                "j",
                &[entity("drug:aspirin", "Aspirin")],
                &[claim("drug:aspirin", "treats", "disease:fever")],
            )
            .unwrap();
        assert_eq!((n, e), (2, 1));
        let fever = store.node("disease:fever").unwrap().unwrap();
        assert_eq!(
            (fever.name.as_str(), fever.kind.as_str(), fever.jobs.as_slice()),
            ("fever", "disease", &["j".to_owned()][..])
        );
    }

    #[test]
    fn invalid_items_are_skipped_and_duplicates_counted_once() {
        let store = Store::in_memory().unwrap();
        let entities = [
            entity("drug:a", "A"),
            entity("drug:a", "A2"),
            Entity { id: String::new(), name: "x".into(), kind: "drug".into() },
        ];
        let claims = [
            claim("drug:a", "treats", "disease:b"),
            claim("drug:a", "treats", "disease:b"),
            claim("", "treats", "disease:b"),
        ];
        assert_eq!(store.write_graph("j", &entities, &claims).unwrap(), (2, 1));
        assert_eq!(store.node("drug:a").unwrap().unwrap().name, "A2", "the last entity wins");
    }

    #[test]
    fn rerun_drops_nodes_no_job_mentions() {
        let store = Store::in_memory().unwrap();
        store
            .write_graph(
                "j1",
                &[entity("drug:a", "A"), entity("drug:b", "B")],
                &[claim("drug:a", "x", "drug:b")],
            )
            .unwrap();
        store.write_graph("j2", &[entity("drug:b", "B")], &[]).unwrap();
        store.write_graph("j1", &[entity("drug:c", "C")], &[]).unwrap();
        assert!(store.node("drug:a").unwrap().is_none());
        assert_eq!(store.node("drug:b").unwrap().unwrap().jobs, ["j2"]);
        assert_eq!(store.graph_stats().unwrap(), GraphStats { nodes: 2, edges: 0 });
    }

    #[test]
    fn stage_writes_a_receipt() {
        let store = Store::in_memory().unwrap();
        let ctx = StageContext::new(Arc::new(Job::new("job-1", "pmc")), "kg", "knowledge-graph");
        let r = knowledge_graph(
            &ctx,
            &vec![entity("drug:a", "A")],
            &vec![claim("drug:a", "inhibits", "gene:b")],
            &store,
        )
        .unwrap();
        assert_eq!((r.nodes_written, r.edges_written, r.store.as_str()), (2, 1, ":memory:"));
    }

    #[test]
    fn cancelled_write_keeps_the_previous_copy() {
        let store = Store::in_memory().unwrap();
        store.write_graph("j", &[entity("drug:a", "A")], &[claim("drug:a", "x", "drug:b")]).unwrap();
        let r = store.write_graph_unless("j", &[], &[], &|| true);
        assert!(matches!(r, Err(GraphError::Cancelled)));
        assert_eq!(store.graph_stats().unwrap(), GraphStats { nodes: 2, edges: 1 });
    }
}
