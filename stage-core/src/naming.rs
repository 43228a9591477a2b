//! The naming rules shared by the runtime and the `#[stage]` macro: what a stage type, a state
//! key and a reserved key are, and the edit distance behind "did you mean" hints.
//!
//! One file, two crates: stage-core compiles it as this module, and stage-derive includes the
//! same file (`#[path = "../../stage-core/src/naming.rs"] mod naming;`, as serde_derive
//! includes serde_derive_internals), so the compile-time checks of `#[stage]`, the registry's
//! start-up checks and the plan's override checks cannot drift apart. It therefore uses only
//! `std` and names nothing else of either crate.

/// Keys every run starts with (contract §2): a stage may not write them.
pub const RESERVED_KEYS: &[&str] = &["context", "adapter_request", "payload", "results", "job_id"];

/// Whether `s` is a valid stage type (`^[A-Za-z0-9_-]+$`).
pub fn is_valid_stage_type(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whether `s` can name a state key: an ASCII identifier (`^[A-Za-z_][A-Za-z0-9_]*$`) other
/// than `_`, which reads as "no name".
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s != "_"
}

/// Edit distance between two strings (Levenshtein, by `char`).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_types_are_ascii_words_and_dashes() {
        assert!(is_valid_stage_type("extract-text"));
        assert!(is_valid_stage_type("a_1"));
        assert!(!is_valid_stage_type(""));
        assert!(!is_valid_stage_type("ext ract"));
        assert!(!is_valid_stage_type("é"));
        assert!(!is_valid_stage_type("@ledger"));
    }

    #[test]
    fn identifiers_refuse_underscore_alone_digits_first_and_non_ascii() {
        assert!(is_identifier("chunks"));
        assert!(is_identifier("_private"));
        assert!(is_identifier("a1_b"));
        assert!(!is_identifier("_"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("1st"));
        assert!(!is_identifier("dash-key"));
        assert!(!is_identifier("clé"));
    }

    #[test]
    fn distance_counts_edits() {
        assert_eq!(edit_distance("state_key", "state_key"), 0);
        assert_eq!(edit_distance("state_kye", "state_key"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("é", "e"), 1);
    }
}
