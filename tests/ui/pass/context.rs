use std::sync::Arc;

use stage_core::__private::StageArgs;
use stage_core::{stage, Job, StageContext, StageRegistry, StateValue};

/// Tags a text with the job id; the context may come anywhere in the parameters.
#[stage(type = "tag-with-job", state_key = "tagged")]
fn tag_with_job(text: &String, ctx: &StageContext) -> Vec<String> {
    vec![ctx.job().job_id.clone(), text.clone()]
}

fn main() {
    let meta = StageRegistry::global().get_metadata("tag-with-job").unwrap();
    // The context is not an input.
    assert_eq!(meta.inputs().len(), 1);
    assert_eq!(meta.inputs()[0].key, "text");

    let ctx = StageContext::new(Arc::new(Job::new("job-7", "test")), "tag", "tag-with-job");
    let text = String::from("a");
    let inputs: [Option<&dyn StateValue>; 1] = [Some(&text)];
    let out = meta.invoke(&StageArgs::new(&ctx, &inputs, &["text"], None, &[])).unwrap().unwrap();
    assert_eq!(out.downcast_ref::<Vec<String>>().unwrap(), &["job-7", "a"]);
}
