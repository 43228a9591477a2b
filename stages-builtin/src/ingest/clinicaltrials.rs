//! The `clinicaltrials` adapter: ClinicalTrials.gov API v2 study JSON.

use serde_json::Value;

use super::text::{markdown_to_paragraphs, normalize_whitespace};
use super::{json_records, str_at, year_of, Adapter, AdapterError, AdapterRequest, RecordOrSkip};
use crate::types::{Record, Section};

/// Reads ClinicalTrials.gov API v2 studies (`clinicaltrials/<NCT id>.json`, or a
/// `{"studies": [...]}` page) from the `clinicaltrials/` folder.
///
/// `protocolSection.identificationModule.nctId` is the id, `briefTitle` (else `officialTitle`)
/// the title, `descriptionModule.briefSummary` the abstract; the detailed description,
/// conditions, interventions, primary outcomes and eligibility criteria become sections; the
/// start date gives the year, the overall officials the authors. The PDF link is the study's
/// first large document (protocol, SAP), on the ClinicalTrials.gov document server.
///
/// The registry's text fields are Markdown; they are read as text ([`super::text`]):
/// backslash escapes removed (`\>` → `>`), one paragraph per list item (nested ones too),
/// emphasis markers dropped.
///
/// A study with results (`resultsSection`) also gives short, readable summary sections:
/// - `Participant Flow`: per period, each milestone's count per group
///   (`Overall Study: started 5; completed 3; not completed 2.`);
/// - `Baseline Characteristics`: the population description, then one line per measure
///   (`Age, Continuous (years, mean): 40.8 (35 to 50).`);
/// - `Primary Outcome: <title>` (and `Secondary`, `Other Pre-specified`...), one section per
///   outcome measure: its description, `Time frame: ...`, and its values per group when there
///   are at most 40 (`Results (Participants): 3.`, with group titles when there are several
///   groups and category titles when there are categories);
/// - `Adverse Events`: the time frame, the frequency threshold, each group's serious/other
///   affected counts, and the serious and other event terms with the number affected over
///   the number at risk (summed over groups).
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
        .map(normalize_whitespace)
        .ok_or("no `identificationModule.briefTitle` nor `officialTitle`")?;

    let mut sections = Vec::new();
    let mut push = |title: &str, paragraphs: Vec<String>| {
        if !paragraphs.is_empty() {
            sections.push(Section { title: title.to_owned(), paragraphs });
        }
    };
    push(
        "Detailed Description",
        str_at(ps, &["descriptionModule", "detailedDescription"])
            .map(markdown_to_paragraphs)
            .unwrap_or_default(),
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
            Some(match str_at(i, &["description"]).map(md_line) {
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
            Some(match (str_at(o, &["description"]).map(md_line), str_at(o, &["timeFrame"]).map(md_line)) {
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
        str_at(ps, &["eligibilityModule", "eligibilityCriteria"])
            .map(markdown_to_paragraphs)
            .unwrap_or_default(),
    );
    if let Some(results) = v.get("resultsSection").filter(|r| r.is_object()) {
        results_sections(results, &mut push);
    }

    let pdf_url = objects(v, &["documentSection", "largeDocumentModule", "largeDocs"])
        .iter()
        .find_map(|d| str_at(d, &["filename"]))
        .map(|f| large_doc_url(nct, f));

    Ok(Record {
        source: req.source.clone(),
        id: nct.to_owned(),
        title,
        abstract_text: str_at(ps, &["descriptionModule", "briefSummary"])
            .map(|t| markdown_to_paragraphs(t).join("\n\n"))
            .filter(|t| !t.is_empty()),
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

/// A Markdown text field as one line of text.
fn md_line(text: &str) -> String {
    markdown_to_paragraphs(text).join(" ")
}

/// A string or number field as text (`"5"`, `5`).
fn scalar<'a>(v: &'a Value, key: &str) -> Option<std::borrow::Cow<'a, str>> {
    match v.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(std::borrow::Cow::Borrowed(s.trim())),
        Value::Number(n) => Some(std::borrow::Cow::Owned(n.to_string())),
        _ => None,
    }
}

/// `COUNT_OF_PARTICIPANTS` → `count of participants`.
fn enum_words(s: &str) -> String {
    s.replace('_', " ").to_lowercase()
}

/// The titles of a module's groups, by id.
fn group_titles(module: &Value) -> Vec<(&str, &str)> {
    objects(module, &["groups"])
        .iter()
        .filter_map(|g| Some((str_at(g, &["id"])?, str_at(g, &["title"]).unwrap_or(""))))
        .collect()
}

/// At most this many values are listed for one measure.
const MAX_VALUES: usize = 40;

/// A measure's values as `Category: Group value (low to high); ...`, or `None` when it has
/// none or too many to be a readable line.
fn measure_values(measure: &Value, groups: &[(&str, &str)]) -> Option<String> {
    let several_groups = groups.len() > 1;
    let mut parts = Vec::new();
    for class in objects(measure, &["classes"]) {
        let class_title = str_at(class, &["title"]);
        for category in objects(class, &["categories"]) {
            let label = match (class_title, str_at(category, &["title"])) {
                (Some(c), Some(t)) => Some(format!("{c}, {t}")),
                (Some(c), None) => Some(c.to_owned()),
                (None, Some(t)) => Some(t.to_owned()),
                (None, None) => None,
            };
            for m in objects(category, &["measurements"]) {
                let Some(value) = scalar(m, "value") else { continue };
                let mut text = String::new();
                if let Some(l) = &label {
                    text.push_str(l);
                    text.push_str(": ");
                }
                if several_groups {
                    let id = str_at(m, &["groupId"]).unwrap_or("");
                    let title = groups.iter().find(|g| g.0 == id).map_or(id, |g| g.1);
                    text.push_str(title);
                    text.push(' ');
                }
                text.push_str(&value);
                match (scalar(m, "lowerLimit"), scalar(m, "upperLimit"), scalar(m, "spread")) {
                    (Some(lo), Some(hi), _) => text.push_str(&format!(" ({lo} to {hi})")),
                    (_, _, Some(sd)) => text.push_str(&format!(" (\u{b1}{sd})")),
                    _ => {}
                }
                parts.push(text);
                if parts.len() > MAX_VALUES {
                    return None;
                }
            }
        }
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The results section's summary sections (the adapter's docs).
fn results_sections(results: &Value, push: &mut impl FnMut(&str, Vec<String>)) {
    if let Some(flow) = results.get("participantFlowModule") {
        let groups = group_titles(flow);
        let mut lines = Vec::new();
        for period in objects(flow, &["periods"]) {
            let milestones: Vec<String> = objects(period, &["milestones"])
                .iter()
                .filter_map(|m| {
                    let kind = enum_words(str_at(m, &["type"])?);
                    let counts: Vec<String> = objects(m, &["achievements"])
                        .iter()
                        .filter_map(|a| {
                            let n = scalar(a, "numSubjects")?;
                            Some(if groups.len() > 1 {
                                let id = str_at(a, &["groupId"]).unwrap_or("");
                                format!("{} {n}", groups.iter().find(|g| g.0 == id).map_or(id, |g| g.1))
                            } else {
                                n.into_owned()
                            })
                        })
                        .collect();
                    (!counts.is_empty()).then(|| format!("{kind} {}", counts.join(", ")))
                })
                .collect();
            if !milestones.is_empty() {
                let title = str_at(period, &["title"]).unwrap_or("Period");
                lines.push(format!("{title}: {}.", milestones.join("; ")));
            }
        }
        push("Participant Flow", lines);
    }
    if let Some(baseline) = results.get("baselineCharacteristicsModule") {
        let groups = group_titles(baseline);
        let mut lines: Vec<String> =
            str_at(baseline, &["populationDescription"]).map(markdown_to_paragraphs).unwrap_or_default();
        for measure in objects(baseline, &["measures"]) {
            let Some(title) = str_at(measure, &["title"]) else { continue };
            let what: Vec<String> = [
                str_at(measure, &["unitOfMeasure"]).map(str::to_owned),
                str_at(measure, &["paramType"]).map(enum_words),
            ]
            .into_iter()
            .flatten()
            .collect();
            let head =
                if what.is_empty() { title.to_owned() } else { format!("{title} ({})", what.join(", ")) };
            match measure_values(measure, &groups) {
                Some(values) => lines.push(format!("{head}: {values}.")),
                None => lines.push(format!("{head}.")),
            }
        }
        push("Baseline Characteristics", lines);
    }
    for outcome in objects(results, &["outcomeMeasuresModule", "outcomeMeasures"]) {
        let Some(title) = str_at(outcome, &["title"]) else { continue };
        let kind = str_at(outcome, &["type"]).map(|t| {
            let words = enum_words(t);
            let mut c = words.chars();
            c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
        });
        let section_title = match kind {
            Some(k) => format!("{k} Outcome: {}", normalize_whitespace(title)),
            None => format!("Outcome: {}", normalize_whitespace(title)),
        };
        let mut lines: Vec<String> =
            str_at(outcome, &["description"]).map(markdown_to_paragraphs).unwrap_or_default();
        if let Some(t) = str_at(outcome, &["timeFrame"]) {
            lines.push(format!("Time frame: {}.", md_line(t).trim_end_matches('.')));
        }
        if let Some(values) = measure_values(outcome, &group_titles(outcome)) {
            let unit = str_at(outcome, &["unitOfMeasure"]).map(|u| format!(" ({u})")).unwrap_or_default();
            lines.push(format!("Results{unit}: {values}."));
        }
        push(&section_title, lines);
    }
    if let Some(ae) = results.get("adverseEventsModule") {
        let mut lines = Vec::new();
        if let Some(t) = str_at(ae, &["timeFrame"]) {
            lines.push(format!("Time frame: {}", md_line(t)));
        }
        if let Some(f) = scalar(ae, "frequencyThreshold") {
            lines.push(format!("Frequency threshold for other adverse events: {f}%."));
        }
        for g in objects(ae, &["eventGroups"]) {
            let Some(title) = str_at(g, &["title"]) else { continue };
            let count = |kind: &str| {
                let n = scalar(g, &format!("{kind}NumAffected"))?;
                let of = scalar(g, &format!("{kind}NumAtRisk"))?;
                Some(format!("{kind} {n}/{of}"))
            };
            let counts: Vec<String> = ["serious", "other", "deaths"]
                .iter()
                .filter_map(|k| {
                    if *k == "deaths" {
                        let n = scalar(g, "deathsNumAffected")?;
                        let of = scalar(g, "deathsNumAtRisk")?;
                        Some(format!("deaths {n}/{of}"))
                    } else {
                        count(k)
                    }
                })
                .collect();
            if !counts.is_empty() {
                lines.push(format!("{title}: {} affected.", counts.join(", ")));
            }
        }
        for (key, label) in
            [("seriousEvents", "Serious adverse events"), ("otherEvents", "Other adverse events")]
        {
            let terms: Vec<String> = objects(ae, &[key])
                .iter()
                .filter_map(|e| {
                    let term = str_at(e, &["term"])?;
                    let (mut affected, mut at_risk) = (0u64, 0u64);
                    for s in objects(e, &["stats"]) {
                        affected += s.get("numAffected").and_then(Value::as_u64).unwrap_or(0);
                        at_risk += s.get("numAtRisk").and_then(Value::as_u64).unwrap_or(0);
                    }
                    Some(if at_risk > 0 { format!("{term} ({affected}/{at_risk})") } else { term.to_owned() })
                })
                .collect();
            if !terms.is_empty() {
                lines.push(format!("{label}: {}.", terms.join("; ")));
            }
        }
        push("Adverse Events", lines);
    }
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
