//! `parse`: turns the ingested records (`payloads`) into a [`Document`], or enriches a document
//! delivered by an external converter (a two-phase pipeline's gate) with the records' metadata.
//!
//! A built document: id = the job's `doc_id`, else the first record's id; title and source =
//! the first record's; sections = for each record, an `Abstract` section (its abstract split
//! on blank lines) then its own sections. When there are several records, each section title
//! is prefixed with the record's id (`W1 / Abstract`). Metadata: `authors` (all records', in
//! order, without repeats), `year`, `doi`, `pdf_url` (the first record that has one),
//! `record_ids`, `record_count`.
//!
//! A delivered document keeps its sections; it gains the title (when its own is empty), id and
//! source (when empty) and the metadata keys it lacks.

use serde_json::{Map, Value};
use stage_core::{stage, StageContext};

use crate::types::{Document, Record, Section};

/// Why `parse` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// No records and no delivered document.
    #[error("no records to parse for job `{job_id}`: the ingest stage read none")]
    NoRecords {
        /// The job.
        job_id: String,
    },
}

/// Builds the `document` from the ingested records, or enriches a delivered `document` with the
/// records' metadata (title when empty, authors, DOI, year, record ids) instead of replacing it.
#[stage(type = "parse", state_key = "document")]
pub fn parse(
    ctx: &StageContext,
    payloads: &Vec<Record>,
    document: Option<&Document>,
) -> Result<Document, ParseError> {
    let job = ctx.job();
    match document {
        Some(doc) => Ok(enrich(doc.clone(), payloads, job.doc_id.as_deref())),
        None => build(payloads, job.doc_id.as_deref())
            .ok_or_else(|| ParseError::NoRecords { job_id: job.job_id.clone() }),
    }
}

/// A document built from `records` (`None` when there are none).
pub fn build(records: &[Record], doc_id: Option<&str>) -> Option<Document> {
    let first = records.first()?;
    let many = records.len() > 1;
    let mut sections = Vec::new();
    for r in records {
        let name = |title: &str| match (many, title.is_empty()) {
            (false, _) => title.to_owned(),
            (true, true) => r.id.clone(),
            (true, false) => format!("{} / {title}", r.id),
        };
        if let Some(abs) = &r.abstract_text {
            let paragraphs = split_paragraphs(abs);
            if !paragraphs.is_empty() {
                sections.push(Section { title: name("Abstract"), paragraphs });
            }
        }
        for s in &r.sections {
            let paragraphs: Vec<String> = s
                .paragraphs
                .iter()
                .map(|p| normalize_newlines(p).trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect();
            if !paragraphs.is_empty() {
                sections.push(Section { title: name(&s.title), paragraphs });
            }
        }
    }
    Some(Document {
        id: doc_id.filter(|d| !d.trim().is_empty()).map_or_else(|| first.id.clone(), str::to_owned),
        title: first.title.trim().to_owned(),
        source: first.source.clone(),
        metadata: metadata(records),
        sections,
    })
}

/// `doc` with the records' metadata added where it has none.
pub fn enrich(mut doc: Document, records: &[Record], doc_id: Option<&str>) -> Document {
    let Some(first) = records.first() else { return doc };
    if doc.title.trim().is_empty() {
        doc.title = first.title.trim().to_owned();
    }
    if doc.id.trim().is_empty() {
        doc.id = doc_id.filter(|d| !d.trim().is_empty()).map_or_else(|| first.id.clone(), str::to_owned);
    }
    if doc.source.is_empty() {
        doc.source = first.source.clone();
    }
    for (k, v) in metadata(records) {
        doc.metadata.entry(k).or_insert(v);
    }
    doc
}

/// The records' metadata.
fn metadata(records: &[Record]) -> Map<String, Value> {
    let mut m = Map::new();
    let mut authors: Vec<&str> = Vec::new();
    for a in records.iter().flat_map(|r| &r.authors) {
        if !authors.contains(&a.as_str()) {
            authors.push(a);
        }
    }
    if !authors.is_empty() {
        m.insert("authors".into(), authors.into());
    }
    if let Some(y) = records.iter().find_map(|r| r.year) {
        m.insert("year".into(), y.into());
    }
    if let Some(d) = records.iter().find_map(|r| r.doi.as_deref()) {
        m.insert("doi".into(), d.into());
    }
    if let Some(u) = records.iter().find_map(|r| r.pdf_url.as_deref()) {
        m.insert("pdf_url".into(), u.into());
    }
    m.insert("record_ids".into(), records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>().into());
    m.insert("record_count".into(), records.len().into());
    m
}

fn normalize_newlines(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// `text` split into paragraphs at blank lines (CR LF and CR read as LF), each trimmed, empty
/// ones dropped.
pub fn split_paragraphs(text: &str) -> Vec<String> {
    let text = normalize_newlines(text);
    let mut out = Vec::new();
    let mut cur: Vec<&str> = Vec::new();
    for line in text.split('\n') {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(cur.join("\n").trim().to_owned());
                cur.clear();
            }
        } else {
            cur.push(line);
        }
    }
    if !cur.is_empty() {
        out.push(cur.join("\n").trim().to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use stage_core::Job;
    use std::sync::Arc;

    fn rec(id: &str, title: &str) -> Record {
        Record {
            source: "openalex".into(),
            id: id.into(),
            title: title.into(),
            abstract_text: Some("First para.\r\n\r\nSecond\npara.".into()),
            sections: vec![Section {
                title: "Methods".into(),
                paragraphs: vec!["  M.  ".into(), " ".into()],
            }],
            authors: vec!["A".into(), "B".into()],
            year: Some(2020),
            doi: Some("10.1/x".into()),
            pdf_url: None,
            raw: Value::Null,
        }
    }

    fn ctx(doc_id: Option<&str>) -> StageContext {
        let mut job = Job::new("job-1", "openalex");
        job.doc_id = doc_id.map(str::to_owned);
        StageContext::new(Arc::new(job), "parse", "parse")
    }

    #[test]
    fn splits_paragraphs() {
        assert_eq!(split_paragraphs("a\r\n\r\n b\nc \n  \n\nd"), ["a", "b\nc", "d"]);
        assert!(split_paragraphs(" \n ").is_empty());
    }

    #[test]
    fn builds_from_one_record() {
        let doc = parse(&ctx(None), &vec![rec("W1", " Title ")], None).unwrap();
        assert_eq!(doc.id, "W1");
        assert_eq!(doc.title, "Title");
        assert_eq!(doc.source, "openalex");
        assert_eq!(
            doc.sections,
            [
                Section {
                    title: "Abstract".into(),
                    paragraphs: vec!["First para.".into(), "Second\npara.".into()]
                },
                Section { title: "Methods".into(), paragraphs: vec!["M.".into()] },
            ]
        );
        assert_eq!(doc.metadata["authors"], json!(["A", "B"]));
        assert_eq!(doc.metadata["record_ids"], json!(["W1"]));
        assert_eq!(doc.metadata["year"], json!(2020));
    }

    #[test]
    fn builds_from_several_records_with_the_job_doc_id() {
        let mut second = rec("W2", "Other");
        second.authors = vec!["B".into(), "C".into()];
        let doc = parse(&ctx(Some("doc-9")), &vec![rec("W1", "T"), second], None).unwrap();
        assert_eq!(doc.id, "doc-9");
        let titles: Vec<&str> = doc.sections.iter().map(|s| s.title.as_str()).collect();
        assert_eq!(titles, ["W1 / Abstract", "W1 / Methods", "W2 / Abstract", "W2 / Methods"]);
        assert_eq!(doc.metadata["authors"], json!(["A", "B", "C"]));
        assert_eq!(doc.metadata["record_count"], json!(2));
    }

    #[test]
    fn enriches_a_delivered_document() {
        let delivered = Document {
            id: "PMC1".into(),
            title: String::new(),
            source: String::new(),
            metadata: Map::from_iter([("doi".to_owned(), json!("10.9/from-pdf"))]),
            sections: vec![Section { title: "Body".into(), paragraphs: vec!["From the PDF.".into()] }],
        };
        let doc = parse(&ctx(None), &vec![rec("W1", "Record title")], Some(&delivered)).unwrap();
        assert_eq!(doc.id, "PMC1");
        assert_eq!(doc.title, "Record title");
        assert_eq!(doc.source, "openalex");
        assert_eq!(doc.sections, delivered.sections, "sections are kept");
        assert_eq!(doc.metadata["doi"], json!("10.9/from-pdf"), "the document's own metadata wins");
        assert_eq!(doc.metadata["authors"], json!(["A", "B"]));
        assert_eq!(doc.metadata["record_ids"], json!(["W1"]));
        // No records: the delivered document as it is.
        assert_eq!(parse(&ctx(None), &vec![], Some(&delivered)).unwrap(), delivered);
    }

    #[test]
    fn no_records_is_an_error() {
        let e = parse(&ctx(None), &vec![], None).unwrap_err().to_string();
        assert!(e.contains("job-1") && e.contains("no records"), "{e}");
    }
}
