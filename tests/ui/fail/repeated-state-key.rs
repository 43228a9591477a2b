use stage_core::stage;

/// Splits a text into words and counts them.
#[stage(type = "split-words", state_key = ["words", "words"])]
fn split_words(text: &String) -> (Vec<String>, u64) {
    let words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    let n = words.len() as u64;
    (words, n)
}

fn main() {}
