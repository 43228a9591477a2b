//! The encoding of a journaled step: each stage's outputs in MessagePack (structs as maps), the
//! encoding of `stagectl`'s SQLite journal, read back through the producing stage's
//! [`OutputType`]. An encoded output larger than
//! [`LARGE_OUTPUT_BYTES`] is not journaled in Restate: it is written once to
//! `<store>/outputs/<sha256>.msgpack` and the step keeps that reference.

use std::path::Path;

use serde::{Deserialize, Serialize};
use stage_core::run::StageReport;
use stage_core::{OutputType, SharedValue};

use crate::RestateError;

/// Outputs whose encoding is larger than this (256 KiB) are journaled as a reference into the
/// store (`<store>/outputs/<sha256>.msgpack`), not inline: Restate journals every step's
/// result in its log and sends the whole journal to a worker that replays a run, so large
/// values stay out of it.
pub const LARGE_OUTPUT_BYTES: usize = 256 * 1024;

/// One output of a step: inline bytes or a reference into the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Payload {
    /// The value's MessagePack encoding.
    Inline(#[serde(with = "serde_bytes_compat")] Vec<u8>),
    /// A path relative to the store: `outputs/<sha256>.msgpack`.
    Stored(String),
}

/// What one journaled step returns: the stage's report line, its outputs (key `""` for the raw
/// output of a stage that writes no key) and the ledger fields the step set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    /// The stage's report line (completed or parked).
    pub report: StageReport,
    /// The outputs, by key.
    pub outputs: Vec<(String, Payload)>,
    /// Ledger fields the step set or changed, as JSON text (MessagePack keeps no
    /// distinction between some JSON forms; the text does).
    pub ledger: Vec<(String, String)>,
}

impl StepResult {
    /// The result as journaled bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, RestateError> {
        rmp_serde::to_vec_named(self)
            .map_err(|e| RestateError::Codec(format!("encoding a step's result: {e}")))
    }

    /// A journaled result read back.
    pub fn from_bytes(bytes: &[u8]) -> Result<StepResult, RestateError> {
        rmp_serde::from_slice(bytes)
            .map_err(|e| RestateError::Codec(format!("decoding a journaled step: {e}")))
    }
}

/// Serializes `Vec<u8>` as MessagePack binary, not as an array of numbers.
mod serde_bytes_compat {
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        d.deserialize_bytes(V)
    }
}

/// A value's MessagePack encoding (structs as maps), as `stagectl`'s journal writes it.
pub fn encode(value: &SharedValue) -> Result<Vec<u8>, RestateError> {
    let mut buf = Vec::new();
    let mut ser = rmp_serde::Serializer::new(&mut buf).with_struct_map();
    erased_serde::serialize(value.as_serialize(), &mut ser)
        .map_err(|e| RestateError::Codec(format!("encoding an output: {e}")))?;
    Ok(buf)
}

/// A value read back through its producing stage's output type.
pub fn decode(ty: &OutputType, bytes: &[u8]) -> Result<SharedValue, RestateError> {
    let mut de = rmp_serde::Deserializer::from_read_ref(bytes);
    let mut erased = <dyn erased_serde::Deserializer<'_>>::erase(&mut de);
    ty.deserialize_from(&mut erased).map_err(|e| RestateError::Codec(format!("decoding an output: {e}")))
}

/// `bytes` as a payload: inline, or written to the store when larger than
/// [`LARGE_OUTPUT_BYTES`].
pub fn to_payload(store: &Path, bytes: Vec<u8>) -> Result<Payload, RestateError> {
    if bytes.len() <= LARGE_OUTPUT_BYTES {
        return Ok(Payload::Inline(bytes));
    }
    use sha2::Digest;
    let hex: String = sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    let name = format!("outputs/{hex}.msgpack");
    let path = store.join(&name);
    if !path.is_file() {
        let dir = store.join("outputs");
        std::fs::create_dir_all(&dir).map_err(|e| RestateError::Store(format!("{}: {e}", dir.display())))?;
        // Atomically: a temporary of this process, renamed over the final name.
        let tmp = dir.join(format!(".{hex}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, &bytes).map_err(|e| RestateError::Store(format!("{}: {e}", tmp.display())))?;
        std::fs::rename(&tmp, &path).map_err(|e| RestateError::Store(format!("{}: {e}", path.display())))?;
    }
    Ok(Payload::Stored(name))
}

/// A payload's bytes: inline, or read from the store.
pub fn payload_bytes<'a>(store: &Path, p: &'a Payload) -> Result<std::borrow::Cow<'a, [u8]>, RestateError> {
    match p {
        Payload::Inline(b) => Ok(std::borrow::Cow::Borrowed(b)),
        Payload::Stored(name) => {
            if name.contains("..") || Path::new(name).is_absolute() {
                return Err(RestateError::Store(format!("output reference `{name}` is not under the store")));
            }
            let path = store.join(name);
            std::fs::read(&path).map(std::borrow::Cow::Owned).map_err(|e| {
                RestateError::Store(format!(
                    "{}: {e} (a large output is kept in the store: every worker must see the same store)",
                    path.display()
                ))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_payloads_inline_and_large_ones_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let small = to_payload(dir.path(), vec![1, 2, 3]).unwrap();
        assert_eq!(small, Payload::Inline(vec![1, 2, 3]));
        let big = vec![7u8; LARGE_OUTPUT_BYTES + 1];
        let stored = to_payload(dir.path(), big.clone()).unwrap();
        let Payload::Stored(name) = &stored else { panic!("not stored: {stored:?}") };
        assert!(name.starts_with("outputs/") && name.ends_with(".msgpack"), "{name}");
        assert_eq!(payload_bytes(dir.path(), &stored).unwrap().as_ref(), &big[..]);
        let escape = Payload::Stored("../x".to_owned());
        assert!(payload_bytes(dir.path(), &escape).is_err());
    }

    #[test]
    fn step_results_round_trip() {
        let r = StepResult {
            report: StageReport {
                name: "a".into(),
                stage_type: "t".into(),
                status: stage_core::StageStatus::Completed,
                attempts: 1,
                output_count: 2,
                duration_ms: 3,
                message: None,
                failure: None,
            },
            outputs: vec![("k".into(), Payload::Inline(vec![0x91, 0x01]))],
            ledger: vec![("f".into(), "{\"a\":1}".into())],
        };
        let bytes = r.to_bytes().unwrap();
        assert_eq!(StepResult::from_bytes(&bytes).unwrap(), r);
        assert!(StepResult::from_bytes(&[0xc1]).is_err());
    }
}
