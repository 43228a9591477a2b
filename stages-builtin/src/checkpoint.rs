//! Write-ahead-log checkpoints off the writers' path.
//!
//! A SQLite database in WAL mode appends every commit to `<file>-wal`; a *checkpoint* copies
//! the logged pages back into the database file, and under `synchronous = NORMAL` (or `FULL`)
//! it `fsync`s the log first and the database after. By default the connection whose commit
//! pushed the log past 1,000 pages runs the checkpoint inside that commit: with the store on
//! disk the writer then waits for the disk. Measured on a 700-job batch of the README pipeline,
//! every block of the job threads was such an `fsync` (`perf` `sched_switch`, state `D`), while
//! the CPUs idled half of the run.
//!
//! A [`Checkpointer`] runs those checkpoints on a thread of its own (started by the first
//! write, so a process that only reads has none), with a connection of its own, every
//! [`Checkpointer::INTERVAL`] (`PRAGMA wal_checkpoint(PASSIVE)`: it copies what no
//! reader still needs and waits for no lock; one with nothing to copy costs a read of the
//! log's index and no `fsync`). The writers' own threshold is raised to
//! [`Checkpointer::WRITER_PAGES`], so that a checkpointer falling behind (a slow disk, a
//! reader holding an old snapshot) still bounds the log: a writer then checkpoints itself,
//! as before. Nothing about durability changes: the same checkpoints, with the same
//! `fsync`s, run in another thread.
//!
//! [`crate::store::Store`] and [`crate::ledger::SqliteLedger`] keep one for their file (not
//! for in-memory databases); `stagectl`'s run journal keeps one for `journal.sqlite`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// Checkpoints one database's write-ahead log in the background, from its first write until
/// dropped (module docs). A process that only reads never starts the thread.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use stages_builtin::checkpoint::Checkpointer;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("data.sqlite");
/// let writer = rusqlite::Connection::open(&path)?;
/// writer.pragma_update(None, "journal_mode", "WAL")?;
/// Checkpointer::configure_writer(&writer)?;
/// let checkpointer = Checkpointer::new(&path);
/// writer.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")?;
/// checkpointer.written(); // the first write starts the thread
/// drop(checkpointer); // stops it (after the checkpoint under way, if any)
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Checkpointer {
    path: PathBuf,
    stop: Arc<(Mutex<bool>, Condvar)>,
    /// Set by the first [`Checkpointer::written`]: the thread, or `None` when none could start.
    thread: OnceLock<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    /// How often the log is checkpointed.
    pub const INTERVAL: Duration = Duration::from_millis(100);

    /// The writers' own checkpoint threshold, in pages of the log (32 MB of 4 KB pages):
    /// reached only when the checkpointer falls behind.
    pub const WRITER_PAGES: i64 = 8_192;

    /// Sets a writing connection's checkpoint threshold to [`Checkpointer::WRITER_PAGES`]
    /// (`PRAGMA wal_autocheckpoint`), leaving the checkpoints to a [`Checkpointer`].
    pub fn configure_writer(conn: &Connection) -> rusqlite::Result<()> {
        conn.pragma_update(None, "wal_autocheckpoint", Self::WRITER_PAGES)
    }

    /// A checkpointer for the database at `path` (in WAL mode), started by the first
    /// [`Checkpointer::written`].
    pub fn new(path: &Path) -> Checkpointer {
        Checkpointer {
            path: path.to_owned(),
            stop: Arc::new((Mutex::new(false), Condvar::new())),
            thread: OnceLock::new(),
        }
    }

    /// Says that a commit was made: the first call starts the thread (named `wal-checkpoint`),
    /// which opens a connection of its own; later calls cost an atomic load. When the thread or
    /// its connection cannot start, a warning is logged and the writers checkpoint the log
    /// themselves, past [`Checkpointer::WRITER_PAGES`].
    pub fn written(&self) {
        self.thread.get_or_init(|| {
            let signal = self.stop.clone();
            let path = self.path.clone();
            std::thread::Builder::new()
                .name("wal-checkpoint".to_owned())
                .spawn(move || run(&path, &signal))
                .map_err(|e| tracing::warn!(database = %self.path.display(), "no checkpoint thread: {e}"))
                .ok()
        });
    }
}

/// Opens a connection to `path`: the checkpoints `fsync` the log and the database, as the
/// writers' would, and its own commits (it makes none) never checkpoint.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(conn)
}

/// The checkpointer's thread: a passive checkpoint every interval until told to stop.
fn run(path: &Path, signal: &(Mutex<bool>, Condvar)) {
    let location = path.display().to_string();
    let conn = match connect(path) {
        Ok(conn) => conn,
        Err(e) => {
            tracing::warn!(database = location, "no checkpoint connection (the writers checkpoint): {e}");
            return;
        }
    };
    let (stop, wake) = signal;
    let mut stopped = stop.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        stopped = wake.wait_timeout(stopped, Checkpointer::INTERVAL).unwrap_or_else(|p| p.into_inner()).0;
        if *stopped {
            return;
        }
        drop(stopped);
        // (busy, frames in the log, frames checkpointed); busy is 1 when a lock stopped it.
        let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        });
        match done {
            Ok((busy, log, copied)) => {
                tracing::trace!(database = location, busy, log, copied, "wal checkpoint")
            }
            // Another connection's checkpoint under way, say: the next interval retries.
            Err(e) => tracing::debug!(database = location, "wal checkpoint: {e}"),
        }
        stopped = stop.lock().unwrap_or_else(|p| p.into_inner());
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (stop, wake) = &*self.stop;
        *stop.lock().unwrap_or_else(|p| p.into_inner()) = true;
        wake.notify_all();
        if let Some(Some(thread)) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// The database file's size (0 when it is missing).
    fn db_len(path: &Path) -> u64 {
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    }

    #[test]
    fn the_log_is_copied_back_without_the_writer_checkpointing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.sqlite");
        let writer = Connection::open(&path).unwrap();
        writer.pragma_update(None, "journal_mode", "WAL").unwrap();
        // The writer never checkpoints: only the checkpointer can copy the log back.
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer.execute_batch("CREATE TABLE t (x BLOB)").unwrap();
        let before = db_len(&path);
        let checkpointer = Checkpointer::new(&path);
        for _ in 0..200 {
            writer.execute("INSERT INTO t VALUES (zeroblob(4000))", []).unwrap();
        }
        assert!(checkpointer.thread.get().is_none(), "no thread before the first write is said");
        checkpointer.written();
        // 200 rows of 4 KB are at least 800 KB in the database file once copied back.
        let deadline = Instant::now() + Duration::from_secs(30);
        while db_len(&path) < before + 800_000 {
            assert!(Instant::now() < deadline, "the log was not checkpointed in 30 s");
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(checkpointer);
        // Stopped: its connection is closed, the writer's is the last (so closing it removes
        // the log), and the rows are all there.
        let n: i64 = writer.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 200);
        drop(writer);
        assert!(!dir.path().join("data.sqlite-wal").exists());
    }

    #[test]
    fn a_writer_keeps_a_bound_of_its_own() {
        let conn = Connection::open_in_memory().unwrap();
        Checkpointer::configure_writer(&conn).unwrap();
        let pages: i64 = conn.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0)).unwrap();
        assert_eq!(pages, Checkpointer::WRITER_PAGES);
    }
}
