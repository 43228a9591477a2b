//! `ledger` (being written).
