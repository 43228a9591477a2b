use std::sync::Arc;

use stage_core::__private::StageArgs;
use stage_core::{stage, Job, StageContext, StageRegistry, StateKey, StateValue};

/// Splits a text into words.
#[stage(type = "split-words", state_key = "words")]
fn split_words(text: &String) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

fn main() {
    let meta = StageRegistry::global().get_metadata("split-words").unwrap();
    assert_eq!(*meta.state_key(), StateKey::One("words"));
    assert_eq!(meta.inputs().len(), 1);
    assert_eq!(meta.inputs()[0].key, "text");
    assert!(meta.inputs()[0].required);
    assert_eq!(meta.outputs().len(), 1);
    assert_eq!(meta.outputs()[0].ty().name(), std::any::type_name::<Vec<String>>());
    assert!(!meta.may_skip());
    assert_eq!(meta.description(), "Splits a text into words.");
    assert_eq!(meta.output_handler().name, "default");
    assert_eq!(meta.output_counter().name, "default");
    assert!(meta.config().is_none() && meta.resources().is_empty() && meta.dependencies().is_empty());
    assert!(!meta.parks() && !meta.is_replacement());
    assert_eq!(meta.location().line, 7);

    // The generated glue calls the function with the input and returns its output.
    let ctx = StageContext::new(Arc::new(Job::new("job-1", "test")), "split", "split-words");
    let text = String::from("a b c");
    let inputs: [Option<&dyn StateValue>; 1] = [Some(&text)];
    let out = meta.invoke(&StageArgs::new(&ctx, &inputs, &["text"], None, &[])).unwrap().unwrap();
    assert_eq!(out.downcast_ref::<Vec<String>>().unwrap(), &["a", "b", "c"]);
    assert_eq!((meta.output_counter().count)(&*out), Ok(3));

    // A missing input is an error, not a panic.
    let inputs: [Option<&dyn StateValue>; 1] = [None];
    assert!(meta.invoke(&StageArgs::new(&ctx, &inputs, &["text"], None, &[])).is_err());
}
