use std::sync::Arc;

use stage_core::__private::StageArgs;
use stage_core::{stage, Job, OutputSink, StageContext, StageRegistry, StateKey, StateValue};

/// Splits a text into words and sentences, and counts the words.
#[stage(type = "split-text", state_key = ["words", "sentences", "word_count"])]
fn split_text(text: &String) -> (Vec<String>, Vec<String>, Vec<usize>) {
    let words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    let sentences = text.split('.').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
    let n = words.len();
    (words, sentences, vec![n])
}

fn main() {
    let meta = StageRegistry::global().get_metadata("split-text").unwrap();
    assert_eq!(*meta.state_key(), StateKey::Many(&["words", "sentences", "word_count"]));
    let outputs: Vec<&str> = meta.outputs().iter().map(|o| o.ty().name()).collect();
    let (s, u) = (std::any::type_name::<Vec<String>>(), std::any::type_name::<Vec<usize>>());
    assert_eq!(outputs, [s, s, u]);

    // The default handler writes element `i` under key `i`.
    let ctx = StageContext::new(Arc::new(Job::new("job-1", "test")), "split", "split-text");
    let text = String::from("a b. c");
    let inputs: [Option<&dyn StateValue>; 1] = [Some(&text)];
    let out = meta.invoke(&StageArgs::new(&ctx, &inputs, &["text"], None, &[])).unwrap().unwrap();
    assert_eq!((meta.output_counter().count)(&*out), Ok(3 + 2 + 1));
    let mut sink = OutputSink::new();
    (meta.output_handler().apply)(out, meta.state_key().keys(), &mut sink).unwrap();
    let written: Vec<&str> = sink.written().iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(written, ["words", "sentences", "word_count"]);
    assert_eq!(sink.written()[2].1.downcast_ref::<Vec<usize>>().unwrap(), &[3]);
}
