//! Request signatures: `Authorization: Rpcsignature rpc0:<hex>`, where
//! `<hex>` is HMAC-SHA256 of the raw body keyed with a shared secret.
//!
//! Semantics, decided once here so the HTTP layer only maps errors to 401:
//!
//! | secrets | strict | no header | header present |
//! |---|---|---|---|
//! | none | no | accepted | accepted, not checked (nothing to check against) |
//! | none | yes | configuration error at [`SignatureVerifier::new`] | — |
//! | ≥ 1 | no | accepted (the reference service's behaviour) | must verify with one secret |
//! | ≥ 1 | yes | [`SignatureError::Missing`] | must verify with one secret |
//!
//! Several secrets may be configured so a secret can be rotated: add the new
//! one, switch Sentry over, remove the old one.

use hmac::digest::{Key, KeyInit};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use thiserror::Error;

type HmacSha256 = Hmac<Sha256>;

/// The authorization scheme (compared case-insensitively, as HTTP schemes are).
pub const SIGNATURE_SCHEME: &str = "Rpcsignature";
/// The only signature version there is.
pub const SIGNATURE_VERSION: &str = "rpc0";

/// Why a request's signature was refused (HTTP 401).
#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("the Authorization header is missing and a signature is required")]
    Missing,
    #[error("malformed Authorization header: {0}")]
    Malformed(&'static str),
    #[error("the signature matches none of the configured secrets")]
    Mismatch,
}

/// A signature setting that cannot work.
#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
pub enum SignatureConfigError {
    #[error("strict signature checking needs at least one secret")]
    StrictWithoutSecrets,
    #[error("signature secret {index} is empty")]
    EmptySecret { index: usize },
}

/// Checks request signatures against a set of shared secrets.
#[derive(Clone)]
pub struct SignatureVerifier {
    /// One MAC state per secret, already keyed, so a check only hashes the body.
    keys: Vec<HmacSha256>,
    strict: bool,
}

impl std::fmt::Debug for SignatureVerifier {
    // Never print key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignatureVerifier")
            .field("secrets", &self.keys.len())
            .field("strict", &self.strict)
            .finish()
    }
}

impl SignatureVerifier {
    /// A verifier for `secrets`. Strict mode without secrets would reject
    /// every request, and an empty secret is almost certainly an unset
    /// variable; both are refused here rather than at request time.
    pub fn new<S: AsRef<[u8]>>(secrets: &[S], strict: bool) -> Result<Self, SignatureConfigError> {
        if strict && secrets.is_empty() {
            return Err(SignatureConfigError::StrictWithoutSecrets);
        }
        if let Some(index) = secrets.iter().position(|s| s.as_ref().is_empty()) {
            return Err(SignatureConfigError::EmptySecret { index });
        }
        Ok(SignatureVerifier {
            keys: secrets.iter().map(|s| keyed_mac(s.as_ref())).collect(),
            strict,
        })
    }

    /// Accepts every request: no secrets, not strict.
    pub fn disabled() -> Self {
        SignatureVerifier {
            keys: Vec::new(),
            strict: false,
        }
    }

    pub fn is_strict(&self) -> bool {
        self.strict
    }

    /// Whether any signature is ever checked.
    pub fn has_secrets(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Checks `authorization` (the header's value, if any) against `body`
    /// (the raw bytes, before any decoding). See the module docs for when a
    /// missing header is accepted.
    pub fn verify(&self, authorization: Option<&str>, body: &[u8]) -> Result<(), SignatureError> {
        if self.keys.is_empty() {
            return Ok(());
        }
        let Some(header) = authorization else {
            return if self.strict {
                Err(SignatureError::Missing)
            } else {
                Ok(())
            };
        };
        let tag = parse_header(header)?;
        // Every secret is tried (no early exit), so timing does not tell
        // which secret, if any, came close; each comparison is constant-time.
        let matched = self.keys.iter().fold(false, |found, key| {
            let ok = key.clone().chain_update(body).verify_slice(&tag).is_ok();
            found | ok
        });
        if matched {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

/// The full `Authorization` header value signing `body` with `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let tag = keyed_mac(secret).chain_update(body).finalize().into_bytes();
    format!(
        "{SIGNATURE_SCHEME} {SIGNATURE_VERSION}:{}",
        hex::encode(tag)
    )
}

/// HMAC keyed with `secret`, built infallibly. HMAC (RFC 2104) hashes a key
/// longer than the block and zero-pads a shorter one to the block size;
/// doing that here gives a block-sized key, which the fixed-size constructor
/// takes without the `Result` that the slice constructor returns.
fn keyed_mac(secret: &[u8]) -> HmacSha256 {
    let mut key = Key::<HmacSha256>::default();
    if secret.len() > key.len() {
        let digest = Sha256::digest(secret);
        copy_prefix(&mut key, &digest);
    } else {
        copy_prefix(&mut key, secret);
    }
    <HmacSha256 as KeyInit>::new(&key)
}

fn copy_prefix(target: &mut [u8], source: &[u8]) {
    for (slot, byte) in target.iter_mut().zip(source) {
        *slot = *byte;
    }
}

/// `Rpcsignature rpc0:<64 hex digits>` → the 32-byte tag.
fn parse_header(header: &str) -> Result<Vec<u8>, SignatureError> {
    let header = header.trim();
    if header.is_empty() {
        return Err(SignatureError::Malformed("the header is empty"));
    }
    let (scheme, credentials) = header
        .split_once(char::is_whitespace)
        .unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case(SIGNATURE_SCHEME) {
        return Err(SignatureError::Malformed(
            "the scheme is not `Rpcsignature`",
        ));
    }
    let credentials = credentials.trim();
    let Some((version, digits)) = credentials.split_once(':') else {
        return Err(SignatureError::Malformed(
            "the signature lacks its `rpc0:` version prefix",
        ));
    };
    if version != SIGNATURE_VERSION {
        return Err(SignatureError::Malformed(
            "the signature version is not `rpc0`",
        ));
    }
    match hex::decode(digits) {
        Ok(tag) if tag.len() == 32 => Ok(tag),
        _ => Err(SignatureError::Malformed(
            "the signature is not 64 hex digits",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test cases 1 (short key) and 6 (key longer than the block):
    /// both paths of `keyed_mac` agree with the standard.
    #[test]
    fn keyed_mac_matches_rfc_4231() {
        let short = sign(&[0x0b; 20], b"Hi There");
        assert_eq!(
            short,
            "Rpcsignature rpc0:b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        let long = sign(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            long,
            "Rpcsignature rpc0:60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn block_sized_key_is_used_as_is() {
        // 64 bytes: neither hashed nor padded; must equal the slice constructor.
        let secret = [0x5a; 64];
        let Ok(reference) = <HmacSha256 as KeyInit>::new_from_slice(&secret) else {
            panic!("HMAC accepts any key length");
        };
        let expected = hex::encode(reference.chain_update(b"body").finalize().into_bytes());
        assert_eq!(
            sign(&secret, b"body"),
            format!("Rpcsignature rpc0:{expected}")
        );
    }
}
