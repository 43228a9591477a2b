//! The JATS (PMC) adapter on an arbitrary XML file: the bytes are written to `pmc/x.xml` in a
//! temporary data directory and read through `PmcAdapter::fetch`, as the `ingest` stage does.
//!
//! Must hold: no panic (and no stack overflow: nesting is bounded by `MAX_XML_DEPTH`); the
//! fetch succeeds (a bad file is a skipped record, not an error); every skipped record names
//! the file, which record and a one-line reason; every record has an id and the `pmc` source;
//! reading the same file twice gives the same result.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use stages_builtin::ingest::{Adapter, AdapterRequest, PmcAdapter, RecordOrSkip};

/// The data directory, created once per process and removed at exit by the OS's temp cleaner
/// (libFuzzer exits without running destructors).
fn data_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::Builder::new().prefix("stage-fuzz-jats-").tempdir().expect("a temp dir").keep();
        std::fs::create_dir_all(dir.join("pmc")).expect("the pmc folder");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = data_dir();
    std::fs::write(dir.join("pmc/x.xml"), data).expect("write the input");
    let request = AdapterRequest::new("pmc", dir.as_path());
    let fetched = PmcAdapter.fetch(&request);
    let again = PmcAdapter.fetch(&request);
    assert_eq!(format!("{fetched:?}"), format!("{again:?}"), "reading twice differs");
    let items = match fetched {
        Ok(items) => items,
        Err(e) => panic!("a malformed file failed the fetch instead of being skipped: {e}"),
    };
    assert!(!items.is_empty(), "the file gave neither a record nor a skip");
    for item in items {
        match item {
            RecordOrSkip::Record(r) => {
                assert!(!r.id.trim().is_empty(), "a record without an id: {r:?}");
                assert_eq!(r.source, "pmc", "{r:?}");
            }
            RecordOrSkip::Skip(m) => {
                assert_eq!(m.file, "pmc/x.xml", "{m:?}");
                assert!(!m.record.trim().is_empty(), "a skip that names no record: {m:?}");
                assert!(!m.reason.trim().is_empty(), "a skip without a reason: {m:?}");
                assert!(!m.reason.contains(['\n', '\r']), "a reason that spans lines: {m:?}");
            }
        }
    }
});
