//! `ir-validation`: checks a [`Document`] before it is chunked, embedded and indexed.
//!
//! What a document needs: a non-empty id and a non-empty title; no paragraph longer than
//! `max_paragraph_chars` characters (default 100,000); no control characters other than `\n`
//! and `\t` in the title, section titles or paragraphs; and, only with `require_body: true`, at
//! least one section with a non-empty paragraph. A document with a title and no body (a
//! metadata-only record: about half of real OpenAlex and Semantic Scholar records have no
//! abstract) is valid: its title is still chunked, indexed and searchable. Every problem is
//! reported, each naming its section (`section 2 "Methods"`, 1-based) and paragraph.
//!
//! The stage passes the document on with `metadata.has_body` set: `true` when some section has
//! a non-empty paragraph, `false` for a title-only document.

use std::fmt;

use serde::{Deserialize, Serialize};
use stage_core::stage;

use crate::types::Document;

/// The `ir-validation` stage's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidationConfig {
    /// The longest paragraph allowed, in characters (at least 1).
    pub max_paragraph_chars: usize,
    /// Whether a document without a body (no non-empty paragraph) is invalid. Default `false`:
    /// a title-only document is valid.
    pub require_body: bool,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        ValidationConfig { max_paragraph_chars: 100_000, require_body: false }
    }
}

/// One problem in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The id is empty.
    EmptyId,
    /// The title is empty.
    EmptyTitle,
    /// No section has a non-empty paragraph (a problem only with `require_body: true`).
    NoContent,
    /// A paragraph is longer than allowed.
    ParagraphTooLong {
        /// Where (`section 2 "Methods"`).
        section: String,
        /// Its index in the section, from 1.
        paragraph: usize,
        /// Its length in characters.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// A control character other than `\n` and `\t`.
    ControlCharacter {
        /// Where (`title`, `section 2 "Methods"`, `section 2 "Methods" paragraph 3`).
        location: String,
        /// The character.
        character: char,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::EmptyId => f.write_str("its id is empty"),
            Problem::EmptyTitle => f.write_str("its title is empty"),
            Problem::NoContent => {
                f.write_str("no section has a non-empty paragraph (`require_body: true` asks for a body)")
            }
            Problem::ParagraphTooLong { section, paragraph, chars, max } => {
                write!(f, "{section} paragraph {paragraph} has {chars} characters (at most {max} allowed)")
            }
            Problem::ControlCharacter { location, character } => {
                write!(f, "{location} contains the control character U+{:04X}", u32::from(*character))
            }
        }
    }
}

/// Why `ir-validation` failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The document breaks the rules.
    #[error("document `{doc_id}` is invalid: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid {
        /// The document's id.
        doc_id: String,
        /// Every problem found.
        problems: Vec<Problem>,
    },
    /// The configuration is unusable.
    #[error("ir-validation config: `{field}` {message}")]
    Config {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// Checks the `document` (non-empty id and title, paragraph size, no control characters, a
/// body when `require_body`) and passes it on with `metadata.has_body` set; fails naming every
/// problem and its section.
#[stage(type = "ir-validation", state_key = "document")]
pub fn ir_validation(
    document: &Document,
    #[config] config: &ValidationConfig,
) -> Result<Document, ValidationError> {
    validate(document, config)?;
    let mut out = document.clone();
    out.metadata.insert("has_body".into(), has_body(document).into());
    Ok(out)
}

/// Whether some section of `doc` has a non-empty paragraph.
pub fn has_body(doc: &Document) -> bool {
    doc.sections.iter().flat_map(|s| &s.paragraphs).any(|p| !p.trim().is_empty())
}

/// The problems of `doc`, as an error when there are any.
pub fn validate(doc: &Document, config: &ValidationConfig) -> Result<(), ValidationError> {
    if config.max_paragraph_chars == 0 {
        return Err(ValidationError::Config {
            field: "max_paragraph_chars",
            message: "must be at least 1".into(),
        });
    }
    let mut problems = problems(doc, config.max_paragraph_chars);
    if !config.require_body {
        problems.retain(|p| *p != Problem::NoContent);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ValidationError::Invalid { doc_id: doc.id.clone(), problems })
    }
}

fn bad_char(text: &str) -> Option<char> {
    text.chars().find(|c| c.is_control() && *c != '\n' && *c != '\t')
}

/// Every problem of `doc`, in document order, a missing body ([`Problem::NoContent`]) included.
pub fn problems(doc: &Document, max_paragraph_chars: usize) -> Vec<Problem> {
    let mut out = Vec::new();
    if doc.id.trim().is_empty() {
        out.push(Problem::EmptyId);
    }
    if doc.title.trim().is_empty() {
        out.push(Problem::EmptyTitle);
    }
    if let Some(c) = bad_char(&doc.title) {
        out.push(Problem::ControlCharacter { location: "the title".into(), character: c });
    }
    let mut content = false;
    for (i, s) in doc.sections.iter().enumerate() {
        let section = if s.title.is_empty() {
            format!("section {} (untitled)", i + 1)
        } else {
            format!("section {} {:?}", i + 1, s.title)
        };
        if let Some(c) = bad_char(&s.title) {
            out.push(Problem::ControlCharacter { location: format!("{section} title"), character: c });
        }
        for (j, p) in s.paragraphs.iter().enumerate() {
            content |= !p.trim().is_empty();
            let chars = p.chars().count();
            if chars > max_paragraph_chars {
                out.push(Problem::ParagraphTooLong {
                    section: section.clone(),
                    paragraph: j + 1,
                    chars,
                    max: max_paragraph_chars,
                });
            }
            if let Some(c) = bad_char(p) {
                out.push(Problem::ControlCharacter {
                    location: format!("{section} paragraph {}", j + 1),
                    character: c,
                });
            }
        }
    }
    if !content {
        out.push(Problem::NoContent);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Section;

    fn doc(sections: Vec<Section>) -> Document {
        Document {
            id: "d1".into(),
            title: "T".into(),
            source: "pmc".into(),
            metadata: Default::default(),
            sections,
        }
    }
    fn sec(title: &str, ps: &[&str]) -> Section {
        Section { title: title.into(), paragraphs: ps.iter().map(|p| (*p).to_owned()).collect() }
    }

    #[test]
    fn a_valid_document_passes_with_has_body() {
        let d = doc(vec![sec("Abstract", &["Line one\n\tindented."])]);
        let out = ir_validation(&d, &ValidationConfig::default()).unwrap();
        assert_eq!(out.sections, d.sections);
        assert_eq!(out.metadata["has_body"], true);
    }

    #[test]
    fn a_title_only_document_is_valid_unless_a_body_is_required() {
        let d = doc(vec![sec("Abstract", &["  "])]);
        let out = ir_validation(&d, &ValidationConfig::default()).unwrap();
        assert_eq!(out.metadata["has_body"], false);
        let strict = ValidationConfig { require_body: true, ..ValidationConfig::default() };
        let e = ir_validation(&d, &strict).unwrap_err().to_string();
        assert!(e.contains("no section has a non-empty paragraph") && e.contains("require_body"), "{e}");
    }

    #[test]
    fn empty_id_title_and_content() {
        let mut d = doc(vec![sec("A", &["  "]), sec("B", &[])]);
        d.id = " ".into();
        d.title = String::new();
        assert_eq!(problems(&d, 10), [Problem::EmptyId, Problem::EmptyTitle, Problem::NoContent]);
        let e = validate(&d, &ValidationConfig::default()).unwrap_err().to_string();
        assert!(
            e.contains("id is empty") && e.contains("title is empty") && !e.contains("no section"),
            "{e}"
        );
    }

    #[test]
    fn long_paragraphs_name_the_section() {
        let d = doc(vec![sec("Intro", &["ok"]), sec("Methods", &["short", "ééééé"])]);
        assert!(
            validate(&d, &ValidationConfig { max_paragraph_chars: 5, ..Default::default() }).is_ok(),
            "characters, not bytes"
        );
        let e = validate(&d, &ValidationConfig { max_paragraph_chars: 4, ..Default::default() }).unwrap_err();
        assert_eq!(
            e,
            ValidationError::Invalid {
                doc_id: "d1".into(),
                problems: vec![
                    Problem::ParagraphTooLong {
                        section: "section 2 \"Methods\"".into(),
                        paragraph: 1,
                        chars: 5,
                        max: 4
                    },
                    Problem::ParagraphTooLong {
                        section: "section 2 \"Methods\"".into(),
                        paragraph: 2,
                        chars: 5,
                        max: 4
                    },
                ]
            }
        );
        assert!(e.to_string().contains("section 2 \"Methods\" paragraph 2 has 5 characters"), "{e}");
    }

    #[test]
    fn control_characters_are_rejected() {
        let d = doc(vec![sec("", &["fine", "bad\u{0}byte"]), sec("Carriage\r", &["x"])]);
        let e = validate(&d, &ValidationConfig::default()).unwrap_err().to_string();
        assert!(e.contains("section 1 (untitled) paragraph 2 contains the control character U+0000"), "{e}");
        assert!(e.contains("section 2 \"Carriage\\r\" title contains the control character U+000D"), "{e}");
    }

    #[test]
    fn config_defaults_and_zero_limit() {
        let c: ValidationConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c.max_paragraph_chars, 100_000);
        assert!(serde_json::from_str::<ValidationConfig>(r#"{"max_chars": 3}"#).is_err());
        let e = validate(
            &doc(vec![sec("A", &["x"])]),
            &ValidationConfig { max_paragraph_chars: 0, ..Default::default() },
        )
        .unwrap_err();
        assert!(e.to_string().contains("max_paragraph_chars"));
    }
}
