use std::sync::Arc;

use serde::{Deserialize, Serialize};
use stage_core::__private::StageArgs;
use stage_core::{stage, Job, StageContext, StageRegistry, StateValue};

#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct SplitConfig {
    pub max_words: usize,
    pub lowercase: bool,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig { max_words: 2, lowercase: true }
    }
}

/// Splits a text into at most `max_words` words.
#[stage(type = "split-words", state_key = "words")]
fn split_words(text: &String, #[config] cfg: &SplitConfig) -> Vec<String> {
    let words = text.split_whitespace().take(cfg.max_words);
    words.map(|w| if cfg.lowercase { w.to_lowercase() } else { w.to_owned() }).collect()
}

fn main() {
    let meta = StageRegistry::global().get_metadata("split-words").unwrap();
    // The config is not an input.
    assert_eq!(meta.inputs().len(), 1);
    let config = meta.config().expect("a config");
    assert_eq!(config.ty().name(), std::any::type_name::<SplitConfig>());
    assert_eq!(config.defaults().unwrap(), serde_json::json!({ "max_words": 2, "lowercase": true }));

    let parsed = config.parse(serde_json::json!({ "max_words": 3 })).unwrap();
    let ctx = StageContext::new(Arc::new(Job::new("job-1", "test")), "split", "split-words");
    let text = String::from("A B C D");
    let inputs: [Option<&dyn StateValue>; 1] = [Some(&text)];
    let out = meta.invoke(&StageArgs::new(&ctx, &inputs, &["text"], Some(&parsed), &[])).unwrap().unwrap();
    assert_eq!(out.downcast_ref::<Vec<String>>().unwrap(), &["a", "b", "c"]);
}
