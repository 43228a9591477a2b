//! The registry of stage types: built once from the link-time slice (or from an explicit list),
//! validated, deterministic whatever the link order.

use std::cmp::Ordering;
use std::fmt;
use std::sync::OnceLock;

use rustc_hash::FxHashMap;

use crate::metadata::{StageMetadata, StateKey, SCHEMA_VERSION};
use crate::naming::{is_identifier, is_valid_stage_type, RESERVED_KEYS};
use crate::spec::Severity;
use crate::suggest;

/// The link-time slice every `#[stage]` registers into. Its name is unique to stage-core and
/// never changes between versions: two major versions of stage-core in one binary make linkme
/// fail loudly at first use ("duplicate #[distributed_slice] with name ...") instead of
/// silently splitting the stages between two registries. The fix: depend on one version.
#[linkme::distributed_slice]
#[doc(hidden)]
pub static STAGE_CORE_STAGE_REGISTRY: [StageMetadata];

/// A problem found while building a registry. Invalid registrations are left out, never
/// panicked on; a host decides with [`StageRegistry::check`] whether to refuse to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryProblem {
    /// A registration breaks a rule (the `#[stage]` rules, checked again for hand-written ones).
    Invalid {
        /// The stage type as registered.
        stage_type: String,
        /// Where it was defined.
        defined_at: String,
        /// Each broken rule.
        reasons: Vec<String>,
    },
    /// A registration built against another metadata schema (another stage-core version).
    SchemaVersion {
        /// The stage type.
        stage_type: String,
        /// Where it was defined.
        defined_at: String,
        /// Its schema version.
        found: u32,
    },
    /// Two registrations of one type; the winner was picked by the documented rule.
    Duplicate {
        /// The stage type.
        stage_type: String,
        /// The registration kept.
        kept: String,
        /// The registration left out.
        dropped: String,
        /// Whether the winner declared itself a replacement (a deliberate override).
        deliberate: bool,
    },
}

impl RegistryProblem {
    /// How serious it is (the severity of pipeline-file diagnostics: never `Info` here). A
    /// deliberate replacement is not a problem at all and is not reported; two registrations
    /// both claiming to replace are a warning (resolved by a documented rule; an error in
    /// strict mode); any other problem is an error (the registration was left out).
    pub fn severity(&self) -> Severity {
        match self {
            RegistryProblem::Duplicate { .. } => Severity::Warning,
            _ => Severity::Error,
        }
    }
    fn sort_key(&self) -> (&str, String) {
        match self {
            RegistryProblem::Invalid { stage_type, .. }
            | RegistryProblem::SchemaVersion { stage_type, .. }
            | RegistryProblem::Duplicate { stage_type, .. } => (stage_type, self.to_string()),
        }
    }
}

impl fmt::Display for RegistryProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryProblem::Invalid { stage_type, defined_at, reasons } => write!(
                f,
                "stage type `{stage_type}` defined at {defined_at} is invalid and was left out: {}",
                reasons.join("; ")
            ),
            RegistryProblem::SchemaVersion { stage_type, defined_at, found } => write!(
                f,
                "stage type `{stage_type}` defined at {defined_at} was built for metadata schema {found}, \
                 but this stage-core reads schema {SCHEMA_VERSION}: rebuild the plugin against this stage-core version"
            ),
            RegistryProblem::Duplicate { stage_type, kept, dropped, deliberate } => {
                if *deliberate {
                    write!(
                        f,
                        "stage type `{stage_type}` is registered as a replacement twice: kept {kept}, left out {dropped} \
                         (the earlier definition site wins); keep `replace` on one of them only"
                    )
                } else {
                    write!(
                        f,
                        "stage type `{stage_type}` is registered twice: kept {kept}, left out {dropped} \
                         (the earlier definition site wins); rename one, or mark the intended one `#[stage(replace)]`"
                    )
                }
            }
        }
    }
}

/// A registration that took over a stage type another crate also registers: a declared
/// replacement (`#[stage(replace)]`) or the winner of a duplicate. Never silent: listed by
/// [`StageRegistry::replacements`], logged by [`StageRegistry::global`], shown by a host's
/// `list` and `describe`, and refused by [`StageRegistry::check_strict`] unless allowed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Replacement {
    /// The stage type.
    pub stage_type: String,
    /// Where the registration in force was defined (crate-relative file).
    pub kept: String,
    /// Where the registration it displaced was defined.
    pub replaced: String,
    /// Whether the registration in force declared itself a replacement (`#[stage(replace)]`).
    pub deliberate: bool,
}

impl fmt::Display for Replacement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = if self.deliberate {
            "replaced (declared `replace`)"
        } else {
            "taken over (a duplicate that won)"
        };
        write!(
            f,
            "stage type `{}` is {how} by {}; the registration left out: {}",
            self.stage_type, self.kept, self.replaced
        )
    }
}

/// A registry refused in strict mode, or stage types a host requires that are missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// Problems in strict mode, all of them.
    #[error("the stage registry has {} problem(s):\n{}", .0.len(), list(.0))]
    Problems(Vec<RegistryProblem>),
    /// Required stage types that no linked crate registers.
    #[error(
        "required stage type(s) not registered: {}. The crate defining them is not linked: \
         a crate listed in Cargo.toml but never named in code is dropped by the linker; \
         name it once, for example `use my_plugin as _;`",
        .0.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
    )]
    Missing(Vec<String>),
    /// Stage types taken over by another registration, refused in strict mode unless the host
    /// allows them ([`StageRegistry::check_strict`]).
    #[error(
        "{} stage type(s) replaced by another registration, refused in strict mode:\n{}\n\
         Allow each deliberate one (`stagectl --allow-replace TYPE`), or unlink the crate that replaces it",
        .0.len(),
        .0.iter().map(|r| format!("  - {r}")).collect::<Vec<_>>().join("\n")
    )]
    Replaced(Vec<Replacement>),
}

fn list(problems: &[RegistryProblem]) -> String {
    problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n")
}

/// A stage type a lookup did not find, with the nearest registered names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown stage type `{stage_type}`{}", suggest::did_you_mean(&self.suggestions.iter().map(String::as_str).collect::<Vec<_>>()))]
/// Its message names the nearest types; [`UnknownStageType::link_hint`] says what to do when
/// the type comes from a plugin that is not linked.
pub struct UnknownStageType {
    /// The type asked for.
    pub stage_type: String,
    /// Registered types with a near name, nearest first.
    pub suggestions: Vec<String>,
}

impl UnknownStageType {
    /// What to do when the type comes from a plugin: the sentence hosts append to the error.
    pub const fn link_hint() -> &'static str {
        "If it comes from a plugin crate, that crate may not be linked: a crate listed in Cargo.toml \
         but never named in code is dropped by the linker; name it once (`use the_plugin as _;`) and rebuild the host"
    }
}

/// The stage types known to a program.
///
/// [`StageRegistry::global`] holds every stage linked into the binary; [`StageRegistry::builder`]
/// makes one from an explicit list (tests, and platforms without link sections). Lookups by
/// type are O(1); listings are sorted. The registry is the same whatever the link order.
///
/// ```
/// use stage_core::StageRegistry;
/// let registry = StageRegistry::global();
/// for stage_type in registry.stage_types() {
///     let meta = registry.get_metadata(stage_type).unwrap();
///     println!("{stage_type}: {}", meta.description());
/// }
/// ```
pub struct StageRegistry {
    map: FxHashMap<&'static str, &'static StageMetadata>,
    problems: Vec<RegistryProblem>,
    replacements: Vec<Replacement>,
    sorted: OnceLock<Vec<&'static str>>,
}

impl fmt::Debug for StageRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StageRegistry")
            .field("stage_types", &self.stage_types())
            .field("problems", &self.problems)
            .field("replacements", &self.replacements)
            .finish()
    }
}

fn site(m: &StageMetadata) -> String {
    let l = m.location();
    format!("`{}` in {} ({}:{})", l.crate_name, l.module_path, crate_relative(l.file), l.line)
}

/// A definition site's file relative to its crate's root (`src/lib.rs`), the same on every
/// machine: `file!()` is relative to the workspace for a workspace member
/// (`stages-builtin/src/chunk.rs`) but absolute for a crate built from a registry or a path
/// outside it (`/home/me/.cargo/registry/src/…/my-plugin-0.1.0/src/lib.rs`). The path is cut at
/// its last `src`, `tests`, `examples` or `benches` component; a path with none is kept whole.
///
/// ```
/// use stage_core::crate_relative;
/// assert_eq!(crate_relative("stages-builtin/src/chunk.rs"), "src/chunk.rs");
/// assert_eq!(crate_relative("/home/me/.cargo/registry/src/idx/p-0.1.0/src/lib.rs"), "src/lib.rs");
/// assert_eq!(crate_relative("C:\\work\\p\\tests\\t.rs"), "tests/t.rs");
/// assert_eq!(crate_relative("lib.rs"), "lib.rs");
/// ```
pub fn crate_relative(file: &str) -> String {
    let parts: Vec<&str> = file.split(['/', '\\']).filter(|p| !p.is_empty()).collect();
    let cut = parts.iter().rposition(|p| matches!(*p, "src" | "tests" | "examples" | "benches"));
    match cut {
        Some(i) => parts[i..].join("/"),
        None => parts.join("/"),
    }
}

/// The winner between two registrations of one type: a replacement beats a plain one; then
/// the earlier definition site (crate, module, file, line) wins. A total order: the result
/// never depends on link order.
fn prefer(a: &StageMetadata, b: &StageMetadata) -> Ordering {
    b.is_replacement().cmp(&a.is_replacement()).then_with(|| a.location().cmp(&b.location()))
}

/// Every rule a registration must follow; the same rules `#[stage]` checks at compile time.
pub fn validate(m: &StageMetadata) -> Vec<String> {
    let mut reasons = Vec::new();
    if !is_valid_stage_type(m.stage_type()) {
        reasons.push(format!("stage type `{}` must match ^[A-Za-z0-9_-]+$", m.stage_type()));
    }
    let state_key = m.state_key();
    let keys = state_key.keys();
    if matches!(m.state_key(), StateKey::Many(ks) if ks.is_empty()) {
        reasons.push("the state key list is empty: write no `state_key` for a stage that writes none".into());
    }
    for (i, k) in keys.iter().enumerate() {
        if !is_identifier(k) {
            reasons.push(format!("state key `{k}` is not an identifier"));
        }
        if RESERVED_KEYS.contains(k) {
            reasons.push(format!("state key `{k}` is reserved for the run"));
        }
        if keys[..i].contains(k) {
            reasons.push(format!("state key `{k}` is repeated"));
        }
    }
    let expected_outputs = keys.len().max(1);
    let n = m.outputs().len();
    if !(n == expected_outputs || (keys.is_empty() && n == 0)) {
        reasons.push(format!("{n} output type(s) are declared for {} state key(s)", keys.len()));
    }
    if m.description().trim().is_empty() {
        reasons.push("the description is empty".into());
    }
    if m.version().trim().is_empty() {
        reasons.push("the version is empty".into());
    }
    for d in m.dependencies() {
        if !is_valid_stage_type(d.strip_prefix('@').unwrap_or(d)) {
            reasons.push(format!("dependency `{d}` is neither a stage type nor an `@resource`"));
        }
    }
    for (i, input) in m.inputs().iter().enumerate() {
        if !is_identifier(input.key) {
            reasons.push(format!("input key `{}` is not an identifier", input.key));
        }
        if m.inputs()[..i].iter().any(|o| o.key == input.key) {
            reasons.push(format!("input key `{}` is read twice", input.key));
        }
    }
    reasons
}

/// Builds a registry from an explicit list of registrations, ignoring the link-time slice.
///
/// ```
/// use stage_core::{StageRegistry, StageMetadata, Location};
/// # use stage_core::__private::{StageArgs, InvokeResult};
/// # fn invoke(_: &StageArgs<'_>) -> InvokeResult { Ok(None) }
/// static NOOP: StageMetadata = StageMetadata::new("noop", "Does nothing.", invoke,
///     Location { crate_name: "demo", module_path: "demo", file: file!(), line: line!() });
/// let registry = StageRegistry::builder().register(&NOOP).build();
/// assert_eq!(registry.stage_types(), ["noop"]);
/// assert!(registry.get_metadata("download").is_none());
/// ```
#[derive(Default)]
pub struct RegistryBuilder {
    entries: Vec<&'static StageMetadata>,
}

impl fmt::Debug for RegistryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryBuilder").field("entries", &self.entries.len()).finish()
    }
}

impl RegistryBuilder {
    /// Adds a registration.
    pub fn register(mut self, metadata: &'static StageMetadata) -> Self {
        self.entries.push(metadata);
        self
    }
    /// Adds registrations.
    pub fn register_all(mut self, metadata: impl IntoIterator<Item = &'static StageMetadata>) -> Self {
        self.entries.extend(metadata);
        self
    }
    /// Adds every stage linked into the binary (the link-time slice).
    pub fn linked(self) -> Self {
        self.register_all(STAGE_CORE_STAGE_REGISTRY.iter())
    }
    /// Builds the registry: validates each registration and settles duplicates.
    pub fn build(self) -> StageRegistry {
        StageRegistry::from_entries(self.entries.iter().copied(), self.entries.len())
    }
}

static GLOBAL: OnceLock<StageRegistry> = OnceLock::new();

impl StageRegistry {
    /// The registry of every stage linked into this binary, built on first use and cached.
    ///
    /// Problems (invalid or duplicate registrations) are logged once through `tracing` and kept
    /// in [`problems`](Self::problems); call [`check`](Self::check) to refuse to start on any.
    /// It never panics on a bad plugin. The one failure it cannot avoid is linkme's own: two
    /// major versions of stage-core in one binary panic here with ``duplicate
    /// #[distributed_slice] with name "STAGE_CORE_STAGE_REGISTRY"``; depend on a single
    /// stage-core version (`cargo tree -d -i stage-core` shows who pulls in the second).
    pub fn global() -> &'static StageRegistry {
        GLOBAL.get_or_init(|| {
            let registry = Self::from_slice();
            for p in &registry.problems {
                match p.severity() {
                    Severity::Warning => tracing::warn!(target: "stage_core::registry", "{p}"),
                    Severity::Error => tracing::error!(target: "stage_core::registry", "{p}"),
                    Severity::Info => tracing::info!(target: "stage_core::registry", "{p}"),
                }
            }
            // A declared replacement is no problem, but never silent.
            for r in registry.replacements.iter().filter(|r| r.deliberate) {
                tracing::warn!(target: "stage_core::registry", "{r}");
            }
            tracing::debug!(target: "stage_core::registry", stages = registry.len(), "stage registry ready");
            registry
        })
    }

    /// Builds a fresh registry from the link-time slice (what [`global`](Self::global)
    /// caches), without logging.
    pub fn from_slice() -> StageRegistry {
        Self::from_entries(STAGE_CORE_STAGE_REGISTRY.iter(), STAGE_CORE_STAGE_REGISTRY.len())
    }

    /// A builder for a registry from an explicit list: the testing registry.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    fn from_entries(entries: impl Iterator<Item = &'static StageMetadata>, n: usize) -> StageRegistry {
        let mut map: FxHashMap<&'static str, &'static StageMetadata> =
            FxHashMap::with_capacity_and_hasher(n, Default::default());
        let mut problems = Vec::new();
        let mut dropped: Vec<&'static StageMetadata> = Vec::new();
        for m in entries {
            if m.schema_version() != SCHEMA_VERSION {
                problems.push(RegistryProblem::SchemaVersion {
                    stage_type: m.stage_type().to_owned(),
                    defined_at: site(m),
                    found: m.schema_version(),
                });
                continue;
            }
            if !m.macro_checked() {
                let reasons = validate(m);
                if !reasons.is_empty() {
                    problems.push(RegistryProblem::Invalid {
                        stage_type: m.stage_type().to_owned(),
                        defined_at: site(m),
                        reasons,
                    });
                    continue;
                }
            }
            // Inserted first (the common case: a new type); a duplicate is settled after.
            if let Some(current) = map.insert(m.stage_type(), m) {
                if prefer(m, current) == Ordering::Less {
                    dropped.push(current);
                } else {
                    map.insert(current.stage_type(), current);
                    dropped.push(m);
                }
            }
        }
        // Duplicates are reported against the final winner, so the report does not depend on
        // the order the linker laid the slice out in.
        let mut replacements = Vec::with_capacity(dropped.len());
        for d in dropped {
            let kept = map[d.stage_type()];
            replacements.push(Replacement {
                stage_type: kept.stage_type().to_owned(),
                kept: site(kept),
                replaced: site(d),
                deliberate: kept.is_replacement(),
            });
            if kept.is_replacement() && !d.is_replacement() {
                continue;
            }
            problems.push(RegistryProblem::Duplicate {
                stage_type: kept.stage_type().to_owned(),
                kept: site(kept),
                dropped: site(d),
                deliberate: kept.is_replacement(),
            });
        }
        problems.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        replacements.sort();
        StageRegistry { map, problems, replacements, sorted: OnceLock::new() }
    }

    /// The metadata of a stage type, in O(1).
    pub fn get_metadata(&self, stage_type: &str) -> Option<&'static StageMetadata> {
        self.map.get(stage_type).copied()
    }

    /// The metadata of a stage type, or an error naming the nearest registered types.
    pub fn get(&self, stage_type: &str) -> Result<&'static StageMetadata, UnknownStageType> {
        self.get_metadata(stage_type).ok_or_else(|| UnknownStageType {
            stage_type: stage_type.to_owned(),
            suggestions: self.suggest(stage_type),
        })
    }

    /// Registered types with a name near `stage_type`, nearest first (at most three).
    pub fn suggest(&self, stage_type: &str) -> Vec<String> {
        suggest::nearest(stage_type, self.stage_types().iter().copied(), 3)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// Every registered stage type, sorted (computed on first call).
    pub fn stage_types(&self) -> &[&'static str] {
        self.sorted.get_or_init(|| {
            let mut v: Vec<&'static str> = self.map.keys().copied().collect();
            v.sort_unstable();
            v
        })
    }

    /// Every registration, sorted by stage type.
    pub fn iter(&self) -> impl Iterator<Item = &'static StageMetadata> + '_ {
        self.stage_types().iter().map(move |t| self.map[t])
    }

    /// How many stage types are registered.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no stage type is registered.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Problems found while building, sorted.
    pub fn problems(&self) -> &[RegistryProblem] {
        &self.problems
    }

    /// Strict mode: an error listing every problem, warnings included.
    pub fn check(&self) -> Result<(), RegistryError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(RegistryError::Problems(self.problems.clone()))
        }
    }

    /// Every stage type whose registration displaced another (declared replacements and
    /// duplicate winners), sorted.
    pub fn replacements(&self) -> &[Replacement] {
        &self.replacements
    }

    /// What displaced `stage_type`'s other registrations, if anything did.
    pub fn replacements_of<'a>(&'a self, stage_type: &'a str) -> impl Iterator<Item = &'a Replacement> + 'a {
        self.replacements.iter().filter(move |r| r.stage_type == stage_type)
    }

    /// Strict mode for a host: [`check`](Self::check), then every replaced stage type not in
    /// `allowed` is an error ([`RegistryError::Replaced`]).
    ///
    /// ```
    /// let registry = stage_core::StageRegistry::builder().build();
    /// assert!(registry.check_strict(&["chunk"]).is_ok());
    /// ```
    pub fn check_strict(&self, allowed: &[&str]) -> Result<(), RegistryError> {
        self.check()?;
        let refused: Vec<Replacement> =
            self.replacements.iter().filter(|r| !allowed.contains(&r.stage_type.as_str())).cloned().collect();
        if refused.is_empty() {
            Ok(())
        } else {
            Err(RegistryError::Replaced(refused))
        }
    }

    /// Checks at start-up that stage types the host expects are registered (their crates are
    /// linked).
    ///
    /// ```
    /// let err = stage_core::StageRegistry::global().require(["no-such-stage"]).unwrap_err();
    /// assert!(err.to_string().contains("`no-such-stage`"));
    /// ```
    pub fn require<'a>(&self, stage_types: impl IntoIterator<Item = &'a str>) -> Result<(), RegistryError> {
        let mut missing: Vec<String> =
            stage_types.into_iter().filter(|t| !self.map.contains_key(t)).map(str::to_owned).collect();
        if missing.is_empty() {
            return Ok(());
        }
        missing.sort();
        missing.dedup();
        Err(RegistryError::Missing(missing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::glue::{InvokeResult, StageArgs};
    use crate::metadata::{Location, OutputType};

    fn invoke(_: &StageArgs<'_>) -> InvokeResult {
        Ok(None)
    }

    const fn at(crate_name: &'static str, line: u32) -> Location {
        Location { crate_name, module_path: crate_name, file: "src/lib.rs", line }
    }

    const ONE: &[OutputType] = &[OutputType::of::<Vec<String>>()];

    static CHUNK_A: StageMetadata = StageMetadata::new("chunk", "Chunks (a).", invoke, at("alpha", 10))
        .with_state_key(StateKey::One("chunks"))
        .with_outputs(ONE, false);
    static CHUNK_B: StageMetadata = StageMetadata::new("chunk", "Chunks (b).", invoke, at("beta", 5))
        .with_state_key(StateKey::One("chunks"))
        .with_outputs(ONE, false);
    static CHUNK_REPLACE: StageMetadata =
        StageMetadata::new("chunk", "Chunks (replacement).", invoke, at("zeta", 99))
            .with_state_key(StateKey::One("chunks"))
            .with_outputs(ONE, false)
            .with_replaces(true);
    static CHUNK_REPLACE_2: StageMetadata =
        StageMetadata::new("chunk", "Chunks (second replacement).", invoke, at("omega", 1))
            .with_state_key(StateKey::One("chunks"))
            .with_outputs(ONE, false)
            .with_replaces(true);
    static EMBED: StageMetadata = StageMetadata::new("embed", "Embeds.", invoke, at("alpha", 20));
    static BAD: StageMetadata = StageMetadata::new("bad type!", "", invoke, at("gamma", 3))
        .with_state_key(StateKey::Many(&["payload", "not an ident", "payload"]));
    static OLD: StageMetadata =
        StageMetadata::new("old", "Built for schema 0.", invoke, at("legacy", 1)).with_schema_version(0);

    fn build(entries: &[&'static StageMetadata]) -> StageRegistry {
        StageRegistry::builder().register_all(entries.iter().copied()).build()
    }

    #[test]
    fn duplicate_keeps_the_earlier_definition_site_whatever_the_order() {
        for order in [[&CHUNK_A, &CHUNK_B], [&CHUNK_B, &CHUNK_A]] {
            let r = build(&order);
            assert_eq!(r.get_metadata("chunk").unwrap().description(), "Chunks (a).");
            assert_eq!(
                r.problems(),
                [RegistryProblem::Duplicate {
                    stage_type: "chunk".into(),
                    kept: "`alpha` in alpha (src/lib.rs:10)".into(),
                    dropped: "`beta` in beta (src/lib.rs:5)".into(),
                    deliberate: false,
                }]
            );
            assert_eq!(r.problems()[0].severity(), Severity::Warning);
            let strict = r.check().unwrap_err().to_string();
            assert!(strict.contains("stage type `chunk` is registered twice: kept `alpha`"), "{strict}");
            assert!(strict.contains("mark the intended one `#[stage(replace)]`"), "{strict}");
        }
    }

    #[test]
    fn a_declared_replacement_wins_silently() {
        for order in [[&CHUNK_A, &CHUNK_REPLACE], [&CHUNK_REPLACE, &CHUNK_A]] {
            let r = build(&order);
            assert_eq!(r.get_metadata("chunk").unwrap().description(), "Chunks (replacement).");
            assert!(r.problems().is_empty(), "{:?}", r.problems());
            assert!(r.check().is_ok());
            // Not a problem, but never silent: listed, and refused in strict mode unless allowed.
            assert_eq!(
                r.replacements(),
                [Replacement {
                    stage_type: "chunk".into(),
                    kept: "`zeta` in zeta (src/lib.rs:99)".into(),
                    replaced: "`alpha` in alpha (src/lib.rs:10)".into(),
                    deliberate: true,
                }]
            );
            assert_eq!(r.replacements_of("chunk").count(), 1);
            assert_eq!(r.replacements_of("embed").count(), 0);
            let strict = r.check_strict(&[]).unwrap_err();
            assert!(matches!(&strict, RegistryError::Replaced(v) if v.len() == 1), "{strict:?}");
            assert!(strict.to_string().contains("--allow-replace TYPE"), "{strict}");
            assert!(r.check_strict(&["chunk"]).is_ok());
        }
    }

    #[test]
    fn a_duplicate_that_wins_is_a_replacement_too() {
        let r = build(&[&CHUNK_B, &CHUNK_A]);
        assert_eq!(r.replacements().len(), 1);
        assert!(!r.replacements()[0].deliberate);
        assert!(r.replacements()[0].to_string().contains("taken over (a duplicate that won) by `alpha`"));
        // A duplicate is a problem already: strict mode refuses it even when the type is allowed.
        assert!(matches!(r.check_strict(&["chunk"]), Err(RegistryError::Problems(_))));
        assert!(build(&[&CHUNK_A, &EMBED]).check_strict(&[]).is_ok());
    }

    #[test]
    fn definition_sites_are_crate_relative() {
        static FAR: StageMetadata = StageMetadata::new(
            "far",
            "Far.",
            invoke,
            Location {
                crate_name: "far",
                module_path: "far",
                file: "/home/someone/.cargo/registry/src/index-1/far-0.1.0/src/stages/far.rs",
                line: 7,
            },
        );
        let r = build(&[&FAR, &BAD]);
        assert_eq!(super::site(&FAR), "`far` in far (src/stages/far.rs:7)");
        assert_eq!(crate_relative("tests/fixtures/download-plugin/src/lib.rs"), "src/lib.rs");
        assert!(r.problems()[0].to_string().contains("(src/lib.rs:3)"));
    }

    #[test]
    fn two_replacements_are_reported_and_settled_deterministically() {
        let orders: [[&'static StageMetadata; 4]; 3] = [
            [&CHUNK_A, &CHUNK_REPLACE, &CHUNK_REPLACE_2, &CHUNK_B],
            [&CHUNK_REPLACE_2, &CHUNK_B, &CHUNK_A, &CHUNK_REPLACE],
            [&CHUNK_B, &CHUNK_REPLACE, &CHUNK_A, &CHUNK_REPLACE_2],
        ];
        let first = build(&orders[0]);
        assert_eq!(first.get_metadata("chunk").unwrap().description(), "Chunks (second replacement).");
        assert_eq!(first.problems().len(), 1, "{:?}", first.problems());
        assert!(first.problems()[0].to_string().contains("registered as a replacement twice"));
        for order in &orders[1..] {
            let r = build(order);
            assert_eq!(r.get_metadata("chunk").unwrap().description(), "Chunks (second replacement).");
            assert_eq!(r.problems(), first.problems());
        }
    }

    #[test]
    fn invalid_registrations_are_left_out_with_every_reason() {
        let r = build(&[&BAD, &EMBED]);
        assert!(r.get_metadata("bad type!").is_none());
        assert_eq!(r.stage_types(), ["embed"]);
        let [RegistryProblem::Invalid { reasons, defined_at, .. }] = r.problems() else {
            panic!("{:?}", r.problems())
        };
        assert_eq!(defined_at, "`gamma` in gamma (src/lib.rs:3)");
        assert_eq!(
            reasons,
            &[
                "stage type `bad type!` must match ^[A-Za-z0-9_-]+$",
                "state key `payload` is reserved for the run",
                "state key `not an ident` is not an identifier",
                "state key `payload` is reserved for the run",
                "state key `payload` is repeated",
                "0 output type(s) are declared for 3 state key(s)",
                "the description is empty",
            ]
        );
    }

    #[test]
    fn another_schema_version_is_refused() {
        let r = build(&[&OLD]);
        assert!(r.is_empty());
        assert_eq!(
            r.problems()[0].to_string(),
            "stage type `old` defined at `legacy` in legacy (src/lib.rs:1) was built for metadata schema 0, \
             but this stage-core reads schema 1: rebuild the plugin against this stage-core version"
        );
    }

    #[test]
    fn lookups_listings_and_suggestions() {
        let r = build(&[&EMBED, &CHUNK_A]);
        assert_eq!(r.stage_types(), ["chunk", "embed"]);
        assert_eq!(r.iter().map(|m| m.stage_type()).collect::<Vec<_>>(), ["chunk", "embed"]);
        let err = r.get("chunck").unwrap_err();
        assert_eq!(err.suggestions, ["chunk"]);
        assert_eq!(err.to_string(), "unknown stage type `chunck`; did you mean `chunk`?");
        assert_eq!(r.get("zzz").unwrap_err().to_string(), "unknown stage type `zzz`");
        assert!(r.require(["chunk"]).is_ok());
        let missing = r.require(["index", "chunk", "download", "index"]).unwrap_err();
        assert_eq!(missing, RegistryError::Missing(vec!["download".into(), "index".into()]));
        assert!(missing.to_string().contains("`use my_plugin as _;`"));
    }
}
