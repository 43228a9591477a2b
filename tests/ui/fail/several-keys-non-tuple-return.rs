use stage_core::stage;

/// Splits a text into words and sentences.
#[stage(type = "split-text", state_key = ["words", "sentences"])]
fn split_text(text: &String) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

fn main() {}
