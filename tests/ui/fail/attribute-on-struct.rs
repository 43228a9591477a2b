use stage_core::stage;

/// Splits a text into words.
#[stage(type = "split-words", state_key = "words")]
struct SplitWords {
    separator: char,
}

fn main() {
    let _ = SplitWords { separator: ' ' }.separator;
}
