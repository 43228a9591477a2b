use stage_core::stage;

/// Reads a raw buffer.
#[stage(type = "read-raw", state_key = "bytes")]
unsafe fn read_raw(len: &usize) -> Vec<u8> {
    vec![0; *len]
}

fn main() {}
