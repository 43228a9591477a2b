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
use std::panic::{catch_unwind, AssertUnwindSafe};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_reflection::{ContainerFormat, Format, Named, Tracer, TracerConfig, VariantFormat};

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
    /// The shapes of its outputs, one per output (`None`: the type cannot be traced). Empty in
    /// fingerprints stored before shapes were recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shapes: Vec<Option<Shape>>,
}

/// The structure of a type as serde sees it: its root format and each named container (struct
/// or enum) it reaches, as member → format (`"title" → "String"`, `"pages" → "Option<u32>"`;
/// an enum's members are its variants, `"Pdf" → "{url: String}"`). Containers are named as
/// serde names them (the type's name without its path, or its `#[serde(rename)]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    /// The type's own format (`Doc`, `Vec<Chunk>`, `String`).
    pub root: String,
    /// Each named container reached, by name.
    pub containers: BTreeMap<String, BTreeMap<String, String>>,
}

/// The shape of `T`, traced through its `Deserialize`; `None` when it cannot be traced.
pub(crate) fn trace<T: DeserializeOwned>() -> Option<Shape> {
    // A tracer meets arbitrary user `Deserialize` code: contain a panic as "untraceable".
    catch_unwind(AssertUnwindSafe(|| {
        let mut tracer = Tracer::new(TracerConfig::default());
        let (root, _) = tracer.trace_simple_type::<T>().ok()?;
        let registry = tracer.registry().ok()?;
        let containers = registry.iter().map(|(name, c)| (name.clone(), members(c))).collect();
        Some(Shape { root: format_name(&root), containers })
    }))
    .ok()
    .flatten()
}

fn members(c: &ContainerFormat) -> BTreeMap<String, String> {
    match c {
        ContainerFormat::UnitStruct => BTreeMap::new(),
        ContainerFormat::NewTypeStruct(f) => BTreeMap::from([("0".to_owned(), format_name(f))]),
        ContainerFormat::TupleStruct(fs) => {
            fs.iter().enumerate().map(|(i, f)| (i.to_string(), format_name(f))).collect()
        }
        ContainerFormat::Struct(fields) => named(fields),
        ContainerFormat::Enum(variants) => {
            variants.values().map(|v| (v.name.clone(), variant_name(&v.value))).collect()
        }
    }
}

fn named(fields: &[Named<Format>]) -> BTreeMap<String, String> {
    fields.iter().map(|f| (f.name.clone(), format_name(&f.value))).collect()
}

fn variant_name(v: &VariantFormat) -> String {
    match v {
        VariantFormat::Unit => "unit".to_owned(),
        VariantFormat::NewType(f) => format!("({})", format_name(f)),
        VariantFormat::Tuple(fs) => {
            format!("({})", fs.iter().map(format_name).collect::<Vec<_>>().join(", "))
        }
        VariantFormat::Struct(fields) => format!(
            "{{{}}}",
            fields
                .iter()
                .map(|f| format!("{}: {}", f.name, format_name(&f.value)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        VariantFormat::Variable(_) => "?".to_owned(),
    }
}

/// A format as a Rust-like type name (`Vec<Option<u32>>`, `Map<String, f64>`).
fn format_name(f: &Format) -> String {
    match f {
        Format::TypeName(n) => n.clone(),
        Format::Unit => "()".to_owned(),
        Format::Bool => "bool".to_owned(),
        Format::I8 => "i8".to_owned(),
        Format::I16 => "i16".to_owned(),
        Format::I32 => "i32".to_owned(),
        Format::I64 => "i64".to_owned(),
        Format::I128 => "i128".to_owned(),
        Format::U8 => "u8".to_owned(),
        Format::U16 => "u16".to_owned(),
        Format::U32 => "u32".to_owned(),
        Format::U64 => "u64".to_owned(),
        Format::U128 => "u128".to_owned(),
        Format::F32 => "f32".to_owned(),
        Format::F64 => "f64".to_owned(),
        Format::Char => "char".to_owned(),
        Format::Str => "String".to_owned(),
        Format::Bytes => "bytes".to_owned(),
        Format::Option(f) => format!("Option<{}>", format_name(f)),
        Format::Seq(f) => format!("Vec<{}>", format_name(f)),
        Format::Map { key, value } => format!("Map<{}, {}>", format_name(key), format_name(value)),
        Format::Tuple(fs) => format!("({})", fs.iter().map(format_name).collect::<Vec<_>>().join(", ")),
        Format::TupleArray { content, size } => format!("[{}; {size}]", format_name(content)),
        Format::Variable(_) => "?".to_owned(),
    }
}

impl Shape {
    /// How `self` (stored) changed into `now`: what breaks stored values of the old shape
    /// (a member removed or renamed, a member's type changed, the root changed), and the
    /// members only added.
    fn changes(&self, now: &Shape) -> (Vec<String>, Vec<String>) {
        let (mut breaks, mut added) = (Vec::new(), Vec::new());
        if self.root != now.root {
            breaks.push(format!("the type was `{}` and is now `{}`", self.root, now.root));
        }
        for (name, old) in &self.containers {
            let Some(new) = now.containers.get(name) else { continue };
            for (member, old_ty) in old {
                match new.get(member) {
                    None => breaks.push(format!(
                        "field `{member}` of `{name}` (`{old_ty}`) was removed or renamed (`{name}` now has {})",
                        if new.is_empty() {
                            "no fields".to_owned()
                        } else {
                            new.keys().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                        }
                    )),
                    Some(new_ty) if new_ty != old_ty => breaks.push(format!(
                        "field `{member}` of `{name}` was `{old_ty}` and is now `{new_ty}`"
                    )),
                    Some(_) => {}
                }
            }
            for (member, ty) in new.iter().filter(|(m, _)| !old.contains_key(*m)) {
                added.push(format!("field `{member}` of `{name}` (`{ty}`)"));
            }
        }
        (breaks, added)
    }
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
                    shapes: s.meta.outputs().iter().map(|o| o.shape()).collect(),
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
            "the stored run cannot resume: completed stage `parse` wrote `document` as `Doc` and now writes it as \
             `NewDoc`; run the job again from the start"
        );
        // A stage that had not completed may change freely.
        assert!(fp("1", "NewDoc", "2.0.0").check_resume(&stored, []).is_ok());
    }
}
