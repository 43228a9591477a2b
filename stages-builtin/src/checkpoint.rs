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
//! A [`Checkpointer`] runs those checkpoints on a thread of its own, with a connection of its
//! own, every [`Checkpointer::INTERVAL`] (`PRAGMA wal_checkpoint(PASSIVE)`: it copies what no
//! reader still needs and waits for no lock; one with nothing to copy costs a read of the
//! log's index and no `fsync`). The writers' own threshold is raised to
//! [`Checkpointer::WRITER_PAGES`], so that a checkpointer falling behind (a slow disk, a
//! reader holding an old snapshot) still bounds the log: a writer then checkpoints itself,
//! as before. Nothing about durability changes: the same checkpoints, with the same
//! `fsync`s, run in another thread.
//!
//! [`crate::store::Store`] and [`crate::ledger::SqliteLedger`] start one for their file
//! (not for in-memory databases); `stagectl`'s run journal starts one for `journal.sqlite`.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// Checkpoints one database's write-ahead log in the background until dropped (module
/// docs).
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
/// let checkpointer = Checkpointer::start(&path)?;
/// writer.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")?;
/// drop(checkpointer); // stops the thread (after the checkpoint under way, if any)
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
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

    /// Starts checkpointing the database at `path` (in WAL mode) with a connection of its own,
    /// on a thread named `wal-checkpoint`. When no thread can be started, it logs a warning and
    /// the writers checkpoint the log themselves, past [`Checkpointer::WRITER_PAGES`].
    pub fn start(path: &Path) -> rusqlite::Result<Checkpointer> {
        let conn = Connection::open(path)?;
        // The checkpoints `fsync` the log and the database, as the writers' would.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // This connection's own commits never checkpoint (it makes none).
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = stop.clone();
        let location = path.display().to_string();
        let thread = std::thread::Builder::new()
            .name("wal-checkpoint".to_owned())
            .spawn(move || run(&conn, &signal, &location))
            .map_err(|e| tracing::warn!(database = %path.display(), "no checkpoint thread: {e}"))
            .ok();
        Ok(Checkpointer { stop, thread })
    }
}

/// The checkpointer's loop: a passive checkpoint every interval until told to stop.
fn run(conn: &Connection, signal: &(Mutex<bool>, Condvar), location: &str) {
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
        if let Some(thread) = self.thread.take() {
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
        let checkpointer = Checkpointer::start(&path).unwrap();
        for _ in 0..200 {
            writer.execute("INSERT INTO t VALUES (zeroblob(4000))", []).unwrap();
        }
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
