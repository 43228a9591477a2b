//! The `openalex` adapter: OpenAlex Work JSON.

use serde_json::{Map, Value};

use super::text::markup_to_text;
use super::{json_records, str_at, strip_doi, year_of, Adapter, AdapterError, AdapterRequest, RecordOrSkip};
use crate::types::Record;

/// Reads OpenAlex works (`openalex/<W id>.json`, a list, or a `{"results": [...]}` page) from
/// the `openalex/` folder.
///
/// The id is the short work id (`W2741809807`, from `https://openalex.org/W2741809807`), the
/// title `title` (else `display_name`); the abstract is rebuilt from
/// `abstract_inverted_index`; authors from `authorships[].author.display_name`. The PDF link is
/// the first of `best_oa_location.pdf_url`, `primary_location.pdf_url`, `locations[].pdf_url`.
///
/// Titles and abstracts are text as a reader sees it ([`super::text::markup_to_text`]): the
/// HTML/JATS markup OpenAlex keeps from publishers is removed
/// (`for<i>ab initio</i>total-energy` → `for ab initio total-energy`, `5 <sup>th</sup>` →
/// `5th`), entities decoded, whitespace normalised.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenAlexAdapter;

impl Adapter for OpenAlexAdapter {
    fn name(&self) -> &'static str {
        "openalex"
    }
    fn sources(&self) -> &'static [&'static str] {
        &["openalex"]
    }
    fn fetch(&self, request: &AdapterRequest) -> Result<Vec<RecordOrSkip>, AdapterError> {
        request.read_files("openalex", &["json", "jsonl"], |path, _| {
            json_records(request, path, &["results"], work)
        })
    }
}

/// The abstract text an OpenAlex `abstract_inverted_index` (`{word: [positions]}`) encodes:
/// the words in position order, separated by spaces. `None` when it holds no words.
pub fn rebuild_abstract(index: &Map<String, Value>) -> Option<String> {
    let mut words: Vec<(u64, &str)> = index
        .iter()
        .flat_map(|(word, positions)| {
            positions
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_u64)
                .map(move |p| (p, word.as_str()))
        })
        .collect();
    // Stable and total: equal positions (malformed input) keep their word order.
    words.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
    words.dedup_by_key(|w| w.0);
    let text = words.iter().map(|(_, w)| *w).collect::<Vec<_>>().join(" ");
    (!text.trim().is_empty()).then_some(text)
}

/// One work as a record.
fn work(req: &AdapterRequest, v: &Value) -> Result<Record, String> {
    if !v.is_object() {
        return Err(format!("expected a work object, found {}", super::json_kind(v)));
    }
    let id = str_at(v, &["id"]).ok_or("no `id`")?;
    let id = id.strip_prefix("https://openalex.org/").unwrap_or(id);
    let title = str_at(v, &["title"])
        .or_else(|| str_at(v, &["display_name"]))
        .map(markup_to_text)
        .filter(|t| !t.is_empty())
        .ok_or("no `title` nor `display_name`")?;
    let abstract_text = match v.get("abstract_inverted_index") {
        Some(Value::Object(index)) => {
            rebuild_abstract(index).map(|a| markup_to_text(&a)).filter(|a| !a.is_empty())
        }
        Some(Value::Null) | None => None,
        Some(other) => {
            return Err(format!(
                "`abstract_inverted_index` must be an object, found {}",
                super::json_kind(other)
            ))
        }
    };
    let pdf_url = str_at(v, &["best_oa_location", "pdf_url"])
        .or_else(|| str_at(v, &["primary_location", "pdf_url"]))
        .or_else(|| {
            v.get("locations").and_then(Value::as_array)?.iter().find_map(|l| str_at(l, &["pdf_url"]))
        });
    Ok(Record {
        source: req.source.clone(),
        id: id.to_owned(),
        title,
        abstract_text,
        sections: vec![],
        authors: v
            .get("authorships")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|a| str_at(a, &["author", "display_name"]).map(str::to_owned))
            .collect(),
        year: year_of(v.get("publication_year")),
        doi: str_at(v, &["doi"]).map(|d| strip_doi(d).to_owned()),
        pdf_url: pdf_url.map(str::to_owned),
        raw: v.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{data_dir, fetch};
    use super::*;
    use serde_json::json;

    #[test]
    fn rebuilds_abstracts_in_position_order() {
        let idx = json!({"reduces": [1], "Metformin": [0], "HbA1c.": [2], "it": [4], "and": [3]});
        assert_eq!(rebuild_abstract(idx.as_object().unwrap()).unwrap(), "Metformin reduces HbA1c. and it");
        let idx = json!({"the": [0, 2], "cat": [1], "mat": [3]});
        assert_eq!(rebuild_abstract(idx.as_object().unwrap()).unwrap(), "the cat the mat");
        assert_eq!(rebuild_abstract(&Map::new()), None);
    }

    #[test]
    fn reads_the_sample_works_with_pdf_links() {
        let req = AdapterRequest::new("openalex", data_dir());
        let recs = fetch(&OpenAlexAdapter, &req);
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[0].id, "W9000000001");
        assert!(recs[0].abstract_text.as_deref().unwrap().starts_with("Metformin"));
        assert_eq!(recs[0].doi.as_deref(), Some("10.5555/synthetic.oa.1"));
        assert!(!recs[0].authors.is_empty());
        assert_eq!(recs.iter().filter(|r| r.pdf_url.is_some()).count(), 3);
        assert!(recs.iter().all(|r| r.year.is_some()));
    }

    #[test]
    fn pdf_link_precedence_and_envelope() {
        let req = AdapterRequest::new("openalex", data_dir());
        let w = json!({"id": "https://openalex.org/W1", "display_name": "D",
            "primary_location": {"pdf_url": "https://p/1.pdf"},
            "locations": [{"pdf_url": null}, {"pdf_url": "https://l/1.pdf"}]});
        let r = work(&req, &w).unwrap();
        assert_eq!(
            (r.id.as_str(), r.title.as_str(), r.pdf_url.as_deref()),
            ("W1", "D", Some("https://p/1.pdf"))
        );
        let w = json!({"id": "W2", "title": "T", "locations": [{"pdf_url": null}, {"pdf_url": "https://l/2.pdf"}]});
        assert_eq!(work(&req, &w).unwrap().pdf_url.as_deref(), Some("https://l/2.pdf"));
        assert!(work(&req, &json!({"title": "no id"})).unwrap_err().contains("`id`"));

        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("openalex")).unwrap();
        std::fs::write(
            dir.path().join("openalex/page.json"),
            json!({"meta": {}, "results": [{"id": "W1", "title": "A"}, {"id": "W2"}]}).to_string(),
        )
        .unwrap();
        let out = OpenAlexAdapter.fetch(&AdapterRequest::new("openalex", dir.path())).unwrap();
        assert!(matches!(&out[0], RecordOrSkip::Record(r) if r.id == "W1"));
        assert!(
            matches!(&out[1], RecordOrSkip::Skip(m) if m.record == "record 2 (id W2)" && m.file == "openalex/page.json")
        );
    }
}
