//! The adapters on real public records (`examples/real-records/`, see its `SOURCES.md`): each
//! record's own fields, and its text as a reader sees it. The expected values were read from
//! the files (titles, ids, DOIs, years, first authors, and the numbers of abstracts, sections,
//! figures, tables, sub-articles, list items counted in the XML and JSON).

use std::path::PathBuf;

use serde_json::Value;
use stage_core::Job;
use stages_builtin::ingest::{
    run_ingest, Adapter, AdapterRequest, ClinicalTrialsAdapter, IngestConfig, OpenAlexAdapter, PmcAdapter,
    RecordOrSkip, SemanticScholarAdapter,
};
use stages_builtin::{Record, Section};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/real-records")
}

/// Every record the adapter reads from the real records; a skip fails the test.
fn all(adapter: &dyn Adapter) -> Vec<Record> {
    let out = adapter.fetch(&AdapterRequest::new(adapter.name(), data_dir())).unwrap();
    out.into_iter()
        .map(|r| match r {
            RecordOrSkip::Record(r) => r,
            RecordOrSkip::Skip(m) => panic!("{}: unexpected skip: {m}", adapter.name()),
        })
        .collect()
}

fn by_id<'a>(records: &'a [Record], id: &str) -> &'a Record {
    records.iter().find(|r| r.id == id).unwrap_or_else(|| panic!("no record {id}"))
}

fn section<'a>(r: &'a Record, title: &str) -> &'a Section {
    r.sections.iter().find(|s| s.title == title).unwrap_or_else(|| {
        panic!(
            "{}: no section {title:?} in {:?}",
            r.id,
            r.sections.iter().map(|s| &s.title).collect::<Vec<_>>()
        )
    })
}

/// All of a record's text: title, abstract, section titles and paragraphs.
fn texts(r: &Record) -> Vec<&str> {
    let mut out = vec![r.title.as_str()];
    out.extend(r.abstract_text.as_deref());
    for s in &r.sections {
        out.push(&s.title);
        out.extend(s.paragraphs.iter().map(String::as_str));
    }
    out
}

/// The text properties every record must have: no markup, no TeX preamble, no Markdown
/// escapes, normalised whitespace, no empty paragraphs.
fn assert_readable(r: &Record) {
    for t in texts(r) {
        for bad in [
            "\\documentclass",
            "\\usepackage",
            "\\begin{document}",
            "<i>",
            "</i>",
            "<sup>",
            "<sub>",
            "<jats:",
            "<mml:",
            "\\>",
            "\\<",
            "\\[",
            "\\]",
            "\\~",
            "\\^",
            "\\*",
            "\\&",
            "\u{a0}",
        ] {
            assert!(!t.contains(bad), "{}: {bad:?} in {t:?}", r.id);
        }
        // Whitespace normalised within a line (table rows are lines of one paragraph).
        // Table rows are ` | `-separated cells, which may be empty.
        for line in t.split('\n') {
            for cell in line.split(" | ") {
                let cell = if line.contains(" | ") { cell.trim() } else { cell };
                assert!(!cell.contains("  ") && cell.trim() == cell, "{}: whitespace in {line:?}", r.id);
            }
        }
    }
    assert!(!r.title.is_empty(), "{}", r.id);
    for s in &r.sections {
        assert!(!s.paragraphs.is_empty(), "{}: empty section {:?}", r.id, s.title);
        assert!(s.paragraphs.iter().all(|p| !p.is_empty()), "{}: empty paragraph in {:?}", r.id, s.title);
    }
}

fn count_titled(r: &Record, prefixes: &[&str]) -> usize {
    r.sections.iter().filter(|s| prefixes.iter().any(|p| s.title.starts_with(p))).count()
}

#[test]
fn pmc_articles() {
    let recs = all(&PmcAdapter);
    let ids: Vec<&str> = recs.iter().map(|r| r.id.as_str()).collect();
    // File-name order: PMC3040717-efetch, PMC6398430, PMC7417471, elife-preprint, elife_poa, journal.pone.
    assert_eq!(
        ids,
        [
            "PMC3040717",
            "PMC6398430",
            "PMC7417471",
            "10.7554/eLife.94685",
            "10.7554/eLife.02725",
            "10.1371/journal.pone.0185809"
        ]
    );
    recs.iter().for_each(assert_readable);

    // The efetch `<pmc-articleset>` wrapper.
    let r = by_id(&recs, "PMC3040717");
    assert_eq!(r.title, "Comprehensive Analysis of Missense Variations in the BRCT Domain of BRCA1 by Structural and Functional Assays");
    assert_eq!(r.doi.as_deref(), Some("10.1158/0008-5472.CAN-09-4563"));
    assert_eq!(r.year, Some(2010));
    assert_eq!(r.authors[0], "Megan S. Lee");
    assert_eq!(r.authors.len(), 11);
    assert_eq!((r.raw["pmid"].as_str(), r.raw["id_from"].as_str()), (Some("20516115"), Some("pmcid")));
    assert_eq!(count_titled(r, &["Figure"]), 4);
    assert_eq!(count_titled(r, &["Table"]), 2);
    assert_eq!(r.sections.len(), 14 + 4 + 2, "14 body sections with paragraphs, 4 figures, 2 tables");
    assert_eq!(r.sections[0].title, "Introduction");
    assert_eq!(r.sections[1].title, "Materials and Methods / Proteolysis assays");
    let t1 = section(r, "Table 1. Cross validation of functional assays with genetic data");
    assert!(t1.paragraphs.iter().any(|p| p.contains(" | ") && p.contains('\n')), "{t1:?}");

    // Two abstracts: the untyped one is the abstract, the teaser a section.
    let r = by_id(&recs, "PMC6398430");
    assert_eq!(
        r.title,
        "Counting crows: population structure and group size variation in an urban population of crows"
    );
    assert_eq!(r.doi.as_deref(), Some("10.1093/beheco/ary157"));
    assert_eq!(r.year, Some(2019));
    assert_eq!(r.authors[0], "Florian Uhl");
    let abs = r.abstract_text.as_deref().unwrap();
    assert!(abs.starts_with("Social complexity arises from the formation of social relationships"), "{abs}");
    assert!(abs.contains("fission\u{2013}fusion dynamics") && abs.contains("(Corvus corone ssp.)"), "{abs}");
    assert!(!abs.contains("With data collected over a 1-year period"));
    assert_eq!(r.raw["abstract_paragraphs"], 1);
    let teaser = section(r, "Abstract (teaser)");
    assert_eq!(teaser.paragraphs.len(), 1);
    assert!(teaser.paragraphs[0].starts_with("With data collected over a 1-year period"));
    assert_eq!(r.sections.len(), 1 + 13 + 4 + 4, "teaser, 13 body sections, 4 figures, 4 tables");
    // The display formulas between paragraphs: MathML linearised, paragraphs not glued.
    let analysis = section(r, "METHODS / Analysis");
    let i = analysis.paragraphs.iter().position(|p| p.ends_with("resightings of unmarked birds as")).unwrap();
    assert_eq!(analysis.paragraphs[i + 1], "CF = (CM_t \u{2212} CM_ind)/CM_t (1)");
    assert!(analysis.paragraphs[i + 2].starts_with("where CMt is the total number of sightings"));

    // `<alternatives>` with both TeX (and its preamble) and MathML: the MathML.
    let r = by_id(&recs, "PMC7417471");
    assert_eq!(r.doi.as_deref(), Some("10.1186/s40580-020-00237-4"));
    assert_eq!((r.year, r.authors[0].as_str(), r.authors.len()), (Some(2020), "Adel Mohammed Al-Dhahebi", 3));
    assert!(r.title.starts_with("Graphene impregnated electrospun nanofiber sensing materials"));
    assert_eq!((count_titled(r, &["Fig."]), count_titled(r, &["Table"])), (6, 4));
    assert_eq!(r.sections.len(), 13 + 6 + 4);
    let all_text = texts(r).join("\n");
    assert!(
        all_text.contains("glass transition coefficient (a) value from 0.2157 to 0.6545 mm2/s, glass transition temperature (T_g) value"),
        "the inline formulas `a` and `T_g` in their sentence"
    );

    // PLOS: no PMC id nor PMID: the DOI is the id.
    let r = by_id(&recs, "10.1371/journal.pone.0185809");
    assert_eq!(r.raw["id_from"], "doi");
    assert_eq!(r.doi.as_deref(), Some("10.1371/journal.pone.0185809"));
    assert_eq!(
        r.title,
        "More than 75 percent decline over 27 years in total flying insect biomass in protected areas"
    );
    assert_eq!((r.year, r.authors[0].as_str(), r.authors.len()), (Some(2017), "Caspar A. Hallmann", 12));
    assert_eq!((count_titled(r, &["Fig"]), count_titled(r, &["Table"])), (5, 4));
    assert_eq!(r.sections.len(), 9 + 5 + 4);
    let all_text = texts(r).join("\n");
    assert!(
        all_text.contains(
            "at a given trap location s is modeled as: T(t, s, k) = f_k(k) + f_t(t) + r(k, t) + a \u{d7} h + C_(s, t) (1) where fk(k) is the long-term trend"
        ),
        "display formula inside a paragraph, spaced on both sides"
    );
    assert!(all_text.contains("with variance σ_j^2: m_(j, s, k) ∼ N(μ_(j, s, k), σ_j^2) (2) subject to"));

    // eLife reviewed preprint: DOI id, sub-articles as sections.
    let r = by_id(&recs, "10.7554/eLife.94685");
    assert_eq!(r.raw["id_from"], "doi");
    assert!(r.title.starts_with("RETRACTED: Biases of Principal Component Analysis (PCA)"));
    assert_eq!((r.year, r.authors[0].as_str(), r.authors.len()), (Some(2024), "Nima Mohseni", 2));
    assert_eq!((count_titled(r, &["Figure"]), count_titled(r, &["Table"])), (16, 2));
    let subs: Vec<(&str, usize)> = r
        .sections
        .iter()
        .filter(|s| {
            ["editor-report", "referee-report", "author-comment"].iter().any(|k| s.title.starts_with(k))
        })
        .map(|s| (s.title.as_str(), s.paragraphs.len()))
        .collect();
    assert_eq!(
        subs,
        [
            ("editor-report: eLife Assessment", 1),
            ("referee-report: Reviewer #1 (Public review):", 5),
            ("referee-report: Reviewer #3 (Public review):", 6),
            // 98 paragraphs of its own and 52 in the 38 quotes of the reviewers (`disp-quote`).
            ("author-comment: Author response:", 150),
        ]
    );
    assert_eq!(r.sections.len(), 21 + 16 + 2 + 4);
    assert!(section(r, "editor-report: eLife Assessment").paragraphs[0].contains("making a compelling case"));

    // eLife POA: abstract only, year from the acceptance date.
    let r = by_id(&recs, "10.7554/eLife.02725");
    assert_eq!(r.raw["id_from"], "doi");
    assert_eq!(r.title, "Mismatch repair deficiency endows tumors with a unique mutation signature and sensitivity to DNA double-strand breaks");
    assert_eq!(r.abstract_text.as_deref(), Some("An abstract"));
    assert!(r.sections.is_empty());
    assert_eq!(r.year, Some(2014));
    assert_eq!(r.authors.len(), 17);
    assert_eq!((r.authors[0].as_str(), r.authors[14].as_str()), ("Hui Zhao", "ANECS"));
}

#[test]
fn clinicaltrials_studies() {
    let recs = all(&ClinicalTrialsAdapter);
    let ids: Vec<&str> = recs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["NCT00711542", "NCT01294579", "NCT03785600", "NCT03793439", "NCT04267848"]);
    recs.iter().for_each(assert_readable);
    // No Markdown emphasis left.
    for r in &recs {
        assert!(texts(r).iter().all(|t| !t.contains("**") && !t.starts_with("* ")), "{}", r.id);
    }

    let r = by_id(&recs, "NCT03793439");
    assert_eq!(
        r.title,
        "Tofacitinib Hypothesis-generating, Pilot Study for Corticosteroid-Dependent Sarcoidosis"
    );
    assert_eq!((r.year, r.authors.as_slice()), (Some(2019), &["Jim Rosenbaum, MD".to_owned()][..]));
    let elig = &section(r, "Eligibility").paragraphs;
    assert_eq!(elig.len(), 23, "2 headings and 21 list items, one paragraph each");
    assert_eq!(elig[0], "Inclusion Criteria:");
    assert_eq!(elig[4], "Forced vital capacity of > 50%");
    assert!(elig.contains(&"Hemoglobin < 9g/dL or hematocrit < 30%".to_owned()));
    assert!(elig.iter().any(|p| p.contains("(e.g., herpes zoster [shingles], cytomegalovirus")));
    assert_eq!(section(r, "Interventions").paragraphs.len(), 6);
    assert!(section(r, "Interventions").paragraphs[0]
        .starts_with("Tofacitinib 5mg Oral Tablet [Xeljanz] 16 week trial (drug):"));
    assert_eq!(
        section(r, "Participant Flow").paragraphs,
        ["Overall Study: started 5; completed 3; not completed 2."]
    );
    let baseline = &section(r, "Baseline Characteristics").paragraphs;
    assert!(baseline.contains(&"Age, Continuous (years, mean): 40.8 (35 to 50).".to_owned()), "{baseline:?}");
    assert!(baseline.contains(
        &"Sex: Female, Male (Participants, count of participants): Female: 1; Male: 4.".to_owned()
    ));
    let primary = section(
        r,
        "Primary Outcome: Number of Participants With 50% Reduction in Corticosteroid Requirement",
    );
    assert!(primary.paragraphs[0].contains("defined as a >15% decline in forced vital capacity"));
    assert_eq!(primary.paragraphs[1..], ["Time frame: 16 weeks.", "Results (Participants): 3."]);
    let ae = &section(r, "Adverse Events").paragraphs;
    assert!(ae.contains(&"Frequency threshold for other adverse events: 0%.".to_owned()));
    assert!(ae.contains(&"Open Label: serious 2/5, other 4/5, deaths 0/5 affected.".to_owned()));
    assert!(ae.iter().any(
        |p| p.starts_with("Serious adverse events: Peripheral motor neuropathy (1/5); Skin infection (1/5).")
    ));
    assert_eq!(
        r.pdf_url.as_deref(),
        Some("https://cdn.clinicaltrials.gov/large-docs/39/NCT03793439/Prot_SAP_000.pdf")
    );

    let r = by_id(&recs, "NCT01294579");
    assert_eq!((r.year, r.authors[0].as_str()), (Some(2011), "Novartis Pharmaceuticals"));
    assert_eq!(count_titled(r, &["Primary Outcome: "]), 1);
    assert_eq!(count_titled(r, &["Secondary Outcome: "]), 6);
    assert_eq!(
        section(r, "Primary Outcome: Complete Remission (CR) Rate of Induction Therapy After Cycle 6 (28 Days) (FAS)").paragraphs.last().unwrap(),
        "Results (percentage of participants): 24.5 (13.3 to 38.9)."
    );
    assert!(section(r, "Participant Flow").paragraphs[0]
        .starts_with("Overall Study: started 49; completed 14; not completed 35"));
    let ae = &section(r, "Adverse Events").paragraphs;
    assert!(ae.contains(&"Frequency threshold for other adverse events: 5%.".to_owned()), "{ae:?}");
    let all_text = texts(r).join("\n");
    assert!(all_text.contains("(Cockcroft Gault equation [Cockcroft, 1976])"));
    assert!(all_text.contains("Total bilirubin > 1.5 times ULN [upper normal limit]"));

    // Nested list items and a `\~`.
    let r = by_id(&recs, "NCT03785600");
    assert_eq!(r.title, "Improving Sleep in Veterans With TBI");
    assert_eq!(
        section(r, "Eligibility").paragraphs.len(),
        18,
        "3 headings, 7 inclusion items (2 nested), 8 exclusion"
    );
    assert_eq!(
        section(r, "Eligibility").paragraphs[4],
        "defined by clinically abnormal Insomnia Severity Index and/or Functional Outcomes of Sleep scores"
    );
    assert!(r.sections.iter().all(|s| !s.title.starts_with("Primary Outcome:")), "no results section");

    let r = by_id(&recs, "NCT00711542");
    assert_eq!((r.year, r.authors[0].as_str()), (Some(2008), "Andreas M Zeiher, MD"));
    assert!(texts(r).join("\n").contains("ST-depression in at least 2 leads > 0,1 mV"));
    let r = by_id(&recs, "NCT04267848");
    assert_eq!((r.year, r.authors[0].as_str()), (Some(2020), "Jacob M Sands"));
    assert_eq!(section(r, "Interventions").paragraphs.len(), 12);
}

#[test]
fn openalex_works() {
    let recs = all(&OpenAlexAdapter);
    recs.iter().for_each(assert_readable);
    // Five single works, then the list page's five results.
    let ids: Vec<&str> = recs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "W1527311855",
            "W2033425827",
            "W2083222334",
            "W2241997964",
            "W2612755892",
            "W2250748100",
            "W3200026003",
            "W2612755892",
            "W3188841554",
            "W2241997964"
        ]
    );
    let page = OpenAlexAdapter
        .fetch(
            &AdapterRequest::new("openalex", data_dir())
                .with_param("path", "openalex/list-page_authorships.author.id-A5017898742_per_page-5.json"),
        )
        .unwrap();
    assert_eq!(page.len(), 5);

    let r = by_id(&recs, "W2083222334");
    assert_eq!(
        r.title,
        "Efficient iterative schemes for ab initio total-energy calculations using a plane-wave basis set"
    );
    assert_eq!(r.doi.as_deref(), Some("10.1103/physrevb.54.11169"));
    assert_eq!((r.year, r.authors[0].as_str()), (Some(1996), "Georg Kresse"));
    let abs = r.abstract_text.as_deref().unwrap();
    assert_eq!(abs.split(' ').count(), 233, "one word per inverted-index position");
    assert!(abs.starts_with("We present an efficient scheme for calculating the Kohn-Sham ground state"));
    assert!(abs.ends_with("\u{a9} 1996 The American Physical Society."), "{abs}");

    let r = by_id(&recs, "W1527311855");
    assert_eq!(
        (r.title.as_str(), r.year, r.doi.as_deref()),
        ("Case Study Research: Design and Methods", Some(1984), None)
    );
    assert!(r.abstract_text.as_deref().unwrap().starts_with("Buku ini menyediakan sebuah portal lengkap"));
    assert_eq!(r.abstract_text.as_deref().unwrap().split(' ').count(), 56);

    let r = by_id(&recs, "W2612755892");
    assert_eq!(r.title, "The desktop is dead, long live the desktop! \u{2013} Towards a multisensory desktop for visualization");
    assert_eq!(r.abstract_text, None);
    let r = by_id(&recs, "W2033425827");
    assert_eq!((r.year, r.authors[0].as_str(), r.authors.len()), (Some(2015), "Richard S. Geary", 4));
    assert_eq!(r.doi.as_deref(), Some("10.1016/j.addr.2015.01.008"));
    let r = by_id(&recs, "W3188841554");
    assert_eq!(r.doi.as_deref(), Some("10.48550/arxiv.2108.04680"));
}

#[test]
fn semantic_scholar_papers() {
    let recs = all(&SemanticScholarAdapter);
    recs.iter().for_each(assert_readable);
    let ids: Vec<&str> = recs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "053e2bc1025bc7bf0afd6f827caad680810bb39c",
            "22d840026482e82dce65c5d0f91eb72b7b7bba1e",
            "7fd167090a37dc52c5e5b3740dfa53b41c1e86f4",
            "059f780c07b87339c275192f1b82662747c28ccd",
            // The batch with a null element: the five others, the null skipped.
            "0cc8fffff5cc69081cce435709070e0687224aa3",
            "709638d7591074f3879df519c0fdd1144d2cfc03",
            "c31e7327bacee0a32c6a7dd2f61c84ec88ffab8a",
            "8b5957bc14f58a6d1b004f3be3197c919c2d524e",
            "c77d70c4f0cb52450cf401a26cdc18cd3dce3ae3",
        ]
    );

    // Literal newlines and no-break spaces in the title.
    let r = by_id(&recs, "053e2bc1025bc7bf0afd6f827caad680810bb39c");
    assert!(r.title.contains("13 TeV pp collisions"), "{}", r.title);
    assert!(!r.title.contains('\n'));
    assert_eq!((r.authors.len(), r.authors[0].as_str(), r.year), (500, "G. Aad", None));
    assert!(r
        .abstract_text
        .as_deref()
        .unwrap()
        .starts_with("A search is presented for the pair production of heavy vectorlike quarks"));

    // No `abstract` key: a title-only record.
    let r = by_id(&recs, "22d840026482e82dce65c5d0f91eb72b7b7bba1e");
    assert_eq!(r.title, "Review of current trends in research and applications of sandwich structures");
    assert_eq!((r.abstract_text.as_deref(), r.year), (None, Some(2018)));
    assert_eq!(r.doi.as_deref(), Some("10.1016/J.COMPOSITESB.2018.01.027"));
    assert_eq!((r.authors[0].as_str(), r.authors.len()), ("V. Birman", 2));

    let r = by_id(&recs, "7fd167090a37dc52c5e5b3740dfa53b41c1e86f4");
    assert!(r
        .abstract_text
        .as_deref()
        .unwrap()
        .starts_with("Η αυξανόμενη χρήση των μέσων κοινωνικής δικτύωσης"));
    let r = by_id(&recs, "059f780c07b87339c275192f1b82662747c28ccd");
    assert_eq!(
        (r.year, r.doi.as_deref(), r.authors.len()),
        (Some(2010), Some("10.1158/0008-5472.CAN-09-4563"), 0)
    );
    // `"abstract": null` is no abstract.
    assert_eq!(by_id(&recs, "0cc8fffff5cc69081cce435709070e0687224aa3").abstract_text, None);
    assert!(by_id(&recs, "c31e7327bacee0a32c6a7dd2f61c84ec88ffab8a").abstract_text.is_some());
    assert_eq!(by_id(&recs, "8b5957bc14f58a6d1b004f3be3197c919c2d524e").authors.len(), 18);
}

/// Through the `ingest` stage, strict: every real record file is read, none is malformed.
#[test]
fn the_real_records_ingest_strictly() {
    let cfg = IngestConfig {
        data_dir: Some(data_dir().to_string_lossy().into_owned()),
        strict: true,
        ..IngestConfig::default()
    };
    // OpenAlex: 5 single works and a page of 5 that holds 2 of them again: 8 records, each once.
    for (source, n) in [("pmc", 6), ("clinicaltrials", 5), ("openalex", 8), ("semantic-scholar", 9)] {
        let out = run_ingest(&Job::new("real", source), &Value::Null, &cfg, None).unwrap();
        assert_eq!(out.len(), n, "{source}");
    }
    // By id: a DOI-identified article is found by its DOI and by its file stem.
    let out =
        run_ingest(&Job::new("real", "pmc"), &serde_json::json!("10.1371/journal.pone.0185809"), &cfg, None)
            .unwrap();
    assert_eq!(out[0].id, "10.1371/journal.pone.0185809");
    let out =
        run_ingest(&Job::new("real", "pmc"), &serde_json::json!({"id": "journal.pone.0185809"}), &cfg, None)
            .unwrap();
    assert_eq!(out[0].id, "10.1371/journal.pone.0185809");
}
