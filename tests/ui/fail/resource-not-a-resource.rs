use stage_core::stage;

pub struct HttpClient;

/// Fetches a page.
#[stage(type = "fetch", state_key = "page")]
fn fetch(url: &String, #[resource] client: &HttpClient) -> Vec<u8> {
    let _ = client;
    url.as_bytes().to_vec()
}

fn main() {}
