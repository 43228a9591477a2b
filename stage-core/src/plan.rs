//! From a parsed pipeline to a runnable plan: every stage resolved against the registry, its
//! config typed, its inputs bound to the stages that provide them, every rule checked.

use std::any::TypeId;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::fingerprint::{Fingerprint, StageFingerprint};
use crate::metadata::{ConfigError, ConfigSpec, ConfigValue, ResourceValue, StageMetadata};
use crate::naming::{is_identifier, is_valid_stage_type, RESERVED_KEYS};
use crate::policy::{Policy, PolicySet};
use crate::spec::{self, Diagnostic, EffectiveGate, PathSeg, PipelineSpec, Severity, StageSpec};
use crate::{suggest, ResourceContext, StageRegistry};

/// The pipeline a plan runs.
#[derive(Debug, Clone)]
pub struct PipelineInfo {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its file, when loaded from one.
    pub path: Option<String>,
    /// The sources whose jobs it accepts (empty: any).
    pub applicable_sources: Vec<String>,
    /// Hash of the pipeline file's text.
    pub source_hash: u64,
}

/// Where a stage's input comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// The run's initial state (`context`, `adapter_request`, `payload`, `job_id`).
    Initial,
    /// An upstream stage, by index in the plan.
    Stage(usize),
}

/// A stage resolved against the registry: its metadata with the pipeline's overrides applied,
/// and its typed config.
pub struct ResolvedStage {
    /// The stage's name in the pipeline.
    pub name: String,
    /// Its type's metadata.
    pub meta: &'static StageMetadata,
    /// The keys it writes, when `metadata_overrides.state_key` changed them.
    pub keys_override: Option<Vec<String>>,
    /// Its description (overridden or the type's).
    pub description: String,
    /// The stage types and `@resources` it needs upstream (overridden or the type's).
    pub dependencies: Vec<String>,
    /// Its parsed config, when its type takes one.
    pub config: Option<ConfigValue>,
}

impl fmt::Debug for ResolvedStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedStage")
            .field("name", &self.name)
            .field("type", &self.meta.stage_type())
            .field("keys_override", &self.keys_override)
            .field("dependencies", &self.dependencies)
            .finish_non_exhaustive()
    }
}

/// One stage of a plan.
pub struct PlannedStage {
    /// The stage's name in the pipeline.
    pub name: String,
    /// The name again, shared with the run states that record this stage.
    pub(crate) key: Arc<str>,
    /// Its type's metadata.
    pub meta: &'static StageMetadata,
    pub(crate) keys_override: Option<Vec<String>>,
    /// Its description.
    pub description: String,
    /// The stages it depends on directly, by index.
    pub deps: Vec<usize>,
    /// For each input (in metadata order), its providers, nearest first.
    pub inputs: Vec<Vec<Provider>>,
    pub(crate) config: Option<ConfigValue>,
    pub(crate) resources: Vec<ResourceValue>,
    /// The gate definition bound to it, when it is a gate stage.
    pub gate: Option<Arc<EffectiveGate>>,
    /// Its resilience policy, when the plan was given policies.
    pub policy: Option<Policy>,
    /// Its phase (`pre-gate`, `gate`, `post-gate`).
    pub phase: String,
}

impl PlannedStage {
    /// The keys the stage writes (overrides applied).
    pub fn keys(&self) -> Vec<&str> {
        match &self.keys_override {
            Some(keys) => keys.iter().map(String::as_str).collect(),
            None => self.meta.state_key().keys().to_vec(),
        }
    }

    /// The stage's typed config, as planned, when it takes one of type `C`: how a host reads
    /// a stage's settings (the data directory of an ingest stage, say) without parsing the
    /// pipeline file again.
    pub fn config<C: 'static>(&self) -> Option<&C> {
        self.config.as_deref().and_then(|c| c.downcast_ref::<C>())
    }
}

impl fmt::Debug for PlannedStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlannedStage")
            .field("name", &self.name)
            .field("type", &self.meta.stage_type())
            .field("keys", &self.keys())
            .field("deps", &self.deps)
            .field("inputs", &self.inputs)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

/// A pipeline ready to run: resolved, typed, checked. Built once, run for many jobs.
#[derive(Debug)]
pub struct Plan {
    /// The pipeline.
    pub pipeline: PipelineInfo,
    /// The stages, in declaration order.
    pub stages: Vec<PlannedStage>,
    /// Execution order: `depends_on` first, ties by declaration order.
    pub order: Vec<usize>,
    /// Stage index → its place in [`order`](Self::order) (the inverse permutation).
    pub(crate) positions: Vec<usize>,
    /// Warnings found while planning (the plan is usable).
    pub warnings: Vec<Diagnostic>,
    /// The plan's fingerprint, computed once, when first asked for.
    pub(crate) fingerprint: std::sync::OnceLock<Fingerprint>,
    /// For a stage that writes a key: the nearest writers of that key upstream of it, nearest
    /// first, which a reader falls back to when the stage wrote nothing.
    pub(crate) fallbacks: Fallbacks,
}

/// Stage index → its place in `order`, for the `n` stages `order` holds.
fn positions(order: &[usize], n: usize) -> Vec<usize> {
    let mut p = vec![0; n];
    for (pos, &i) in order.iter().enumerate() {
        if let Some(slot) = p.get_mut(i) {
            *slot = pos;
        }
    }
    p
}

/// `(writer, key)` → the writers of `key` nearest upstream of `writer`, nearest first.
pub(crate) type Fallbacks = HashMap<(usize, String), Vec<usize>>;

/// What a planner is given besides the pipeline and the registry.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Resources the runtime provides, checked against `@name` dependencies (`ledger`).
    pub resources: BTreeSet<String>,
    /// The policies stages name; `None` skips the policy check.
    pub policies: Option<PolicySet>,
    /// Where embedded stores live, handed to resources.
    pub run_dir: Option<std::path::PathBuf>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions { resources: BTreeSet::from(["ledger".to_owned()]), policies: None, run_dir: None }
    }
}

/// A pipeline that cannot be planned: every problem, located.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct PlanError {
    /// The errors.
    pub errors: Vec<Diagnostic>,
    /// The warnings found alongside.
    pub warnings: Vec<Diagnostic>,
}

/// Resolves the stages a pipeline names against a registry.
#[derive(Debug, Clone, Copy)]
pub struct StageFactory<'r> {
    registry: &'r StageRegistry,
}

impl<'r> StageFactory<'r> {
    /// A factory over `registry`.
    pub fn new(registry: &'r StageRegistry) -> Self {
        StageFactory { registry }
    }

    /// Looks the stage's type up, applies the pipeline's `metadata_overrides` and parses its
    /// config. Errors name the pipeline file, line, stage and field.
    pub fn resolve(
        &self,
        pipeline: &PipelineSpec,
        stage: &StageSpec,
    ) -> Result<ResolvedStage, Vec<Diagnostic>> {
        let path = &pipeline.path;
        let meta = match self.registry.get(&stage.stage_type) {
            Ok(m) => m,
            Err(e) => {
                let hint =
                    suggest::did_you_mean(&e.suggestions.iter().map(String::as_str).collect::<Vec<_>>());
                return Err(vec![Diagnostic::error(
                    path,
                    stage.locs.stage_type,
                    format!(
                        "pipeline `{}`, stage `{}`: unknown stage type `{}`{hint}; registered types: {}. {}",
                        pipeline.name,
                        stage.name,
                        stage.stage_type,
                        self.registry.stage_types().join(", "),
                        crate::registry::UnknownStageType::link_hint()
                    ),
                )]);
            }
        };
        let mut errors = Vec::new();
        let mut keys_override = None;
        let mut description = meta.description().to_owned();
        let mut dependencies: Vec<String> = meta.dependencies().iter().map(|d| (*d).to_owned()).collect();
        if let Some(o) = &stage.metadata_overrides {
            if let Some(keys) = &o.state_key {
                let state_key = meta.state_key();
                let declared = state_key.keys();
                let at = o.state_key_loc.unwrap_or(o.loc);
                if keys.len() != declared.len() {
                    errors.push(Diagnostic::error(
                        path,
                        at,
                        format!(
                            "stage `{}`: metadata_overrides.state_key lists {} key(s), but stage type `{}` writes {} ({}); \
                             give exactly {} key(s)",
                            stage.name,
                            keys.len(),
                            meta.stage_type(),
                            declared.len(),
                            if declared.is_empty() { "none".to_owned() } else { declared.join(", ") },
                            declared.len()
                        ),
                    ));
                }
                for k in keys {
                    if !is_identifier(k) || RESERVED_KEYS.contains(&k.as_str()) {
                        errors.push(Diagnostic::error(
                            path,
                            at,
                            format!(
                                "stage `{}`: state key `{k}` in metadata_overrides is not usable: keys are identifiers \
                                 and not one of {}",
                                stage.name,
                                RESERVED_KEYS.join(", ")
                            ),
                        ));
                    }
                }
                if keys.iter().map(String::as_str).ne(declared.iter().copied()) {
                    keys_override = Some(keys.clone());
                }
            }
            if let Some(d) = &o.description {
                description = d.clone();
            }
            if let Some(deps) = &o.dependencies {
                for d in deps {
                    if !is_valid_stage_type(d.strip_prefix('@').unwrap_or(d)) {
                        errors.push(Diagnostic::error(
                            path,
                            o.dependencies_loc.unwrap_or(o.loc),
                            format!(
                                "stage `{}`: dependency `{d}` is neither a stage type nor an `@resource`",
                                stage.name
                            ),
                        ));
                    }
                }
                dependencies = deps.clone();
            }
        }
        let config = match meta.config() {
            Some(spec) => match spec.parse(stage.config_json()) {
                Ok(c) => Some(c),
                Err(first) => {
                    for e in config_errors(spec, stage.config_json(), first) {
                        let segs = path_segments(&e.path);
                        let segs: Vec<PathSeg<'_>> = segs.iter().map(|s| s.as_seg()).collect();
                        let at = if segs.is_empty() {
                            stage.locs.config.unwrap_or(stage.loc)
                        } else {
                            stage.config_loc(&segs)
                        };
                        let field =
                            if e.path.is_empty() { String::new() } else { format!(" field `{}`", e.path) };
                        errors.push(Diagnostic::error(
                            path,
                            at,
                            format!(
                                "pipeline `{}`, stage `{}`: config{field}: {}; the config of stage type `{}` is `{}`",
                                pipeline.name,
                                stage.name,
                                e.message,
                                meta.stage_type(),
                                spec.ty().name()
                            ),
                        ));
                    }
                    None
                }
            },
            None => None,
        };
        if errors.is_empty() {
            Ok(ResolvedStage {
                name: stage.name.clone(),
                meta,
                keys_override,
                description,
                dependencies,
                config,
            })
        } else {
            Err(errors)
        }
    }
}

/// Every bad field of a config block, not just the first serde stops at: the field serde
/// named is set aside and the rest parsed again, until the block parses or the error is the
/// block's own (a missing required field, reported only when no field was set aside for it).
/// At most one error per top-level field; `first` is the error of the whole block.
fn config_errors(spec: &ConfigSpec, config: serde_json::Value, first: ConfigError) -> Vec<ConfigError> {
    let serde_json::Value::Object(mut rest) = config else { return vec![first] };
    let mut errors: Vec<ConfigError> = Vec::new();
    let mut set_aside: Vec<String> = Vec::new();
    let mut current = first;
    // Each round sets one field aside, so this ends after at most one round per field.
    for _ in 0..=rest.len() {
        let mut top = current.path.split(['.', '[']).next().unwrap_or_default().to_owned();
        if top.is_empty() {
            // An unknown field may be reported against the block: named in the message.
            if let Some(name) =
                current.message.strip_prefix("unknown field `").and_then(|m| m.split('`').next())
            {
                top = name.to_owned();
            }
        }
        if top.is_empty() || !rest.contains_key(&top) {
            // The block's own error: a required field that was missing, or one set aside here.
            let missing_set_aside = set_aside.iter().any(|f| current.message.contains(&format!("`{f}`")));
            if errors.is_empty() || !missing_set_aside {
                errors.push(current);
            }
            break;
        }
        rest.remove(&top);
        set_aside.push(top);
        errors.push(current);
        match spec.parse(serde_json::Value::Object(rest.clone())) {
            Ok(_) => break,
            Err(e) => current = e,
        }
    }
    errors
}

enum Seg {
    Key(String),
    Index(usize),
}

impl Seg {
    fn as_seg(&self) -> PathSeg<'_> {
        match self {
            Seg::Key(k) => PathSeg::Key(k),
            Seg::Index(i) => PathSeg::Index(*i),
        }
    }
}

/// `a.b[2].c` (serde_path_to_error's form) → segments.
fn path_segments(path: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            if i > 0 {
                out.push(Seg::Key(rest[..i].to_owned()));
            }
            rest = &rest[i..];
            while let Some(end) = rest.find(']') {
                if let Ok(n) = rest[1..end].parse() {
                    out.push(Seg::Index(n));
                }
                rest = &rest[end + 1..];
            }
        } else {
            out.push(Seg::Key(rest.to_owned()));
        }
    }
    out
}

/// The type of each key the run starts with.
fn initial_type(key: &str) -> Option<TypeId> {
    match key {
        "context" | "adapter_request" | "payload" => Some(TypeId::of::<serde_json::Value>()),
        "job_id" => Some(TypeId::of::<String>()),
        _ => None,
    }
}

fn initial_type_name(key: &str) -> &'static str {
    if key == "job_id" {
        "alloc::string::String"
    } else {
        "serde_json::value::Value"
    }
}

impl Plan {
    /// Plans `spec` against `registry`: resolves every stage, checks the file's cross-stage
    /// rules, the data flow, dependencies, resources and policies. Reports every problem.
    pub fn new(
        spec: &PipelineSpec,
        registry: &StageRegistry,
        options: &PlanOptions,
    ) -> Result<Plan, PlanError> {
        let (resolved, mut diags) = resolve_stages(spec, registry);
        let is_gate = |t: &str| registry.get_metadata(t).is_some_and(StageMetadata::parks);
        let checked = spec::check(spec, &is_gate);
        diags.extend(checked.diagnostics.iter().cloned());
        diags.extend(check_policy_names(spec, options));
        // The data flow is checked only on a sound structure: on a cycle, an unknown type or a
        // bad config, its errors would be noise.
        let structural_errors = diags.iter().any(Diagnostic::is_error);
        let resolved: Option<Vec<ResolvedStage>> = resolved.into_iter().collect();
        let (stages, fallbacks) = match resolved {
            Some(resolved) if !structural_errors => {
                let (stages, fallbacks, more) = plan_stages(spec, &resolved, &checked, options);
                diags.extend(more);
                (stages, fallbacks)
            }
            _ => (Vec::new(), Fallbacks::default()),
        };
        Self::finish(spec, &checked, stages, fallbacks, diags)
    }

    /// The last step: the plan, or every error found (sorted by location) with the warnings.
    fn finish(
        spec: &PipelineSpec,
        checked: &spec::Checked,
        stages: Vec<PlannedStage>,
        fallbacks: Fallbacks,
        diags: Vec<Diagnostic>,
    ) -> Result<Plan, PlanError> {
        let (mut errors, warnings): (Vec<_>, Vec<_>) = diags.into_iter().partition(Diagnostic::is_error);
        errors.sort_by_key(|d| (d.line, d.column));
        if !errors.is_empty() {
            return Err(PlanError { errors, warnings });
        }
        Ok(Plan {
            pipeline: PipelineInfo {
                name: spec.name.clone(),
                version: spec.version.clone(),
                path: Some(spec.path.display().to_string()),
                applicable_sources: spec.applicable_sources.clone(),
                source_hash: spec.source_hash,
            },
            stages,
            order: checked.order.clone(),
            positions: positions(&checked.order, spec.stages.len()),
            fingerprint: std::sync::OnceLock::new(),
            fallbacks,
            warnings: warnings.into_iter().filter(|d| d.severity != Severity::Info).collect(),
        })
    }

    /// Loads a pipeline file and plans it: the whole path from file to plan.
    pub fn from_file(
        file: impl AsRef<Path>,
        registry: &StageRegistry,
        options: &PlanOptions,
    ) -> Result<Plan, PlanError> {
        let loaded =
            spec::load_file(file).map_err(|e| PlanError { errors: e.errors, warnings: e.warnings })?;
        let mut plan = Plan::new(&loaded.value, registry, options).map_err(|mut e| {
            e.warnings.splice(0..0, loaded.warnings.iter().cloned());
            e
        })?;
        plan.warnings.splice(0..0, loaded.warnings.into_iter().filter(|d| d.severity != Severity::Info));
        Ok(plan)
    }

    /// The index of stage `name`.
    pub fn stage_index(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.name == name)
    }
}

impl Plan {
    /// The plan's fingerprint, stored with a run so that resuming it can tell whether the
    /// pipeline or its stages changed in a way that breaks the stored state. Computed once per
    /// plan.
    pub fn fingerprint(&self) -> &Fingerprint {
        self.fingerprint.get_or_init(|| self.compute_fingerprint())
    }

    fn compute_fingerprint(&self) -> Fingerprint {
        let stages = self
            .stages
            .iter()
            .map(|s| {
                let fp = StageFingerprint {
                    stage_type: s.meta.stage_type().to_owned(),
                    version: s.meta.version().to_owned(),
                    keys: s.keys().iter().map(|k| (*k).to_owned()).collect(),
                    outputs: s.meta.outputs().iter().map(|o| o.ty().name().to_owned()).collect(),
                    shapes: s.meta.outputs().iter().map(|o| o.shape()).collect(),
                };
                (s.name.clone(), fp)
            })
            .collect();
        Fingerprint { pipeline: format!("{:016x}", self.pipeline.source_hash), stages }
    }
}

/// Step 1 of planning: every stage resolved against the registry (`None` where it is not),
/// and the problems found, stage by stage.
fn resolve_stages(
    spec: &PipelineSpec,
    registry: &StageRegistry,
) -> (Vec<Option<ResolvedStage>>, Vec<Diagnostic>) {
    let factory = StageFactory::new(registry);
    let mut diags = Vec::new();
    let resolved = spec
        .stages
        .iter()
        .map(|s| match factory.resolve(spec, s) {
            Ok(r) => Some(r),
            Err(e) => {
                diags.extend(e);
                None
            }
        })
        .collect();
    (resolved, diags)
}

/// The policy step's check: every stage's policy exists (none without policies to check).
fn check_policy_names(spec: &PipelineSpec, options: &PlanOptions) -> Vec<Diagnostic> {
    options.policies.as_ref().map(|p| p.check_names(spec)).unwrap_or_default()
}

/// The policy step's binding: the policy a stage runs under, when the plan was given policies.
fn policy_of(stage: &StageSpec, options: &PlanOptions) -> Option<Policy> {
    options.policies.as_ref().and_then(|p| p.get(stage.policy_name()).cloned())
}

/// The stages of a structurally sound pipeline, planned: the data flow bound, then each stage
/// through the per-stage steps (inputs, dependencies, config, resources, policy); with the
/// readers' fallbacks and the problems found.
///
/// The steps run stage by stage, so that the diagnostics come in the order they always came
/// (stage by stage, each stage's in step order): errors are sorted by location, and those at
/// one location keep that order.
fn plan_stages(
    spec: &PipelineSpec,
    resolved: &[ResolvedStage],
    checked: &spec::Checked,
    options: &PlanOptions,
) -> (Vec<PlannedStage>, Fallbacks, Vec<Diagnostic>) {
    let mut flow = Flow::new(spec, resolved, &checked.order);
    let mut diags = flow.fallback_mismatches();
    let mut shared = Resources::new(spec, options);
    let mut stages = Vec::with_capacity(resolved.len());
    for (i, (s, r)) in spec.stages.iter().zip(resolved).enumerate() {
        let (inputs, more) = flow.bind_inputs(i);
        diags.extend(more);
        diags.extend(flow.check_dependencies(i, &options.resources));
        diags.extend(unused_config(spec, s, r));
        let (resources, more) = shared.create(s, r);
        diags.extend(more);
        stages.push(PlannedStage {
            name: s.name.clone(),
            key: Arc::from(s.name.as_str()),
            meta: r.meta,
            keys_override: r.keys_override.clone(),
            description: r.description.clone(),
            deps: flow.deps[i].clone(),
            inputs,
            config: r.config.clone(),
            resources,
            gate: checked.gate_of_stage.get(i).cloned().flatten().map(Arc::new),
            policy: policy_of(s, options),
            phase: checked.phases.get(i).cloned().unwrap_or_default(),
        });
    }
    (stages, std::mem::take(&mut flow.binding.fallbacks), diags)
}

/// The data flow of a resolved pipeline, computed once for the per-stage steps: each stage's
/// direct dependencies, the keys it writes, who provides what it reads, and which stage types
/// are upstream of it.
struct Flow<'a> {
    spec: &'a PipelineSpec,
    resolved: &'a [ResolvedStage],
    /// Stage → the stages it depends on directly.
    deps: Vec<Vec<usize>>,
    /// Stage → the keys it writes, overrides applied.
    keys: Vec<Vec<&'a str>>,
    binding: Binding<'a>,
    ancestors: AncestorTypes<'a>,
}

impl<'a> Flow<'a> {
    fn new(spec: &'a PipelineSpec, resolved: &'a [ResolvedStage], order: &[usize]) -> Self {
        let index: HashMap<&str, usize> =
            spec.stages.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
        let deps: Vec<Vec<usize>> = spec
            .stages
            .iter()
            .map(|s| s.dependency_names().filter_map(|d| index.get(d).copied()).collect())
            .collect();
        let position = positions(order, spec.stages.len());
        let keys: Vec<Vec<&str>> = resolved
            .iter()
            .map(|r| match &r.keys_override {
                Some(k) => k.iter().map(String::as_str).collect(),
                None => r.meta.state_key().keys().to_vec(),
            })
            .collect();
        let binding = Binding::new(&deps, order, &position, &keys, resolved);
        let ancestors = AncestorTypes::new(&deps, order, resolved);
        Flow { spec, resolved, deps, keys, binding, ancestors }
    }

    /// The type of `key` as stage `j` writes it.
    fn written_type(&self, j: usize, key: &str) -> &'static str {
        let pos = self.keys[j].iter().position(|k| *k == key).unwrap_or(0);
        self.resolved[j].meta.outputs().get(pos).map_or("?", |o| o.ty().name())
    }

    /// A writer and the farther writer its readers fall back to that write one key as
    /// different types.
    fn fallback_mismatches(&self) -> Vec<Diagnostic> {
        let (spec, resolved) = (self.spec, self.resolved);
        self.binding
            .mismatches
            .iter()
            .map(|&(far, near, key)| {
                Diagnostic::error(
                    &spec.path,
                    spec.stages[far].loc,
                    format!(
                        "stage `{}` ({}) writes `{key}` as `{}`, but downstream stage `{}` ({}), which readers of \
                         `{key}` fall back from to it, writes it as `{}`; make the two types agree",
                        spec.stages[far].name,
                        resolved[far].meta.stage_type(),
                        self.written_type(far, key),
                        spec.stages[near].name,
                        resolved[near].meta.stage_type(),
                        self.written_type(near, key)
                    ),
                )
            })
            .collect()
    }

    /// The input-binding step for stage `i`: each input's providers, nearest first (the
    /// nearest upstream writers, then the run's initial state); and the problems: a provider
    /// that writes another type, an input nothing provides.
    fn bind_inputs(&self, i: usize) -> (Vec<Vec<Provider>>, Vec<Diagnostic>) {
        let (spec, s, r) = (self.spec, &self.spec.stages[i], &self.resolved[i]);
        let path = &spec.path;
        let mut diags = Vec::new();
        let mut inputs = Vec::new();
        for input in r.meta.inputs() {
            let mut providers = Vec::new();
            // The nearest upstream writers (nearest first); farther ones are their fallbacks,
            // checked when the binding was built.
            for &j in self.binding.nearest(i, input.key) {
                let Some(pos) = self.keys[j].iter().position(|k| *k == input.key) else { continue };
                let provided = self.resolved[j].meta.outputs().get(pos).map(|o| o.ty());
                if let Some(t) = provided.filter(|t| t.id() != input.ty.id()) {
                    diags.push(Diagnostic::error(
                        path,
                        s.loc,
                        format!(
                            "stage `{}` reads `{}` as `{}`, but upstream stage `{}` ({}) writes it as `{}`; \
                             make the two types agree",
                            s.name,
                            input.key,
                            input.ty.name(),
                            spec.stages[j].name,
                            self.resolved[j].meta.stage_type(),
                            t.name()
                        ),
                    ));
                }
                providers.push(Provider::Stage(j));
            }
            if let Some(t) = initial_type(input.key) {
                if t != input.ty.id() {
                    diags.push(Diagnostic::error(
                        path,
                        s.loc,
                        format!(
                            "stage `{}` reads `{}` as `{}`, but the run starts with it as `{}`",
                            s.name,
                            input.key,
                            input.ty.name(),
                            initial_type_name(input.key)
                        ),
                    ));
                }
                providers.push(Provider::Initial);
            }
            if providers.is_empty() && input.required {
                diags.push(self.unprovided(i, input.key));
            }
            inputs.push(providers);
        }
        (inputs, diags)
    }

    /// The error for a required input `key` of stage `i` that nothing upstream provides,
    /// naming the stages that could.
    fn unprovided(&self, i: usize, key: &str) -> Diagnostic {
        let (spec, s) = (self.spec, &self.spec.stages[i]);
        let writers: Vec<String> = (0..spec.stages.len())
            .filter(|&j| j != i && self.keys[j].contains(&key))
            .map(|j| format!("`{}`", spec.stages[j].name))
            .collect();
        let fix = if writers.is_empty() {
            format!("no stage of this pipeline writes `{key}`: add one that does")
        } else {
            format!("stage(s) {} write it: add one to `depends_on` of `{}`", writers.join(", "), s.name)
        };
        Diagnostic::error(
            &spec.path,
            s.locs.depends_on.unwrap_or(s.loc),
            format!(
                "stage `{}` ({}) reads `{key}`, but no upstream stage (through depends_on) writes it \
                 and the run does not start with it; {fix}",
                s.name,
                self.resolved[i].meta.stage_type(),
            ),
        )
    }

    /// The dependency step for stage `i`: each `@resource` it needs is one the runtime
    /// provides (`provided`), and each stage type it needs is upstream of it. (Order and
    /// cycles are the spec check's.)
    fn check_dependencies(&self, i: usize, provided: &BTreeSet<String>) -> Vec<Diagnostic> {
        let (spec, s, r) = (self.spec, &self.spec.stages[i], &self.resolved[i]);
        let mut diags = Vec::new();
        for dep in &r.dependencies {
            if let Some(resource) = dep.strip_prefix('@') {
                if !provided.contains(resource) {
                    let given: Vec<String> = provided.iter().map(|r| format!("@{r}")).collect();
                    diags.push(Diagnostic::error(
                        &spec.path,
                        s.loc,
                        format!(
                            "stage `{}` needs resource `{dep}`, which this runtime does not provide (it provides: {})",
                            s.name,
                            if given.is_empty() { "none".to_owned() } else { given.join(", ") }
                        ),
                    ));
                }
            } else if !self.ancestors.has(i, dep) {
                diags.push(Diagnostic::error(
                    &spec.path,
                    s.locs.depends_on.unwrap_or(s.loc),
                    format!(
                        "stage `{}` ({}) requires a `{dep}` stage upstream (through depends_on), and none of its \
                         upstream stages is one; add a `{dep}` stage to its depends_on",
                        s.name,
                        r.meta.stage_type()
                    ),
                ));
            }
        }
        diags
    }
}

/// The warning for a `config` given to a stage whose type takes none (a gate's config is its
/// type's, read by the spec check).
fn unused_config(spec: &PipelineSpec, s: &StageSpec, r: &ResolvedStage) -> Option<Diagnostic> {
    let ignored =
        s.config.as_ref().is_some_and(|c| !c.is_null()) && r.meta.config().is_none() && !r.meta.parks();
    ignored.then(|| {
        Diagnostic::warning(
            &spec.path,
            s.locs.config.unwrap_or(s.loc),
            format!(
                "stage `{}`: stage type `{}` takes no configuration; its `config` is ignored",
                s.name,
                r.meta.stage_type()
            ),
        )
    })
}

/// The resource step: each resource type built once per plan, shared by the stages that take
/// it.
struct Resources<'a> {
    path: &'a Arc<Path>,
    cache: HashMap<TypeId, ResourceValue>,
    context: ResourceContext,
}

impl<'a> Resources<'a> {
    fn new(spec: &'a PipelineSpec, options: &PlanOptions) -> Self {
        Resources {
            path: &spec.path,
            cache: HashMap::new(),
            context: ResourceContext::new(spec.name.clone(), options.run_dir.clone()),
        }
    }

    /// The resources stage `s` takes, in metadata order; and an error for each that could not
    /// be created (a failed type is tried again by the next stage that takes it).
    fn create(&mut self, s: &StageSpec, r: &ResolvedStage) -> (Vec<ResourceValue>, Vec<Diagnostic>) {
        let mut resources = Vec::new();
        let mut diags = Vec::new();
        for rs in r.meta.resources() {
            let id = rs.ty().id();
            if let Some(v) = self.cache.get(&id) {
                resources.push(v.clone());
                continue;
            }
            match rs.create(&self.context) {
                Ok(v) => {
                    self.cache.insert(id, v.clone());
                    resources.push(v);
                }
                Err(e) => diags.push(Diagnostic::error(
                    self.path,
                    s.loc,
                    format!("stage `{}`: resource `{}` could not be created: {e}", s.name, rs.ty().name()),
                )),
            }
        }
        (resources, diags)
    }
}

/// Which upstream stages provide each stage's inputs, without an n×n ancestry: for each key
/// some stage reads, one pass in execution order carries, from stage to stage, the writers of
/// the key nearest upstream (a writer stops the key's path). A reader is bound to its nearest
/// writers; each writer keeps its own nearest writers as fallbacks, for when it wrote nothing.
/// Cost: O((stages + edges) × frontier) per key read, the frontier being the writers that
/// parallel branches keep apart (usually one).
struct Binding<'k> {
    /// `(reader, key)` → its nearest writers, nearest first.
    nearest: HashMap<(usize, &'k str), Vec<usize>>,
    fallbacks: Fallbacks,
    /// `(farther writer, nearer writer, key)` whose types differ.
    mismatches: Vec<(usize, usize, &'k str)>,
}

impl<'k> Binding<'k> {
    fn new(
        deps: &[Vec<usize>],
        order: &[usize],
        position: &[usize],
        keys: &[Vec<&'k str>],
        resolved: &[ResolvedStage],
    ) -> Self {
        let mut read: Vec<&'k str> =
            resolved.iter().flat_map(|r| r.meta.inputs().iter().map(|i| i.key)).collect();
        read.sort_unstable();
        read.dedup();
        let mut out = Binding { nearest: HashMap::new(), fallbacks: HashMap::new(), mismatches: Vec::new() };
        let n = deps.len();
        let type_of = |j: usize, key: &str| {
            keys[j]
                .iter()
                .position(|k| *k == key)
                .and_then(|p| resolved[j].meta.outputs().get(p))
                .map(|o| o.ty().id())
        };
        for key in read {
            let writes = |j: usize| keys[j].contains(&key);
            if !(0..n).any(writes) {
                continue;
            }
            // `near[i]`: the writers of `key` nearest upstream of stage `i`.
            let mut near: Vec<Vec<usize>> = vec![Vec::new(); n];
            for &i in order {
                let mut set: Vec<usize> = Vec::new();
                for &d in &deps[i] {
                    if writes(d) {
                        set.push(d);
                    } else {
                        set.extend_from_slice(&near[d]);
                    }
                }
                set.sort_unstable_by_key(|&j| std::cmp::Reverse(position[j]));
                set.dedup();
                near[i] = set;
            }
            for (i, r) in resolved.iter().enumerate() {
                if r.meta.inputs().iter().any(|inp| inp.key == key) && !near[i].is_empty() {
                    out.nearest.insert((i, key), near[i].clone());
                }
                if writes(i) && !near[i].is_empty() {
                    for &f in &near[i] {
                        if type_of(f, key) != type_of(i, key) {
                            out.mismatches.push((f, i, key));
                        }
                    }
                    out.fallbacks.insert((i, key.to_owned()), std::mem::take(&mut near[i]));
                }
            }
        }
        out
    }

    /// The writers of `key` nearest upstream of stage `i`, nearest first.
    fn nearest(&self, i: usize, key: &'k str) -> &[usize] {
        self.nearest.get(&(i, key)).map_or(&[], Vec::as_slice)
    }
}

/// Which stage types are upstream of each stage, as bits over the pipeline's distinct types
/// (few): a type dependency is checked without an n×n ancestry.
struct AncestorTypes<'a> {
    types: Vec<&'a str>,
    bits: Vec<Vec<u64>>,
}

impl<'a> AncestorTypes<'a> {
    fn new(deps: &[Vec<usize>], order: &[usize], resolved: &'a [ResolvedStage]) -> Self {
        let mut types: Vec<&'a str> = resolved.iter().map(|r| r.meta.stage_type()).collect();
        types.sort_unstable();
        types.dedup();
        let words = types.len().div_ceil(64);
        let id = |j: usize| types.binary_search(&resolved[j].meta.stage_type()).unwrap_or(0);
        let mut bits = vec![Vec::new(); deps.len()];
        // Only stages with a type dependency, and their ancestors, need their set: computed
        // for all in one pass (words per stage: the distinct types / 64).
        for &i in order {
            let mut set = vec![0u64; words];
            for &d in &deps[i] {
                let t = id(d);
                set[t / 64] |= 1 << (t % 64);
                for (a, b) in set.iter_mut().zip(&bits[d]) {
                    *a |= *b;
                }
            }
            bits[i] = set;
        }
        AncestorTypes { types, bits }
    }

    /// Whether a stage of type `ty` is upstream of stage `i`.
    fn has(&self, i: usize, ty: &str) -> bool {
        self.types
            .binary_search(&ty)
            .is_ok_and(|t| self.bits[i].get(t / 64).is_some_and(|w| w & (1 << (t % 64)) != 0))
    }
}

#[cfg(test)]
mod config_error_tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, serde::Serialize)]
    #[serde(deny_unknown_fields)]
    struct Conf {
        name: String,
        #[serde(default)]
        size: usize,
        #[serde(default)]
        ratio: f64,
    }

    fn errors(v: serde_json::Value) -> Vec<(String, String)> {
        let spec = ConfigSpec::of::<Conf>();
        let first = spec.parse(v.clone()).unwrap_err();
        config_errors(&spec, v, first).into_iter().map(|e| (e.path, e.message)).collect()
    }

    #[test]
    fn every_bad_field_is_reported_not_only_the_first() {
        let e = errors(serde_json::json!({"name": "x", "size": "big", "ratio": "half", "colour": 1}));
        let paths: Vec<&str> = e.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(paths.contains(&"size") && paths.contains(&"ratio"), "{e:?}");
        assert!(e.iter().any(|(_, m)| m.contains("unknown field `colour`")), "{e:?}");
    }

    #[test]
    fn a_bad_required_field_is_one_error_and_a_missing_one_is_reported() {
        let e = errors(serde_json::json!({"name": 3, "size": "big"}));
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(!e.iter().any(|(_, m)| m.contains("missing field")), "{e:?}");
        let e = errors(serde_json::json!({"size": "big"}));
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e.iter().any(|(_, m)| m.contains("missing field `name`")), "{e:?}");
        assert_eq!(errors(serde_json::json!("text")).len(), 1);
    }
}
