use stage_core::stage;

#[derive(Debug)]
pub struct ParseFailure(String);

/// Parses a list of numbers.
#[stage(type = "parse-numbers", state_key = "numbers")]
fn parse_numbers(text: &String) -> Result<Vec<u64>, ParseFailure> {
    text.split(',').map(|n| n.trim().parse().map_err(|_| ParseFailure(n.to_owned()))).collect()
}

fn main() {}
