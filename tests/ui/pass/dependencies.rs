use stage_core::{stage, StageRegistry};

/// Splits a text into words.
#[stage(type = "split-words", state_key = "words", dependencies = ["extract-text", "@ledger"])]
fn split_words(text: &String) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

fn main() {
    let meta = StageRegistry::global().get_metadata("split-words").unwrap();
    assert_eq!(meta.dependencies(), ["extract-text", "@ledger"]);
}
