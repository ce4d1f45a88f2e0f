//! Settings (placeholder).
