use serde::{Deserialize, Serialize};
use stage_core::stage;

#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
struct SplitConfig {
    max_words: usize,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
struct CaseConfig {
    lowercase: bool,
}

/// Splits a text into words.
#[stage(type = "split-words", state_key = "words")]
fn split_words(text: &String, #[config] split: &SplitConfig, #[config] case: &CaseConfig) -> Vec<String> {
    let _ = case.lowercase;
    text.split_whitespace().take(split.max_words).map(str::to_owned).collect()
}

fn main() {}
