use stage_core::stage;

/// The answer.
#[stage(type = "answer", state_key = "answer")]
const fn answer() -> u64 {
    42
}

fn main() {
    const _: u64 = answer();
}
