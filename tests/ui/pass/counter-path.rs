use serde::{Deserialize, Serialize};
use stage_core::{stage, StageRegistry};

#[derive(Debug, Serialize, Deserialize)]
pub struct GraphReceipt {
    pub nodes_written: u64,
}

mod metrics {
    pub fn nodes(receipt: &super::GraphReceipt) -> u64 {
        receipt.nodes_written
    }
}

/// Writes a graph; the receipt counts the nodes written.
#[stage(type = "write-graph", state_key = "receipt", counter = metrics::nodes)]
fn write_graph(nodes: &Vec<String>) -> GraphReceipt {
    GraphReceipt { nodes_written: nodes.len() as u64 }
}

fn main() {
    let meta = StageRegistry::global().get_metadata("write-graph").unwrap();
    assert_eq!(meta.output_counter().name, "metrics::nodes");
    let receipt = GraphReceipt { nodes_written: 5 };
    assert_eq!((meta.output_counter().count)(&receipt), Ok(5));
    assert!((meta.output_counter().count)(&String::new()).is_err());
}
