use stage_core::{stage, StageContext};

/// Logs the job id.
#[stage(type = "log-job")]
fn log_job(ctx: &StageContext, again: &StageContext) {
    let _ = (ctx, again);
}

fn main() {}
