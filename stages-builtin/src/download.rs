//! `download` (being written).
