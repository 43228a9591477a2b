use std::sync::Arc;

use stage_core::__private::StageArgs;
use stage_core::{stage, Job, OutputSink, StageContext, StageRegistry, StateValue};

/// Pairs each word with its length, stored whole as one value: marked `tuple_value`.
#[stage(type = "word-pairs", state_key = "pairs", tuple_value)]
fn word_pairs(text: &String) -> (Vec<String>, Vec<String>) {
    let words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    let upper = words.iter().map(|w| w.to_uppercase()).collect();
    (words, upper)
}

fn main() {
    let meta = StageRegistry::global().get_metadata("word-pairs").unwrap();
    assert_eq!(meta.outputs().len(), 1);
    assert_eq!(meta.outputs()[0].ty().name(), std::any::type_name::<(Vec<String>, Vec<String>)>());
    let ctx = StageContext::new(Arc::new(Job::new("job-1", "test")), "pairs", "word-pairs");
    let text = String::from("a b");
    let inputs: [Option<&dyn StateValue>; 1] = [Some(&text)];
    let out = meta.invoke(&StageArgs::new(&ctx, &inputs, &["text"], None, &[])).unwrap().unwrap();
    let mut sink = OutputSink::new();
    (meta.output_handler().apply)(out, meta.state_key().keys(), &mut sink).unwrap();
    assert_eq!(sink.written().len(), 1);
    let (k, v) = &sink.written()[0];
    assert_eq!(k, "pairs");
    assert!(v.downcast_ref::<(Vec<String>, Vec<String>)>().is_some());
}
