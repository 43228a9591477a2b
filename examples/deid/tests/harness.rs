//! The `deidentify` stage alone, through stage-core's one-stage harness: chunks in, masked
//! chunks out, with the config a pipeline file would give (the pipeline test, with built-in
//! stages around it, is `pipeline.rs`).

use serde_json::json;
use stage_core::registration;
use stage_core::run::EventKind;
use stage_core::testing::{HarnessError, HarnessStatus, StageHarness};
use stage_types::Chunk;

fn chunk(index: usize, text: &str) -> Chunk {
    Chunk {
        id: format!("note-1#{index}"),
        doc_id: "note-1".into(),
        index,
        section: "Visit".into(),
        text: text.into(),
    }
}

fn notes() -> Vec<Chunk> {
    vec![
        chunk(0, "Clinic note"),
        chunk(1, "Dr. Alvarez saw the patient on 2024-03-15. Call 555-123-4567 or write to a.b@example.org."),
        chunk(2, "Fever 38.5 °C in 30–40% (≥4-fold)."),
    ]
}

#[test]
fn the_stage_masks_each_chunk_and_counts_them() {
    let out = StageHarness::new(registration!(deid_plugin::deidentify))
        .input("chunks", notes())
        .config(json!({"dates": false}))
        .run()
        .unwrap();
    assert_eq!(*out.status(), HarnessStatus::Completed);
    let chunks: &Vec<Chunk> = out.output("chunks").unwrap();
    let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "Clinic note",
            "Dr. [NAME] saw the patient on 2024-03-15. Call [PHONE] or write to [EMAIL].",
            "Fever 38.5 °C in 30–40% (≥4-fold).",
        ]
    );
    // Everything but the text is kept.
    assert_eq!(chunks[1].id, "note-1#1");
    assert_eq!(out.count(), Some(3));
    assert!(out.events().iter().any(|e| matches!(e.kind, EventKind::Completed { output_count: 3, .. })));
}

#[test]
fn the_default_config_masks_dates_too() {
    let out =
        StageHarness::new(registration!(deid_plugin::deidentify)).input("chunks", notes()).run().unwrap();
    let chunks: &Vec<Chunk> = out.output("chunks").unwrap();
    assert_eq!(chunks[1].text, "Dr. [NAME] saw the patient on [DATE]. Call [PHONE] or write to [EMAIL].");
}

#[test]
fn no_chunks_is_no_output_count() {
    let out = StageHarness::new(registration!(deid_plugin::deidentify))
        .input("chunks", Vec::<Chunk>::new())
        .run()
        .unwrap();
    assert_eq!(out.output::<Vec<Chunk>>("chunks").unwrap().len(), 0);
    assert_eq!(out.count(), Some(0));
}

#[test]
fn a_misspelled_config_field_is_refused_by_the_planner() {
    let err = StageHarness::new(registration!(deid_plugin::deidentify))
        .input("chunks", notes())
        .config_yaml("date: false")
        .run()
        .unwrap_err();
    assert!(matches!(err, HarnessError::Plan { .. }), "{err}");
    assert!(err.to_string().contains("`date`"), "{err}");
}

#[test]
fn chunks_given_as_text_are_refused_with_both_types() {
    let err = StageHarness::new(registration!(deid_plugin::deidentify))
        .input("chunks", vec!["Dr. Alvarez".to_owned()])
        .run()
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("reads `chunks` as `alloc::vec::Vec<stage_types::Chunk>`"), "{msg}");
    assert!(msg.contains("`alloc::vec::Vec<alloc::string::String>`"), "{msg}");
}
