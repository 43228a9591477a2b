//! Reading a pipeline file into a [`PipelineSpec`], with every per-file rule of contract
//! §1 checked and every problem reported.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::condition::{read_timing, CondParser, Timing};
use super::diag::{Diagnostic, LoadError, Loaded, Sink};
use super::model::{
    GateRetry, GateSpec, MetadataOverrides, PipelineLocs, PipelineMetadata, PipelineSpec, Plugin, StageLocs,
    StageSpec, DEFAULT_PHASE_ORDER,
};
use super::read::{self, suggestion, Map};
use super::yaml::{self, Loc, Node};

const TOP_KEYS: [&str; 8] =
    ["name", "version", "applicable_sources", "metadata", "phase_order", "plugins", "stages", "gates"];
const METADATA_KEYS: [&str; 3] = ["owner", "description", "tags"];
const PLUGINS_KEYS: [&str; 1] = ["stages"];
const PLUGIN_KEYS: [&str; 1] = ["callable"];
const STAGE_KEYS: [&str; 8] =
    ["name", "type", "policy", "depends_on", "config", "phase", "gate", "metadata_overrides"];
const OVERRIDE_KEYS: [&str; 3] = ["state_key", "description", "dependencies"];
const GATE_KEYS: [&str; 11] = [
    "name",
    "stage",
    "resume_stage",
    "resume_phase",
    "condition",
    "conditions",
    "timeout_seconds",
    "poll_interval_seconds",
    "retry",
    "skip_download_on_resume",
    "metadata",
];
const RETRY_KEYS: [&str; 3] = ["max_attempts", "delay_seconds", "backoff_seconds"];
const TIMING_KEYS: [&str; 2] = ["timeout_seconds", "poll_interval_seconds"];

/// Loads and checks one pipeline file. Every problem is reported (see [`LoadError`]);
/// warnings and info notes come with a successful load.
pub fn load_file(path: impl AsRef<Path>) -> Result<Loaded<PipelineSpec>, LoadError> {
    let path: Arc<Path> = Arc::from(path.as_ref());
    match std::fs::read_to_string(&path) {
        Ok(text) => load_text(&path, &text),
        Err(e) => Err(LoadError::whole_file(&path, format!("cannot read the pipeline file: {e}"))),
    }
}

/// Loads a pipeline file as far as it can even when it has errors: the spec, when the file is
/// a mapping at all, and every diagnostic. For tools that report more than the file's own
/// problems (unknown stage types, bad configs) in one pass; a spec with errors is not for
/// running.
pub fn load_file_partial(path: impl AsRef<Path>) -> (Option<PipelineSpec>, Vec<Diagnostic>) {
    let path: Arc<Path> = Arc::from(path.as_ref());
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            let err = LoadError::whole_file(&path, format!("cannot read the pipeline file: {e}"));
            return (None, err.errors);
        }
    };
    let doc = match yaml::parse_str(&path, &text) {
        Ok(doc) => doc,
        Err(e) => return (None, e.errors.into_iter().chain(e.warnings).collect()),
    };
    let mut sink = Sink::new(&path);
    sink.diags.extend(doc.warnings);
    let spec = Loader { sink: &mut sink }.pipeline(&path, &doc.value);
    (spec, sink.sorted())
}

/// Loads and checks pipeline text; `path` is used in messages and kept in the spec.
pub fn load_str(path: impl AsRef<Path>, text: &str) -> Result<Loaded<PipelineSpec>, LoadError> {
    let path: Arc<Path> = Arc::from(path.as_ref());
    load_text(&path, text)
}

/// Loads every `.yaml`/`.yml` file directly in `dir`, sorted by path. A directory that
/// cannot be read gives one entry, for the directory, holding that error.
pub fn load_dir(dir: impl AsRef<Path>) -> Vec<(PathBuf, Result<Loaded<PipelineSpec>, LoadError>)> {
    let dir = dir.as_ref();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            let p: Arc<Path> = Arc::from(dir);
            return vec![(
                dir.to_path_buf(),
                Err(LoadError::whole_file(&p, format!("cannot read the pipeline directory: {e}"))),
            )];
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let r = load_file(&p);
            (p, r)
        })
        .collect()
}

fn load_text(path: &Arc<Path>, text: &str) -> Result<Loaded<PipelineSpec>, LoadError> {
    let doc = yaml::parse_str(path, text)?;
    let mut sink = Sink::new(path);
    sink.diags.extend(doc.warnings);
    let spec = Loader { sink: &mut sink }.pipeline(path, &doc.value);
    let result = match spec {
        Some(mut spec) => {
            spec.source_hash = crate::hash::fnv1a(text.as_bytes());
            sink.finish(spec)
        }
        None => {
            Err(sink.finish(()).err().unwrap_or_else(|| LoadError::whole_file(path, "not a pipeline file")))
        }
    };
    match &result {
        Ok(l) => tracing::debug!(
            path = %path.display(),
            stages = l.value.stages.len(),
            warnings = l.warnings.len(),
            "pipeline file loaded"
        ),
        Err(e) => tracing::debug!(
            path = %path.display(),
            errors = e.errors.len(),
            "pipeline file rejected"
        ),
    }
    result
}

struct Loader<'s> {
    sink: &'s mut Sink,
}

fn stage_ctx(name: Option<&str>, index: usize) -> String {
    match name {
        Some(n) => format!("stage `{n}`"),
        None => format!("stage #{}", index + 1),
    }
}

fn gate_ctx(name: Option<&str>, index: usize) -> String {
    match name {
        Some(n) => format!("gate `{n}`"),
        None => format!("gate #{}", index + 1),
    }
}

impl Loader<'_> {
    fn pipeline(&mut self, path: &Arc<Path>, root: &Node) -> Option<PipelineSpec> {
        let Some(top) = root.entries() else {
            self.sink.error(
                root.loc,
                format!(
                    "a pipeline file must be a mapping with `name`, `version` and `stages`, found {}",
                    root.describe()
                ),
            );
            return None;
        };
        let m = Map { node: root, entries: top };
        m.check_keys(self.sink, &TOP_KEYS, "at top level");
        let mut locs = PipelineLocs::default();

        let name = m.require(self.sink, "name", "at top level").and_then(|n| {
            locs.name = n.loc;
            let s = read::string(self.sink, n, "`name`")?;
            self.name_pattern(&s, n.loc, "pipeline name");
            Some(s)
        });
        let version = m
            .require(self.sink, "version", "at top level")
            .and_then(|n| {
                locs.version = n.loc;
                let s = read::text_of(n).map(str::to_string);
                match s {
                    Some(s) if read::is_version(&s) => Some(s),
                    _ => {
                        let found = match &s {
                            Some(s) => format!("`{s}`"),
                            None => n.describe(),
                        };
                        self.sink.error(
                            n.loc,
                            format!(
                                "invalid `version` {found}: expected a date `YYYY-MM-DD` with an optional `-suffix` of letters and digits (e.g. `2025-01-01` or `2025-01-01-rc1`)"
                            ),
                        );
                        None
                    }
                }
            });
        let applicable_sources = m
            .get("applicable_sources")
            .and_then(|n| {
                locs.applicable_sources = Some(n.loc);
                read::string_list(self.sink, n, "`applicable_sources`", "source names")
            })
            .map(|v| v.into_iter().map(|(s, _)| s).collect())
            .unwrap_or_default();
        let metadata = m.get("metadata").and_then(|n| self.metadata(n)).unwrap_or_default();
        let phase_order = match m.get("phase_order") {
            Some(n) => {
                locs.phase_order = Some(n.loc);
                self.phase_order(n).unwrap_or_else(|| DEFAULT_PHASE_ORDER.map(String::from).to_vec())
            }
            None => DEFAULT_PHASE_ORDER.map(String::from).to_vec(),
        };
        let plugins = m.get("plugins").map(|n| self.plugins(n)).unwrap_or_default();

        let mut stages = Vec::new();
        if let Some(n) = m.require(self.sink, "stages", "at top level") {
            if let Some(items) = read::list(self.sink, n, "`stages`", "stage mappings") {
                if items.is_empty() {
                    self.sink.error(n.loc, "`stages` is empty; a pipeline needs at least one stage");
                }
                for (i, item) in items.iter().enumerate() {
                    if let Some(s) = self.stage(item, i) {
                        stages.push(s);
                    }
                }
            }
        }
        let mut gates = Vec::new();
        if let Some(n) = m.get("gates") {
            if let Some(items) = read::list(self.sink, n, "`gates`", "gate mappings") {
                for (i, item) in items.iter().enumerate() {
                    if let Some(g) = self.gate(item, i) {
                        gates.push(g);
                    }
                }
            }
        }

        let spec = PipelineSpec {
            path: Arc::clone(path),
            name: name.unwrap_or_default(),
            version: version.unwrap_or_default(),
            applicable_sources,
            metadata,
            phase_order,
            plugins,
            stages,
            gates,
            loc: root.loc,
            locs,
            source_hash: 0,
        };
        self.cross_checks(&spec);
        Some(spec)
    }

    fn name_pattern(&mut self, s: &str, loc: Loc, what: &str) -> bool {
        if read::is_name(s) {
            return true;
        }
        self.sink.error(loc, format!("{what} `{s}` is invalid: use only letters, digits, `_` and `-`"));
        false
    }

    fn metadata(&mut self, n: &Node) -> Option<PipelineMetadata> {
        let m = read::mapping(self.sink, n, "`metadata`")?;
        m.check_keys(self.sink, &METADATA_KEYS, "in `metadata`");
        Some(PipelineMetadata {
            owner: m.get("owner").and_then(|n| read::string(self.sink, n, "`metadata.owner`")),
            description: m
                .get("description")
                .and_then(|n| read::string(self.sink, n, "`metadata.description`")),
            tags: m
                .get("tags")
                .and_then(|n| read::string_list(self.sink, n, "`metadata.tags`", "strings"))
                .map(|v| v.into_iter().map(|(s, _)| s).collect())
                .unwrap_or_default(),
        })
    }

    fn phase_order(&mut self, n: &Node) -> Option<Vec<String>> {
        let items = read::string_list(self.sink, n, "`phase_order`", "phase names")?;
        if items.is_empty() {
            self.sink.error(
                n.loc,
                "`phase_order` is empty; list the phases in order (default: `pre-gate`, `gate`, `post-gate`)",
            );
            return None;
        }
        let mut out: Vec<String> = Vec::new();
        let mut first: HashMap<&str, Loc> = HashMap::new();
        for (s, loc) in &items {
            if let Some(prev) = first.get(s.as_str()) {
                self.sink.error(
                    *loc,
                    format!("phase `{s}` is listed twice in `phase_order` (first at line {})", prev.line),
                );
                continue;
            }
            first.insert(s, *loc);
            out.push(s.clone());
        }
        Some(out)
    }

    fn plugins(&mut self, n: &Node) -> Vec<Plugin> {
        let mut out = Vec::new();
        let Some(m) = read::mapping(self.sink, n, "`plugins`") else {
            return out;
        };
        m.check_keys(self.sink, &PLUGINS_KEYS, "in `plugins`");
        let Some(list) = m.get("stages") else {
            return out;
        };
        let Some(items) = read::list(self.sink, list, "`plugins.stages`", "`callable` mappings") else {
            return out;
        };
        for (i, item) in items.iter().enumerate() {
            let what = format!("`plugins.stages` item {}", i + 1);
            let Some(pm) = read::mapping(self.sink, item, &what) else {
                continue;
            };
            pm.check_keys(self.sink, &PLUGIN_KEYS, &format!("in {what}"));
            let Some(c) = pm.require(self.sink, "callable", &format!("in {what}")) else {
                continue;
            };
            if let Some(callable) = read::string(self.sink, c, "`callable`") {
                self.sink.info(
                    c.loc,
                    format!(
                        "plugin callable `{callable}` is accepted but not called: stages are linked, not loaded by name"
                    ),
                );
                out.push(Plugin { callable, loc: c.loc });
            }
        }
        out
    }

    fn stage(&mut self, node: &Node, index: usize) -> Option<StageSpec> {
        let m = read::mapping(self.sink, node, &format!("stage #{} in `stages`", index + 1))?;
        let mut locs = StageLocs::default();
        // The name first: it names the stage in every other message.
        let name_node = m.get_raw("name");
        let name = name_node.and_then(|n| read::text_of(n).map(str::to_string));
        let ctx = stage_ctx(name.as_deref(), index);
        m.check_keys(self.sink, &STAGE_KEYS, &format!("in {ctx}"));
        match (name_node, &name) {
            (None, _) => {
                self.sink.error(m.node.loc, format!("missing required key `name` in {ctx}"));
            }
            (Some(n), None) => {
                read::string(self.sink, n, &format!("`name` of {ctx}"));
            }
            (Some(n), Some(s)) => {
                locs.name = n.loc;
                self.name_pattern(s, n.loc, "stage name");
            }
        }
        let stage_type = m.require(self.sink, "type", &format!("in {ctx}")).and_then(|n| {
            locs.stage_type = n.loc;
            let s = read::string(self.sink, n, &format!("`type` of {ctx}"))?;
            self.name_pattern(&s, n.loc, "stage type");
            Some(s)
        });
        let policy = m.get("policy").and_then(|n| {
            locs.policy = Some(n.loc);
            read::string(self.sink, n, &format!("`policy` of {ctx}"))
        });
        let mut depends_on: Vec<(String, Loc)> = Vec::new();
        if let Some(n) = m.get("depends_on") {
            locs.depends_on = Some(n.loc);
            if let Some(items) =
                read::string_list(self.sink, n, &format!("`depends_on` of {ctx}"), "stage names")
            {
                for (dep, loc) in items {
                    if let Some((_, first)) = depends_on.iter().find(|(d, _)| *d == dep) {
                        self.sink.error(
                            loc,
                            format!(
                                "`{dep}` is listed twice in `depends_on` of {ctx} (first at line {})",
                                first.line
                            ),
                        );
                    } else {
                        depends_on.push((dep, loc));
                    }
                }
            }
        }
        let config = m.get("config").and_then(|n| {
            locs.config = Some(n.loc);
            read::mapping(self.sink, n, &format!("`config` of {ctx}"))?;
            Some(n.clone())
        });
        let phase = m.get("phase").and_then(|n| {
            locs.phase = Some(n.loc);
            read::string(self.sink, n, &format!("`phase` of {ctx}"))
        });
        let gate = m.get("gate").and_then(|n| {
            locs.gate = Some(n.loc);
            let s = read::string(self.sink, n, &format!("`gate` of {ctx}"))?;
            self.name_pattern(&s, n.loc, "gate name");
            Some(s)
        });
        let metadata_overrides = m.get("metadata_overrides").and_then(|n| {
            locs.metadata_overrides = Some(n.loc);
            self.overrides(n, &ctx)
        });
        Some(StageSpec {
            name: name?,
            stage_type: stage_type.unwrap_or_default(),
            policy,
            depends_on,
            config,
            phase,
            gate,
            metadata_overrides,
            loc: m.node.loc,
            locs,
        })
    }

    fn overrides(&mut self, n: &Node, ctx: &str) -> Option<MetadataOverrides> {
        let what = format!("`metadata_overrides` of {ctx}");
        let m = read::mapping(self.sink, n, &what)?;
        m.check_keys(self.sink, &OVERRIDE_KEYS, &format!("in {what}"));
        let mut o = MetadataOverrides { loc: n.loc, ..Default::default() };
        if let Some(k) = m.get("state_key") {
            o.state_key_loc = Some(k.loc);
            let what = format!("`state_key` in {what}");
            o.state_key = if let Some(s) = read::text_of(k) {
                Some(vec![s.to_string()])
            } else if k.items().is_some() {
                read::string_list(self.sink, k, &what, "state keys")
                    .map(|v| v.into_iter().map(|(s, _)| s).collect())
            } else {
                self.sink.error(
                    k.loc,
                    format!("{what} must be a state key or a list of state keys, found {}", k.describe()),
                );
                None
            };
            if let Some(keys) = &o.state_key {
                if keys.is_empty() {
                    self.sink.error(k.loc, format!("{what} is empty; name at least one state key"));
                }
                for key in keys {
                    if key.is_empty() {
                        self.sink.error(k.loc, format!("{what} holds an empty state key"));
                    }
                }
            }
        }
        if let Some(d) = m.get("description") {
            o.description = read::string(self.sink, d, &format!("`description` in {what}"));
        }
        if let Some(d) = m.get("dependencies") {
            o.dependencies_loc = Some(d.loc);
            let dwhat = format!("`dependencies` in {what}");
            o.dependencies = read::string_list(
                self.sink,
                d,
                &dwhat,
                "stage types or `@resources`",
            )
            .map(|items| {
                for (s, loc) in &items {
                    if !read::is_name(s.strip_prefix('@').unwrap_or(s)) {
                        self.sink.error(
                            *loc,
                            format!(
                                "`{s}` in {dwhat} is invalid: name a stage type, or a resource as `@name` (e.g. `@ledger`)"
                            ),
                        );
                    }
                }
                items.into_iter().map(|(s, _)| s).collect()
            });
        }
        Some(o)
    }

    fn gate(&mut self, node: &Node, index: usize) -> Option<GateSpec> {
        let m = read::mapping(self.sink, node, &format!("gate #{} in `gates`", index + 1))?;
        let name_node = m.get_raw("name");
        let name = name_node.and_then(|n| read::text_of(n).map(str::to_string));
        let ctx = gate_ctx(name.as_deref(), index);
        m.check_keys(self.sink, &GATE_KEYS, &format!("in {ctx}"));
        match (name_node, &name) {
            (None, _) => self.sink.error(m.node.loc, format!("missing required key `name` in {ctx}")),
            (Some(n), None) => {
                read::string(self.sink, n, &format!("`name` of {ctx}"));
            }
            (Some(n), Some(s)) => {
                self.name_pattern(s, n.loc, "gate name");
            }
        }
        let located = |this: &mut Self, key: &str, check_name: bool| {
            let n = m.get(key)?;
            let s = read::string(this.sink, n, &format!("`{key}` of {ctx}"))?;
            if check_name {
                this.name_pattern(&s, n.loc, &format!("`{key}`"));
            }
            Some((s, n.loc))
        };
        let stage = located(self, "stage", false);
        let resume_stage = located(self, "resume_stage", true);
        let resume_phase = located(self, "resume_phase", false);
        let timing = read_timing(self.sink, m, &format!("of {ctx}"));
        let mut condition_timing = Timing::default();
        let mut condition_loc = None;
        let condition = m.get("condition").and_then(|n| {
            condition_loc = Some(n.loc);
            let c = CondParser { sink: self.sink, ctx: format!("of {ctx}"), key_form: false }
                .mapping(n, &TIMING_KEYS);
            if let Some(cm) = n.entries() {
                condition_timing = read_timing(
                    self.sink,
                    Map { node: n, entries: cm },
                    &format!("in the condition of {ctx}"),
                );
            }
            c
        });
        let conditions = m
            .get("conditions")
            .and_then(|n| {
                condition_loc.get_or_insert(n.loc);
                CondParser { sink: self.sink, ctx: format!("of {ctx}"), key_form: false }
                    .list(n, "conditions")
            })
            .unwrap_or_default();
        let retry = m.get("retry").and_then(|n| self.retry(n, &ctx));
        let skip_download_on_resume = m
            .get("skip_download_on_resume")
            .and_then(|n| read::boolean(self.sink, n, &format!("`skip_download_on_resume` of {ctx}")));
        let metadata = m
            .get("metadata")
            .and_then(|n| {
                read::mapping(self.sink, n, &format!("`metadata` of {ctx}"))?;
                match n.to_json() {
                    serde_json::Value::Object(o) => Some(o),
                    _ => None,
                }
            })
            .unwrap_or_default();
        Some(GateSpec {
            name: name?,
            stage,
            resume_stage,
            resume_phase,
            condition,
            conditions,
            timing,
            condition_timing,
            retry,
            skip_download_on_resume,
            metadata,
            loc: m.node.loc,
            name_loc: name_node.map_or(m.node.loc, |n| n.loc),
            condition_loc,
        })
    }

    fn retry(&mut self, n: &Node, ctx: &str) -> Option<GateRetry> {
        let what = format!("`retry` of {ctx}");
        let m = read::mapping(self.sink, n, &what)?;
        m.check_keys(self.sink, &RETRY_KEYS, &format!("in {what}"));
        let max_attempts = m.require(self.sink, "max_attempts", &format!("in {what}"));
        let max_attempts = max_attempts.and_then(|a| {
            read::integer_in(self.sink, a, &format!("`max_attempts` in {what}"), 1, i64::from(u32::MAX))
        });
        let delay = match (m.get("delay_seconds"), m.get("backoff_seconds")) {
            (Some(_), Some(b)) => {
                self.sink.error(
                    b.loc,
                    format!("{what} gives both `delay_seconds` and `backoff_seconds` (the same setting); give one of them"),
                );
                None
            }
            (Some(d), None) => Some(("delay_seconds", d)),
            (None, Some(b)) => Some(("backoff_seconds", b)),
            (None, None) => None,
        };
        let delay_seconds = match delay {
            Some((key, d)) => {
                let v = read::number_in(self.sink, d, &format!("`{key}` in {what}"), 0.0, 86_400.0)?;
                Some(v)
            }
            None => None,
        };
        Some(GateRetry { max_attempts: u32::try_from(max_attempts?).ok()?, delay_seconds, loc: n.loc })
    }

    /// Rules over the whole file: duplicate names, dependencies, cycles, gate references.
    fn cross_checks(&mut self, spec: &PipelineSpec) {
        let mut first_index: HashMap<&str, usize> = HashMap::new();
        for (i, s) in spec.stages.iter().enumerate() {
            match first_index.get(s.name.as_str()) {
                Some(&j) => self.sink.error(
                    s.locs.name,
                    format!(
                        "duplicate stage name `{}`: the stage at line {} already has it; stage names must be unique",
                        s.name, spec.stages[j].locs.name.line
                    ),
                ),
                None => {
                    first_index.insert(&s.name, i);
                }
            }
        }
        // Each name once, in first-occurrence order (linear: through `first_index`).
        let names: Vec<&str> = spec
            .stages
            .iter()
            .enumerate()
            .filter(|(i, s)| first_index.get(s.name.as_str()) == Some(i))
            .map(|(_, s)| s.name.as_str())
            .collect();
        // Dependencies.
        let mut edges: Vec<Vec<(usize, Loc)>> = vec![Vec::new(); spec.stages.len()];
        for (i, s) in spec.stages.iter().enumerate() {
            for (dep, loc) in &s.depends_on {
                if *dep == s.name {
                    self.sink.error(
                        *loc,
                        format!("stage `{}` depends on itself; remove `{dep}` from its `depends_on`", s.name),
                    );
                    continue;
                }
                match first_index.get(dep.as_str()) {
                    Some(&j) => edges[i].push((j, *loc)),
                    None => {
                        let others = names.iter().copied().filter(|n| *n != s.name);
                        self.sink.error(
                            *loc,
                            format!(
                                "stage `{}` depends on unknown stage `{dep}`{}",
                                s.name,
                                suggestion(dep, others, "stages")
                            ),
                        );
                    }
                }
            }
        }
        for cycle in cycles(&edges) {
            let mut text: Vec<String> = cycle.iter().map(|&i| format!("`{}`", spec.stages[i].name)).collect();
            text.push(format!("`{}`", spec.stages[cycle[0]].name));
            let first_edge = edges[cycle[0]]
                .iter()
                .find(|(j, _)| *j == cycle[1 % cycle.len()])
                .map_or(spec.stages[cycle[0]].locs.name, |(_, l)| *l);
            self.sink.error(
                first_edge,
                format!(
                    "dependency cycle: {} (each stage depends on the next); remove one of these dependencies",
                    text.join(" → ")
                ),
            );
        }
        // Explicit phases must be phases of `phase_order`.
        for s in &spec.stages {
            if let (Some(p), Some(loc)) = (&s.phase, s.locs.phase) {
                if spec.phase_position(p).is_none() {
                    self.sink.error(
                        loc,
                        format!(
                            "phase `{p}` of stage `{}` is not in `phase_order`{}",
                            s.name,
                            suggestion(p, spec.phase_order.iter().map(String::as_str), "phases")
                        ),
                    );
                }
            }
        }
        // Gates.
        let mut gate_first: HashMap<&str, Loc> = HashMap::new();
        for g in &spec.gates {
            if let Some(prev) = gate_first.get(g.name.as_str()) {
                self.sink.error(
                    g.name_loc,
                    format!(
                        "duplicate gate name `{}`: the gate at line {} already has it; gate names must be unique",
                        g.name, prev.line
                    ),
                );
            } else {
                gate_first.insert(&g.name, g.name_loc);
            }
            for (key, r) in [("stage", &g.stage), ("resume_stage", &g.resume_stage)] {
                if let Some((s, loc)) = r {
                    if !first_index.contains_key(s.as_str()) {
                        self.sink.error(
                            *loc,
                            format!(
                                "`{key}` of gate `{}` names unknown stage `{s}`{}",
                                g.name,
                                suggestion(s, names.iter().copied(), "stages")
                            ),
                        );
                    }
                }
            }
            if let Some((p, loc)) = &g.resume_phase {
                if spec.phase_position(p).is_none() {
                    self.sink.error(
                        *loc,
                        format!(
                            "`resume_phase` `{p}` of gate `{}` is not in `phase_order`{}",
                            g.name,
                            suggestion(p, spec.phase_order.iter().map(String::as_str), "phases")
                        ),
                    );
                }
            }
        }
    }
}

/// The dependency cycles (strongly connected components of two or more stages), each as
/// the stages in depends-on order starting from its first-declared stage; sorted by that
/// stage.
fn cycles(edges: &[Vec<(usize, Loc)>]) -> Vec<Vec<usize>> {
    let n = edges.len();
    // Tarjan's algorithm, iterative.
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut comp = vec![usize::MAX; n];
    let mut comps: Vec<Vec<usize>> = Vec::new();
    let mut next = 0;
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut ei)) = work.last_mut() {
            if let Some(&(w, _)) = edges[v].get(*ei) {
                *ei += 1;
                if index[w] == usize::MAX {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                work.pop();
                if let Some(&(u, _)) = work.last() {
                    low[u] = low[u].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut members = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        comp[w] = comps.len();
                        members.push(w);
                        if w == v {
                            break;
                        }
                    }
                    comps.push(members);
                }
            }
        }
    }
    let mut out = Vec::new();
    for (c, members) in comps.iter().enumerate() {
        if members.len() < 2 {
            continue;
        }
        let start = *members.iter().min().unwrap_or(&0);
        // Depth-first search inside the component for a path back to `start`.
        if let Some(path) = path_back(edges, &comp, c, start) {
            out.push(path);
        }
    }
    out.sort_by_key(|p| p[0]);
    out
}

/// A path `start → … → start` inside component `c` (iterative depth-first search,
/// following dependencies in declaration order); the returned path omits the final `start`.
fn path_back(edges: &[Vec<(usize, Loc)>], comp: &[usize], c: usize, start: usize) -> Option<Vec<usize>> {
    let mut seen = vec![false; edges.len()];
    seen[start] = true;
    let mut path = vec![start];
    let mut next_edge = vec![0usize];
    while let Some(&v) = path.last() {
        let depth = path.len() - 1;
        let Some(&(w, _)) = edges[v].get(next_edge[depth]) else {
            path.pop();
            next_edge.pop();
            continue;
        };
        next_edge[depth] += 1;
        if comp[w] != c {
            continue;
        }
        if w == start {
            return Some(path);
        }
        if !seen[w] {
            seen[w] = true;
            path.push(w);
            next_edge.push(0);
        }
    }
    None
}
