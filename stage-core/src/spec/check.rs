//! Rules that need to know which stage types can park a run (contract §1.3, §1.5, §1.8, §3):
//! gate binding, resume points, phases, execution order, and each gate stage's effective
//! gate definition.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::condition::{
    read_timing, seconds, CondParser, Condition, Timing, DEFAULT_POLL_SECONDS, MAX_GATE_WAIT_SECONDS,
    MIN_GATE_PAUSE_SECONDS,
};
use super::diag::{Diagnostic, Severity, Sink};
use super::model::{GateRetry, GateSpec, PipelineSpec, DEFAULT_PHASE_ORDER};
use super::read::{self, backticked, suggestion, Map};
use super::yaml::{Loc, Node, NodeKind};

/// What [`check`] found: the execution order, each stage's phase and effective gate, and
/// the diagnostics (errors and warnings, in file order).
#[derive(Clone, Debug)]
pub struct Checked {
    /// Stage indexes in execution order: topological by `depends_on`, ties broken by
    /// declaration order.
    pub order: Vec<usize>,
    /// Each stage's phase (by stage index).
    pub phases: Vec<String>,
    /// Each stage's effective gate (by stage index; `None` for stages that are not gates).
    pub gate_of_stage: Vec<Option<EffectiveGate>>,
    /// For each gate definition (by index in `gates`), the stage it is bound to.
    pub stage_of_gate: Vec<Option<usize>>,
    /// Errors and warnings, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Warning)
    }
}

/// The gate a gate stage runs, with the stage's `config` applied (stage config wins over
/// the definition's condition, which wins over the definition itself).
#[derive(Clone, Debug, PartialEq)]
pub struct EffectiveGate {
    /// The gate's name (the definition's; else the name the stage gives; else the stage's).
    pub name: String,
    /// The gate stage (index in `stages`).
    pub stage: usize,
    /// The bound definition (index in `gates`), if any.
    pub definition: Option<usize>,
    /// The condition.
    pub condition: Condition,
    /// `timeout_seconds`; `None`: no timeout.
    pub timeout_seconds: Option<f64>,
    /// `poll_interval_seconds` (default 5).
    pub poll_interval_seconds: f64,
    /// `retry`.
    pub retry: Option<GateRetry>,
    /// `resume_stage`.
    pub resume_stage: Option<String>,
    /// `resume_phase`.
    pub resume_phase: Option<String>,
    /// `skip_download_on_resume` (default `true`; a resumed run never re-runs a completed
    /// stage anyway).
    pub skip_download_on_resume: bool,
}

/// How a definition found its stage (first match wins, contract §3).
#[derive(Clone, Copy, PartialEq)]
enum Via {
    StageKey(Loc),
    GateKey(Loc),
    ConfigGate,
    Named,
    Only,
}

/// What a gate stage's `config` says about its gate.
#[derive(Default)]
struct GateConfig {
    gate: Option<(String, Loc)>,
    resume_stage: Option<(String, Loc)>,
    condition: Option<Condition>,
    condition_loc: Option<Loc>,
    timing: Timing,
    condition_timing: Timing,
}

const INLINE_CONDITION_KEYS: [&str; 12] = [
    "field",
    "key",
    "equals",
    "expected",
    "operator",
    "value",
    "previous_value",
    "match",
    "mode",
    "clauses",
    "all",
    "any",
];

/// Checks the rules that need the stage registry's knowledge of which stage types are gates
/// (`is_gate_type`). Never fails: problems are in [`Checked::diagnostics`]. Meant for specs
/// that loaded without error; it stays deterministic on any spec.
pub fn check(spec: &PipelineSpec, is_gate_type: &dyn Fn(&str) -> bool) -> Checked {
    Checker::new(spec, is_gate_type).run()
}

struct Checker<'a> {
    spec: &'a PipelineSpec,
    sink: Sink,
    gate_cap: Vec<bool>,
    /// For each stage, the lowest-index gate stage it depends on, directly or not (linear:
    /// no n×n ancestry is kept).
    gate_ancestor: Vec<Option<usize>>,
    deps: Vec<Vec<(usize, Loc)>>,
    index: HashMap<&'a str, usize>,
    /// A stage whose `gate` key was already reported as binding a non-gate stage.
    gate_key_reported: Vec<bool>,
    /// A gate stage whose lack of a condition was already reported (it names an undefined
    /// gate).
    no_condition_reported: Vec<bool>,
}

/// For each stage, the lowest-index gate stage among those it depends on, directly or not:
/// one memoized depth-first pass over `depends_on` (O(stages + edges)); an edge closing a
/// cycle (reported elsewhere) is not followed.
fn lowest_gate_ancestors(deps: &[Vec<(usize, Loc)>], gate: &[bool]) -> Vec<Option<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let n = deps.len();
    let mut out: Vec<Option<usize>> = vec![None; n];
    let mut mark = vec![Mark::New; n];
    for root in 0..n {
        if mark[root] != Mark::New {
            continue;
        }
        // (stage, next dependency to visit)
        let mut stack = vec![(root, 0usize)];
        mark[root] = Mark::Open;
        while let Some(&mut (i, ref mut next)) = stack.last_mut() {
            if let Some(&(d, _)) = deps[i].get(*next) {
                *next += 1;
                if mark[d] == Mark::New {
                    mark[d] = Mark::Open;
                    stack.push((d, 0));
                }
                continue;
            }
            let mut best: Option<usize> = None;
            for &(d, _) in &deps[i] {
                if mark[d] != Mark::Done {
                    continue; // a cycle
                }
                let here = if gate[d] { Some(d) } else { None };
                for c in [here, out[d]].into_iter().flatten() {
                    best = Some(best.map_or(c, |b| b.min(c)));
                }
            }
            out[i] = best;
            mark[i] = Mark::Done;
            stack.pop();
        }
    }
    out
}

/// The stages that depend on stage `i`, directly or not, sorted by index (one search).
fn descendants(deps: &[Vec<(usize, Loc)>], i: usize) -> Vec<usize> {
    let n = deps.len();
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (k, ds) in deps.iter().enumerate() {
        for &(d, _) in ds {
            users[d].push(k);
        }
    }
    let mut seen = vec![false; n];
    let mut todo = users[i].clone();
    while let Some(k) = todo.pop() {
        if !seen[k] {
            seen[k] = true;
            todo.extend(&users[k]);
        }
    }
    (0..n).filter(|&k| seen[k] && k != i).collect()
}

impl<'a> Checker<'a> {
    fn new(spec: &'a PipelineSpec, is_gate_type: &dyn Fn(&str) -> bool) -> Self {
        let n = spec.stages.len();
        let mut index = HashMap::new();
        for (i, s) in spec.stages.iter().enumerate() {
            index.entry(s.name.as_str()).or_insert(i);
        }
        let deps: Vec<Vec<(usize, Loc)>> = spec
            .stages
            .iter()
            .enumerate()
            .map(|(i, s)| {
                s.depends_on
                    .iter()
                    .filter_map(|(d, l)| index.get(d.as_str()).map(|&j| (j, *l)))
                    .filter(|(j, _)| *j != i)
                    .collect()
            })
            .collect();
        let gate_cap: Vec<bool> = spec.stages.iter().map(|s| is_gate_type(&s.stage_type)).collect();
        let gate_ancestor = lowest_gate_ancestors(&deps, &gate_cap);
        Checker {
            spec,
            sink: Sink::new(&spec.path),
            gate_cap,
            gate_ancestor,
            deps,
            index,
            gate_key_reported: vec![false; n],
            no_condition_reported: vec![false; n],
        }
    }

    fn gate_stage_list(&self) -> String {
        let names: Vec<&str> = self
            .spec
            .stages
            .iter()
            .zip(&self.gate_cap)
            .filter(|(_, g)| **g)
            .map(|(s, _)| s.name.as_str())
            .collect();
        if names.is_empty() {
            "; this pipeline has no gate stage".to_string()
        } else {
            format!("; gate stages: {}", backticked(&names))
        }
    }

    fn run(mut self) -> Checked {
        let spec = self.spec;
        let n = spec.stages.len();
        let configs: Vec<GateConfig> = (0..n)
            .map(|i| if self.gate_cap[i] { self.gate_config(i) } else { GateConfig::default() })
            .collect();
        let (stage_of_gate, def_of_stage) = self.bind(&configs);
        let phases = self.phases();
        let mut gate_of_stage: Vec<Option<EffectiveGate>> = vec![None; n];
        for i in 0..n {
            if self.gate_cap[i] {
                gate_of_stage[i] = self.effective(i, def_of_stage[i], &configs[i], &phases);
            }
        }
        let order = self.order();
        Checked { order, phases, gate_of_stage, stage_of_gate, diagnostics: self.sink.sorted() }
    }

    fn gate_config(&mut self, i: usize) -> GateConfig {
        let stage = &self.spec.stages[i];
        let mut out = GateConfig::default();
        let Some(config) = &stage.config else {
            return out;
        };
        let Some(entries) = config.entries() else {
            return out;
        };
        let m = Map { node: config, entries };
        let ctx = format!("in `config` of gate stage `{}`", stage.name);
        for key in ["gate", "resume_stage"] {
            if let Some(n) = m.get(key) {
                if let Some(s) = read::string(&mut self.sink, n, &format!("`{key}` {ctx}")) {
                    if !read::is_name(&s) {
                        self.sink.error(
                            n.loc,
                            format!("`{key}` `{s}` {ctx} is invalid: use only letters, digits, `_` and `-`"),
                        );
                    } else if key == "gate" {
                        out.gate = Some((s, n.loc));
                    } else {
                        out.resume_stage = Some((s, n.loc));
                    }
                }
            }
        }
        out.timing = read_timing(&mut self.sink, m, &ctx);
        let mut parts = Vec::new();
        let mut ok = true;
        let inline: Vec<_> = entries
            .iter()
            .filter(|(k, _)| INLINE_CONDITION_KEYS.contains(&k.text.as_str()))
            .cloned()
            .collect();
        let mut parser = CondParser { sink: &mut self.sink, ctx: ctx.clone(), key_form: true };
        if let Some((k, _)) = inline.first() {
            out.condition_loc = Some(k.loc);
            let node = Node { kind: NodeKind::Mapping(inline.clone()), loc: config.loc };
            match parser.mapping(&node, &[]) {
                Some(c) => parts.push(c),
                None => ok = false,
            }
        }
        if let Some(n) = m.get("condition") {
            out.condition_loc.get_or_insert(n.loc);
            match parser.mapping(n, &["timeout_seconds", "poll_interval_seconds"]) {
                Some(c) => parts.push(c),
                None => ok = false,
            }
            if let Some(e) = n.entries() {
                out.condition_timing = read_timing(
                    &mut self.sink,
                    Map { node: n, entries: e },
                    &format!("in the condition {ctx}"),
                );
            }
        }
        let mut parser = CondParser { sink: &mut self.sink, ctx, key_form: true };
        if let Some(n) = m.get("conditions") {
            out.condition_loc.get_or_insert(n.loc);
            match parser.list(n, "conditions") {
                Some(c) => parts.extend(c),
                None => ok = false,
            }
        }
        if ok && !parts.is_empty() {
            out.condition = Some(Condition::all(parts));
        }
        out
    }

    /// Binds definitions to stages: `(stage of each definition, definition of each stage)`.
    fn bind(&mut self, configs: &[GateConfig]) -> (Vec<Option<usize>>, Vec<Option<usize>>) {
        let spec = self.spec;
        let stages = &spec.stages;
        let n = stages.len();
        let mut stage_of_gate: Vec<Option<usize>> = vec![None; spec.gates.len()];
        let mut def_of_stage: Vec<Option<usize>> = vec![None; n];
        let mut reported = vec![false; spec.gates.len()];
        let mut pending = Vec::new();
        for (d, g) in spec.gates.iter().enumerate() {
            let found = if let Some((s, loc)) = &g.stage {
                match self.index.get(s.as_str()) {
                    Some(&i) => Some((i, Via::StageKey(*loc))),
                    None => {
                        reported[d] = true; // unknown stage: reported when loading
                        None
                    }
                }
            } else if let Some(i) = {
                // A gate stage naming it first; else any stage naming it (an error).
                let names_it = |i: &usize| stages[*i].gate.as_deref() == Some(&g.name);
                (0..n).filter(names_it).find(|&i| self.gate_cap[i]).or_else(|| (0..n).find(names_it))
            } {
                Some((i, Via::GateKey(stages[i].locs.gate.unwrap_or(stages[i].loc))))
            } else if let Some(i) = (0..n)
                .find(|&i| self.gate_cap[i] && configs[i].gate.as_ref().is_some_and(|(x, _)| *x == g.name))
            {
                Some((i, Via::ConfigGate))
            } else {
                (0..n)
                    .find(|&i| self.gate_cap[i] && stages[i].name == format!("gate_{}", g.name))
                    .map(|i| (i, Via::Named))
            };
            match found {
                Some((i, via)) => self.claim(d, i, via, &mut stage_of_gate, &mut def_of_stage),
                None => pending.push(d),
            }
        }
        // Otherwise: exactly one gate stage and one gate definition are bound together.
        let gate_stages: Vec<usize> = (0..n).filter(|&i| self.gate_cap[i]).collect();
        if spec.gates.len() == 1 && gate_stages.len() == 1 && pending == [0] && !reported[0] {
            let i = gate_stages[0];
            if def_of_stage[i].is_none() {
                self.claim(0, i, Via::Only, &mut stage_of_gate, &mut def_of_stage);
            }
        }
        for (d, g) in spec.gates.iter().enumerate() {
            if stage_of_gate[d].is_none() && !reported[d] && pending.contains(&d) {
                self.sink.error(
                    g.name_loc,
                    format!(
                        "gate `{0}` is not bound to any gate stage: give it `stage: <gate stage>`, set `gate: {0}` on its gate stage, or name that stage `gate_{0}`{1}",
                        g.name,
                        self.gate_stage_list()
                    ),
                );
            }
        }
        // Stage-side names must agree with the binding.
        for (i, s) in stages.iter().enumerate() {
            let names = [
                s.gate.as_ref().zip(s.locs.gate).map(|(x, l)| ("`gate`", x.clone(), l)),
                configs[i].gate.clone().map(|(x, l)| ("`config.gate`", x, l)),
            ];
            for (key, x, loc) in names.into_iter().flatten() {
                if !self.gate_cap[i] {
                    if !self.gate_key_reported[i] {
                        self.sink.error(
                            loc,
                            format!(
                                "stage `{}` sets {key} `{x}`, but its type `{}` is not a gate stage type (it cannot park a run){}",
                                s.name,
                                s.stage_type,
                                self.gate_stage_list()
                            ),
                        );
                    }
                    continue;
                }
                match def_of_stage[i] {
                    Some(d) if spec.gates[d].name != x => self.sink.error(
                        loc,
                        format!(
                            "{key} `{x}` of stage `{}` disagrees with its binding to gate `{}` (line {}); name the same gate",
                            s.name, spec.gates[d].name, spec.gates[d].name_loc.line
                        ),
                    ),
                    Some(_) => {}
                    None => match spec.gates.iter().position(|g| g.name == x) {
                        Some(d) => {
                            if let Some(j) = stage_of_gate[d] {
                                self.sink.error(
                                    loc,
                                    format!(
                                        "{key} `{x}` of stage `{}` names a gate already bound to stage `{}` (line {}); a gate runs in one stage",
                                        s.name, stages[j].name, stages[j].locs.name.line
                                    ),
                                );
                            }
                        }
                        None if configs[i].condition.is_none() => {
                            self.no_condition_reported[i] = true;
                            self.sink.error(
                                loc,
                                format!(
                                    "{key} `{x}` of stage `{}` names no gate defined in `gates`{}; define it there or give the stage a condition in `config`",
                                    s.name,
                                    suggestion(&x, spec.gates.iter().map(|g| g.name.as_str()), "gates")
                                ),
                            );
                        }
                        None => {}
                    },
                }
            }
        }
        (stage_of_gate, def_of_stage)
    }

    fn claim(
        &mut self,
        d: usize,
        i: usize,
        via: Via,
        stage_of_gate: &mut [Option<usize>],
        def_of_stage: &mut [Option<usize>],
    ) {
        let spec = self.spec;
        let g = &spec.gates[d];
        let s = &spec.stages[i];
        if !self.gate_cap[i] {
            let (loc, how) = match via {
                Via::StageKey(l) => (l, " by its `stage` key"),
                Via::GateKey(l) => {
                    self.gate_key_reported[i] = true;
                    (l, " by the stage's `gate` key")
                }
                _ => (g.name_loc, ""),
            };
            self.sink.error(
                loc,
                format!(
                    "gate `{}` is bound{how} to stage `{}`, whose type `{}` is not a gate stage type (it cannot park a run){}",
                    g.name,
                    s.name,
                    s.stage_type,
                    self.gate_stage_list()
                ),
            );
            stage_of_gate[d] = None;
            return;
        }
        if let Some(other) = def_of_stage[i] {
            let loc = match via {
                Via::StageKey(l) => l,
                _ => g.name_loc,
            };
            self.sink.error(
                loc,
                format!(
                    "gate `{}` is bound to stage `{}`, which already runs gate `{}` (line {}); a gate stage runs one gate",
                    g.name, s.name, spec.gates[other].name, spec.gates[other].name_loc.line
                ),
            );
            return;
        }
        stage_of_gate[d] = Some(i);
        def_of_stage[i] = Some(d);
    }

    /// Each stage's phase: explicit when it agrees, else computed (contract §1.8).
    fn phases(&mut self) -> Vec<String> {
        let spec = self.spec;
        let n = spec.stages.len();
        let mut phases = Vec::with_capacity(n);
        for i in 0..n {
            let s = &spec.stages[i];
            let gate_ancestor = self.gate_ancestor[i];
            let (computed, why) = if self.gate_cap[i] {
                ("gate", "it is a gate stage".to_string())
            } else if let Some(g) = gate_ancestor {
                ("post-gate", format!("it descends from gate stage `{}`", spec.stages[g].name))
            } else {
                ("pre-gate", "it descends from no gate stage".to_string())
            };
            let phase = match (&s.phase, s.locs.phase) {
                (Some(p), Some(loc)) if DEFAULT_PHASE_ORDER.contains(&p.as_str()) => {
                    if p != computed {
                        self.sink.error(
                            loc,
                            format!(
                                "stage `{}` has `phase: {p}`, but {why}, so its phase is `{computed}`",
                                s.name
                            ),
                        );
                    }
                    computed.to_string()
                }
                (Some(p), _) if spec.phase_position(p).is_some() => p.clone(),
                _ => computed.to_string(),
            };
            phases.push(phase);
        }
        for (i, s) in spec.stages.iter().enumerate() {
            for &(j, loc) in &self.deps[i] {
                if let (Some(a), Some(b)) = (spec.phase_position(&phases[i]), spec.phase_position(&phases[j]))
                {
                    if b > a {
                        self.sink.error(
                            loc,
                            format!(
                                "stage `{}` (phase `{}`) depends on `{}`, whose phase `{}` comes later in `phase_order`; a stage may depend only on stages of its own or an earlier phase",
                                s.name, phases[i], spec.stages[j].name, phases[j]
                            ),
                        );
                    }
                }
            }
        }
        phases
    }

    fn effective(
        &mut self,
        i: usize,
        def: Option<usize>,
        cfg: &GateConfig,
        phases: &[String],
    ) -> Option<EffectiveGate> {
        let spec = self.spec;
        let stage = &spec.stages[i];
        let g: Option<&GateSpec> = def.map(|d| &spec.gates[d]);
        let cfg_ctx = format!("`config` of gate stage `{}`", stage.name);
        // The condition: the stage config's wins.
        let def_condition = g.and_then(GateSpec::combined_condition);
        let condition = match (&cfg.condition, def_condition, g) {
            (Some(c), Some(dc), Some(g)) => {
                if !c.equivalent(&dc) {
                    self.sink.warning(
                        cfg.condition_loc.unwrap_or(stage.loc),
                        format!(
                            "the condition in {cfg_ctx} differs from the condition of gate `{}` (line {}); the stage config's condition is used",
                            g.name,
                            g.condition_loc.unwrap_or(g.loc).line
                        ),
                    );
                }
                Some(c.clone())
            }
            (Some(c), _, _) => Some(c.clone()),
            (None, Some(dc), _) => Some(dc),
            (None, None, Some(g)) => {
                self.sink.error(
                    g.name_loc,
                    format!(
                        "gate `{}` has no condition: give it `condition` or `conditions`, or give its stage `{}` a condition in `config`",
                        g.name, stage.name
                    ),
                );
                None
            }
            (None, None, None) => {
                if !self.no_condition_reported[i] {
                    self.sink.error(
                        stage.locs.name,
                        format!(
                            "gate stage `{}` has no condition: no entry of `gates` is bound to it and its `config` gives none",
                            stage.name
                        ),
                    );
                }
                None
            }
        };
        // Timing: stage config, then its condition, then the definition's condition, then
        // the definition.
        let mut sources: Vec<(String, &Timing)> = vec![
            (cfg_ctx.clone(), &cfg.timing),
            (format!("the condition in {cfg_ctx}"), &cfg.condition_timing),
        ];
        if let Some(g) = g {
            sources.push((format!("the condition of gate `{}`", g.name), &g.condition_timing));
            sources.push((format!("gate `{}`", g.name), &g.timing));
        }
        let timeout = self.most_specific("timeout_seconds", &sources, |t| t.timeout_seconds);
        let poll = self.most_specific("poll_interval_seconds", &sources, |t| t.poll_interval_seconds);
        // The resume point.
        let mut resume_stage = g.and_then(|g| g.resume_stage.clone());
        if let Some((r, loc)) = &cfg.resume_stage {
            match (&resume_stage, g) {
                (Some((dr, _)), Some(g)) if dr != r => self.sink.error(
                    *loc,
                    format!(
                        "`resume_stage` `{r}` in {cfg_ctx} differs from `resume_stage` `{dr}` of gate `{}` (line {}); they must be equal",
                        g.name, g.loc.line
                    ),
                ),
                (Some(_), _) => {}
                (None, _) => {
                    if self.index.contains_key(r.as_str()) {
                        resume_stage = Some((r.clone(), *loc));
                    } else {
                        self.sink.error(
                            *loc,
                            format!(
                                "`resume_stage` in {cfg_ctx} names unknown stage `{r}`{}",
                                suggestion(r, spec.stages.iter().map(|s| s.name.as_str()), "stages")
                            ),
                        );
                    }
                }
            }
        }
        let gate_name = g
            .map(|g| g.name.clone())
            .or_else(|| stage.gate.clone())
            .or_else(|| cfg.gate.as_ref().map(|(x, _)| x.clone()))
            .unwrap_or_else(|| stage.name.clone());
        if let Some((r, loc)) = &resume_stage {
            if let Some(&ri) = self.index.get(r.as_str()) {
                let below = descendants(&self.deps, i);
                if !below.contains(&ri) {
                    let below: Vec<&str> = below.iter().map(|&k| spec.stages[k].name.as_str()).collect();
                    let valid = if below.is_empty() {
                        format!("; no stage depends on `{}`", stage.name)
                    } else {
                        format!("; stages that do: {}", backticked(&below))
                    };
                    self.sink.error(
                        *loc,
                        format!(
                            "`resume_stage` `{r}` of gate `{gate_name}` does not descend from its gate stage `{}` (through `depends_on`){valid}",
                            stage.name
                        ),
                    );
                }
            }
        }
        let resume_phase = g.and_then(|g| g.resume_phase.clone());
        if let Some((p, loc)) = &resume_phase {
            if let (Some(rp), Some(gp)) = (spec.phase_position(p), spec.phase_position(&phases[i])) {
                if rp <= gp {
                    let later: Vec<&str> = spec.phase_order[gp + 1..].iter().map(String::as_str).collect();
                    let valid = if later.is_empty() {
                        "; no phase comes after it".to_string()
                    } else {
                        format!("; later phases: {}", backticked(&later))
                    };
                    self.sink.error(
                        *loc,
                        format!(
                            "`resume_phase` `{p}` of gate `{gate_name}` must come after `{}`, the phase of its stage `{}`, in `phase_order`{valid}",
                            phases[i], stage.name
                        ),
                    );
                }
            }
        }
        let retry = g.and_then(|g| g.retry.clone());
        if let (None, Some(r)) = (timeout, &retry) {
            self.check_bounded_wait(&gate_name, r, poll.unwrap_or(DEFAULT_POLL_SECONDS));
        }
        Some(EffectiveGate {
            name: gate_name,
            stage: i,
            definition: def,
            condition: condition?,
            timeout_seconds: timeout,
            poll_interval_seconds: poll.unwrap_or(DEFAULT_POLL_SECONDS),
            retry,
            resume_stage: resume_stage.map(|(r, _)| r),
            resume_phase: resume_phase.map(|(p, _)| p),
            skip_download_on_resume: g.and_then(|g| g.skip_download_on_resume).unwrap_or(true),
        })
    }

    /// A gate with no timeout waits as long as its retries allow: `max_attempts` evaluations,
    /// the pause (at least [`MIN_GATE_PAUSE_SECONDS`]) between each two. Longer than
    /// [`MAX_GATE_WAIT_SECONDS`] is an error at `retry`.
    fn check_bounded_wait(&mut self, gate: &str, retry: &GateRetry, poll: f64) {
        let pause = retry.delay_seconds.unwrap_or(poll).max(MIN_GATE_PAUSE_SECONDS);
        let wait = f64::from(retry.max_attempts.saturating_sub(1)) * pause;
        if wait > MAX_GATE_WAIT_SECONDS {
            let most = (MAX_GATE_WAIT_SECONDS / pause).floor() as u64 + 1;
            self.sink.error(
                retry.loc,
                format!(
                    "gate `{gate}` has no `timeout_seconds` and its `retry` ({} evaluations, {} s apart) may wait {} s, more than the longest gate wait ({} s, one day); give the gate a `timeout_seconds` (1–{}) or at most {most} `max_attempts` at this delay",
                    retry.max_attempts,
                    seconds(pause),
                    seconds(wait),
                    seconds(MAX_GATE_WAIT_SECONDS),
                    seconds(MAX_GATE_WAIT_SECONDS),
                ),
            );
        }
    }

    fn most_specific(
        &mut self,
        key: &str,
        sources: &[(String, &Timing)],
        get: impl Fn(&Timing) -> Option<(f64, Loc)>,
    ) -> Option<f64> {
        let mut winner: Option<(f64, Loc, &str)> = None;
        for (label, t) in sources {
            let Some((v, loc)) = get(t) else { continue };
            match winner {
                None => winner = Some((v, loc, label)),
                Some((w, wloc, wlabel)) => {
                    if v != w {
                        self.sink.warning(
                            loc,
                            format!(
                                "`{key}` {} of {label} differs from {} in {wlabel} (line {}), which wins: the most specific applies (stage config, then condition, then gate)",
                                seconds(v),
                                seconds(w),
                                wloc.line
                            ),
                        );
                    }
                }
            }
        }
        winner.map(|(v, _, _)| v)
    }

    /// Topological order by `depends_on`; among ready stages the first declared runs first.
    /// Stages caught in a cycle (never in a loaded spec) follow in declaration order.
    fn order(&self) -> Vec<usize> {
        let n = self.spec.stages.len();
        let mut missing: Vec<usize> = self.deps.iter().map(Vec::len).collect();
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, d) in self.deps.iter().enumerate() {
            for &(j, _) in d {
                dependents[j].push(i);
            }
        }
        let mut ready: BinaryHeap<Reverse<usize>> =
            (0..n).filter(|&i| missing[i] == 0).map(Reverse).collect();
        let mut order = Vec::with_capacity(n);
        let mut done = vec![false; n];
        while let Some(Reverse(i)) = ready.pop() {
            order.push(i);
            done[i] = true;
            for &k in &dependents[i] {
                missing[k] -= 1;
                if missing[k] == 0 {
                    ready.push(Reverse(k));
                }
            }
        }
        order.extend((0..n).filter(|&i| !done[i]));
        order
    }
}
