use stage_core::{stage, StageContext, StageRegistry};

/// Waits for a human approval.
#[stage(type = "approval-gate", parks)]
fn approval_gate(ctx: &StageContext) {
    let _ = ctx;
}

fn main() {
    let meta = StageRegistry::global().get_metadata("approval-gate").unwrap();
    assert!(meta.parks());
    assert!(!meta.is_replacement());
}
