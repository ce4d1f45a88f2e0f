//! Scrubbing of personal data (placeholder until it lands).
