//! `chunk`: splits a [`Document`] into retrieval [`Chunk`]s of at most `size` characters.
//!
//! The first chunk is the document's title (section `Title`; cut like a paragraph when longer
//! than `size`), so that every document, a title-only one too, is found by its title in text
//! and similarity search. Then the sections' chunks: chunks never cross sections. Within a section, whole paragraphs are packed into a chunk
//! (joined by a blank line) while they fit; a paragraph longer than `size` is split at sentence
//! boundaries and its sentences are packed; only a single sentence longer than `size` is cut,
//! at the last whitespace of the window when there is one in its second half, else exactly at
//! `size` characters (always on a character boundary).
//!
//! A sentence ends at `.`, `?` or `!` (and any closing quotes or brackets) followed by
//! whitespace and an uppercase letter or a digit (which may follow an opening quote or
//! bracket), except after a common abbreviation (`e.g.`,
//! `i.e.`, `Fig.`, `et al.`, `vs.`, `Dr.`, ...) or an initial (`J. Smith`).
//!
//! Overlap: a new chunk starts with the trailing whole sentences of the previous chunk that
//! total at most `overlap` characters (and still leave room for what comes next). Lengths are
//! in characters; the result is deterministic. Chunk ids are `<document id>#<index>`.

use serde::{Deserialize, Serialize};
use stage_core::stage;

use crate::types::{Chunk, Document};

/// The `chunk` stage's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChunkConfig {
    /// The largest chunk, in characters (at least 1).
    pub size: usize,
    /// How much of the previous chunk a chunk repeats, in characters (less than `size`).
    pub overlap: usize,
}

impl Default for ChunkConfig {
    fn default() -> Self {
        ChunkConfig { size: 800, overlap: 100 }
    }
}

/// Why `chunk` failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    /// The configuration is unusable.
    #[error("chunk config: `{field}` {message}")]
    Config {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// Splits the `document` into `chunks` of at most `size` characters, on paragraph, then
/// sentence boundaries, each repeating up to `overlap` characters of whole sentences from the
/// previous one.
#[stage(type = "chunk", state_key = "chunks")]
pub fn chunk(document: &Document, #[config] config: &ChunkConfig) -> Result<Vec<Chunk>, ChunkError> {
    chunk_document(document, config)
}

/// The chunks of `doc`.
pub fn chunk_document(doc: &Document, config: &ChunkConfig) -> Result<Vec<Chunk>, ChunkError> {
    if config.size == 0 {
        return Err(ChunkError::Config { field: "size", message: "must be at least 1".into() });
    }
    if config.overlap >= config.size {
        return Err(ChunkError::Config {
            field: "overlap",
            message: format!("({}) must be less than `size` ({})", config.overlap, config.size),
        });
    }
    let mut chunks = Vec::new();
    let title = doc.title.trim();
    let title_section = (!title.is_empty()).then(|| (TITLE_SECTION, std::slice::from_ref(&doc.title)));
    let sections = doc.sections.iter().map(|s| (s.title.as_str(), s.paragraphs.as_slice()));
    for (section, paragraphs) in title_section.into_iter().chain(sections) {
        for text in chunk_paragraphs(paragraphs, config.size, config.overlap) {
            let index = chunks.len();
            chunks.push(Chunk {
                id: format!("{}#{index}", doc.id),
                doc_id: doc.id.clone(),
                index,
                section: section.to_owned(),
                text,
            });
        }
    }
    Ok(chunks)
}

/// The section name of a document's title chunk.
pub const TITLE_SECTION: &str = "Title";

/// A paragraph and its segments (sentences, or pieces of an over-long sentence), as byte
/// ranges of the trimmed text.
struct Para<'a> {
    text: &'a str,
    segs: Vec<(usize, usize)>,
}

/// Segments `a..=b` of paragraph `p`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    p: usize,
    a: usize,
    b: usize,
}

fn span_text<'a>(paras: &[Para<'a>], s: Span) -> &'a str {
    let para = &paras[s.p];
    &para.text[para.segs[s.a].0..para.segs[s.b].1]
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// The length of the chunk the spans make (joined by blank lines).
fn spans_len(paras: &[Para<'_>], spans: &[Span]) -> usize {
    spans.iter().map(|s| chars(span_text(paras, *s))).sum::<usize>() + 2 * spans.len().saturating_sub(1)
}

/// `spans` with `unit` appended, merging it into the last span when it continues it.
fn with_unit(spans: &[Span], unit: Span) -> Vec<Span> {
    let mut out = spans.to_vec();
    match out.last_mut() {
        Some(last) if last.p == unit.p && last.b + 1 == unit.a => last.b = unit.b,
        _ => out.push(unit),
    }
    out
}

/// The trailing whole segments of `spans` totalling at most `overlap` characters and leaving
/// room for `unit` within `size`.
fn overlap_tail(paras: &[Para<'_>], spans: &[Span], unit: Span, size: usize, overlap: usize) -> Vec<Span> {
    let mut tail: Vec<Span> = Vec::new();
    'outer: for s in spans.iter().rev() {
        for a in (s.a..=s.b).rev() {
            let mut candidate = tail.clone();
            match candidate.first_mut() {
                Some(first) if first.p == s.p && first.a == a + 1 => first.a = a,
                _ => candidate.insert(0, Span { p: s.p, a, b: a }),
            }
            if spans_len(paras, &candidate) > overlap || spans_len(paras, &with_unit(&candidate, unit)) > size
            {
                break 'outer;
            }
            tail = candidate;
        }
    }
    tail
}

/// The chunk texts of one section's paragraphs.
pub fn chunk_paragraphs(paragraphs: &[String], size: usize, overlap: usize) -> Vec<String> {
    let size = size.max(1);
    let paras: Vec<Para<'_>> = paragraphs
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .map(|text| Para { text, segs: segments(text, size) })
        .collect();
    let mut out = Vec::new();
    let mut cur: Vec<Span> = Vec::new();
    let mut fresh = false; // whether `cur` holds more than overlap
    let add = |unit: Span, cur: &mut Vec<Span>, fresh: &mut bool, out: &mut Vec<String>| {
        let grown = with_unit(cur, unit);
        if spans_len(&paras, &grown) <= size {
            *cur = grown;
        } else {
            if *fresh {
                out.push(render(&paras, cur));
            }
            let tail = if *fresh { overlap_tail(&paras, cur, unit, size, overlap) } else { Vec::new() };
            *cur = with_unit(&tail, unit);
        }
        *fresh = true;
    };
    for (p, para) in paras.iter().enumerate() {
        let last = para.segs.len() - 1;
        if chars(para.text) <= size {
            add(Span { p, a: 0, b: last }, &mut cur, &mut fresh, &mut out);
        } else {
            for a in 0..=last {
                add(Span { p, a, b: a }, &mut cur, &mut fresh, &mut out);
            }
        }
    }
    if fresh {
        out.push(render(&paras, &cur));
    }
    out
}

fn render(paras: &[Para<'_>], spans: &[Span]) -> String {
    spans.iter().map(|s| span_text(paras, *s)).collect::<Vec<_>>().join("\n\n")
}

/// The segments of a trimmed, non-empty paragraph: its sentences, over-long ones cut into pieces
/// of at most `size` characters.
fn segments(text: &str, size: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (start, end) in sentence_ranges(text) {
        hard_split(text, start, end, size, &mut out);
    }
    out
}

/// Cuts `text[start..end]` into pieces of at most `size` characters, preferring the last
/// whitespace in the second half of each window.
fn hard_split(text: &str, mut start: usize, end: usize, size: usize, out: &mut Vec<(usize, usize)>) {
    loop {
        let piece = &text[start..end];
        // The byte offset just past `size` characters, if the piece is longer.
        let Some((limit, _)) = piece.char_indices().nth(size) else {
            out.push((start, end));
            return;
        };
        let window = &piece[..limit];
        let half = window.char_indices().nth(size / 2).map_or(0, |(i, _)| i);
        let cut = window
            .char_indices()
            .rev()
            .find(|(i, c)| *i >= half && *i > 0 && c.is_whitespace())
            .map(|(i, _)| i)
            .unwrap_or(limit);
        let head = piece[..cut].trim_end();
        out.push((start, start + head.len()));
        let rest = &piece[cut..];
        start += cut + (rest.len() - rest.trim_start().len());
        if start >= end {
            return;
        }
    }
}

/// Lowercase words that end with a period without ending a sentence.
const ABBREVIATIONS: &[&str] = &[
    "e.g.", "i.e.", "cf.", "fig.", "figs.", "al.", "vs.", "approx.", "ca.", "dr.", "mr.", "mrs.", "ms.",
    "prof.", "no.", "nos.", "vol.", "eq.", "eqs.", "ref.", "refs.", "st.", "jr.", "sr.", "inc.", "ltd.",
    "co.", "dept.", "u.s.", "resp.", "sec.", "ch.", "p.", "pp.", "ed.", "eds.",
];

/// The sentences of `text`, trimmed, in order (module docs: where a sentence ends).
pub fn split_sentences(text: &str) -> Vec<&str> {
    sentence_ranges(text).into_iter().map(|(a, b)| &text[a..b]).collect()
}

/// Byte ranges of the sentences of `text`, trimmed.
fn sentence_ranges(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut start = 0; // byte offset of the current sentence
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        if matches!(c, '.' | '?' | '!') {
            // Closing quotes and brackets belong to the sentence.
            let mut j = i + 1;
            while j < chars.len() && matches!(chars[j].1, '"' | '\'' | ')' | ']' | '\u{201d}' | '\u{2019}') {
                j += 1;
            }
            let mut k = j;
            while k < chars.len() && chars[k].1.is_whitespace() {
                k += 1;
            }
            // Opening quotes and brackets may start the next sentence.
            let mut m = k;
            while m < chars.len() && matches!(chars[m].1, '"' | '\'' | '(' | '[' | '\u{201c}' | '\u{2018}') {
                m += 1;
            }
            let boundary = k > j
                && m < chars.len()
                && (chars[m].1.is_uppercase() || chars[m].1.is_ascii_digit())
                && !(c == '.' && is_abbreviation(&text[start..pos + 1]));
            if boundary {
                let end = chars.get(j).map_or(text.len(), |(b, _)| *b);
                push_trimmed(text, start, end, &mut out);
                start = chars[k].0;
                i = k;
                continue;
            }
        }
        i += 1;
    }
    push_trimmed(text, start, text.len(), &mut out);
    out
}

fn push_trimmed(text: &str, start: usize, end: usize, out: &mut Vec<(usize, usize)>) {
    let s = &text[start..end];
    let lead = s.len() - s.trim_start().len();
    let t = s.trim();
    if !t.is_empty() {
        out.push((start + lead, start + lead + t.len()));
    }
}

/// Whether the last word of `upto` (which ends with `.`) is an abbreviation or an initial.
fn is_abbreviation(upto: &str) -> bool {
    let word = upto.rsplit(|c: char| c.is_whitespace() || c == '(' || c == '[').next().unwrap_or(upto);
    let lower = word.to_lowercase();
    if ABBREVIATIONS.contains(&lower.as_str()) {
        return true;
    }
    // An initial: one uppercase letter and the period ("J.").
    let mut cs = word.chars();
    matches!((cs.next(), cs.next(), cs.next()), (Some(l), Some('.'), None) if l.is_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Section;

    fn doc(paragraphs: &[&str]) -> Document {
        Document {
            id: "d".into(),
            title: "T".into(),
            source: String::new(),
            metadata: Default::default(),
            sections: vec![Section {
                title: "S".into(),
                paragraphs: paragraphs.iter().map(|p| (*p).to_owned()).collect(),
            }],
        }
    }

    #[test]
    fn sentences_respect_abbreviations_initials_and_decimals() {
        let t = "Aspirin helps (see Fig. 2). It works, e.g. In trials. Smith et al. Reported 3.5 mg. J. Doe agreed! \"Really?\" 2 more. lower. case";
        assert_eq!(
            split_sentences(t),
            [
                "Aspirin helps (see Fig. 2).",
                "It works, e.g. In trials.",
                "Smith et al. Reported 3.5 mg.",
                "J. Doe agreed!",
                "\"Really?\"",
                "2 more. lower. case",
            ]
        );
        assert!(split_sentences("  ").is_empty());
    }

    #[test]
    fn paragraphs_are_packed_whole() {
        let c = chunk_document(
            &doc(&["Alpha one.", "Beta two.", "Gamma three."]),
            &ChunkConfig { size: 25, overlap: 0 },
        )
        .unwrap();
        let texts: Vec<&str> = c.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["T", "Alpha one.\n\nBeta two.", "Gamma three."]);
        assert_eq!(c[2].id, "d#2");
        assert_eq!((c[2].index, c[2].section.as_str(), c[2].doc_id.as_str()), (2, "S", "d"));
    }

    #[test]
    fn long_paragraphs_split_on_sentences_with_overlap() {
        let p = "First sentence here. Second one is here. Third comes now. Fourth ends it.";
        let c = chunk_paragraphs(&[p.to_owned()], 45, 20);
        assert_eq!(
            c,
            [
                "First sentence here. Second one is here.",
                "Second one is here. Third comes now.",
                "Third comes now. Fourth ends it.",
            ]
        );
        assert!(c.iter().all(|c| c.chars().count() <= 45));
        // No overlap when the trailing sentence is longer than `overlap`.
        let c = chunk_paragraphs(&[p.to_owned()], 45, 10);
        assert_eq!(c, ["First sentence here. Second one is here.", "Third comes now. Fourth ends it."]);
    }

    #[test]
    fn overlap_carries_across_paragraphs() {
        let c = chunk_paragraphs(&["One. Two words.".to_owned(), "Next paragraph text.".to_owned()], 32, 12);
        assert_eq!(c, ["One. Two words.", "Two words.\n\nNext paragraph text."]);
    }

    #[test]
    fn overlong_sentence_is_hard_split_on_utf8_boundaries() {
        let word = "ééé ";
        let p = word.repeat(30); // 120 chars, no sentence boundary
        let c = chunk_paragraphs(std::slice::from_ref(&p), 10, 0);
        assert!(c.iter().all(|c| c.chars().count() <= 10 && !c.is_empty()), "{c:?}");
        assert_eq!(c.join(" "), p.trim());
        let no_space = "ü".repeat(25);
        let c = chunk_paragraphs(&[no_space], 10, 3);
        assert_eq!(c, ["ü".repeat(10), "ü".repeat(10), "ü".repeat(5)]);
    }

    #[test]
    fn every_chunk_fits_and_output_is_deterministic() {
        let text = "Metformin reduces HbA1c in type 2 diabetes. Aspirin inhibits COX-2! Is it safe? Yes. "
            .repeat(40);
        let d = doc(&[&text, "Short tail.", &text]);
        let cfg = ChunkConfig { size: 200, overlap: 60 };
        let a = chunk_document(&d, &cfg).unwrap();
        assert!(a.len() > 10);
        assert!(a.iter().all(|c| c.text.chars().count() <= 200));
        assert_eq!(a, chunk_document(&d, &cfg).unwrap());
        assert!(a.iter().enumerate().all(|(i, c)| c.index == i && c.id == format!("d#{i}")));
    }

    #[test]
    fn sections_are_not_crossed_and_empty_paragraphs_skipped() {
        let mut d = doc(&["A.", "  "]);
        d.sections.push(Section { title: "Second".into(), paragraphs: vec!["B.".into()] });
        let c = chunk_document(&d, &ChunkConfig::default()).unwrap();
        assert_eq!(
            c.iter().map(|c| (c.section.as_str(), c.text.as_str())).collect::<Vec<_>>(),
            [("Title", "T"), ("S", "A."), ("Second", "B.")]
        );
    }

    #[test]
    fn the_title_is_the_first_chunk_and_a_title_only_document_has_one() {
        let mut d = doc(&[]);
        d.sections.clear();
        d.title = "Case Study Research: Design and Methods".into();
        let c = chunk_document(&d, &ChunkConfig::default()).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].section.as_str(), c[0].text.as_str(), c[0].id.as_str()),
            ("Title", d.title.as_str(), "d#0")
        );
        // A long title is cut like a paragraph; an empty one gives no chunk.
        d.title = "word ".repeat(50);
        let c = chunk_document(&d, &ChunkConfig { size: 40, overlap: 0 }).unwrap();
        assert!(c.len() > 1 && c.iter().all(|c| c.section == "Title" && c.text.chars().count() <= 40));
        d.title = "  ".into();
        assert!(chunk_document(&d, &ChunkConfig::default()).unwrap().is_empty());
    }

    #[test]
    fn config_errors_name_the_field() {
        let e = chunk_document(&doc(&["x"]), &ChunkConfig { size: 100, overlap: 100 }).unwrap_err();
        assert!(e.to_string().contains("`overlap`"), "{e}");
        let e = chunk_document(&doc(&["x"]), &ChunkConfig { size: 0, overlap: 0 }).unwrap_err();
        assert!(e.to_string().contains("`size`"), "{e}");
        let c: ChunkConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, ChunkConfig { size: 800, overlap: 100 });
        assert!(serde_json::from_str::<ChunkConfig>(r#"{"chunk_size": 3}"#).is_err());
    }
}
