//! A third-party plugin crate: the `deidentify` stage masks personal identifiers in chunks
//! before they are embedded and indexed.
//!
//! It depends on `stage-core` and on `stage-types` for the `Chunk` type it reads (the shared
//! state types, without the built-in stages' SQLite, TLS and XML: the plugin builds with about
//! 30 crates; `tests/deps.rs` keeps it at most 40). Linking
//! it is all it takes to add the stage to a host: `use deid_plugin as _;`.
//!
//! Each identifier found is replaced by the placeholder of its class; everything else is
//! kept byte for byte:
//!
//! | class | placeholder | what (details in the modules' docs and `README.md`) |
//! |---|---|---|
//! | [`Class::Name`] | `[NAME]` | names after a title (kept: `Dr. [NAME]`), a label, `signed by`, a relative, before a credential (`[NAME], MD`), starting with a common given name, joined to a found name by `and`/`or`; then their words elsewhere in the text |
//! | [`Class::Record`] | `[MRN]` | medical record, account, SSN, NHS, member, ... numbers after their cue (cue included), and `123-45-6789` |
//! | [`Class::Address`] | `[ADDRESS]` | house number + street name + suffix, with direction, unit and `City, ST 12345`; `PO Box`; `City, ST 12345` |
//! | [`Class::Phone`] | `[PHONE]` | `+` international, North American, `0…` national numbers, any 7–15 digits after `phone`/`tel`/`call`/`fax`...; extensions |
//! | [`Class::Date`] | `[DATE]` | `2024-03-15`, `15/03/2024`, `3/15/24`, `03/2024`, `15 March 2024`, `March 15, 2024`, `Mar 15`, `March 2024` |
//! | [`Class::Email`] | `[EMAIL]` | `local@domain.tld` |
//!
//! Not masked, on purpose: years on their own (citations, study years), a citation's
//! `2020 Mar 4;`, percentages and ranges (`30–40%`), temperatures (`37°C`), p-values, doses
//! and lab values, trial ids (`NCT01234567`), DOIs, eponyms (`Parkinson disease`).
//!
//! The masking works on characters, never splits one, cannot panic on any `&str`, and takes
//! time linear in the text (each detector looks a bounded number of tokens ahead). The
//! crate's `README.md` has the full rules, their limits and the measured precision and recall.
//!
//! ```
//! use deid_plugin::{mask, DeidConfig};
//!
//! let cfg = DeidConfig::default();
//! assert_eq!(
//!     mask("Dr. Jane Q. Doe saw Mr. John Smith (MRN 4471234) on 15 March 2024 at 37°C.", &cfg),
//!     "Dr. [NAME] saw Mr. [NAME] ([MRN]) on [DATE] at 37°C."
//! );
//! ```

mod address;
mod contact;
mod dates;
mod lexicon;
mod names;
mod records;
mod text;

use serde::{Deserialize, Serialize};
use stage_core::stage;
use stage_types::Chunk;

use crate::text::Text;

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
    /// Mask medical record and other record numbers.
    pub record_numbers: bool,
    /// Mask person names.
    pub names: bool,
    /// Mask street addresses.
    pub addresses: bool,
}

impl Default for DeidConfig {
    fn default() -> Self {
        DeidConfig {
            emails: true,
            phones: true,
            dates: true,
            record_numbers: true,
            names: true,
            addresses: true,
        }
    }
}

impl DeidConfig {
    /// Whether `class` is masked.
    pub fn masks(&self, class: Class) -> bool {
        match class {
            Class::Name => self.names,
            Class::Record => self.record_numbers,
            Class::Address => self.addresses,
            Class::Phone => self.phones,
            Class::Date => self.dates,
            Class::Email => self.emails,
        }
    }
}

/// A class of identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// A person's name.
    Name,
    /// A medical record, account, social security or other record number.
    Record,
    /// A street address.
    Address,
    /// A phone or fax number.
    Phone,
    /// A date.
    Date,
    /// An e-mail address.
    Email,
}

impl Class {
    /// Every class.
    pub const ALL: [Class; 6] =
        [Class::Name, Class::Record, Class::Address, Class::Phone, Class::Date, Class::Email];

    /// The text that replaces an identifier of this class.
    pub fn placeholder(self) -> &'static str {
        match self {
            Class::Name => "[NAME]",
            Class::Record => "[MRN]",
            Class::Address => "[ADDRESS]",
            Class::Phone => "[PHONE]",
            Class::Date => "[DATE]",
            Class::Email => "[EMAIL]",
        }
    }

    /// The class's label, as in a placeholder without brackets (`NAME`, `MRN`, ...).
    pub fn label(self) -> &'static str {
        let p = self.placeholder();
        &p[1..p.len() - 1]
    }

    /// The class with label `label`, if any.
    pub fn from_label(label: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.label() == label)
    }
}

/// An identifier found in a text: bytes `start..end` (both on char boundaries) of class `class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
    /// What it is.
    pub class: Class,
}

/// A detector's candidate: characters `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cand {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) class: Class,
}

/// Masks personal identifiers (names, record numbers, addresses, phones, dates, e-mails) in
/// chunks.
#[stage(type = "deidentify", state_key = "chunks", dependencies = ["chunk"])]
pub fn deidentify(chunks: &Vec<Chunk>, #[config] cfg: &DeidConfig) -> Vec<Chunk> {
    let mut masked = 0usize;
    let out: Vec<Chunk> = chunks
        .iter()
        .map(|c| {
            let spans = find(&c.text, cfg);
            masked += spans.len();
            Chunk { text: apply(&c.text, &spans), ..c.clone() }
        })
        .collect();
    tracing::debug!(chunks = out.len(), masked, "deidentify: identifiers masked");
    out
}

/// The identifiers `cfg` selects in `text`: sorted, non-overlapping, non-empty, on char
/// boundaries.
///
/// ```
/// use deid_plugin::{find, Class, DeidConfig};
///
/// let spans = find("Call 555-123-4567.", &DeidConfig::default());
/// assert_eq!((spans[0].start, spans[0].end, spans[0].class), (5, 17, Class::Phone));
/// ```
pub fn find(text: &str, cfg: &DeidConfig) -> Vec<Span> {
    if !Class::ALL.iter().any(|&c| cfg.masks(c)) || text.is_empty() {
        return Vec::new();
    }
    let t = Text::new(text);
    let mut cands = Vec::new();
    if cfg.emails {
        contact::emails(&t, &mut cands);
    }
    if cfg.record_numbers {
        records::records(&t, &mut cands);
    }
    if cfg.dates {
        dates::dates(&t, &mut cands);
    }
    if cfg.phones {
        contact::phones(&t, &mut cands);
    }
    if cfg.addresses {
        address::addresses(&t, &mut cands);
    }
    if cfg.names {
        names::names(&t, &mut cands);
    }
    resolve(&t, cands)
}

/// Keeps the earliest-starting, then longest, then highest-priority (lowest [`Class`])
/// candidate among overlapping ones, and turns character positions into byte offsets.
fn resolve(t: &Text<'_>, mut cands: Vec<Cand>) -> Vec<Span> {
    cands.retain(|c| c.start < c.end && c.end <= t.len());
    cands.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)).then(a.class.cmp(&b.class)));
    let mut out: Vec<Span> = Vec::with_capacity(cands.len());
    let mut last_end = 0;
    for c in cands {
        if c.start < last_end {
            continue;
        }
        last_end = c.end;
        out.push(Span { start: t.byte(c.start), end: t.byte(c.end), class: c.class });
    }
    out
}

/// `text` with each of `spans` (sorted, non-overlapping, on char boundaries, as [`find`]
/// returns them) replaced by its placeholder. A span that is out of order or not on char
/// boundaries is skipped, not a panic.
pub fn apply(text: &str, spans: &[Span]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut prev = 0;
    for s in spans {
        if s.start < prev || s.end < s.start || text.get(s.start..s.end).is_none() {
            continue;
        }
        out.push_str(text.get(prev..s.start).unwrap_or(""));
        out.push_str(s.class.placeholder());
        prev = s.end;
    }
    out.push_str(text.get(prev..).unwrap_or(""));
    out
}

/// Masks the identifiers `cfg` selects in `text`.
///
/// ```
/// use deid_plugin::{mask, DeidConfig};
///
/// let cfg = DeidConfig::default();
/// assert_eq!(
///     mask("Jane Doe, MD, 12 Oak Street, Springfield, IL 62704; jane@example.org", &cfg),
///     "[NAME], MD, [ADDRESS]; [EMAIL]"
/// );
/// assert_eq!(mask("Fever 38.5 °C in 30–40% (≥4-fold), NCT01234567", &cfg), "Fever 38.5 °C in 30–40% (≥4-fold), NCT01234567");
/// ```
pub fn mask(text: &str, cfg: &DeidConfig) -> String {
    apply(text, &find(text, cfg))
}

#[cfg(test)]
mod tests;
