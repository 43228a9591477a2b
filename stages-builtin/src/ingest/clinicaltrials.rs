//! The `clinicaltrials` adapter: ClinicalTrials.gov API v2 study JSON.

use serde_json::Value;

use super::{json_records, str_at, year_of, Adapter, AdapterError, AdapterRequest, RecordOrSkip};
use crate::parse::split_paragraphs;
use crate::types::{Record, Section};

/// Reads ClinicalTrials.gov API v2 studies (`clinicaltrials/<NCT id>.json`, or a
/// `{"studies": [...]}` page) from the `clinicaltrials/` folder.
///
/// `protocolSection.identificationModule.nctId` is the id, `briefTitle` (else `officialTitle`)
/// the title, `descriptionModule.briefSummary` the abstract; the detailed description,
/// conditions, interventions, primary outcomes and eligibility criteria become sections; the
/// start date gives the year, the overall officials the authors. The PDF link is the study's
/// first large document (protocol, SAP), on the ClinicalTrials.gov document server.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClinicalTrialsAdapter;

impl Adapter for ClinicalTrialsAdapter {
    fn name(&self) -> &'static str {
        "clinicaltrials"
    }
    fn sources(&self) -> &'static [&'static str] {
        &["clinicaltrials", "clinical-trials"]
    }
    fn fetch(&self, request: &AdapterRequest) -> Result<Vec<RecordOrSkip>, AdapterError> {
        request.read_files("clinicaltrials", &["json", "jsonl"], |path, _| {
            json_records(request, path, &["studies"], study)
        })
    }
}

fn strings<'a>(v: &'a Value, path: &[&str]) -> Vec<&'a str> {
    let mut cur = v;
    for key in path {
        match cur.get(key) {
            Some(next) => cur = next,
            None => return vec![],
        }
    }
    cur.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default()
}

fn objects<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    let mut cur = v;
    for key in path {
        match cur.get(key) {
            Some(next) => cur = next,
            None => return &[],
        }
    }
    cur.as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// One study as a record.
fn study(req: &AdapterRequest, v: &Value) -> Result<Record, String> {
    let ps = v.get("protocolSection").filter(|p| p.is_object()).ok_or("no `protocolSection` object")?;
    let nct = str_at(ps, &["identificationModule", "nctId"])
        .ok_or("no `protocolSection.identificationModule.nctId`")?;
    let title = str_at(ps, &["identificationModule", "briefTitle"])
        .or_else(|| str_at(ps, &["identificationModule", "officialTitle"]))
        .ok_or("no `identificationModule.briefTitle` nor `officialTitle`")?;

    let mut sections = Vec::new();
    let mut push = |title: &str, paragraphs: Vec<String>| {
        if !paragraphs.is_empty() {
            sections.push(Section { title: title.to_owned(), paragraphs });
        }
    };
    push(
        "Detailed Description",
        str_at(ps, &["descriptionModule", "detailedDescription"]).map(split_paragraphs).unwrap_or_default(),
    );
    let mut conditions = Vec::new();
    let conds = strings(ps, &["conditionsModule", "conditions"]);
    if !conds.is_empty() {
        conditions.push(format!("Conditions: {}.", conds.join("; ")));
    }
    let keywords = strings(ps, &["conditionsModule", "keywords"]);
    if !keywords.is_empty() {
        conditions.push(format!("Keywords: {}.", keywords.join("; ")));
    }
    push("Conditions", conditions);
    let interventions = objects(ps, &["armsInterventionsModule", "interventions"])
        .iter()
        .filter_map(|i| {
            let name = str_at(i, &["name"])?;
            let kind = str_at(i, &["type"]).map(|t| format!(" ({})", t.to_lowercase().replace('_', " ")));
            Some(match str_at(i, &["description"]) {
                Some(d) => format!("{name}{}: {d}", kind.unwrap_or_default()),
                None => format!("{name}{}.", kind.unwrap_or_default()),
            })
        })
        .collect();
    push("Interventions", interventions);
    let outcomes = objects(ps, &["outcomesModule", "primaryOutcomes"])
        .iter()
        .filter_map(|o| {
            let measure = str_at(o, &["measure"])?;
            Some(match (str_at(o, &["description"]), str_at(o, &["timeFrame"])) {
                (Some(d), Some(t)) => format!("{measure}: {d} (time frame: {t})"),
                (Some(d), None) => format!("{measure}: {d}"),
                (None, Some(t)) => format!("{measure} (time frame: {t})"),
                (None, None) => measure.to_owned(),
            })
        })
        .collect();
    push("Primary Outcomes", outcomes);
    push(
        "Eligibility",
        str_at(ps, &["eligibilityModule", "eligibilityCriteria"]).map(split_paragraphs).unwrap_or_default(),
    );

    let pdf_url = objects(v, &["documentSection", "largeDocumentModule", "largeDocs"])
        .iter()
        .find_map(|d| str_at(d, &["filename"]))
        .map(|f| large_doc_url(nct, f));

    Ok(Record {
        source: req.source.clone(),
        id: nct.to_owned(),
        title: title.to_owned(),
        abstract_text: str_at(ps, &["descriptionModule", "briefSummary"]).map(str::to_owned),
        sections,
        authors: objects(ps, &["contactsLocationsModule", "overallOfficials"])
            .iter()
            .filter_map(|o| str_at(o, &["name"]).map(str::to_owned))
            .collect(),
        year: year_of(ps.pointer("/statusModule/startDateStruct/date")),
        doi: None,
        pdf_url,
        raw: v.clone(),
    })
}

/// A large document's URL: `https://cdn.clinicaltrials.gov/large-docs/<last two digits>/<NCT>/<file>`.
fn large_doc_url(nct: &str, filename: &str) -> String {
    if filename.starts_with("http://") || filename.starts_with("https://") {
        return filename.to_owned();
    }
    let tail = nct.get(nct.len().saturating_sub(2)..).unwrap_or("00");
    format!("https://cdn.clinicaltrials.gov/large-docs/{tail}/{nct}/{filename}")
}

#[cfg(test)]
mod tests {
    use super::super::tests::{data_dir, fetch};
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_study_with_sections_year_and_pdf() {
        let req = AdapterRequest::new("clinicaltrials", data_dir()).with_param("id", "NCT90000001");
        let recs = fetch(&ClinicalTrialsAdapter, &req);
        assert_eq!(recs.len(), 1);
        let r = &recs[0];
        assert_eq!(r.id, "NCT90000001");
        assert!(r.title.contains("Metformin"), "{}", r.title);
        assert!(r.abstract_text.as_deref().unwrap().contains("metformin"));
        assert_eq!(r.year, Some(2021));
        let titles: Vec<&str> = r.sections.iter().map(|s| s.title.as_str()).collect();
        assert!(titles.contains(&"Detailed Description") && titles.contains(&"Interventions"), "{titles:?}");
        assert_eq!(
            r.pdf_url.as_deref(),
            Some("https://cdn.clinicaltrials.gov/large-docs/01/NCT90000001/Prot_SAP_000.pdf")
        );
        assert_eq!(r.raw["protocolSection"]["identificationModule"]["nctId"], "NCT90000001");
    }

    #[test]
    fn missing_nct_id_is_malformed() {
        let req = AdapterRequest::new("clinicaltrials", data_dir());
        let e = study(&req, &json!({"protocolSection": {"identificationModule": {"briefTitle": "x"}}}))
            .unwrap_err();
        assert!(e.contains("nctId"), "{e}");
        let r = study(
            &req,
            &json!({"protocolSection": {"identificationModule": {"nctId": "NCT1", "officialTitle": "Official"}}}),
        )
        .unwrap();
        assert_eq!(r.title, "Official");
        assert!(r.sections.is_empty() && r.pdf_url.is_none());
    }

    #[test]
    fn large_doc_urls() {
        assert_eq!(
            large_doc_url("NCT03540667", "Prot_000.pdf"),
            "https://cdn.clinicaltrials.gov/large-docs/67/NCT03540667/Prot_000.pdf"
        );
        assert_eq!(large_doc_url("NCT1", "https://x/y.pdf"), "https://x/y.pdf");
    }
}
