use std::sync::Arc;

use stage_core::__private::StageArgs;
use stage_core::{stage, BoxError, Job, Resource, ResourceContext, StageContext, StageRegistry, StateValue};

/// A fake HTTP client, built once per pipeline.
pub struct HttpClient {
    pub base: String,
}

impl Resource for HttpClient {
    fn create(ctx: &ResourceContext) -> Result<Self, BoxError> {
        Ok(HttpClient { base: format!("https://{}.invalid", ctx.pipeline()) })
    }
}

/// Builds the URL of a path.
#[stage(type = "build-url", state_key = "urls")]
fn build_url(path: &String, #[resource] client: &HttpClient) -> Vec<String> {
    vec![format!("{}/{path}", client.base)]
}

fn main() {
    let meta = StageRegistry::global().get_metadata("build-url").unwrap();
    assert_eq!(meta.inputs().len(), 1);
    assert_eq!(meta.resources().len(), 1);
    assert_eq!(meta.resources()[0].ty().name(), std::any::type_name::<HttpClient>());

    let client = meta.resources()[0].create(&ResourceContext::new("docs", None)).unwrap();
    let ctx = StageContext::new(Arc::new(Job::new("job-1", "test")), "url", "build-url");
    let path = String::from("a.pdf");
    let inputs: [Option<&dyn StateValue>; 1] = [Some(&path)];
    let resources = [&*client];
    let out = meta.invoke(&StageArgs::new(&ctx, &inputs, &["path"], None, &resources)).unwrap().unwrap();
    assert_eq!(out.downcast_ref::<Vec<String>>().unwrap(), &["https://docs.invalid/a.pdf"]);
}
