//! `stagectl` as a user runs it: the registry, validation, the main job, queries, the ledger.

mod common;

use common::{record, root, stagectl, text};

#[test]
fn list_shows_the_built_in_stages_and_the_linked_plugin() {
    let out = stagectl(&["list"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    for t in stages_builtin::STAGE_TYPES.iter().chain(&["deidentify"]) {
        assert!(stdout.lines().any(|l| l.starts_with(&format!("{t} "))), "{t} missing:\n{stdout}");
    }
    assert!(stdout.contains("deid-plugin"), "{stdout}");
    let json: serde_json::Value = serde_json::from_slice(&stagectl(&["list", "--json"]).stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), stages_builtin::STAGE_TYPES.len() + 1);
    // The same on every machine: crate-relative files; replacements and problems listed.
    for stage in json.as_array().unwrap() {
        let file = stage["defined_at"]["file"].as_str().unwrap();
        assert!(file.starts_with("src/"), "{file}");
        assert_eq!(stage["replaces"], serde_json::json!([]), "{stage}");
        assert_eq!(stage["problems"], serde_json::json!([]), "{stage}");
    }
}

#[test]
fn required_stage_types_are_checked_at_start_up() {
    let ok = stagectl(&["--require", "chunk,deidentify", "list"]);
    assert!(ok.status.success(), "{}", text(&ok));
    let missing = stagectl(&["--require", "chunk,ocr-magic", "--require", "zzz", "list"]);
    assert_eq!(missing.status.code(), Some(2));
    let err = text(&missing);
    assert!(err.contains("required stage type(s) not registered: `ocr-magic`, `zzz`"), "{err}");
    assert!(err.contains("`use my_plugin as _;`"), "{err}");
    assert!(!err.contains("`chunk`"), "{err}");
    // Nothing is replaced in this host: strict mode starts.
    let strict = stagectl(&["--strict", "list"]);
    assert!(strict.status.success(), "{}", text(&strict));
    assert!(!String::from_utf8_lossy(&strict.stdout).contains("replaced:"));
}

#[test]
fn a_pipeline_naming_an_unlinked_type_says_the_plugin_may_not_be_linked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.yaml");
    std::fs::write(&file, "name: p\nversion: 2024-01-01\nstages:\n  - name: a\n    type: ocr-magic\n")
        .unwrap();
    let out = stagectl(&["validate", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("unknown stage type `ocr-magic`"), "{}", text(&out));
    assert!(text(&out).contains("that crate may not be linked"), "{}", text(&out));
}

#[test]
fn describe_gives_keys_inputs_config_version_and_definition_site() {
    let out = stagectl(&["describe", "chunk", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["state_key"], serde_json::json!(["chunks"]));
    assert_eq!(j["inputs"][0]["key"], "document");
    assert_eq!(j["inputs"][0]["type"], "stage_types::Document");
    assert_eq!(j["config"]["defaults"], serde_json::json!({"size": 800, "overlap": 100}));
    assert_eq!(j["defined_at"]["crate"], "stages-builtin");
    let unknown = stagectl(&["describe", "chunck"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        text(&unknown).contains("unknown stage type `chunck`; did you mean `chunk`?"),
        "{}",
        text(&unknown)
    );
}

#[test]
fn validate_passes_the_shared_files_and_the_examples() {
    let mut dirs = vec![root().join("examples/pipelines")];
    dirs.push(root().join("tests/compat/pipelines"));
    for dir in dirs {
        let out = stagectl(&["validate", dir.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("with errors")
                && text(&out).contains(", 0 with errors")
        );
    }
}

#[test]
fn validate_reports_every_problem_located_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.yaml");
    let yaml = std::fs::read_to_string(root().join("examples/pipelines/literature.yaml"))
        .unwrap()
        .replace("depends_on: [chunk]", "depend_on: [chunk]")
        .replace("type: knowledge-graph", "type: knowledge-graf");
    std::fs::write(&file, yaml).unwrap();
    let out = stagectl(&["validate", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let path = file.display();
    assert!(
        stdout.contains(&format!(
            "{path}:29:5: error: unknown key `depend_on` in stage `deidentify`; did you mean `depends_on`?"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("unknown stage type `knowledge-graf`; did you mean `knowledge-graph`?"),
        "{stdout}"
    );
    assert!(stdout.contains("1 file(s), 0 valid, 1 with errors"), "{stdout}");
}

#[test]
fn validate_reports_four_typos_in_four_places_in_one_pass() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("typos.yaml");
    let yaml = std::fs::read_to_string(root().join("examples/pipelines/literature.yaml"))
        .unwrap()
        .replace("depends_on: [chunk]", "depend_on: [chunk]") // structure
        .replace("policy: gpu-bound", "policy: gpu-bund") // policy
        .replace("size: 400", "sise: 400") // a config field
        .replace("overlap: 80", "overlap: lots"); // another field of the same config
    std::fs::write(&file, yaml).unwrap();
    let out = stagectl(&["validate", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let errors: Vec<&str> = stdout.lines().filter(|l| l.contains(": error: ")).collect();
    assert_eq!(errors.len(), 4, "{stdout}");
    assert!(errors[0].contains("unknown field `sise`") || errors[0].contains("`sise`"), "{stdout}");
    assert!(errors.iter().any(|e| e.contains("config field `overlap`")), "{stdout}");
    assert!(errors.iter().any(|e| e.contains("unknown key `depend_on`")), "{stdout}");
    assert!(errors.iter().any(|e| e.contains("unknown policy `gpu-bund`")), "{stdout}");
    // The same four with `--json`, as one object.
    let out = stagectl(&["validate", "--json", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let diags = j["diagnostics"].as_array().unwrap();
    assert_eq!(diags.iter().filter(|d| d["severity"] == "error").count(), 4, "{j}");
    assert!(diags.iter().all(|d| d["file"] == file.to_str().unwrap()), "{j}");
    assert_eq!(
        (j["ok"].clone(), j["errors"].clone(), j["files_with_errors"].clone()),
        (false.into(), 4.into(), 1.into())
    );
    assert_eq!(j["files"][0]["diagnostics"].as_array().unwrap().len(), diags.len());
}

#[test]
fn the_main_job_runs_the_corpus_and_its_results_can_be_queried_and_rerun_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    let run = || {
        stagectl(&["run", "examples/pipelines/literature.yaml", "examples/jobs/corpus.jsonl", "--store", s])
    };
    let out = run();
    assert!(out.status.success(), "{}", text(&out));
    let all = text(&out);
    // 7 submitted jobs; the 4 naming a folder or a file of several records become one job per
    // record: 13 runs.
    assert!(all.contains("13 job(s): 13 completed, 0 parked, 0 failed"), "{all}");
    assert!(all.contains("job oa-all/W9000000002 (a record of job oa-all) — pipeline literature"), "{all}");
    assert!(all.contains("job file-1/rec-1 (a record of job file-1)"), "{all}");
    // Progress off a terminal: one line per job, none per stage.
    let err = String::from_utf8_lossy(&out.stderr);
    // The count grows as submitted jobs expand into one job per record: 13 in the end.
    assert!(err.contains("job `ct-1`: completed, 9 stage(s) in "), "progress per job: {err}");
    assert!(err.contains("[13/13] job `"), "{err}");
    assert_eq!(err.lines().filter(|l| l.starts_with('[') && l.contains("] job `")).count(), 13, "{err}");
    assert!(!err.contains("started"), "{err}");
    assert!(all.contains("STAGE"), "summary table: {all}");

    let stats = |()| -> serde_json::Value {
        serde_json::from_slice(&stagectl(&["query", "stats", "--json", "--store", s]).stdout).unwrap()
    };
    let first = stats(());
    assert!(first["chunks"].as_u64().unwrap() > 20, "{first}");
    let hits = stagectl(&["query", "text", "metformin", "--json", "--store", s]);
    let hits: serde_json::Value = serde_json::from_slice(&hits.stdout).unwrap();
    assert!(hits[0]["text"].as_str().unwrap().to_lowercase().contains("metformin"), "{hits}");
    let edges = stagectl(&["query", "neighbors", "metformin", "--json", "--store", s]);
    let edges: serde_json::Value = serde_json::from_slice(&edges.stdout).unwrap();
    assert!(edges.as_array().unwrap().iter().any(|e| e["predicate"] == "reduces"), "{edges}");

    assert!(run().status.success());
    assert_eq!(stats(()), first, "running the jobs again replaces their rows");
    assert_eq!(record(&store, "ct-1")["status"], "completed");
}

/// The README's second run: the main pipeline over the real public records in the repository
/// (all four formats: title-only records, a results page, batches, publisher JATS, formulas,
/// studies with results). Every job completes, text is free of markup, and hits name their
/// record.
#[test]
fn the_main_pipeline_completes_every_real_record() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().to_str().unwrap();
    let out = stagectl(&[
        "run",
        "examples/pipelines/literature.yaml",
        "examples/jobs/real-records.jsonl",
        "--store",
        s,
        "--quiet",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // 5 studies, 8 OpenAlex works (a page of 5 overlapping 2 single works), 6 JATS articles,
    // 9 Semantic Scholar papers (a null in a batch skipped).
    assert_eq!(lines.len(), 28, "{}", text(&out));
    for l in &lines {
        assert_eq!(l["status"], "completed", "{l}");
        let job = l["job_id"].as_str().unwrap();
        assert!(job.starts_with(&format!("{}/", l["request_id"].as_str().unwrap())), "{job}");
    }
    // A title-only record is a document whose title is found.
    let hits = stagectl(&["query", "text", "Harnessing Photogrammetry", "--json", "--store", s]);
    let hits: serde_json::Value = serde_json::from_slice(&hits.stdout).unwrap();
    assert_eq!(hits[0]["doc_id"], "W2241997964", "{hits}");
    assert_eq!(hits[0]["job_id"], "real-oa/W2241997964", "{hits}");
    // The record of a results page is its own document.
    let hits =
        stagectl(&["query", "text", "tofacitinib sarcoidosis", "--json", "--limit", "20", "--store", s]);
    let hits: serde_json::Value = serde_json::from_slice(&hits.stdout).unwrap();
    assert!(hits.as_array().unwrap().iter().all(|h| h["doc_id"] == "NCT03793439"), "{hits}");
    // No markup reached the index.
    for needle in ["documentclass", "usepackage", "<i>", "<sup>", "mml:"] {
        let hits = stagectl(&["query", "text", &format!("\"{needle}\""), "--json", "--store", s]);
        let hits: serde_json::Value = serde_json::from_slice(&hits.stdout).unwrap_or_default();
        assert!(
            hits.as_array()
                .is_none_or(|a| a.iter().all(|h| !h["text"].as_str().unwrap_or("").contains(needle))),
            "{needle}: {hits}"
        );
    }
}

#[test]
fn job_ids_outside_the_syntax_are_refused_naming_the_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    for (id, says) in [
        ("é", "contains 'é'"),
        ("..", "`.` and `..` alone name no job"),
        ("", "a job id is empty"),
        (&"x".repeat(201), "has 201 characters; at most 200"),
        ("a b", "contains ' '"),
    ] {
        let job = serde_json::json!({"job_id": id, "source": "clinicaltrials",
            "adapter_request": {"data_dir": "examples/data", "id": "NCT90000001"}})
        .to_string();
        let out = stagectl(&[
            "run",
            "examples/pipelines/literature.yaml",
            &job,
            "--store",
            store.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2), "{id}: {}", text(&out));
        assert!(text(&out).contains(says), "{id}: {}", text(&out));
    }
    assert!(!store.join("journal.sqlite").exists(), "nothing ran");
}

#[test]
fn repeated_job_ids_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("jobs.jsonl");
    let job = r#"{"job_id": "twice", "source": "clinicaltrials", "adapter_request": {"data_dir": "examples/data", "id": "NCT90000001"}}"#;
    std::fs::write(&jobs, format!("{job}\n{job}\n")).unwrap();
    let store = dir.path().join("store");
    let out = stagectl(&[
        "run",
        "examples/pipelines/literature.yaml",
        jobs.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("job id `twice` appears more than once in the batch"), "{}", text(&out));
    assert!(!store.join("runs").exists(), "nothing ran");
}

#[test]
fn ledger_get_and_set_work_as_an_external_process_would() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().to_str().unwrap();
    assert!(stagectl(&["ledger", "set", "j-9", "pdf_ir_ready", "true", "--store", s]).status.success());
    assert!(stagectl(&["ledger", "set", "j-9", "note", "hello there", "--store", s]).status.success());
    let got = stagectl(&["ledger", "get", "j-9", "pdf_ir_ready", "--store", s]);
    assert_eq!(String::from_utf8_lossy(&got.stdout).trim(), "true");
    let all: serde_json::Value =
        serde_json::from_slice(&stagectl(&["ledger", "get", "j-9", "--json", "--store", s]).stdout).unwrap();
    assert_eq!(all, serde_json::json!({"note": "hello there", "pdf_ir_ready": true}));
    let missing = stagectl(&["ledger", "get", "j-9", "nope", "--store", s]);
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn sync_every_stage_stores_the_same_record() {
    let dir = tempfile::tempdir().unwrap();
    let first = std::fs::read_to_string(root().join("examples/jobs/corpus.jsonl")).unwrap();
    let job = first.lines().next().unwrap().to_owned();
    let id = serde_json::from_str::<serde_json::Value>(&job).unwrap()["job_id"].as_str().unwrap().to_owned();
    let mut stored = Vec::new();
    for (store, extra) in [("a", None), ("b", Some("--sync-every-stage"))] {
        let s = dir.path().join(store);
        let mut args =
            vec!["run", "examples/pipelines/literature.yaml", &job, "--store", s.to_str().unwrap()];
        args.extend(extra);
        let out = stagectl(&args);
        assert!(out.status.success(), "{}", text(&out));
        let rec = record(&s, &id);
        assert_eq!(rec["status"], "completed");
        let lines: Vec<_> = rec["report"]["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["name"].clone(), l["status"].clone(), l["output_count"].clone()))
            .collect();
        stored.push((
            lines,
            rec["report"]["results"]["chunk"].clone(),
            rec["state"]["stages"]["embed"].clone(),
        ));
    }
    assert_eq!(stored[0].0.len(), 9);
    assert_eq!(stored[0].0, stored[1].0);
    assert_eq!(stored[0].1, stored[1].1);
    assert_eq!(stored[0].2["written"], stored[1].2["written"]);
}

#[test]
fn a_failing_job_fails_the_batch_but_not_the_other_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("jobs.jsonl");
    let good = std::fs::read_to_string(root().join("examples/jobs/corpus.jsonl")).unwrap();
    let first = good.lines().next().unwrap();
    let bad = r#"{"job_id": "missing", "source": "clinicaltrials", "adapter_request": {"data_dir": "examples/data", "id": "NCT00000000"}}"#;
    std::fs::write(&jobs, format!("{first}\n{bad}\n")).unwrap();
    let s = dir.path().join("store");
    let out = stagectl(&[
        "run",
        "examples/pipelines/literature.yaml",
        jobs.to_str().unwrap(),
        "--store",
        s.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("2 job(s): 1 completed, 0 parked, 1 failed"), "{all}");
    assert_eq!(record(&s, "missing")["status"], "failed");
    let line = &record(&s, "missing")["report"]["stages"][0];
    assert_eq!(line["status"], "failed");
    assert!(line["message"].as_str().unwrap().contains("NCT00000000"), "{line}");
    assert_eq!(record(&s, "missing")["report"]["stages"][1]["status"], "skipped");
    // Off a terminal: no ANSI escapes, the failure said once (not again by the logs), and one
    // progress line per job, not one per stage.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains('\x1b'), "{err}");
    assert_eq!(err.matches("FAILED on attempt 1").count(), 1, "{err}");
    assert!(!err.contains("ERROR"), "{err}");
    let progress: Vec<&str> = err.lines().filter(|l| l.starts_with('[') && l.contains("/2] job `")).collect();
    assert_eq!(progress.len(), 2, "{err}");
    assert!(progress.iter().any(|l| l.contains("job `missing`: FAILED, 9 stage(s)")), "{err}");
    assert!(err.lines().count() <= 4, "{err}");
}

/// `stagectl` with extra environment variables.
fn stagectl_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_stagectl"));
    cmd.env("STAGES_EMBEDDER", "feature-hashing");
    cmd.args(args).current_dir(root()).env_remove("RUST_LOG").env_remove("STAGECTL_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("stagectl runs")
}

#[test]
fn rust_log_and_stagectl_log_filter_the_logs() {
    let quiet = stagectl_env(&["list"], &[]);
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("stage registry ready"));
    for var in ["RUST_LOG", "STAGECTL_LOG"] {
        let out = stagectl_env(&["list"], &[(var, "stage_core=debug")]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("stage registry ready"), "{var}: {err}");
        assert!(!err.contains('\x1b'), "{var}: {err}");
    }
    // STAGECTL_LOG wins over RUST_LOG.
    let both = stagectl_env(&["list"], &[("RUST_LOG", "stage_core=debug"), ("STAGECTL_LOG", "error")]);
    assert!(!String::from_utf8_lossy(&both.stderr).contains("stage registry ready"));
    let bad = stagectl_env(&["list"], &[("RUST_LOG", "[[[")]);
    assert!(bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a log filter"));
}

#[test]
fn json_errors_are_one_documented_object_on_stdout() {
    let error = |args: &[&str], code: i32| -> serde_json::Value {
        let out = stagectl(args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", text(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", text(&out)));
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        assert_eq!(v["error"]["exit_code"], code, "{v}");
        v["error"].clone()
    };
    let e = error(&["describe", "chunck", "--json"], 2);
    assert_eq!(
        (e["kind"].as_str(), e["suggestions"][0].as_str()),
        (Some("unknown_stage_type"), Some("chunk"))
    );
    let e = error(&["--json", "graph", "x.yaml", "--format", "png"], 2);
    assert_eq!(e["kind"], "usage");
    assert!(e["message"].as_str().unwrap().contains("mermaid, dot"), "{e}");
    let e = error(&["--json", "--require", "ocr-magic", "list"], 2);
    assert_eq!(
        (e["kind"].as_str(), e["missing"].clone()),
        (Some("registry"), serde_json::json!(["ocr-magic"]))
    );
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().to_str().unwrap();
    assert_eq!(error(&["--json", "resume", "nope", "--store", s], 2)["kind"], "not_found");
    assert_eq!(error(&["--json", "ledger", "get", "j", "f", "--store", s], 1)["kind"], "not_found");
    let e = error(&["--json", "run", "no/such.yaml", "{}", "--store", s], 2);
    assert_eq!(e["kind"], "pipeline", "{e}");
    assert!(e["diagnostics"][0]["message"].as_str().is_some(), "{e}");
    // The commands that printed text only now print JSON too.
    let set = stagectl(&["--json", "ledger", "set", "j", "ready", "true", "--store", s]);
    let set: serde_json::Value = serde_json::from_slice(&set.stdout).unwrap();
    assert_eq!(set, serde_json::json!({"job_id": "j", "field": "ready", "value": true, "metadata": false}));
    let watch = stagectl(&["--json", "watch", "--once", "--store", s]);
    assert!(watch.status.success(), "{}", text(&watch));
    let watch: serde_json::Value = serde_json::from_slice(&watch.stdout).unwrap();
    assert_eq!(watch, serde_json::json!({"watch": {"resumed": 0, "still_parked": 0, "failed": false}}));
}

#[test]
fn choices_are_checked_by_clap_and_completions_are_printed() {
    let bad = stagectl(&["graph", "examples/pipelines/literature.yaml", "--format", "png"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad).contains("[possible values: mermaid, dot]"), "{}", text(&bad));
    for (shell, marker) in
        [("bash", "_stagectl()"), ("zsh", "#compdef stagectl"), ("fish", "complete -c stagectl")]
    {
        let out = stagectl(&["completions", shell]);
        assert!(out.status.success(), "{}", text(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains(marker) && script.contains("allow-replace"), "{shell}: {script}");
    }
}

#[test]
fn graph_draws_mermaid_and_dot() {
    let m = stagectl(&["graph", "examples/pipelines/literature.yaml"]);
    let m = String::from_utf8_lossy(&m.stdout);
    assert!(m.starts_with("flowchart TD\n") && m.contains("    extract --> kg\n"), "{m}");
    let d = stagectl(&["graph", "examples/pipelines/literature.yaml", "--format", "dot"]);
    assert!(String::from_utf8_lossy(&d.stdout).contains("\"index\" -> \"kg\";"));
    let j = stagectl(&["graph", "examples/pipelines/literature.yaml", "--json"]);
    let j: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    assert_eq!(j["nodes"].as_array().unwrap().len(), 9);
    assert!(j["edges"].as_array().unwrap().contains(&serde_json::json!({"from": "index", "to": "kg"})));
}
