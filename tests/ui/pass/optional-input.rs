use std::sync::Arc;

use stage_core::__private::StageArgs;
use stage_core::{stage, Job, StageContext, StageRegistry, StateValue};

/// Joins a text with an optional suffix.
#[stage(type = "join-suffix", state_key = "joined")]
fn join_suffix(text: &String, suffix: Option<&String>) -> Vec<String> {
    let mut out = vec![text.clone()];
    out.extend(suffix.cloned());
    out
}

fn main() {
    let meta = StageRegistry::global().get_metadata("join-suffix").unwrap();
    let keys: Vec<(&str, bool)> = meta.inputs().iter().map(|i| (i.key, i.required)).collect();
    assert_eq!(keys, [("text", true), ("suffix", false)]);
    assert_eq!(meta.inputs()[1].ty.name(), std::any::type_name::<String>());

    let ctx = StageContext::new(Arc::new(Job::new("job-1", "test")), "join", "join-suffix");
    let text = String::from("a");
    let inputs: [Option<&dyn StateValue>; 2] = [Some(&text), None];
    let out = meta.invoke(&StageArgs::new(&ctx, &inputs, &["text", "suffix"], None, &[])).unwrap().unwrap();
    assert_eq!(out.downcast_ref::<Vec<String>>().unwrap(), &["a"]);
}
