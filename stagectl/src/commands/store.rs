//! Files the store writes outside its databases, written atomically.

use std::path::Path;

use crate::CliError;

/// Writes `bytes` to `path` through a temporary file beside it (unique per writer: the
/// process and a counter within it), renamed over `path`, so a reader (or a crash) never sees
/// a torn file; with `sync`, the file is flushed to disk first. On error the temporary file is
/// removed and `path` is left as it was.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8], sync: bool) -> Result<(), CliError> {
    use std::io::Write;
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp{}-{n}", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        if sync {
            f.sync_all()?;
        }
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write {}: {e}", path.display()).into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.bin");
        write_atomically(&p, b"one", false).unwrap();
        write_atomically(&p, b"two", true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let missing = dir.path().join("no/such/dir/x.bin");
        assert!(write_atomically(&missing, b"x", false).unwrap_err().to_string().contains("no/such/dir"));
    }
}
