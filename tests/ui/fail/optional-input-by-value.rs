use stage_core::stage;

/// Splits a text into words, when there is one.
#[stage(type = "split-words", state_key = "words")]
fn split_words(text: Option<String>) -> Vec<String> {
    text.map(|t| t.split_whitespace().map(str::to_owned).collect()).unwrap_or_default()
}

fn main() {}
