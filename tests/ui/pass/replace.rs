use stage_core::{stage, StageRegistry};

mod upstream {
    /// Splits a text on spaces.
    #[stage_core::stage(type = "split-words", state_key = "words")]
    pub fn split_words(text: &String) -> Vec<String> {
        text.split(' ').map(str::to_owned).collect()
    }
}

/// Splits a text on any whitespace: replaces `upstream`'s stage of the same type.
#[stage(type = "split-words", state_key = "words", replace)]
fn split_words(text: &String) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

fn main() {
    let registry = StageRegistry::global();
    let meta = registry.get_metadata("split-words").unwrap();
    assert!(meta.is_replacement());
    assert!(!meta.parks());
    assert!(meta.description().starts_with("Splits a text on any whitespace"));
    // A deliberate replacement is not a problem.
    assert!(registry.problems().is_empty(), "{:?}", registry.problems());
    let _ = upstream::split_words;
}
