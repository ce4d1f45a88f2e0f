//! `Content-Encoding` of SDK request bodies: `gzip`, `deflate` and `identity`.
//!
//! Decoding streams through [`Read::take`], so a small compressed body that
//! expands enormously (a "zip bomb") costs at most `max_decoded + 1` bytes of
//! memory before it is refused.

use super::shorten;
use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};
use std::io::Read;
use thiserror::Error;

/// Most encodings one body may be wrapped in (`Content-Encoding: gzip, gzip`
/// is legal HTTP but never useful); bounds the work per request.
pub const MAX_ENCODINGS: usize = 2;

/// Why a body could not be decoded (HTTP 400, or 413 for `TooLarge`).
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum BodyError {
    #[error("unsupported Content-Encoding `{0}` (supported: gzip, deflate, identity)")]
    Unsupported(String),
    #[error("more than {MAX_ENCODINGS} content encodings")]
    TooManyEncodings,
    #[error("body is larger than the limit of {limit} bytes once decoded")]
    TooLarge { limit: usize },
    #[error("body is not valid {encoding} data: {message}")]
    Invalid {
        encoding: &'static str,
        message: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Gzip,
    Deflate,
}

/// Decodes `body` per the `Content-Encoding` header value (`None`, empty or
/// `identity`: unchanged). Several comma-separated encodings are undone
/// last-applied first. Refuses output over `max_decoded` bytes.
pub fn decode_body(
    encoding: Option<&str>,
    body: &[u8],
    max_decoded: usize,
) -> Result<Vec<u8>, BodyError> {
    let codings = parse_encodings(encoding.unwrap_or_default())?;
    let Some((&last, earlier)) = codings.split_last() else {
        if body.len() > max_decoded {
            return Err(BodyError::TooLarge { limit: max_decoded });
        }
        return Ok(body.to_vec());
    };
    let mut data = decode_one(last, body, max_decoded)?;
    for &coding in earlier.iter().rev() {
        data = decode_one(coding, &data, max_decoded)?;
    }
    Ok(data)
}

fn decode_one(coding: Coding, data: &[u8], limit: usize) -> Result<Vec<u8>, BodyError> {
    match coding {
        Coding::Gzip => decode_gzip(data, limit),
        Coding::Deflate => decode_deflate(data, limit),
    }
}

/// The encodings in the order they were applied, `identity` dropped.
fn parse_encodings(header: &str) -> Result<Vec<Coding>, BodyError> {
    let mut codings = Vec::new();
    for token in header.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let coding = if token.eq_ignore_ascii_case("identity") {
            continue;
        } else if token.eq_ignore_ascii_case("gzip") || token.eq_ignore_ascii_case("x-gzip") {
            Coding::Gzip
        } else if token.eq_ignore_ascii_case("deflate") {
            Coding::Deflate
        } else {
            return Err(BodyError::Unsupported(shorten(token)));
        };
        if codings.len() == MAX_ENCODINGS {
            return Err(BodyError::TooManyEncodings);
        }
        codings.push(coding);
    }
    Ok(codings)
}

fn decode_gzip(data: &[u8], limit: usize) -> Result<Vec<u8>, BodyError> {
    if data.is_empty() {
        return Err(invalid("gzip", "the body is empty"));
    }
    // Multi-member: concatenated gzip streams are one valid gzip body.
    read_bounded(MultiGzDecoder::new(data), limit).map_err(|e| e.into_body_error("gzip", limit))
}

/// HTTP's `deflate` is zlib-wrapped (RFC 9110), but some clients send raw
/// deflate. A valid zlib header picks zlib; raw deflate is the fallback,
/// also when zlib decoding fails (raw data can look like a zlib header).
fn decode_deflate(data: &[u8], limit: usize) -> Result<Vec<u8>, BodyError> {
    if data.is_empty() {
        return Err(invalid("deflate", "the body is empty"));
    }
    if has_zlib_header(data) {
        match read_bounded(ZlibDecoder::new(data), limit) {
            Ok(out) => return Ok(out),
            Err(ReadError::TooLarge) => return Err(BodyError::TooLarge { limit }),
            Err(ReadError::Io(_)) => {}
        }
    }
    read_bounded(DeflateDecoder::new(data), limit).map_err(|e| e.into_body_error("deflate", limit))
}

/// RFC 1950: method 8 (deflate), window ≤ 32 KiB, and a header checksum.
fn has_zlib_header(data: &[u8]) -> bool {
    let (Some(&cmf), Some(&flg)) = (data.first(), data.get(1)) else {
        return false;
    };
    cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0
}

enum ReadError {
    TooLarge,
    Io(std::io::Error),
}

impl ReadError {
    fn into_body_error(self, encoding: &'static str, limit: usize) -> BodyError {
        match self {
            ReadError::TooLarge => BodyError::TooLarge { limit },
            ReadError::Io(e) => invalid(encoding, &e.to_string()),
        }
    }
}

/// Reads at most `limit + 1` bytes: one more than allowed proves "too large"
/// without ever holding more.
fn read_bounded(reader: impl Read, limit: usize) -> Result<Vec<u8>, ReadError> {
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(ReadError::Io)?;
    if out.len() > limit {
        return Err(ReadError::TooLarge);
    }
    Ok(out)
}

fn invalid(encoding: &'static str, message: &str) -> BodyError {
    BodyError::Invalid {
        encoding,
        message: message.to_string(),
    }
}
