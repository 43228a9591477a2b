//! `index` (being written).
