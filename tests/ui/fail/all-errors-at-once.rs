use stage_core::{stage, StageContext};

#[stage(type = "split words", state_key = ["words", "payload"], parks = yes, versoin = "1")]
async fn split_words<T>(ctx: &StageContext, text: String, #[config] cfg: T) -> Vec<String> {
    let _ = (ctx, cfg);
    text.split_whitespace().map(str::to_owned).collect()
}

fn main() {}
