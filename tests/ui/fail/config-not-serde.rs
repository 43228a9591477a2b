use stage_core::stage;

#[derive(Default)]
pub struct SplitConfig {
    pub max_words: usize,
}

/// Splits a text into words.
#[stage(type = "split-words", state_key = "words")]
fn split_words(text: &String, #[config] cfg: &SplitConfig) -> Vec<String> {
    text.split_whitespace().take(cfg.max_words).map(str::to_owned).collect()
}

fn main() {}
