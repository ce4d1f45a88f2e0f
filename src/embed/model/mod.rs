//! Encoder architectures (filled in below).
