//! A stage type's metadata as JSON, for `list` and `describe`.

use serde_json::{json, Value};
use stage_core::StageMetadata;

pub(crate) fn metadata_json(m: &StageMetadata) -> Value {
    let keys = m.state_key().keys();
    let outputs: Vec<Value> = m
        .outputs()
        .iter()
        .enumerate()
        .map(|(i, o)| json!({ "key": keys.get(i), "type": o.ty().name() }))
        .collect();
    let config = m.config().map(|c| {
        let defaults = c.defaults().unwrap_or_else(|e| json!({ "required": e.message }));
        json!({ "type": c.ty().name(), "defaults": defaults })
    });
    let loc = m.location();
    json!({
        "type": m.stage_type(),
        "description": m.description(),
        "version": m.version(),
        "state_key": keys,
        "inputs": m.inputs().iter().map(|i| json!({
            "key": i.key, "type": i.ty.name(), "required": i.required,
        })).collect::<Vec<_>>(),
        "outputs": outputs,
        "may_write_nothing": m.may_skip(),
        "config": config,
        "resources": m.resources().iter().map(|r| r.ty().name()).collect::<Vec<_>>(),
        "dependencies": m.dependencies(),
        "parks": m.can_park(),
        "output_handler": m.output_handler().name,
        "output_counter": m.output_counter().name,
        "defined_at": {
            "crate": loc.crate_name, "module": loc.module_path, "file": loc.file, "line": loc.line,
        },
    })
}

pub(crate) fn describe_text(m: &StageMetadata) -> String {
    let j = metadata_json(m);
    let mut s = String::new();
    let line = |s: &mut String, k: &str, v: String| s.push_str(&format!("{k:<13}{v}\n"));
    line(&mut s, "type", m.stage_type().to_owned());
    line(&mut s, "description", m.description().replace('\n', "\n             "));
    line(&mut s, "version", m.version().to_owned());
    let keys = m.state_key().keys();
    line(
        &mut s,
        "writes",
        if keys.is_empty() { "(no key: raw output in results)".into() } else { keys.join(", ") },
    );
    for (i, o) in m.outputs().iter().enumerate() {
        line(&mut s, if i == 0 { "output types" } else { "" }, o.ty().name().to_owned());
    }
    if m.inputs().is_empty() {
        line(&mut s, "reads", "(nothing)".into());
    }
    for (i, input) in m.inputs().iter().enumerate() {
        let opt = if input.required { "" } else { " (optional)" };
        line(&mut s, if i == 0 { "reads" } else { "" }, format!("{}: {}{opt}", input.key, input.ty.name()));
    }
    if let Some(c) = m.config() {
        line(&mut s, "config", c.ty().name().to_owned());
        let defaults = serde_json::to_string_pretty(&j["config"]["defaults"]).unwrap_or_default();
        line(&mut s, "defaults", defaults.replace('\n', "\n             "));
    }
    if !m.dependencies().is_empty() {
        line(&mut s, "needs", m.dependencies().join(", "));
    }
    if m.can_park() {
        line(&mut s, "parks", "yes: a gate; it may park a run".into());
    }
    line(&mut s, "counter", m.output_counter().name.to_owned());
    let loc = m.location();
    line(&mut s, "defined in", format!("{} ({}:{})", loc.crate_name, loc.file, loc.line));
    s
}
