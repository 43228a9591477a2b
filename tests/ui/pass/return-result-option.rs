use std::sync::Arc;

use stage_core::__private::StageArgs;
use stage_core::{stage, Job, StageContext, StageRegistry, StateValue};

/// Parses comma-separated numbers, when the text is not blank.
#[stage(type = "maybe-numbers", state_key = "numbers")]
fn maybe_numbers(text: &String) -> std::result::Result<Option<Vec<u64>>, std::num::ParseIntError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    text.split(',').map(|n| n.trim().parse()).collect::<Result<_, _>>().map(Some)
}

fn main() {
    let meta = StageRegistry::global().get_metadata("maybe-numbers").unwrap();
    assert!(meta.may_skip());
    assert_eq!(meta.outputs()[0].ty().name(), std::any::type_name::<Vec<u64>>());

    let ctx = StageContext::new(Arc::new(Job::new("job-1", "test")), "n", "maybe-numbers");
    for (text, expected) in [("4, 2", Some(Some(vec![4, 2]))), ("  ", Some(None)), ("x", None)] {
        let text = text.to_owned();
        let inputs: [Option<&dyn StateValue>; 1] = [Some(&text)];
        let got = meta.invoke(&StageArgs::new(&ctx, &inputs, &["text"], None, &[]));
        let got = got.ok().map(|v| v.map(|v| v.downcast_ref::<Vec<u64>>().unwrap().clone()));
        assert_eq!(got, expected, "{text:?}");
    }
}
