//! `store` (being written).
