use stage_core::stage;

/// Waits for an approval.
#[stage(type = "approval-gate", parks = true)]
fn approval_gate() {}

fn main() {}
