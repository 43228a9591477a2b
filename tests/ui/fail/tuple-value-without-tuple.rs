use stage_core::stage;

/// Splits a text into words: no tuple, so `tuple_value` means nothing.
#[stage(type = "split-words", state_key = "words", tuple_value)]
fn split_words(text: &String) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

fn main() {}
