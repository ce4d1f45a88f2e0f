//! Per-platform normalization of frame fields.
