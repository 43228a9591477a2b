//! The data the built-in stages pass to each other through the run state: the types of the
//! `stage-types` crate, re-exported (`stages_builtin::Chunk` and `stages_builtin::types::Chunk`
//! are `stage_types::Chunk`). A plugin that only reads or writes these types depends on
//! `stage-types` alone, without this crate's SQLite, TLS and XML dependencies.

pub use stage_types::*;
