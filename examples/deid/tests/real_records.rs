//! The masker on real record text (PMC/publisher JATS, ClinicalTrials.gov, OpenAlex, Semantic
//! Scholar).
//!
//! `real_paragraphs_keep_their_non_identifiers` runs on paragraphs copied into
//! `tests/data/real_paragraphs.txt` (each with its source named there) and always runs.
//! `every_real_record_masks_without_panicking` reads every file under the repository's
//! `examples/real-records/` (real public records, see its `SOURCES.md`), or the directory
//! named by `DEID_REAL_RECORDS` (to try other records):
//!
//! ```sh
//! DEID_REAL_RECORDS=/path/to/records cargo test -p deid-plugin --test real_records -- --nocapture
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use deid_plugin::{find, mask, Class, DeidConfig};

/// Strings that must never be inside a mask: measurements, ranges, ordinals, trial ids.
const NEVER_MASKED: &[&str] =
    &["30–40%", "37°C", "≥4-Fold", "19ème", "%", "°", "≥", "≤", "±", "µ", "NCT0", "doi:", "mg/", "p <", "p<"];

/// The text pieces of a record: JSON string values, or the text between XML tags.
fn texts(path: &Path, bytes: &str) -> Vec<String> {
    if path.extension().is_some_and(|e| e == "json") {
        let mut out = Vec::new();
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(bytes) {
            collect_strings(&v, &mut out);
        }
        out
    } else {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut in_tag = false;
        for c in bytes.chars() {
            match c {
                '<' => {
                    in_tag = true;
                    if !cur.trim().is_empty() {
                        out.push(std::mem::take(&mut cur));
                    }
                    cur.clear();
                }
                '>' => in_tag = false,
                c if !in_tag => cur.push(c),
                _ => {}
            }
        }
        if !cur.trim().is_empty() {
            out.push(cur);
        }
        out
    }
}

fn collect_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|e| e == "json" || e == "xml" || e == "nxml") {
            out.push(p);
        }
    }
}

#[test]
fn every_real_record_masks_without_panicking() {
    let dir = std::env::var("DEID_REAL_RECORDS")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../real-records").to_owned());
    let mut paths = Vec::new();
    files(Path::new(&dir), &mut paths);
    assert!(!paths.is_empty(), "{dir}: no .json/.xml/.nxml files");
    let cfg = DeidConfig::default();
    let mut per_class: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let (mut pieces, mut chars) = (0usize, 0usize);
    for path in &paths {
        let raw = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for text in texts(path, &raw) {
            pieces += 1;
            chars += text.chars().count();
            let spans = find(&text, &cfg);
            let out = mask(&text, &cfg);
            for s in &spans {
                let piece = &text[s.start..s.end];
                for never in NEVER_MASKED {
                    assert!(!piece.contains(never), "{}: masked {piece:?} as {:?}", path.display(), s.class);
                }
                per_class.entry(s.class.label()).or_default().push(format!("{}: {piece:?}", path.display()));
            }
            for never in NEVER_MASKED {
                assert_eq!(
                    text.matches(never).count(),
                    out.matches(never).count(),
                    "{}: {never:?}",
                    path.display()
                );
            }
        }
    }
    eprintln!("{} files, {pieces} text pieces, {chars} characters", paths.len());
    for (class, hits) in &per_class {
        eprintln!("{class}: {}", hits.len());
        for h in hits {
            eprintln!("    {h}");
        }
    }
    let _ = Class::ALL;
}

/// One block of `tests/data/real_paragraphs.txt`.
struct Block {
    source: String,
    text: String,
    expected: Vec<String>,
}

fn blocks(file: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut cur: Option<(String, Vec<&str>)> = None;
    for line in file.lines() {
        if let Some(src) = line.strip_prefix("## ") {
            cur = Some((src.to_owned(), Vec::new()));
        } else if let Some(exp) = line.strip_prefix("=> ") {
            let (source, lines) =
                cur.take().unwrap_or_else(|| panic!("real_paragraphs.txt: `=> {exp}` outside a block"));
            let expected =
                if exp == "none" { Vec::new() } else { exp.split(" | ").map(str::to_owned).collect() };
            out.push(Block { source, text: lines.join("\n"), expected });
        } else if let Some((_, lines)) = cur.as_mut() {
            lines.push(line);
        }
    }
    out
}

#[test]
fn real_paragraphs_keep_their_non_identifiers() {
    let file = include_str!("data/real_paragraphs.txt");
    let blocks = blocks(file);
    assert_eq!(blocks.len(), 9, "blocks in tests/data/real_paragraphs.txt");
    let cfg = DeidConfig::default();
    let mut problems = Vec::new();
    for b in &blocks {
        let out = mask(&b.text, &cfg);
        for never in NEVER_MASKED {
            assert_eq!(
                b.text.matches(never).count(),
                out.matches(never).count(),
                "{}: {never:?} masked",
                b.source
            );
        }
        let found: Vec<String> = find(&b.text, &cfg)
            .iter()
            .map(|s| format!("{} {:?}", s.class.label(), &b.text[s.start..s.end]))
            .collect();
        if found != b.expected {
            problems.push(format!(
                "{}\n  expected {:?}\n  found    {}",
                b.source,
                b.expected,
                found.join(" | ")
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
