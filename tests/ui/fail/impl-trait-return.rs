use stage_core::stage;

/// Splits a text into words.
#[stage(type = "split-words", state_key = "words")]
fn split_words(text: &String) -> impl Iterator<Item = String> + '_ {
    text.split_whitespace().map(str::to_owned)
}

fn main() {
    let _ = split_words(&String::new()).count();
}
