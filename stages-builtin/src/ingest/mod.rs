//! `ingest` (being written).
