//! A stable hash, for what is stored and compared across processes and releases (the
//! pipeline file's hash in a plan's fingerprint). A leaf: the spec loader and the fingerprint
//! both use it without depending on each other.

/// FNV-1a, 64 bits: a stable hash (same bytes, same value, on every platform and release).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
