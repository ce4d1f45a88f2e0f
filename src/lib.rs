//! stackherd's grouping core: pure, synchronous, and free of any runtime.
//!
//! An event is [validated](event::parse_event), [fingerprinted](fingerprint),
//! rendered to [stacktrace text](text) and [scrubbed](scrub) before anything
//! is embedded or stored. The live system (actors, HTTP, CLI) is the
//! `stackherd-actors` crate.

pub(crate) mod bit_stream;
pub mod dataset;
pub mod embed;
pub mod eval;
pub mod event;
pub mod fingerprint;
pub mod import;
pub mod index;
pub mod ingest;
pub mod scrub;
pub mod settings;
pub mod similarity;
pub mod store;
pub mod text;
