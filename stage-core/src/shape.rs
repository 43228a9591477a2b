//! The shape of a type as serde sees it, traced through its `Deserialize`: what a stored
//! output depends on. A leaf: stage metadata traces its outputs' shapes with it, and the
//! plan's fingerprint compares them (see the fingerprint module for how).

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_reflection::{ContainerFormat, Format, Named, Tracer, TracerConfig, VariantFormat};

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
    pub(crate) fn changes(&self, now: &Shape) -> (Vec<String>, Vec<String>) {
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
