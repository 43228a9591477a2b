//! `stagectl graph`: a pipeline as Mermaid or DOT.

use std::path::Path;
use std::process::ExitCode;

use stage_core::spec;
use stage_core::StageRegistry;

use crate::{CliError, GraphFormat};

fn id(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
}

pub(crate) fn graph(
    registry: &StageRegistry,
    pipeline: &Path,
    format: GraphFormat,
    json: bool,
) -> Result<ExitCode, CliError> {
    let loaded = spec::load_file(pipeline)?;
    let p = &loaded.value;
    let parks = |t: &str| registry.get_metadata(t).is_some_and(|m| m.parks());
    if json {
        let nodes: Vec<_> = p
            .stages
            .iter()
            .map(|s| serde_json::json!({"name": s.name, "type": s.stage_type, "parks": parks(&s.stage_type)}))
            .collect();
        let edges: Vec<_> = p
            .stages
            .iter()
            .flat_map(|s| s.dependency_names().map(move |d| serde_json::json!({"from": d, "to": s.name})))
            .collect();
        outln!("{}", serde_json::to_string_pretty(&serde_json::json!({"nodes": nodes, "edges": edges}))?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let out = match format {
        GraphFormat::Mermaid => {
            let mut s = String::from("flowchart TD\n");
            for st in &p.stages {
                let label = format!("{}<br/><i>{}</i>", st.name, st.stage_type);
                if parks(&st.stage_type) {
                    s.push_str(&format!("    {}{{{{\"{label}\"}}}}\n", id(&st.name)));
                } else {
                    s.push_str(&format!("    {}[\"{label}\"]\n", id(&st.name)));
                }
            }
            for st in &p.stages {
                for d in st.dependency_names() {
                    s.push_str(&format!("    {} --> {}\n", id(d), id(&st.name)));
                }
            }
            s
        }
        GraphFormat::Dot => {
            let mut s = format!("digraph \"{}\" {{\n    rankdir=LR;\n", p.name);
            for st in &p.stages {
                let shape = if parks(&st.stage_type) { "diamond" } else { "box" };
                s.push_str(&format!(
                    "    \"{}\" [label=\"{}\\n({})\", shape={shape}];\n",
                    st.name, st.name, st.stage_type
                ));
            }
            for st in &p.stages {
                for d in st.dependency_names() {
                    s.push_str(&format!("    \"{d}\" -> \"{}\";\n", st.name));
                }
            }
            s.push_str("}\n");
            s
        }
    };
    out!("{out}")?;
    Ok(ExitCode::SUCCESS)
}
