//! `embed` (being written).
