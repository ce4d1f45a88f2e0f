//! Sentry SDK ingestion protocol: envelopes, DSN key auth, compressed bodies.
//!
//! Pure protocol code for `POST /api/{project_id}/envelope/` and
//! `/store/`: the HTTP layer [decodes the body](decode_body), finds the
//! [public key](public_key), then either parses an [`Envelope`] and takes its
//! [event payloads](Envelope::event_payloads) or, for `/store/`, uses the
//! decoded body as the event itself.

mod auth;
mod body;
mod envelope;

pub use auth::{AuthError, AuthSource, Dsn, MAX_KEY_BYTES, SentryAuth, public_key};
pub use body::{BodyError, MAX_ENCODINGS, decode_body};
pub use envelope::{
    EVENT_ITEM_TYPE, Envelope, EnvelopeError, EnvelopeItem, EnvelopeLimits, ItemProblem,
};

/// Keeps error messages short when a client sends a huge header value.
fn shorten(text: &str) -> String {
    const MAX_CHARS: usize = 64;
    match text.char_indices().nth(MAX_CHARS) {
        Some((at, _)) => format!("{}…", text.get(..at).unwrap_or_default()),
        None => text.to_string(),
    }
}
