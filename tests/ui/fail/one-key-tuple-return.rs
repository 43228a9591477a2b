use stage_core::stage;

/// Chunks a text and counts the chunks: one key, a tuple returned.
#[stage(type = "chunk-and-count", state_key = "chunks")]
fn chunk_and_count(text: &String) -> (Vec<String>, usize) {
    let chunks: Vec<String> = text.split('.').map(str::to_owned).collect();
    let n = chunks.len();
    (chunks, n)
}

fn main() {}
