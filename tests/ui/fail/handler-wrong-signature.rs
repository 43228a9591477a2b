use stage_core::{stage, OutputSink};

fn write_words(words: &Vec<String>, keys: &[&str], sink: &mut OutputSink) {
    let _ = (words, keys, sink);
}

/// Splits a text into words.
#[stage(type = "split-words", state_key = "words", handler = write_words)]
fn split_words(text: &String) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

fn main() {}
