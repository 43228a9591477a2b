//! Every supported form in a crate that turns every warning into an error: the expansion
//! produces no warnings (unused items, naming, missing docs) of its own.
#![deny(warnings)]
#![deny(missing_docs)]
#![deny(unused_qualifications, unused_results, unused_import_braces, unreachable_pub)]
#![deny(rust_2018_idioms, trivial_casts, trivial_numeric_casts)]

use serde::{Deserialize, Serialize};
use stage_core::{
    stage, BoxError, OutputSink, Resource, ResourceContext, StageContext, StageError, StageRegistry,
};

/// The stages. Private functions, never called by the program: registration alone must not
/// leave them "never used".
pub mod stages {
    use super::*;

    /// A split configuration.
    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default)]
    pub struct SplitConfig {
        /// The most words kept.
        pub max_words: usize,
    }

    /// A shared client.
    pub struct Client;

    impl Resource for Client {
        fn create(_: &ResourceContext) -> Result<Self, BoxError> {
            Ok(Client)
        }
    }

    /// An error.
    #[derive(Debug, thiserror::Error)]
    #[error("failed")]
    pub struct Failed;

    fn count_nodes(v: &Vec<u8>) -> u64 {
        v.len() as u64
    }

    fn write_all(v: Vec<u8>, keys: &[&str], sink: &mut OutputSink) -> Result<(), StageError> {
        let _ = (v, keys, sink);
        Ok(())
    }

    /// Plain, with every kind of parameter.
    #[stage(type = "all-params", state_key = "words", dependencies = ["extract", "@ledger"], version = "1.0.0")]
    fn all_params(
        ctx: &StageContext,
        text: &String,
        suffix: Option<&String>,
        #[config] cfg: &SplitConfig,
        #[resource] client: &Client,
    ) -> Vec<String> {
        let _ = (ctx, client);
        let mut words: Vec<String> = text.split_whitespace().take(cfg.max_words).map(str::to_owned).collect();
        words.extend(suffix.cloned());
        words
    }

    /// Option.
    #[stage(type = "option", state_key = "first")]
    fn option(words: &Vec<String>) -> Option<Vec<String>> {
        words.first().map(|w| vec![w.clone()])
    }

    /// Result.
    #[stage(type = "result", state_key = "bytes", counter = count_nodes, handler = write_all)]
    fn result(text: &String) -> Result<Vec<u8>, Failed> {
        if text.is_empty() {
            Err(Failed)
        } else {
            Ok(text.as_bytes().to_vec())
        }
    }

    /// Result of Option, several keys.
    #[stage(type = "result-option", state_key = ["a", "b"])]
    fn result_option(text: &String) -> Result<Option<(Vec<u8>, Vec<u8>)>, Failed> {
        Ok(Some((text.as_bytes().to_vec(), Vec::new())))
    }

    /// Nothing at all.
    #[stage(type = "nothing", parks, replace)]
    fn nothing() {}

    /// Public, documented.
    #[stage(type = "public", state_key = "out")]
    pub fn public(r#in: &Vec<u8>) -> Vec<u8> {
        r#in.clone()
    }
}

fn main() {
    let registry = StageRegistry::global();
    for t in ["all-params", "option", "result", "result-option", "nothing", "public"] {
        assert!(registry.get_metadata(t).is_some(), "{t} is registered");
    }
    assert!(registry.problems().is_empty(), "{:?}", registry.problems());
    assert_eq!(registry.get_metadata("all-params").unwrap().inputs().len(), 2);
}
