use stage_core::stage;

/// Fetches a page.
#[stage(type = "fetch", state_key = "page")]
async fn fetch(url: &String) -> String {
    url.clone()
}

fn main() {
    let _ = fetch(&String::new());
}
