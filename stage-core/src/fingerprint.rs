//! Fingerprints of a plan: what a stored run was made with, checked when it resumes.
//!
//! Each output of each stage enters the fingerprint by its type's name and by its *shape*: the
//! fields and their types as serde sees them, traced through the type's `Deserialize` (with
//! `serde-reflection`) once per plan. When a stored run resumes, the shapes of its completed
//! stages' outputs are compared:
//!
//! - a field removed or renamed, or a field (or variant) whose type changed: refused, naming
//!   the stage, the key, the field and both types;
//! - fields only added: accepted here, with a warning; the stored values are then read into the
//!   new type, so a `#[serde(default)]` or `Option` field passes, and a required one refuses the
//!   resume with the decode error (`missing field ...`) as its reason;
//! - the type renamed or moved with the same shape (`stages_builtin::types::Chunk` to
//!   `stage_types::Chunk`): accepted, the shape is what the stored values depend on.
//!
//! A type that cannot be traced (a custom `Deserialize`, an untagged or internally tagged
//! enum, `serde_json::Value` or `serde_json::Map` anywhere inside it) has no shape; for its
//! outputs, and for runs stored before shapes were recorded, the type's name is compared, as
//! before: a changed name refuses the resume.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::shape::Shape;

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
    /// The shapes of its outputs, one per output (`None`: the type cannot be traced). Empty in
    /// fingerprints stored before shapes were recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shapes: Vec<Option<Shape>>,
}

/// A plan's fingerprint: its pipeline file's hash and each stage's output shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// FNV-1a of the pipeline file's text, hex.
    pub pipeline: String,
    /// Each stage, by name.
    pub stages: BTreeMap<String, StageFingerprint>,
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
                Some(now) if now.keys != old.keys || now.outputs.len() != old.outputs.len() => {
                    breaks.push(format!(
                        "completed stage `{name}` wrote {:?} as {:?} and now writes {:?} as {:?}",
                        old.keys, old.outputs, now.keys, now.outputs
                    ))
                }
                Some(now) => {
                    let before = breaks.len();
                    for (i, (old_ty, now_ty)) in old.outputs.iter().zip(&now.outputs).enumerate() {
                        let key = old.keys.get(i).map_or("its output", String::as_str);
                        match (old.shapes.get(i), now.shapes.get(i)) {
                            (Some(Some(a)), Some(Some(b))) => {
                                let (broken, added) = a.changes(b);
                                if !broken.is_empty() {
                                    breaks.push(format!(
                                        "completed stage `{name}` wrote `{key}` as `{old_ty}`, and its type `{now_ty}` \
                                         changed shape: {}",
                                        broken.join(", ")
                                    ));
                                } else if !added.is_empty() {
                                    warnings.push(format!(
                                        "the type of `{key}` of completed stage `{name}` gained {}: the stored values \
                                         are read into the new type, which needs a default for each",
                                        added.join(", ")
                                    ));
                                }
                            }
                            // A type without a shape (or a run stored without shapes): its name.
                            _ if old_ty != now_ty => breaks.push(format!(
                                "completed stage `{name}` wrote `{key}` as `{old_ty}` and now writes it as `{now_ty}`"
                            )),
                            _ => {}
                        }
                    }
                    if breaks.len() == before && now.version != old.version {
                        warnings.push(format!(
                            "stage type `{}` of completed stage `{name}` changed version ({} → {}); its outputs keep their shape",
                            now.stage_type, old.version, now.version
                        ));
                    }
                }
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
            shapes: vec![],
        };
        Fingerprint { pipeline: pipeline.into(), stages: BTreeMap::from([("parse".to_owned(), stage)]) }
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
            "the stored run cannot resume: completed stage `parse` wrote `document` as `Doc` and now writes it as \
             `NewDoc`; run the job again from the start"
        );
        // A stage that had not completed may change freely.
        assert!(fp("1", "NewDoc", "2.0.0").check_resume(&stored, []).is_ok());
    }
}
