//! Fingerprinting: an event's component tree and its hashes.
//!
//! [`Fingerprinter::fingerprint`] builds the variants; [`Grouping::hashes`]
//! are the keys an issue is found by.

pub mod component;
mod custom;
mod exception;
mod fingerprinter;
pub mod frame;
mod grouping;
pub mod message;
pub mod normalize;
pub mod rules;
mod stacktrace;

pub use component::{Component, ComponentValue, hash_component, hash_values};
pub use custom::{FingerprintMode, expand, fingerprint_mode};
pub use fingerprinter::Fingerprinter;
pub use grouping::{FALLBACK_HASH, Grouping, Variant};
pub use stacktrace::VariantKind;
