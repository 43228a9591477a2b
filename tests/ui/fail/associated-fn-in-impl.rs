use stage_core::stage;

struct Splitter;

impl Splitter {
    /// Splits a text into words.
    #[stage(type = "split-words", state_key = "words")]
    fn split_words(text: &String) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }
}

fn main() {
    let _ = Splitter::split_words(&String::new());
}
