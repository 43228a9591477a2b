use std::sync::Arc;

use stage_core::__private::StageArgs;
use stage_core::{stage, Job, StageContext, StageRegistry, StateKey};

/// Does nothing.
#[stage(type = "noop")]
fn noop() {}

fn main() {
    let meta = StageRegistry::global().get_metadata("noop").unwrap();
    assert_eq!(*meta.state_key(), StateKey::None);
    assert!(meta.inputs().is_empty());
    assert_eq!(meta.output_handler().name, "none");
    assert_eq!(meta.description(), "Does nothing.");
    // The version defaults to the defining crate's.
    assert_eq!(meta.version(), env!("CARGO_PKG_VERSION"));
    assert_eq!(meta.location().crate_name, env!("CARGO_PKG_NAME"));

    let ctx = StageContext::new(Arc::new(Job::new("job-1", "test")), "noop", "noop");
    let out = meta.invoke(&StageArgs::new(&ctx, &[], &[], None, &[])).unwrap().unwrap();
    assert!(out.downcast_ref::<()>().is_some());
}
