use stage_core::stage;

/// Logs a text.
#[stage(type = "log-text", state_key = "logged")]
fn log_text(text: &String) {
    println!("{text}");
}

fn main() {
    log_text(&String::new());
}
