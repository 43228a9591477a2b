use stage_core::{stage, OutputCount};

pub struct Stats {
    pub words: usize,
}

impl OutputCount for Stats {
    fn output_count(&self) -> u64 {
        1
    }
}

/// Splits a text into words, with statistics.
#[stage(type = "split-words", state_key = ["words", "stats"])]
fn split_words(text: &String) -> (Vec<String>, Stats) {
    let words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    let stats = Stats { words: words.len() };
    (words, stats)
}

fn main() {}
