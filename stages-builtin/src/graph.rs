//! `graph` (being written).
