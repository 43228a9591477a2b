//! Pipeline files (placeholder).
