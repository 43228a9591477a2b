use stage_core::stage;

/// Counts the items of a list.
#[stage(type = "count", state_key = "count")]
fn count<T: serde::Serialize>(items: &Vec<T>) -> u64 {
    items.len() as u64
}

fn main() {}
