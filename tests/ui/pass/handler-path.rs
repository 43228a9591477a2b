use std::sync::Arc;

use stage_core::{stage, OutputSink, StageError, StageRegistry};

/// Writes each word under its own key, `<key>_<i>`.
fn write_each(words: Vec<String>, keys: &[&str], sink: &mut OutputSink) -> Result<(), StageError> {
    for (i, w) in words.into_iter().enumerate() {
        sink.write(&format!("{}_{i}", keys[0]), Arc::new(w));
    }
    Ok(())
}

/// Splits a text into words.
#[stage(type = "split-words", state_key = "word", handler = write_each)]
fn split_words(text: &String) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

fn main() {
    let meta = StageRegistry::global().get_metadata("split-words").unwrap();
    assert_eq!(meta.output_handler().name, "write_each");
    let mut sink = OutputSink::new();
    let words: Vec<String> = vec!["a".into(), "b".into()];
    (meta.output_handler().apply)(Arc::new(words), &["word"], &mut sink).unwrap();
    let written: Vec<&str> = sink.written().iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(written, ["word_0", "word_1"]);
}
