//! Nearest-name hints for the macro's errors, on stage-core's edit distance (`naming.rs`).

use crate::naming::edit_distance;

/// The nearest of `candidates` to `name`, when it is close enough to be a typo.
pub(crate) fn nearest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(name, c), *c))
        .filter(|(d, c)| *d <= (name.len().max(c.len()) / 3).max(1) || c.contains(name) && !name.is_empty())
        .min()
        .map(|(_, c)| c)
}
