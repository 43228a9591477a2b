use serde::{Deserialize, Serialize};
use stage_core::stage;

#[derive(Serialize, Deserialize)]
pub struct Summary {
    pub words: usize,
}

/// Counts the words of a text.
#[stage(type = "summarize", state_key = "summary")]
fn summarize(text: &String) -> Summary {
    Summary { words: text.split_whitespace().count() }
}

fn main() {}
