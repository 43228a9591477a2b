use stage_core::{stage, StageRegistry};

/// Reads the key `type`, through a raw identifier.
#[stage(type = "read-type", state_key = "types")]
fn read_type(r#type: &String) -> Vec<String> {
    vec![r#type.clone()]
}

fn main() {
    let meta = StageRegistry::global().get_metadata("read-type").unwrap();
    assert_eq!(meta.inputs()[0].key, "type");
}
