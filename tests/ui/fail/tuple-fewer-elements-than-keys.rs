use stage_core::stage;

/// Splits a text into words and sentences.
#[stage(type = "split-text", state_key = ["words", "sentences", "paragraphs"])]
fn split_text(text: &String) -> (Vec<String>, Vec<String>) {
    let words = text.split_whitespace().map(str::to_owned).collect();
    let sentences = text.split('.').map(str::to_owned).collect();
    (words, sentences)
}

fn main() {}
