use serde::{Deserialize, Serialize};
use stage_core::stage;

#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
struct SplitConfig {
    max_words: usize,
}

/// Splits a text into words.
#[stage(type = "split-words", state_key = "words")]
fn split_words(text: &String, #[config(default)] cfg: &SplitConfig) -> Vec<String> {
    text.split_whitespace().take(cfg.max_words).map(str::to_owned).collect()
}

fn main() {}
