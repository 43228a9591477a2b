use stage_core::{stage, StageRegistry};

/// Splits a text into words.
///
/// Whitespace of any kind separates words.
#[stage(type = "split-words", state_key = "words")]
fn split_words(text: &String) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// This doc comment is for the code's readers; `description` is what the registry shows.
#[stage(
    type = "split-lines",
    state_key = "lines",
    description = "Splits a text into lines.",
    version = "2.1.0"
)]
fn split_lines(text: &String) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

fn main() {
    let registry = StageRegistry::global();
    let words = registry.get_metadata("split-words").unwrap();
    assert_eq!(words.description(), "Splits a text into words.\n\nWhitespace of any kind separates words.");
    let lines = registry.get_metadata("split-lines").unwrap();
    assert_eq!(lines.description(), "Splits a text into lines.");
    assert_eq!(lines.version(), "2.1.0");
}
