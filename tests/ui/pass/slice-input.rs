use std::sync::Arc;

use stage_core::__private::StageArgs;
use stage_core::{stage, Job, StageContext, StageRegistry, StateValue};

/// Counts the chunks and the optional extra words: `&[T]` inputs read a stored `Vec<T>`.
#[stage(type = "count-chunks", state_key = "chunk_count")]
fn count_chunks(chunks: &[String], extra: Option<&[String]>) -> Vec<usize> {
    vec![chunks.len() + extra.map_or(0, <[String]>::len)]
}

fn main() {
    let meta = StageRegistry::global().get_metadata("count-chunks").unwrap();
    // Bound to the stored `Vec<String>`, so a writer of `Vec<String>` feeds it.
    assert_eq!(meta.inputs()[0].ty.name(), std::any::type_name::<Vec<String>>());
    assert_eq!(meta.inputs()[1].ty.name(), std::any::type_name::<Vec<String>>());
    assert!(!meta.inputs()[1].required);

    let ctx = StageContext::new(Arc::new(Job::new("job-1", "test")), "count", "count-chunks");
    let chunks = vec![String::from("a"), String::from("b")];
    let extra = vec![String::from("c")];
    let run = |inputs: &[Option<&dyn StateValue>]| {
        let out = meta.invoke(&StageArgs::new(&ctx, inputs, &["chunks", "extra"], None, &[])).unwrap().unwrap();
        out.downcast_ref::<Vec<usize>>().unwrap().clone()
    };
    assert_eq!(run(&[Some(&chunks), Some(&extra)]), [3]);
    assert_eq!(run(&[Some(&chunks), None]), [2]);
}
