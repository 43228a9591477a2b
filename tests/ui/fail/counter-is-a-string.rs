use stage_core::stage;

fn count_words(words: &Vec<String>) -> u64 {
    words.len() as u64
}

/// Splits a text into words.
#[stage(type = "split-words", state_key = "words", counter = "count_words")]
fn split_words(text: &String) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

fn main() {
    let _ = count_words(&split_words(&String::new()));
}
