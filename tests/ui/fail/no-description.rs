use stage_core::stage;

#[stage(type = "split-words", state_key = "words")]
fn split_words(text: &String) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

fn main() {}
