//! A third-party plugin crate: the `deidentify` stage masks personal identifiers in chunks
//! before they are embedded and indexed.
//!
//! It depends on `stage-core` (and on `stages-builtin` for the `Chunk` type it reads). Linking
//! it is all it takes to add the stage to a host: `use deid_plugin as _;`.
//!
//! What is masked, by pattern (documented, deliberately conservative):
//! - e-mail addresses → `[EMAIL]`;
//! - phone numbers (7 or more digits, with spaces, dots, dashes or parentheses; a leading `+`)
//!   → `[PHONE]`;
//! - dates written `YYYY-MM-DD`, `DD/MM/YYYY` or `MM/DD/YYYY` → `[DATE]`;
//! - medical record numbers: `MRN` followed by digits → `[MRN]`;
//! - a capitalised name after a title (`Dr.`, `Mr.`, `Mrs.`, `Ms.`, `Patient`) → `[NAME]`.

use serde::{Deserialize, Serialize};
use stage_core::stage;
use stages_builtin::Chunk;

/// Which identifiers to mask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeidConfig {
    /// Mask e-mail addresses.
    pub emails: bool,
    /// Mask phone numbers.
    pub phones: bool,
    /// Mask dates.
    pub dates: bool,
    /// Mask medical record numbers.
    pub record_numbers: bool,
    /// Mask names after titles.
    pub names: bool,
}

impl Default for DeidConfig {
    fn default() -> Self {
        DeidConfig { emails: true, phones: true, dates: true, record_numbers: true, names: true }
    }
}

/// Masks personal identifiers (e-mails, phones, dates, record numbers, titled names) in chunks.
#[stage(type = "deidentify", state_key = "chunks", dependencies = ["chunk"])]
pub fn deidentify(chunks: &Vec<Chunk>, #[config] cfg: &DeidConfig) -> Vec<Chunk> {
    chunks.iter().map(|c| Chunk { text: mask(&c.text, cfg), ..c.clone() }).collect()
}

/// Masks the identifiers `cfg` selects in `text`.
pub fn mask(text: &str, cfg: &DeidConfig) -> String {
    let words: Vec<&str> = text.split(' ').collect();
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        let word = words[i];
        let (core, trail) = split_trailing_punct(word);
        let masked = if cfg.emails && is_email(core) {
            Some("[EMAIL]")
        } else if cfg.dates && is_date(core) {
            Some("[DATE]")
        } else if cfg.record_numbers && core.eq_ignore_ascii_case("MRN") {
            if let Some(next) = words
                .get(i + 1)
                .filter(|w| split_trailing_punct(w).0.chars().all(|c| c.is_ascii_digit() || c == ':'))
            {
                let (_, t) = split_trailing_punct(next);
                out.push(format!("[MRN]{t}"));
                i += 2;
                continue;
            }
            None
        } else if cfg.record_numbers
            && core.len() > 3
            && core[..3].eq_ignore_ascii_case("MRN")
            && core[3..].trim_start_matches(':').chars().all(|c| c.is_ascii_digit())
            && core.len() > 4
        {
            Some("[MRN]")
        } else if cfg.phones && is_phone(core) && !is_date(core) {
            Some("[PHONE]")
        } else {
            None
        };
        match masked {
            Some(m) => out.push(format!("{m}{trail}")),
            None => out.push(word.to_owned()),
        }
        if cfg.names && is_title(core) {
            if let Some(next) = words.get(i + 1) {
                let (name, t) = split_trailing_punct(next);
                if name.chars().next().is_some_and(char::is_uppercase)
                    && name.chars().all(|c| c.is_alphabetic() || c == '-' || c == '\'')
                {
                    out.push(format!("[NAME]{t}"));
                    i += 2;
                    continue;
                }
            }
        }
        i += 1;
    }
    out.join(" ")
}

fn split_trailing_punct(word: &str) -> (&str, &str) {
    let end = word.trim_end_matches([',', ';', ')', '.', '!', '?']).len();
    // Keep a title's own dot ("Dr.") in the word.
    let core = &word[..end];
    if is_title(&word[..(end + 1).min(word.len())]) && word[end..].starts_with('.') {
        return word.split_at(end + 1);
    }
    (core, &word[end..])
}

fn is_title(word: &str) -> bool {
    matches!(word, "Dr." | "Mr." | "Mrs." | "Ms." | "Patient" | "patient")
}

fn is_email(word: &str) -> bool {
    let Some((user, domain)) = word.split_once('@') else { return false };
    !user.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && word.chars().all(|c| c.is_ascii_alphanumeric() || "@._%+-".contains(c))
}

fn is_date(word: &str) -> bool {
    let digits = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_digit());
    let parts: Vec<&str> = word.split(['-', '/']).collect();
    match parts.as_slice() {
        [y, m, d] if word.contains('-') => digits(y, 4) && digits(m, 2) && digits(d, 2),
        [a, b, y] if word.contains('/') => {
            (digits(a, 2) || digits(a, 1)) && (digits(b, 2) || digits(b, 1)) && digits(y, 4)
        }
        _ => false,
    }
}

fn is_phone(word: &str) -> bool {
    let digits = word.chars().filter(char::is_ascii_digit).count();
    digits >= 7
        && word.chars().all(|c| c.is_ascii_digit() || "+-.() ".contains(c))
        && word.chars().filter(|c| !c.is_ascii_digit()).count() >= 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_each_kind_of_identifier() {
        let cfg = DeidConfig::default();
        assert_eq!(
            mask("Contact Dr. Smith at jane.smith@example.org or +1-555-123-4567.", &cfg),
            "Contact Dr. [NAME] at [EMAIL] or [PHONE]."
        );
        assert_eq!(
            mask("Seen on 2024-03-15, MRN 0042317, again 03/04/2024.", &cfg),
            "Seen on [DATE], [MRN], again [DATE]."
        );
        assert_eq!(mask("Patient Alvarez, MRN:99812", &cfg), "Patient [NAME], [MRN]");
        assert_eq!(
            mask("Metformin reduces HbA1c by 1.2% in 300 patients.", &cfg),
            "Metformin reduces HbA1c by 1.2% in 300 patients."
        );
    }

    #[test]
    fn the_config_turns_kinds_off() {
        let cfg = DeidConfig { emails: false, ..DeidConfig::default() };
        assert_eq!(mask("Write to a@b.org on 2024-01-01", &cfg), "Write to a@b.org on [DATE]");
        // A date left unmasked is not taken for a phone number.
        let cfg = DeidConfig { dates: false, ..DeidConfig::default() };
        assert_eq!(mask("Seen 2024-01-01, call 555-123-4567", &cfg), "Seen 2024-01-01, call [PHONE]");
    }
}
