//! The run journal: `<store>/journal.sqlite`, a SQLite file of its own beside the ledger
//! (`ledger.sqlite`) and apart from the index and graph (`store.sqlite`).
//!
//! Each run is a row of `runs` (job, pipeline file, plan fingerprint, status); each stage that
//! ended appends one row of `stages` (its report line: status, attempts, count, duration,
//! message, failure) and one row of `outputs` per value it wrote, in one transaction. Nothing
//! written is written again: a run's state is never rewritten whole, and its results are not
//! stored a second time (they are the outputs). The fingerprint is computed once per plan.
//!
//! Outputs are MessagePack (structs as maps, so that `#[serde(default)]` and skipped fields
//! read back; `f32`s as 4-byte floats), LZ4-compressed when that saves space (a first byte
//! says which: 0 plain, 1 LZ4 with the size prepended), read back through the producing stage's metadata
//! ([`stage_core::OutputType::deserialize_from`]). An output larger than
//! [`LARGE_OUTPUT_BYTES`] is written to `<store>/outputs/<sha256>.msgpack` and the row keeps a
//! reference to it.
//!
//! Leases: one process at a time runs a run. Starting a run, or claiming a stored one to
//! resume it ([`Journal::claim`]), takes its lease for [`LEASE`]; a thread of the holder
//! renews it every third of that while the process lives, and ending the run releases it. A
//! holder that dies stops renewing, and its lease expires: then another process may claim the
//! run. A lease whose holder ran on this machine (`host`, `pid` in its name) and is no longer
//! running is void at once, so a run whose process was killed resumes without waiting. So two `watch` processes, or a `resume` racing a `watch`, never run a parked run twice.
//!
//! Durability: WAL mode. A committed stage survives the process being killed (SIGKILL); the
//! commit that ends or parks a run is also flushed to disk before the run's result is printed,
//! and with `--sync-every-stage` every stage's commit is (`synchronous = FULL`). A run's end is
//! flushed outside the connection's lock (group commit): [`Journal::end`] commits and returns a
//! ticket, and [`Journal::flush_through`] `fsync`s the write-ahead log unless a flush begun
//! after that commit already covered it ([`Journal::finish`] does both). `stagectl run` flushes
//! on a thread of its own and prints each result after its flush, so the job threads go on
//! with their next jobs instead of waiting for the disk. The log's checkpoints run on a thread
//! of their own too ([`stages_builtin::checkpoint`]). Several processes may share a journal.
//!
//! | table | columns |
//! |---|---|
//! | `runs` | `job_id` (primary key), `pipeline_path`, `fingerprint` (JSON), `status` (`running`, `completed`, `parked`, `failed`), `job` (JSON), `duration_ms`, `report` (the ended run's report lines, JSON, without results), `updated_at` (Unix ms) |
//! | `stages` | `job_id`, `stage`, `seq` (the order stages ended), `status`, `report` (JSON) |
//! | `outputs` | `job_id`, `stage`, `key` (`""` for a stage's raw output), `value` (MessagePack) or `file` (a reference) |

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};
use stage_core::run::{Checkpoint, RestoredStage, StageReport};
use stage_core::{Fingerprint, Job, Plan, RunReport, RunState, RunStatus, SharedValue, StageStatus};
use stages_builtin::checkpoint::Checkpointer;

use crate::CliError;

/// Outputs larger than this (encoded) are stored in a file of their own, by reference.
pub const LARGE_OUTPUT_BYTES: usize = 1 << 20;

/// How long a run's lease lasts without renewal (module docs).
pub const LEASE: Duration = Duration::from_secs(60);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    job_id TEXT PRIMARY KEY NOT NULL,
    pipeline_path TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL,
    job TEXT NOT NULL,
    duration_ms INTEGER,
    report TEXT,
    updated_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER
);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status);
CREATE TABLE IF NOT EXISTS stages (
    job_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    report TEXT NOT NULL,
    PRIMARY KEY (job_id, stage)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outputs (
    job_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB,
    file TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS outputs_by_stage ON outputs (job_id, stage, key);
";

/// The run journal of a store (module docs). Shared by the threads of a batch.
#[derive(Debug)]
pub struct Journal {
    /// Dropped first: its thread stops before the journal's connection closes.
    checkpointer: Checkpointer,
    conn: Mutex<Connection>,
    store: PathBuf,
    sync_every_stage: bool,
    /// This process's name on the leases it holds.
    owner: String,
    /// Set while a thread renews this journal's leases; cleared (the thread ends) on drop.
    renewing: Arc<std::sync::atomic::AtomicBool>,
    /// Group commit: the run ends committed, numbered in commit order (taken under the
    /// connection's lock)…
    committed: std::sync::atomic::AtomicU64,
    /// …and the write-ahead log's file with the number of the last one flushed.
    flushed: Mutex<(Option<std::fs::File>, u64)>,
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.renewing.store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A ticket for [`Journal::flush_through`]: the number of a committed run end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Flush(u64);

/// A run as the journal keeps it.
#[derive(Debug, Clone)]
pub struct StoredRun {
    /// The job.
    pub job: Job,
    /// The pipeline file, absolute.
    pub pipeline_path: PathBuf,
    /// The plan's fingerprint when the run started.
    pub fingerprint: Fingerprint,
    /// `running` (started, not ended: its process died, or it runs now), `completed`,
    /// `parked` or `failed`.
    pub status: String,
    /// The ended run's report lines (`pipeline`, `pipeline_version`, `stages`,
    /// `duration_ms`), once it ended or parked.
    pub report: Option<serde_json::Value>,
    /// Each stage that ended, in the order they ended.
    pub stages: Vec<StoredStage>,
}

/// A stage's row, its outputs still encoded.
#[derive(Debug, Clone)]
pub struct StoredStage {
    /// Its report line.
    pub report: StageReport,
    /// Its outputs: key (`""` for a raw output) and MessagePack bytes.
    pub outputs: Vec<(String, Vec<u8>)>,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn status_name(s: StageStatus) -> &'static str {
    match s {
        StageStatus::Completed => "completed",
        StageStatus::Failed => "failed",
        StageStatus::Parked => "parked",
        StageStatus::Skipped => "skipped",
    }
}

/// The name a run's status is stored under.
pub fn run_status_name(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Completed => "completed",
        RunStatus::Parked => "parked",
        RunStatus::Failed => "failed",
    }
}

/// Encodes a state value as the journal stores it.
pub fn encode(value: &SharedValue) -> Result<Vec<u8>, CliError> {
    let mut buf = vec![PLAIN];
    let mut ser = rmp_serde::Serializer::new(&mut buf).with_struct_map();
    erased_serde::serialize(value.as_serialize(), &mut ser)
        .map_err(|e| format!("cannot encode a `{}`: {e}", value.type_name()))?;
    if buf.len() > 256 {
        let mut packed = vec![LZ4];
        packed.extend(lz4_flex::compress_prepend_size(&buf[1..]));
        if packed.len() < buf.len() {
            return Ok(packed);
        }
    }
    Ok(buf)
}

/// The first byte of a stored output: MessagePack as it is.
const PLAIN: u8 = 0;
/// The first byte of a stored output: LZ4 of the MessagePack, its size prepended.
const LZ4: u8 = 1;

/// The MessagePack of a stored output.
fn unpack(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, CliError> {
    match bytes.split_first() {
        Some((&PLAIN, rest)) => Ok(std::borrow::Cow::Borrowed(rest)),
        Some((&LZ4, rest)) => Ok(std::borrow::Cow::Owned(
            lz4_flex::decompress_size_prepended(rest)
                .map_err(|e| format!("a stored output is corrupt: {e}"))?,
        )),
        _ => Err("a stored output has an unknown encoding".into()),
    }
}

/// Decodes stored bytes as the output type `ty`.
pub fn decode(ty: &stage_core::OutputType, bytes: &[u8]) -> Result<SharedValue, CliError> {
    let bytes = unpack(bytes)?;
    let mut de = rmp_serde::Deserializer::from_read_ref(&*bytes);
    let mut erased = <dyn erased_serde::Deserializer<'_>>::erase(&mut de);
    ty.deserialize_from(&mut erased)
        .map_err(|e| format!("stored value is not a `{}`: {e}", ty.ty().name()).into())
}

/// Stored bytes as JSON, without knowing their type (for `stagectl runs <job>`).
pub fn to_json(bytes: &[u8]) -> Result<serde_json::Value, CliError> {
    Ok(rmp_serde::from_slice::<serde_json::Value>(&unpack(bytes)?)?)
}

impl Journal {
    /// The journal's database file in the store directory.
    pub const FILE: &str = "journal.sqlite";

    /// The journal of `store` already open in this process (the one a runner checkpoints
    /// into), when there is one that syncs at least as often as asked; else a newly opened one.
    ///
    /// One connection per database in a process: two connections to one SQLite file contend
    /// for its write lock through SQLite's busy handler, which sleeps 1, 2, 5… ms at a time.
    /// Measured with `strace` on a 700-job batch whose run statuses were written through a
    /// second connection: about 2,700 such sleeps; sharing one made the batch 32 % faster on
    /// tmpfs and 23 % on disk.
    pub fn shared(store: &Path, sync_every_stage: bool) -> Result<Arc<Journal>, CliError> {
        static OPEN: Mutex<Vec<(PathBuf, Weak<Journal>)>> = Mutex::new(Vec::new());
        std::fs::create_dir_all(store)?;
        let key = std::fs::canonicalize(store).unwrap_or_else(|_| store.to_owned());
        let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|(_, journal)| journal.strong_count() > 0);
        let found = open
            .iter()
            .filter(|(path, _)| *path == key)
            .filter_map(|(_, journal)| journal.upgrade())
            .find(|journal| journal.sync_every_stage || !sync_every_stage);
        if let Some(journal) = found {
            return Ok(journal);
        }
        let journal = Arc::new(Journal::open(store, sync_every_stage)?);
        open.push((key, Arc::downgrade(&journal)));
        Ok(journal)
    }

    /// Opens (creating) `<store>/journal.sqlite`.
    pub fn open(store: &Path, sync_every_stage: bool) -> Result<Journal, CliError> {
        std::fs::create_dir_all(store)?;
        let path = store.join(Self::FILE);
        let conn = Connection::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", if sync_every_stage { "FULL" } else { "NORMAL" })?;
        conn.execute_batch(SCHEMA).map_err(|e| format!("{}: {e}", path.display()))?;
        // Checkpoints run on a thread of their own, not in the job threads' commits.
        Checkpointer::configure_writer(&conn)?;
        clean_stale_temporaries(&store.join("outputs"));
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        Ok(Journal {
            checkpointer: Checkpointer::new(&path),
            conn: Mutex::new(conn),
            store: store.to_owned(),
            sync_every_stage,
            owner: format!("{} pid {} #{nanos:09}", host(), std::process::id()),
            renewing: Arc::default(),
            committed: std::sync::atomic::AtomicU64::new(0),
            flushed: Mutex::new((None, 0)),
        })
    }

    /// Takes the lease of job `job_id`'s run when its status is `status` and no other live
    /// process holds it; `Ok(false)` when another does (or the status changed meanwhile).
    pub fn claim(&self, job_id: &str, status: &str) -> Result<bool, CliError> {
        let now = now_ms();
        // A holder on this machine that is no longer running holds nothing.
        let dead =
            self.lease(job_id)?.map(|(owner, _)| owner).filter(|o| holder_is_dead(o)).unwrap_or_default();
        let claimed = self
            .conn()
            .prepare_cached(
                "UPDATE runs SET lease_owner = ?3, lease_until = ?4
                 WHERE job_id = ?1 AND status = ?2
                   AND (lease_owner IS NULL OR lease_owner = ?3 OR lease_until IS NULL OR lease_until < ?5
                        OR lease_owner = ?6)",
            )?
            .execute(params![job_id, status, self.owner, now + LEASE.as_millis() as i64, now, dead])?;
        if claimed == 1 {
            self.keep_renewing()?;
        }
        Ok(claimed == 1)
    }

    /// Who holds job `job_id`'s lease and for how long still, when someone does.
    pub fn lease(&self, job_id: &str) -> Result<Option<(String, Duration)>, CliError> {
        let row: Option<(Option<String>, Option<i64>)> = self
            .conn()
            .prepare_cached("SELECT lease_owner, lease_until FROM runs WHERE job_id = ?1")?
            .query_row([job_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let now = now_ms();
        Ok(match row {
            Some((Some(owner), Some(until))) if until > now => {
                Some((owner, Duration::from_millis((until - now) as u64)))
            }
            _ => None,
        })
    }

    /// Starts (once) the thread renewing this process's leases, on a connection of its own.
    fn keep_renewing(&self) -> Result<(), CliError> {
        use std::sync::atomic::Ordering;
        if self.renewing.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        let conn = Connection::open(self.store.join(Self::FILE))?;
        conn.busy_timeout(Duration::from_secs(30))?;
        let (flag, owner) = (self.renewing.clone(), self.owner.clone());
        std::thread::Builder::new().name("lease-renewal".into()).spawn(move || {
            let step = LEASE / 3;
            let tick = Duration::from_millis(200);
            let mut since = Duration::ZERO;
            while flag.load(Ordering::Relaxed) {
                std::thread::sleep(tick);
                since += tick;
                if since < step {
                    continue;
                }
                since = Duration::ZERO;
                let until = now_ms() + LEASE.as_millis() as i64;
                if let Err(e) = conn
                    .execute("UPDATE runs SET lease_until = ?2 WHERE lease_owner = ?1", params![owner, until])
                {
                    tracing::warn!("journal: could not renew leases: {e}");
                }
            }
        })?;
        Ok(())
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A run starts from `state`: its row says `running`, and rows of stages that `state`
    /// does not hold (a run started again from scratch) are removed.
    pub fn start(&self, plan: &Plan, state: &RunState) -> Result<(), CliError> {
        let job = &state.job;
        let path = plan.pipeline.path.clone().unwrap_or_default();
        let path = std::fs::canonicalize(&path).unwrap_or_else(|_| PathBuf::from(path));
        let fingerprint = serde_json::to_string(plan.fingerprint())?;
        let job_json = serde_json::to_string(&**job)?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.prepare_cached(
            "INSERT INTO runs (job_id, pipeline_path, fingerprint, status, job, duration_ms, updated_at)
             VALUES (?1, ?2, ?3, 'running', ?4, NULL, ?5)
             ON CONFLICT (job_id) DO UPDATE SET pipeline_path = ?2, fingerprint = ?3, status = 'running',
                 job = ?4, duration_ms = NULL, report = NULL, updated_at = ?5",
        )?
        .execute(params![job.job_id, path.to_string_lossy(), fingerprint, job_json, now_ms()])?;
        tx.prepare_cached("UPDATE runs SET lease_owner = ?2, lease_until = ?3 WHERE job_id = ?1")?
            .execute(params![job.job_id, self.owner, now_ms() + LEASE.as_millis() as i64])?;
        if state.stages().len() == 0 {
            tx.prepare_cached("DELETE FROM stages WHERE job_id = ?1")?.execute([&job.job_id])?;
            tx.prepare_cached("DELETE FROM outputs WHERE job_id = ?1")?.execute([&job.job_id])?;
        } else {
            let kept: Vec<&str> = state.stages().map(|(n, _)| n).collect();
            let stored: Vec<String> = tx
                .prepare_cached("SELECT stage FROM stages WHERE job_id = ?1")?
                .query_map([&job.job_id], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for s in stored.iter().filter(|s| !kept.contains(&s.as_str())) {
                tx.prepare_cached("DELETE FROM stages WHERE job_id = ?1 AND stage = ?2")?
                    .execute(params![job.job_id, s])?;
                tx.prepare_cached("DELETE FROM outputs WHERE job_id = ?1 AND stage = ?2")?
                    .execute(params![job.job_id, s])?;
            }
        }
        tx.commit()?;
        drop(conn);
        self.checkpointer.written();
        self.keep_renewing()
    }

    /// Appends stage `stage`'s record and outputs, in one transaction.
    pub fn append(&self, state: &RunState, stage: &str) -> Result<(), CliError> {
        let job = &state.job.job_id;
        let Some((seq, (_, record))) = state.stages().enumerate().find(|(_, (n, _))| *n == stage) else {
            return Err(format!("stage `{stage}` has no record in job `{job}`'s state").into());
        };
        let report = serde_json::to_string(&record.report(stage))?;
        let mut outputs: Vec<(&str, Vec<u8>)> = Vec::new();
        for (k, v) in state.outputs(stage) {
            outputs.push((k, encode(v)?));
        }
        if let Some(raw) = &record.raw {
            outputs.push(("", encode(raw)?));
        }
        let mut files = Vec::new();
        for (_, bytes) in &mut outputs {
            if bytes.len() > LARGE_OUTPUT_BYTES {
                files.push(self.write_large(bytes)?);
            }
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.prepare_cached(
            "INSERT OR REPLACE INTO stages (job_id, stage, seq, status, report) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![job, stage, seq as i64, status_name(record.status), report])?;
        tx.prepare_cached("DELETE FROM outputs WHERE job_id = ?1 AND stage = ?2")?
            .execute(params![job, stage])?;
        let mut files = files.into_iter();
        let mut insert = tx.prepare_cached(
            "INSERT INTO outputs (job_id, stage, key, value, file) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (key, bytes) in &outputs {
            if bytes.len() > LARGE_OUTPUT_BYTES {
                insert.execute(params![job, stage, key, None::<Vec<u8>>, files.next()])?;
            } else {
                insert.execute(params![job, stage, key, bytes, None::<String>])?;
            }
        }
        drop(insert);
        tx.commit()?;
        self.checkpointer.written();
        Ok(())
    }

    /// Writes a large output to `<store>/outputs/<sha256>.msgpack` (atomically, once: the
    /// name is its content's hash) and returns the reference.
    fn write_large(&self, bytes: &[u8]) -> Result<String, CliError> {
        use sha2::Digest;
        let hex: String = sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
        let name = format!("outputs/{hex}.msgpack");
        let path = self.store.join(&name);
        if !path.is_file() {
            std::fs::create_dir_all(self.store.join("outputs"))?;
            crate::commands::store::write_atomically(&path, bytes, self.sync_every_stage)?;
        }
        Ok(name)
    }

    /// A run ended (or parked): its status and report lines (not its results: they are the
    /// outputs), flushed to disk. [`Journal::end`] then [`Journal::flush_through`].
    pub fn finish(&self, report: &RunReport) -> Result<(), CliError> {
        let ticket = self.end(report)?;
        self.flush_through(ticket)
    }

    /// Commits a run's end, as [`Journal::finish`] does, without waiting for the disk: the
    /// commit survives the process being killed, and [`Journal::flush_through`] with the
    /// returned ticket makes it survive the machine stopping. `stagectl run` prints a job's
    /// result only after that flush, on a thread of its own, so that the job threads go on
    /// with the next jobs meanwhile (one flush then covers the runs of several jobs).
    pub fn end(&self, report: &RunReport) -> Result<Flush, CliError> {
        let lines = serde_json::to_string(&serde_json::json!({
            "pipeline": report.pipeline,
            "pipeline_version": report.pipeline_version,
            "stages": report.stages,
        }))?;
        let conn = self.conn();
        conn.prepare_cached(
            "UPDATE runs SET status = ?2, duration_ms = ?3, report = ?4, updated_at = ?5,
                 lease_owner = NULL, lease_until = NULL WHERE job_id = ?1",
        )?
        .execute(params![
            report.job_id,
            run_status_name(report.status),
            report.duration_ms as i64,
            lines,
            now_ms()
        ])?;
        // Numbered while the connection is held: every commit numbered up to n is in the
        // log's file (in the page cache) once n is taken.
        let ticket = Flush(self.committed.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1);
        drop(conn);
        self.checkpointer.written();
        Ok(ticket)
    }

    /// Makes every run end committed up to `ticket` durable: one `fsync` of the write-ahead
    /// log (`fsync` flushes every written page of a file, whoever wrote it) covers all the
    /// commits made before it began, so a call whose commit an earlier flush covered returns
    /// at once. With `--sync-every-stage` (`synchronous = FULL`) every commit was flushed
    /// already.
    pub fn flush_through(&self, ticket: Flush) -> Result<(), CliError> {
        use std::sync::atomic::Ordering;
        if self.sync_every_stage {
            return Ok(());
        }
        let mut flushed = self.flushed.lock().unwrap_or_else(|p| p.into_inner());
        if flushed.1 >= ticket.0 {
            return Ok(());
        }
        let upto = self.committed.load(Ordering::SeqCst);
        if flushed.0.is_none() {
            // The log exists while this journal's connection is open (SQLite removes it only
            // when the last connection closes), so the file stays the one written.
            let wal = self.store.join(format!("{}-wal", Self::FILE));
            flushed.0 = std::fs::File::options().read(true).open(&wal).ok();
        }
        match &flushed.0 {
            Some(wal) => wal.sync_data()?,
            None => {
                // No log file to flush (it could not be opened): a commit under
                // `synchronous = FULL` flushes the log, earlier commits with it.
                let conn = self.conn();
                conn.pragma_update(None, "synchronous", "FULL")?;
                let synced = conn.execute(
                    "UPDATE runs SET updated_at = updated_at WHERE rowid = (SELECT max(rowid) FROM runs)",
                    [],
                );
                conn.pragma_update(None, "synchronous", "NORMAL")?;
                synced?;
            }
        }
        flushed.1 = flushed.1.max(upto);
        Ok(())
    }

    /// Job `job_id`'s run status and how many stage records it has, when it has a run.
    pub fn load_status(&self, job_id: &str) -> Result<Option<(String, usize)>, CliError> {
        let conn = self.conn();
        let status: Option<String> = conn
            .prepare_cached("SELECT status FROM runs WHERE job_id = ?1")?
            .query_row([job_id], |r| r.get(0))
            .optional()?;
        let Some(status) = status else { return Ok(None) };
        let n: i64 = conn
            .prepare_cached("SELECT COUNT(*) FROM stages WHERE job_id = ?1")?
            .query_row([job_id], |r| r.get(0))?;
        Ok(Some((status, n as usize)))
    }

    /// Every run: job id and status, sorted by job id.
    pub fn list(&self) -> Result<Vec<(String, String)>, CliError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT job_id, status FROM runs ORDER BY job_id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The ids of the runs with status `status`, sorted.
    pub fn with_status(&self, status: &str) -> Result<Vec<String>, CliError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT job_id FROM runs WHERE status = ?1 ORDER BY job_id")?;
        let rows = stmt.query_map([status], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Job `job_id`'s stored run; `Ok(None)` when there is none. A row that cannot be read is
    /// an error naming the job and the reason.
    pub fn load(&self, job_id: &str) -> Result<Option<StoredRun>, CliError> {
        let conn = self.conn();
        let row = conn
            .prepare_cached("SELECT job, pipeline_path, fingerprint, status, report, duration_ms FROM runs WHERE job_id = ?1")?
            .query_row([job_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                ))
            })
            .optional()?;
        let Some((job, pipeline_path, fingerprint, status, report, duration_ms)) = row else {
            return Ok(None);
        };
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            format!("job `{job_id}`: its stored {what} is unreadable: {e}")
        };
        let job: Job = serde_json::from_str(&job).map_err(|e| bad("job", &e))?;
        let fingerprint: Fingerprint =
            serde_json::from_str(&fingerprint).map_err(|e| bad("fingerprint", &e))?;
        let report: Option<serde_json::Value> = match report {
            Some(r) => Some(serde_json::from_str(&r).map_err(|e| bad("report", &e))?),
            None => None,
        };
        let report = report.map(|mut r| {
            r["duration_ms"] = duration_ms.unwrap_or(0).into();
            r
        });
        let mut stages = Vec::new();
        let mut stmt =
            conn.prepare_cached("SELECT stage, report FROM stages WHERE job_id = ?1 ORDER BY seq")?;
        let rows: Vec<(String, String)> =
            stmt.query_map([job_id], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
        let mut out_stmt = conn.prepare_cached(
            "SELECT key, value, file FROM outputs WHERE job_id = ?1 AND stage = ?2 ORDER BY key",
        )?;
        for (stage, report) in rows {
            let report: StageReport =
                serde_json::from_str(&report).map_err(|e| bad(&format!("record of stage `{stage}`"), &e))?;
            let outs: Vec<(String, Option<Vec<u8>>, Option<String>)> = out_stmt
                .query_map(params![job_id, stage], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?;
            let mut outputs = Vec::with_capacity(outs.len());
            for (key, value, file) in outs {
                let bytes = match (value, file) {
                    (Some(v), _) => v,
                    (None, Some(f)) => std::fs::read(self.store.join(&f))
                        .map_err(|e| bad(&format!("output `{key}` of stage `{stage}` ({f})"), &e))?,
                    (None, None) => {
                        return Err(bad(&format!("output `{key}` of stage `{stage}`"), &"empty").into())
                    }
                };
                outputs.push((key, bytes));
            }
            stages.push(StoredStage { report, outputs });
        }
        Ok(Some(StoredRun {
            job,
            pipeline_path: PathBuf::from(pipeline_path),
            fingerprint,
            status,
            report,
            stages,
        }))
    }
}

/// This machine's name (`/proc/sys/kernel/hostname`), for lease holders' names.
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default()
}

/// Whether a lease holder's name (`<host> pid <pid> #<nanos>`) is a process of this machine
/// that is no longer running.
fn holder_is_dead(owner: &str) -> bool {
    let mut parts = owner.split(' ');
    let (Some(h), Some("pid"), Some(pid)) = (parts.next(), parts.next(), parts.next()) else { return false };
    h == host() && !h.is_empty() && !Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes temporary files that writers which died left in `dir` (`.<name>.tmp<pid>-<n>`):
/// those of processes no longer running.
fn clean_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) =
            name.rsplit_once(".tmp").and_then(|(_, rest)| rest.split('-').next()?.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists();
        if !alive {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

impl StoredRun {
    /// The names of the stages that completed.
    pub fn completed(&self) -> Vec<&str> {
        self.stages
            .iter()
            .filter(|s| s.report.status == StageStatus::Completed)
            .map(|s| s.report.name.as_str())
            .collect()
    }

    /// The run's state, its outputs decoded through `plan`'s stages' metadata.
    pub fn restore(&self, plan: &Plan) -> Result<RunState, CliError> {
        let mut restored = Vec::with_capacity(self.stages.len());
        for s in &self.stages {
            let name = &s.report.name;
            let stage = plan
                .stage_index(name)
                .map(|i| &plan.stages[i])
                .ok_or_else(|| format!("stage `{name}` is not in pipeline `{}`", plan.pipeline.name))?;
            let keys = stage.keys();
            let types = stage.meta.outputs();
            let (mut written, mut raw) = (Vec::new(), None);
            for (key, bytes) in &s.outputs {
                let pos = if key.is_empty() { Some(0) } else { keys.iter().position(|k| k == key) };
                let ty = pos
                    .and_then(|p| types.get(p))
                    .ok_or_else(|| format!("stage `{name}` no longer writes `{key}` (it writes {keys:?})"))?;
                let value = decode(ty, bytes).map_err(|e| format!("stage `{name}`, key `{key}`: {e}"))?;
                if key.is_empty() {
                    raw = Some(value);
                } else {
                    written.push((key.clone(), value));
                }
            }
            restored.push(RestoredStage {
                name: name.clone(),
                status: s.report.status,
                report: Some(s.report.clone()),
                written,
                raw,
            });
        }
        Ok(RunState::restore(self.job.clone(), plan, restored)?)
    }
}

impl Checkpoint for Journal {
    fn started(&self, plan: &Plan, state: &RunState) {
        if let Err(e) = self.start(plan, state) {
            tracing::error!(job = %state.job.job_id, "journal: could not record the run's start: {e}");
        }
    }

    fn checkpoint(&self, _plan: &Plan, state: &RunState, stage: &str) {
        if let Err(e) = self.append(state, stage) {
            tracing::error!(job = %state.job.job_id, stage, "journal: could not record the stage: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    fn report(job_id: &str) -> RunReport {
        serde_json::from_value(serde_json::json!({
            "pipeline": "p", "pipeline_version": "1", "pipeline_path": null, "job_id": job_id,
            "status": "completed", "stages": [], "results": {}, "duration_ms": 1
        }))
        .unwrap()
    }

    #[test]
    fn an_end_is_committed_at_once_and_flushed_through_its_ticket() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path(), false).unwrap();
        let status = |job: &str| -> Option<String> {
            // Another connection: sees what is committed, flushed or not.
            let conn = Connection::open(dir.path().join(Journal::FILE)).unwrap();
            conn.query_row("SELECT status FROM runs WHERE job_id = ?1", [job], |r| r.get(0))
                .optional()
                .unwrap()
        };
        let start_without_plan = |job: &str| {
            journal
                .conn()
                .execute(
                    "INSERT INTO runs (job_id, pipeline_path, fingerprint, status, job, updated_at)
                     VALUES (?1, 'p.yaml', '{}', 'running', '{}', 0)",
                    [job],
                )
                .unwrap();
        };
        start_without_plan("a");
        start_without_plan("b");
        let first = journal.end(&report("a")).unwrap();
        let second = journal.end(&report("b")).unwrap();
        assert!(first < second, "tickets are numbered in commit order");
        assert_eq!(status("a").as_deref(), Some("completed"), "committed before any flush");
        assert_eq!(journal.flushed.lock().unwrap().1, 0, "`end` does not wait for the disk");
        journal.flush_through(second).unwrap();
        assert_eq!(journal.flushed.lock().unwrap().1, 2, "one flush covers both ends");
        // Covered already: returns without flushing again.
        journal.flush_through(first).unwrap();
        assert_eq!(journal.flushed.lock().unwrap().1, 2);
    }

    #[test]
    fn runs_ending_together_are_each_flushed_before_finish_returns() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::shared(dir.path(), false).unwrap();
        assert!(Arc::ptr_eq(&journal, &Journal::shared(dir.path(), false).unwrap()), "one per store");
        assert!(
            !Arc::ptr_eq(&journal, &Journal::shared(dir.path(), true).unwrap()),
            "a journal that does not sync every stage is not handed to one that must"
        );
        std::thread::scope(|s| {
            for t in 0..4 {
                let journal = &journal;
                s.spawn(move || {
                    for i in 0..25 {
                        journal.finish(&report(&format!("j{t}-{i}"))).unwrap();
                        // When `finish` returns, a flush covering this commit has ended: the
                        // flushed number is at least the commits this thread has made.
                        assert!(journal.flushed.lock().unwrap().1 > i);
                    }
                });
            }
        });
        let committed = journal.committed.load(Ordering::SeqCst);
        assert_eq!(committed, 100);
        let flushed = journal.flushed.lock().unwrap();
        assert_eq!(flushed.1, committed, "every commit flushed");
        assert!(flushed.0.is_some(), "the write-ahead log is what is flushed");
    }
}
