use std::sync::Arc;

use stage_core::__private::StageArgs;
use stage_core::{stage, Job, StageContext, StageRegistry, StateKey, StateValue};

/// The first word of a text, when there is one.
#[stage(type = "first-word", state_key = "first")]
fn first_word(text: &String) -> Option<Vec<String>> {
    text.split_whitespace().next().map(|w| vec![w.to_owned()])
}

fn main() {
    let meta = StageRegistry::global().get_metadata("first-word").unwrap();
    assert_eq!(*meta.state_key(), StateKey::One("first"));
    assert!(meta.may_skip());
    assert_eq!(meta.outputs()[0].ty().name(), std::any::type_name::<Vec<String>>());

    let ctx = StageContext::new(Arc::new(Job::new("job-1", "test")), "first", "first-word");
    let text = String::from("hello world");
    let inputs: [Option<&dyn StateValue>; 1] = [Some(&text)];
    let out = meta.invoke(&StageArgs::new(&ctx, &inputs, &["text"], None, &[])).unwrap().unwrap();
    assert_eq!(out.downcast_ref::<Vec<String>>().unwrap(), &["hello"]);

    // `None` writes nothing.
    let empty = String::new();
    let inputs: [Option<&dyn StateValue>; 1] = [Some(&empty)];
    assert!(meta.invoke(&StageArgs::new(&ctx, &inputs, &["text"], None, &[])).unwrap().is_none());
}
