//! `extract` (being written).
