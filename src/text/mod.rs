//! The stacktrace text that is embedded (placeholder until it lands).
