use stage_core::stage;

/// Splits a text into words.
#[stage(type = "split-words", state_key = "words", dependencies = ["extract", "@ledger", "extract"])]
fn split_words(text: &String) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

fn main() {}
