//! A stage type's metadata as JSON, for `list` and `describe`.

use serde_json::{json, Value};
use stage_core::{crate_relative, StageMetadata, StageRegistry};

/// A stage type's metadata as JSON: the same on every machine (its file is crate-relative),
/// with the registrations it replaced (`replaces`) and the registry's problems about its type
/// (`problems`).
pub(crate) fn metadata_json(registry: &StageRegistry, m: &StageMetadata) -> Value {
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
        "parks": m.parks(),
        "output_handler": m.output_handler().name,
        "output_counter": m.output_counter().name,
        "defined_at": {
            "crate": loc.crate_name, "module": loc.module_path, "file": crate_relative(loc.file), "line": loc.line,
        },
        "replaces": registry.replacements_of(m.stage_type()).map(|r| json!({
            "replaced": r.replaced, "deliberate": r.deliberate,
        })).collect::<Vec<_>>(),
        "problems": problems_of(registry, m.stage_type()),
    })
}

/// The registry's problems about one stage type, as text.
pub(crate) fn problems_of(registry: &StageRegistry, stage_type: &str) -> Vec<String> {
    registry
        .problems()
        .iter()
        .filter(|p| match p {
            stage_core::RegistryProblem::Invalid { stage_type: t, .. }
            | stage_core::RegistryProblem::SchemaVersion { stage_type: t, .. }
            | stage_core::RegistryProblem::Duplicate { stage_type: t, .. } => t == stage_type,
        })
        .map(ToString::to_string)
        .collect()
}

/// `describe` as text: one labelled line per fact.
pub(crate) fn describe_text(registry: &StageRegistry, m: &StageMetadata) -> String {
    let j = metadata_json(registry, m);
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
    if m.parks() {
        line(&mut s, "parks", "yes: a gate; it may park a run".into());
    }
    line(&mut s, "counter", m.output_counter().name.to_owned());
    let loc = m.location();
    line(&mut s, "defined in", format!("{} ({}:{})", loc.crate_name, crate_relative(loc.file), loc.line));
    for r in registry.replacements_of(m.stage_type()) {
        let how = if r.deliberate { "declared `replace`" } else { "a duplicate that won" };
        line(&mut s, "REPLACES", format!("{} ({how})", r.replaced));
    }
    for p in problems_of(registry, m.stage_type()) {
        line(&mut s, "problem", p);
    }
    s
}

#[cfg(test)]
mod tests {
    use stage_core::__private::{InvokeResult, StageArgs};
    use stage_core::{Location, StageMetadata, StageRegistry};

    fn invoke(_: &StageArgs<'_>) -> InvokeResult {
        Ok(None)
    }

    static BUILTIN: StageMetadata = StageMetadata::new(
        "tag",
        "Built in.",
        invoke,
        Location {
            crate_name: "builtin",
            module_path: "builtin::tag",
            file: "stages-builtin/src/tag.rs",
            line: 3,
        },
    );
    static PLUGIN: StageMetadata = StageMetadata::new(
        "tag",
        "Plugin.",
        invoke,
        Location {
            crate_name: "plugin",
            module_path: "plugin",
            file: "/home/me/.cargo/registry/src/idx/plugin-0.1.0/src/lib.rs",
            line: 9,
        },
    )
    .with_replaces(true);

    #[test]
    fn a_replacement_shows_in_describe_and_the_json_is_machine_independent() {
        let registry = StageRegistry::builder().register(&BUILTIN).register(&PLUGIN).build();
        let m = registry.get_metadata("tag").unwrap();
        let j = super::metadata_json(&registry, m);
        assert_eq!(j["defined_at"]["file"], "src/lib.rs");
        assert_eq!(j["replaces"][0]["replaced"], "`builtin` in builtin::tag (src/tag.rs:3)");
        assert_eq!(j["replaces"][0]["deliberate"], true);
        let text = super::describe_text(&registry, m);
        assert!(
            text.contains("REPLACES     `builtin` in builtin::tag (src/tag.rs:3) (declared `replace`)"),
            "{text}"
        );
        let alone = StageRegistry::builder().register(&BUILTIN).build();
        let j = super::metadata_json(&alone, alone.get_metadata("tag").unwrap());
        assert_eq!(j["replaces"], serde_json::json!([]));
        assert_eq!(j["defined_at"]["file"], "src/tag.rs");
    }
}
