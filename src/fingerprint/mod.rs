//! Fingerprinting: an event's component tree and its hashes.

pub mod component;
pub mod frame;
pub mod message;
pub mod normalize;
pub mod rules;

pub use component::{Component, ComponentValue, hash_component, hash_values};
