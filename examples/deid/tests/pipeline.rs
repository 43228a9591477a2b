//! The plugin's own tests, with the testing registry: an explicit list of stages (this
//! plugin's and the built-ins it runs with), independent of whatever else is linked.

use serde_json::json;
use stage_core::{registration, spec, Job, Plan, PlanOptions, RunStatus, Runner, StageRegistry};
use stages_builtin::{Chunk, Document, Section};

fn registry() -> StageRegistry {
    StageRegistry::builder()
        .register(registration!(deid_plugin::deidentify))
        .register(registration!(stages_builtin::chunk::chunk))
        .register(registration!(stages_builtin::gate::gate))
        .build()
}

const PIPELINE: &str = "\
name: deid-demo
version: 2026-11-29
stages:
  - name: deliver
    type: gate
    config:
      conditions:
        - key: ready
          expected: true
  - name: chunk
    type: chunk
    depends_on: [deliver]
  - name: deidentify
    type: deidentify
    depends_on: [chunk]
    config:
      dates: false
gates:
  - name: delivered
    stage: deliver
";

#[test]
fn the_testing_registry_holds_exactly_the_listed_stages() {
    let r = registry();
    assert_eq!(r.stage_types(), ["chunk", "deidentify", "gate"]);
    assert!(r.check().is_ok(), "{:?}", r.problems());
    let meta = r.get_metadata("deidentify").unwrap();
    assert_eq!(meta.state_key().keys(), ["chunks"]);
    // 0.3.0: the masking rules changed (a stored run sees the new version in its fingerprint).
    assert_eq!(meta.version(), "0.3.0");
    assert_eq!(meta.dependencies(), ["chunk"]);
}

#[test]
fn a_pipeline_mixing_the_plugin_with_built_in_stages_masks_the_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let doc = Document {
        id: "note-1".into(),
        title: "Clinic note".into(),
        source: "file".into(),
        metadata: Default::default(),
        sections: vec![Section {
            title: "Visit".into(),
            paragraphs: vec![
                "Dr. Alvarez saw the patient on 2024-03-15. Call 555-123-4567 or write to a.b@example.org."
                    .into(),
            ],
        }],
    };
    let doc_path = dir.path().join("note.json");
    std::fs::write(&doc_path, serde_json::to_string(&doc).unwrap()).unwrap();

    let loaded = spec::load_str("deid-demo.yaml", PIPELINE).unwrap();
    let plan =
        Plan::new(&loaded.value, &registry(), &PlanOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let runner = Runner::new();
    runner.ledger().set("n-1", "ready", json!(true)).unwrap();
    runner.ledger().set("n-1", "pdf_ir_path", json!(doc_path.display().to_string())).unwrap();
    let out = runner.run(&plan, Job::new("n-1", "file"));
    assert_eq!(out.report.status, RunStatus::Completed, "{:#?}", out.report);
    let chunks = out.state.written("deidentify", "chunks").unwrap();
    let chunks = chunks.downcast_ref::<Vec<Chunk>>().unwrap();
    // The first chunk is the title; the second, the note.
    assert_eq!(chunks[0].text, "Clinic note");
    assert_eq!(chunks[1].text, "Dr. [NAME] saw the patient on 2024-03-15. Call [PHONE] or write to [EMAIL].");
}
