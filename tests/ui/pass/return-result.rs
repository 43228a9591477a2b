use std::sync::Arc;

use stage_core::__private::StageArgs;
use stage_core::{stage, Job, StageContext, StageError, StageRegistry, StateValue};

#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a number")]
pub struct NotANumber(String);

/// Parses comma-separated numbers.
#[stage(type = "parse-numbers", state_key = "numbers")]
fn parse_numbers(text: &String) -> Result<Vec<u64>, NotANumber> {
    text.split(',').map(|n| n.trim().parse().map_err(|_| NotANumber(n.trim().to_owned()))).collect()
}

fn main() {
    let meta = StageRegistry::global().get_metadata("parse-numbers").unwrap();
    assert!(!meta.may_skip());
    assert_eq!(meta.outputs()[0].ty().name(), std::any::type_name::<Vec<u64>>());

    let ctx = StageContext::new(Arc::new(Job::new("job-1", "test")), "parse", "parse-numbers");
    let good = String::from("1, 2");
    let inputs: [Option<&dyn StateValue>; 1] = [Some(&good)];
    let out = meta.invoke(&StageArgs::new(&ctx, &inputs, &["text"], None, &[])).unwrap().unwrap();
    assert_eq!(out.downcast_ref::<Vec<u64>>().unwrap(), &[1, 2]);

    let bad = String::from("1, x");
    let inputs: [Option<&dyn StateValue>; 1] = [Some(&bad)];
    match meta.invoke(&StageArgs::new(&ctx, &inputs, &["text"], None, &[])) {
        // Invalid data: permanent, not retried.
        Err(StageError::Permanent(e)) => assert_eq!(e.to_string(), "`x` is not a number"),
        other => panic!("expected the stage's error, got {other:?}"),
    }
}
