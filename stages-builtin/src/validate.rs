//! `validate` (being written).
