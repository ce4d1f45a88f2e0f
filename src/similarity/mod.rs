//! The similarity API that Sentry calls (see SEER_API.md): request and response types and signatures.
//!
//! Pure protocol code: the HTTP layer reads the body, checks the
//! [signature](SignatureVerifier) over the raw bytes, [parses](parse_request)
//! and [validates](SimilarIssuesRequest::validate) the request, and maps
//! [`RequestError`] to 400 and [`SignatureError`] to 401, answering with an
//! [`ErrorBody`].

mod parse;
mod request;
mod response;
mod signature;

pub use parse::{RequestError, parse_request};
pub use request::{
    DEFAULT_MODEL, DeleteByHashRequest, GroupingRecordRow, GroupingRecordsRequest,
    MAX_REQUEST_HASH_BYTES, RequestLimits, SimilarIssuesRequest,
};
pub use response::{
    ErrorBody, GroupingRecordsResponse, SimilarIssue, SimilarIssuesResponse, SuccessResponse,
};
pub use signature::{
    SIGNATURE_SCHEME, SIGNATURE_VERSION, SignatureConfigError, SignatureError, SignatureVerifier,
    sign,
};
