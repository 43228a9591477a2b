use stage_core::stage;

/// Splits a text into words, sentences and paragraphs.
#[stage(type = "split-text", state_key = ["words", "sentences"])]
fn split_text(text: &String) -> Result<(Vec<String>, Vec<String>, Vec<String>), std::fmt::Error> {
    let words = text.split_whitespace().map(str::to_owned).collect();
    let sentences = text.split('.').map(str::to_owned).collect();
    let paragraphs = text.split("\n\n").map(str::to_owned).collect();
    Ok((words, sentences, paragraphs))
}

fn main() {}
