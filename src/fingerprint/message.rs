//! Message parameterization (placeholder until it lands).

/// Normalizes a message or exception value for grouping.
pub fn parameterize(message: &str) -> String {
    message.to_string()
}
