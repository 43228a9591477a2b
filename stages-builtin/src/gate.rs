//! `gate` (being written).
