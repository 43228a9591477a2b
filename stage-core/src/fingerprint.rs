//! Fingerprints of a plan: what a stored run was made with, checked when it resumes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::plan::Plan;

/// FNV-1a, 64 bits: a stable hash (same bytes, same value, on every platform and release).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// What a stage of a stored run was, as far as its stored outputs are concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageFingerprint {
    /// Its type.
    pub stage_type: String,
    /// Its type's version.
    pub version: String,
    /// The keys it writes.
    pub keys: Vec<String>,
    /// The Rust types of its outputs.
    pub outputs: Vec<String>,
}

/// A plan's fingerprint: its pipeline file's hash and each stage's output shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// FNV-1a of the pipeline file's text, hex.
    pub pipeline: String,
    /// Each stage, by name.
    pub stages: BTreeMap<String, StageFingerprint>,
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
                };
                (s.name.clone(), fp)
            })
            .collect();
        Fingerprint { pipeline: format!("{:016x}", self.pipeline.source_hash), stages }
    }
}

impl Fingerprint {
    /// Whether a run stored with `stored`, whose `completed` stages are kept, can continue
    /// under this fingerprint. `Ok` carries warnings (changes that do not matter); `Err` says
    /// what breaks the stored state.
    pub fn check_resume<'a>(
        &self,
        stored: &Fingerprint,
        completed: impl IntoIterator<Item = &'a str>,
    ) -> Result<Vec<String>, String> {
        let mut warnings = Vec::new();
        let mut breaks = Vec::new();
        if self.pipeline != stored.pipeline {
            warnings.push("the pipeline file changed since the run was stored".to_owned());
        }
        for name in completed {
            let (Some(old), now) = (stored.stages.get(name), self.stages.get(name)) else { continue };
            match now {
                None => breaks.push(format!("completed stage `{name}` is no longer in the pipeline")),
                Some(now) if now.stage_type != old.stage_type => breaks.push(format!(
                    "completed stage `{name}` was of type `{}` and is now `{}`",
                    old.stage_type, now.stage_type
                )),
                Some(now) if now.keys != old.keys || now.outputs != old.outputs => breaks.push(format!(
                    "completed stage `{name}` wrote {:?} as {:?} and now writes {:?} as {:?}",
                    old.keys, old.outputs, now.keys, now.outputs
                )),
                Some(now) if now.version != old.version => warnings.push(format!(
                    "stage type `{}` of completed stage `{name}` changed version ({} → {}); its outputs keep their shape",
                    now.stage_type, old.version, now.version
                )),
                Some(_) => {}
            }
        }
        if breaks.is_empty() {
            Ok(warnings)
        } else {
            Err(format!(
                "the stored run cannot resume: {}; run the job again from the start",
                breaks.join("; ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(pipeline: &str, outputs: &str, version: &str) -> Fingerprint {
        let stage = StageFingerprint {
            stage_type: "parse".into(),
            version: version.into(),
            keys: vec!["document".into()],
            outputs: vec![outputs.into()],
        };
        Fingerprint { pipeline: pipeline.into(), stages: BTreeMap::from([("parse".to_owned(), stage)]) }
    }

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn compatible_changes_warn_and_breaking_ones_refuse() {
        let stored = fp("1", "Doc", "1.0.0");
        assert_eq!(fp("1", "Doc", "1.0.0").check_resume(&stored, ["parse"]), Ok(vec![]));
        assert_eq!(
            fp("2", "Doc", "1.1.0").check_resume(&stored, ["parse"]).unwrap(),
            [
                "the pipeline file changed since the run was stored",
                "stage type `parse` of completed stage `parse` changed version (1.0.0 → 1.1.0); its outputs keep their shape"
            ]
        );
        assert_eq!(
            fp("1", "NewDoc", "2.0.0").check_resume(&stored, ["parse"]).unwrap_err(),
            "the stored run cannot resume: completed stage `parse` wrote [\"document\"] as [\"Doc\"] and now writes \
             [\"document\"] as [\"NewDoc\"]; run the job again from the start"
        );
        // A stage that had not completed may change freely.
        assert!(fp("1", "NewDoc", "2.0.0").check_resume(&stored, []).is_ok());
    }
}
