// `crate = path`: stage-core reached through a re-export, as a framework crate that wraps it
// would offer it.
mod framework {
    pub use ::stage_core as engine;
}

use framework::engine::{self, StageRegistry};

/// Splits a text into words.
#[engine::stage(crate = framework::engine, type = "split-words", state_key = "words")]
fn split_words(text: &String) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

fn main() {
    let meta = StageRegistry::global().get_metadata("split-words").unwrap();
    assert_eq!(meta.state_key().keys(), ["words"]);
}
