use stage_core::{stage, StageRegistry, StateKey};

/// Counts the words of a text; the result is kept in the run's results, under no key.
#[stage(type = "count-words")]
fn count_words(text: &String) -> Vec<usize> {
    vec![text.split_whitespace().count()]
}

fn main() {
    let meta = StageRegistry::global().get_metadata("count-words").unwrap();
    assert_eq!(*meta.state_key(), StateKey::None);
    assert_eq!(meta.outputs().len(), 1);
    assert_eq!(meta.output_handler().name, "none");
}
