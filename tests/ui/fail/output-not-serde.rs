use stage_core::{stage, OutputCount};

pub struct Words(Vec<String>);

impl OutputCount for Words {
    fn output_count(&self) -> u64 {
        self.0.len() as u64
    }
}

/// Splits a text into words.
#[stage(type = "split-words", state_key = "words")]
fn split_words(text: &String) -> Words {
    Words(text.split_whitespace().map(str::to_owned).collect())
}

fn main() {}
