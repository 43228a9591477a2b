use stage_core::stage;

/// Splits a text into words.
#[stage(state_key = "words")]
fn split_words(text: &String) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

fn main() {
    // The function is still emitted: calling it is not a second error.
    let _ = split_words(&String::new());
}
