//! Resilience policies (placeholder).
