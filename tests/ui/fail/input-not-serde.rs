use stage_core::stage;

pub struct Document {
    pub text: String,
}

/// Splits a document into words.
#[stage(type = "split-words", state_key = "words")]
fn split_words(document: &Document) -> Vec<String> {
    document.text.split_whitespace().map(str::to_owned).collect()
}

fn main() {}
