use stage_core::stage;

/// Adds two numbers.
#[stage(type = "add", state_key = "sum")]
fn add((a, b): &(u8, u8)) -> u16 {
    u16::from(*a) + u16::from(*b)
}

fn main() {
    let _ = add(&(1, 2));
}
