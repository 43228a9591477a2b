//! Reads in the ingest data directory never leave it: symbolic links to files or folders
//! outside are refused (named in a request) or skipped (met while listing a folder); links
//! that stay inside are followed; `..` and absolute paths are refused.

#![cfg(unix)]

use std::os::unix::fs::symlink;
use std::path::Path;

use stages_builtin::ingest::{adapter_for_source, AdapterError, AdapterRequest, RecordOrSkip};

fn write_record(dir: &Path, file: &str, id: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(file), format!("{{\"id\": \"{id}\", \"title\": \"Title {id}\"}}\n")).unwrap();
}

fn ids(r: Result<Vec<RecordOrSkip>, AdapterError>) -> Vec<String> {
    let mut out: Vec<String> = r
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .filter_map(|r| match r {
            RecordOrSkip::Record(r) => Some(r.id),
            RecordOrSkip::Skip(_) => None,
        })
        .collect();
    out.sort();
    out
}

fn fetch(data: &Path, params: &[(&str, &str)]) -> Result<Vec<RecordOrSkip>, AdapterError> {
    let mut req = AdapterRequest::new("file", data);
    for (k, v) in params {
        req = req.with_param(k, *v);
    }
    adapter_for_source("file").unwrap().fetch(&req)
}

/// A data directory with `file/in.json`, and a secret directory beside it.
fn setup() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let secret = tmp.path().join("secret");
    write_record(&data.join("file"), "in.json", "inside");
    write_record(&secret, "secret.json", "secret");
    (tmp, data, secret)
}

#[test]
fn a_symlinked_file_pointing_outside_is_skipped_when_listing_and_refused_when_named() {
    let (_tmp, data, secret) = setup();
    symlink(secret.join("secret.json"), data.join("file/leak.json")).unwrap();
    // Listing the folder: the outside link is skipped (with a warning), the rest is read.
    assert_eq!(ids(fetch(&data, &[])), ["inside"]);
    // Naming it, by path or by id: refused, saying why.
    for params in [[("path", "file/leak.json")], [("id", "leak")]] {
        let e = fetch(&data, &params).unwrap_err();
        assert!(matches!(e, AdapterError::Request(_)), "{params:?}: {e}");
        assert!(
            e.to_string().contains("`file/leak.json` leads outside the data directory (to `"),
            "{params:?}: {e}"
        );
        assert!(e.to_string().contains("through a symbolic link), refused"), "{params:?}: {e}");
    }
}

#[test]
fn a_symlinked_directory_pointing_outside_is_refused() {
    let (_tmp, data, secret) = setup();
    // A subfolder named by `path`.
    symlink(&secret, data.join("file/sub")).unwrap();
    let e = fetch(&data, &[("path", "file/sub")]).unwrap_err();
    assert!(e.to_string().contains("`file/sub` leads outside the data directory"), "{e}");
    // The adapter's folder itself.
    let other = data.parent().unwrap().join("data2");
    std::fs::create_dir_all(&other).unwrap();
    symlink(&secret, other.join("file")).unwrap();
    let e = fetch(&other, &[]).unwrap_err();
    assert!(e.to_string().contains("`file` leads outside the data directory"), "{e}");
}

#[test]
fn links_inside_the_data_directory_are_followed() {
    let (_tmp, data, _secret) = setup();
    write_record(&data.join("shared"), "shared.json", "shared");
    symlink(data.join("shared/shared.json"), data.join("file/alias.json")).unwrap();
    assert_eq!(ids(fetch(&data, &[])), ["inside", "shared"]);
    // The data directory itself may be a link.
    let link = data.parent().unwrap().join("data-link");
    symlink(&data, &link).unwrap();
    assert_eq!(ids(fetch(&link, &[])), ["inside", "shared"]);
}

#[test]
fn dotdot_and_absolute_paths_are_refused() {
    let (_tmp, data, _secret) = setup();
    for bad in ["../secret/secret.json", "/etc/passwd", "file/../../secret"] {
        let e = fetch(&data, &[("path", bad)]).unwrap_err();
        assert!(matches!(e, AdapterError::Request(_)), "{bad}: {e}");
        assert!(e.to_string().contains("must be relative to the data directory, without `..`"), "{bad}: {e}");
    }
}
