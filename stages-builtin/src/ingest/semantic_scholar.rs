//! The `semantic-scholar` adapter: Semantic Scholar Graph API paper JSON.

use serde_json::Value;

use super::text::markup_to_text;
use super::{
    convert_items, json_items, str_at, strip_doi, year_of, Adapter, AdapterError, AdapterRequest,
    RecordOrSkip,
};
use crate::types::Record;

/// Reads Semantic Scholar Graph API papers (`semantic-scholar/<paperId>.json`, a batch list,
/// or a `{"data": [...]}` search page) from the `semantic-scholar/` folder.
///
/// `paperId` is the id; `title`, `abstract`, `year`, `authors[].name`, `externalIds.DOI` map
/// to the record's fields, and `openAccessPdf.url` is the PDF link. A paper without an
/// abstract (`null`, or not requested) is a title-only record.
///
/// Titles and abstracts are text as a reader sees it ([`super::text::markup_to_text`]):
/// markup removed, entities decoded, whitespace (literal newlines, no-break and thin spaces)
/// normalised to single spaces.
///
/// A `null` element of a batch response (`POST /paper/batch` answers `null` for an id it does
/// not know) is not a malformed record: it is skipped with a warning naming the file and the
/// element, in strict mode too.
#[derive(Debug, Clone, Copy, Default)]
pub struct SemanticScholarAdapter;

impl Adapter for SemanticScholarAdapter {
    fn name(&self) -> &'static str {
        "semantic-scholar"
    }
    fn sources(&self) -> &'static [&'static str] {
        &["semantic-scholar"]
    }
    fn fetch(&self, request: &AdapterRequest) -> Result<Vec<RecordOrSkip>, AdapterError> {
        request.read_files("semantic-scholar", &["json", "jsonl"], |path, file| {
            let items = json_items(request, path, &["data"])?
                .into_iter()
                .filter(|item| match item {
                    Ok((label, Value::Null)) => {
                        tracing::warn!(file, element = %label, "skipped a null batch element (an id Semantic Scholar did not find)");
                        false
                    }
                    _ => true,
                })
                .collect();
            Ok(convert_items(request, path, items, paper))
        })
    }
}

/// One paper as a record.
fn paper(req: &AdapterRequest, v: &Value) -> Result<Record, String> {
    if !v.is_object() {
        return Err(format!("expected a paper object, found {}", super::json_kind(v)));
    }
    let id = str_at(v, &["paperId"]).ok_or("no `paperId`")?;
    let title = str_at(v, &["title"]).map(markup_to_text).filter(|t| !t.is_empty()).ok_or("no `title`")?;
    Ok(Record {
        source: req.source.clone(),
        id: id.to_owned(),
        title,
        abstract_text: str_at(v, &["abstract"]).map(markup_to_text).filter(|a| !a.is_empty()),
        sections: vec![],
        authors: v
            .get("authors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|a| str_at(a, &["name"]).map(str::to_owned))
            .collect(),
        year: year_of(v.get("year")),
        doi: str_at(v, &["externalIds", "DOI"]).map(|d| strip_doi(d).to_owned()),
        pdf_url: str_at(v, &["openAccessPdf", "url"]).map(str::to_owned),
        raw: v.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{data_dir, fetch};
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_sample_papers() {
        let recs = fetch(&SemanticScholarAdapter, &AdapterRequest::new("semantic-scholar", data_dir()));
        assert_eq!(recs.len(), 2);
        let r = &recs[0];
        assert_eq!(r.source, "semantic-scholar");
        assert!(r.doi.is_some() && r.year.is_some() && !r.authors.is_empty() && r.abstract_text.is_some());
        assert!(r.pdf_url.as_deref().unwrap().starts_with("https://example.org/pdf/"));
    }

    #[test]
    fn paper_fields_and_malformed() {
        let req = AdapterRequest::new("semantic-scholar", data_dir());
        let r = paper(
            &req,
            &json!({"paperId": "abc", "title": "T", "year": 2020, "authors": [{"authorId": "1", "name": "A B"}],
                    "externalIds": {"DOI": "10.1/x"}, "openAccessPdf": null}),
        )
        .unwrap();
        assert_eq!(
            (r.year, r.doi.as_deref(), r.authors.as_slice()),
            (Some(2020), Some("10.1/x"), &["A B".to_owned()][..])
        );
        assert_eq!(r.pdf_url, None);
        assert!(paper(&req, &json!({"paperId": "abc", "title": ""})).unwrap_err().contains("title"));
        assert!(paper(&req, &json!(["x"])).is_err());
    }
}
