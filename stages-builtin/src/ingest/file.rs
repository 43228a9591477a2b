//! The `file` adapter: records in plain JSON or JSON Lines.

use serde_json::Value;

use super::{
    json_kind, json_records, str_at, strip_doi, year_of, Adapter, AdapterError, AdapterRequest, RecordOrSkip,
};
use crate::parse::split_paragraphs;
use crate::types::{Record, Section};

/// Reads records from `.json` (an array, a `{"records": [...]}` object, or one record),
/// `.jsonl` and `.ndjson` files in the `file/` folder (or the file `path` names).
///
/// A record needs `id` (a string or a number) and `title`; optional: `abstract` (or
/// `abstract_text`), `text` (split on blank lines into an untitled section), `sections`
/// (`[{title, paragraphs: [...]}]` or `[{title, text}]`), `authors` (names, or objects with a
/// `name`), `year`, `doi`, `pdf_url`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileAdapter;

impl Adapter for FileAdapter {
    fn name(&self) -> &'static str {
        "file"
    }
    fn sources(&self) -> &'static [&'static str] {
        &["file"]
    }
    fn fetch(&self, request: &AdapterRequest) -> Result<Vec<RecordOrSkip>, AdapterError> {
        request.read_files("file", &["json", "jsonl", "ndjson"], |path, _| {
            json_records(request, path, &["records"], record)
        })
    }
}

/// One plain record.
fn record(req: &AdapterRequest, v: &Value) -> Result<Record, String> {
    if !v.is_object() {
        return Err(format!("expected a record object, found {}", json_kind(v)));
    }
    let id = match v.get("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(format!("`id` must be a non-empty string or a number, found {}", json_kind(other)))
        }
        None => return Err("no `id`".into()),
    };
    let title = str_at(v, &["title"]).ok_or("no `title` (a non-empty string)")?;
    let mut sections = Vec::new();
    if let Some(text) = str_at(v, &["text"]) {
        sections.push(Section { title: String::new(), paragraphs: split_paragraphs(text) });
    }
    match v.get("sections") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, s) in items.iter().enumerate() {
                sections.push(section(s).map_err(|e| format!("`sections[{i}]`: {e}"))?);
            }
        }
        Some(other) => return Err(format!("`sections` must be a list, found {}", json_kind(other))),
    }
    let authors = match v.get("authors") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|a| a.as_str().map(str::trim).or_else(|| str_at(a, &["name"])))
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(other) => return Err(format!("`authors` must be a list, found {}", json_kind(other))),
    };
    Ok(Record {
        source: req.source.clone(),
        id,
        title: title.to_owned(),
        abstract_text: str_at(v, &["abstract"]).or_else(|| str_at(v, &["abstract_text"])).map(str::to_owned),
        sections,
        authors,
        year: year_of(v.get("year")),
        doi: str_at(v, &["doi"]).map(|d| strip_doi(d).to_owned()),
        pdf_url: str_at(v, &["pdf_url"]).map(str::to_owned),
        raw: v.clone(),
    })
}

fn section(s: &Value) -> Result<Section, String> {
    let title = match s.get("title") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(t)) => t.trim().to_owned(),
        Some(other) => return Err(format!("`title` must be a string, found {}", json_kind(other))),
    };
    let paragraphs = match (s.get("paragraphs"), s.get("text")) {
        (Some(Value::Array(ps)), _) => ps
            .iter()
            .map(|p| p.as_str().map(str::to_owned).ok_or_else(|| format!("a paragraph is {}", json_kind(p))))
            .collect::<Result<Vec<_>, _>>()?,
        (None, Some(Value::String(t))) => split_paragraphs(t),
        _ => return Err("needs `paragraphs` (a list of strings) or `text` (a string)".into()),
    };
    Ok(Section { title, paragraphs })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{data_dir, fetch};
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_sample_json_lines() {
        let recs = fetch(&FileAdapter, &AdapterRequest::new("file", data_dir()));
        assert_eq!(recs.len(), 3);
        assert!(recs.iter().all(|r| !r.id.is_empty() && !r.title.is_empty() && r.source == "file"));
        assert!(recs.iter().any(|r| !r.sections.is_empty()));
        // One record by id, found by scanning the folder.
        let one =
            fetch(&FileAdapter, &AdapterRequest::new("file", data_dir()).with_param("id", &*recs[1].id));
        assert_eq!(one, vec![recs[1].clone()]);
    }

    #[test]
    fn record_shapes() {
        let req = AdapterRequest::new("file", data_dir());
        let r = record(
            &req,
            &json!({"id": 7, "title": "T", "text": "One.\n\nTwo.", "authors": ["A", {"name": "B"}],
                    "sections": [{"title": "S", "text": "P1\n\nP2"}, {"paragraphs": ["Q"]}], "doi": "doi:10.1/y"}),
        )
        .unwrap();
        assert_eq!(r.id, "7");
        assert_eq!(r.authors, ["A", "B"]);
        assert_eq!(r.doi.as_deref(), Some("10.1/y"));
        assert_eq!(
            r.sections,
            [
                Section { title: "".into(), paragraphs: vec!["One.".into(), "Two.".into()] },
                Section { title: "S".into(), paragraphs: vec!["P1".into(), "P2".into()] },
                Section { title: "".into(), paragraphs: vec!["Q".into()] },
            ]
        );
        assert!(record(&req, &json!({"id": "x", "title": "T", "sections": [{"title": 1}]}))
            .unwrap_err()
            .contains("sections[0]"));
        assert!(record(&req, &json!({"id": true, "title": "T"})).unwrap_err().contains("`id`"));
        assert!(record(&req, &json!({"id": "x"})).unwrap_err().contains("`title`"));
    }
}
