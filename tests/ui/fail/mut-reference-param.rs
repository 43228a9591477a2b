use stage_core::stage;

/// Appends a word.
#[stage(type = "append-word")]
fn append_word(words: &mut Vec<String>) {
    words.push("end".to_owned());
}

fn main() {}
