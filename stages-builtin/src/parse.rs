//! `parse` (being written).
