//! The Sentry SDK ingestion protocol: envelopes, DSN key auth and
//! compressed bodies.
#![allow(clippy::unwrap_used)]

use flate2::Compression;
use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
use proptest::prelude::*;
use stackherd::ingest::{
    AuthError, AuthSource, BodyError, Dsn, Envelope, EnvelopeError, EnvelopeItem, EnvelopeLimits,
    ItemProblem, SentryAuth, decode_body, public_key,
};
use std::io::Write;

const EVENT: &[u8] = br#"{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","message":"hi"}"#;

fn parse(body: &[u8]) -> Result<Envelope<'_>, EnvelopeError> {
    Envelope::parse(body, &EnvelopeLimits::default())
}

fn item_problem(body: &[u8]) -> (usize, ItemProblem) {
    match parse(body) {
        Err(EnvelopeError::Item { index, problem }) => (index, problem),
        other => panic!("expected an item error, got {other:?}"),
    }
}

// ---- envelopes ------------------------------------------------------------

#[test]
fn event_with_length() {
    let mut body =
        br#"{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","dsn":"https://k@h/1"}"#.to_vec();
    body.extend_from_slice(
        format!("\n{{\"type\":\"event\",\"length\":{}}}\n", EVENT.len()).as_bytes(),
    );
    body.extend_from_slice(EVENT);
    body.push(b'\n');
    let envelope = parse(&body).unwrap();
    assert_eq!(
        envelope.event_id(),
        Some("9ec79c33ec9942ab8353589fcb2e04dc")
    );
    assert_eq!(envelope.dsn(), Some("https://k@h/1"));
    assert_eq!(envelope.items.len(), 1);
    assert_eq!(envelope.items[0].item_type, "event");
    assert_eq!(envelope.items[0].header["length"], EVENT.len());
    assert_eq!(envelope.event_payloads().collect::<Vec<_>>(), vec![EVENT]);
}

#[test]
fn event_without_length_ends_at_newline_or_end() {
    let mut body = b"{}\n{\"type\":\"event\"}\n".to_vec();
    body.extend_from_slice(EVENT);
    assert_eq!(parse(&body).unwrap().items[0].payload, EVENT);
    body.extend_from_slice(b"\n");
    assert_eq!(parse(&body).unwrap().items[0].payload, EVENT);
    body.extend_from_slice(b"\n\n  \n");
    let envelope = parse(&body).unwrap();
    assert_eq!(envelope.items.len(), 1, "empty trailing lines add no items");
}

#[test]
fn length_without_trailing_newline_at_end() {
    let mut body =
        format!("{{}}\n{{\"type\":\"event\",\"length\":{}}}\n", EVENT.len()).into_bytes();
    body.extend_from_slice(EVENT);
    assert_eq!(parse(&body).unwrap().items[0].payload, EVENT);
}

#[test]
fn several_items_and_ignored_types() {
    let body = b"{\"event_id\":\"a\"}\n\
        {\"type\":\"session\"}\n{\"sid\":\"x\"}\n\
        {\"type\":\"event\",\"length\":2}\n{}\n\
        {\"type\":\"transaction\"}\n{\"t\":1}\n\
        {\"type\":\"client_report\",\"length\":0}\n\n\
        {\"type\":\"event\"}\n{\"n\":2}\n";
    let envelope = parse(body).unwrap();
    let types: Vec<_> = envelope
        .items
        .iter()
        .map(|i| i.item_type.as_str())
        .collect();
    assert_eq!(
        types,
        ["session", "event", "transaction", "client_report", "event"]
    );
    assert_eq!(envelope.items[3].payload, b"");
    let events: Vec<_> = envelope.event_payloads().collect();
    assert_eq!(events, [&b"{}"[..], &b"{\"n\":2}"[..]]);
    let ignored: Vec<_> = envelope.ignored_item_types().collect();
    assert_eq!(ignored, ["session", "transaction", "client_report"]);
}

#[test]
fn binary_attachment_with_newlines_keeps_its_bytes() {
    let attachment: Vec<u8> = [
        b"\n\n".as_slice(),
        &[0, 255, 10, 13, 10],
        b"{\"type\":\"event\"}\n",
    ]
    .concat();
    let mut body = format!(
        "{{}}\n{{\"type\":\"attachment\",\"length\":{},\"filename\":\"core.bin\",\"content_type\":\"application/octet-stream\"}}\n",
        attachment.len()
    )
    .into_bytes();
    body.extend_from_slice(&attachment);
    body.extend_from_slice(b"\n{\"type\":\"event\"}\n{\"real\":true}\n");
    let envelope = parse(&body).unwrap();
    assert_eq!(envelope.items.len(), 2);
    assert_eq!(envelope.items[0].payload, attachment.as_slice());
    assert_eq!(envelope.items[0].header["filename"], "core.bin");
    assert_eq!(
        envelope.event_payloads().collect::<Vec<_>>(),
        [b"{\"real\":true}"]
    );
}

#[test]
fn length_payload_may_be_followed_directly_by_the_next_header() {
    let body = b"{}\n{\"type\":\"attachment\",\"length\":3}\nabc{\"type\":\"event\"}\n{}";
    let envelope = parse(body).unwrap();
    assert_eq!(envelope.items[0].payload, b"abc");
    assert_eq!(envelope.items[1].payload, b"{}");
}

#[test]
fn header_only_envelopes_and_headers_at_the_end() {
    assert!(parse(b"{}").unwrap().items.is_empty());
    assert!(parse(b"{\"event_id\":\"x\"}\n").unwrap().items.is_empty());
    // An item header at the very end has an empty payload.
    let envelope = parse(b"{}\n{\"type\":\"event\"}").unwrap();
    assert_eq!(envelope.items[0].payload, b"");
    let zero = parse(b"{}\n{\"type\":\"event\",\"length\":0}").unwrap();
    assert_eq!(zero.items[0].payload, b"");
    let null_length = parse(b"{}\n{\"type\":\"event\",\"length\":null}\n{}").unwrap();
    assert_eq!(null_length.items[0].payload, b"{}");
}

#[test]
fn crlf_line_ends_are_tolerated_in_headers() {
    let envelope = parse(b"{}\r\n{\"type\":\"event\",\"length\":2}\r\n{}").unwrap();
    // With CRLF the payload starts after "\n"; length counts from there.
    assert_eq!(envelope.items[0].payload, b"{}");
}

#[test]
fn truncated_envelopes_name_the_item() {
    let mut body = format!(
        "{{}}\n{{\"type\":\"event\",\"length\":{}}}\n",
        EVENT.len() + 10
    )
    .into_bytes();
    body.extend_from_slice(EVENT);
    let (index, problem) = item_problem(&body);
    assert_eq!(index, 0);
    assert_eq!(
        problem,
        ItemProblem::LengthPastEnd {
            length: (EVENT.len() + 10) as u64,
            available: EVENT.len()
        }
    );
    let huge = b"{}\n{\"type\":\"a\"}\nx\n{\"type\":\"event\",\"length\":18446744073709551615}\n{}";
    assert!(matches!(
        item_problem(huge),
        (1, ItemProblem::LengthPastEnd { .. })
    ));
    let message = parse(&body).unwrap_err().to_string();
    assert!(
        message.contains("item 0") && message.contains("length"),
        "{message}"
    );
}

#[test]
fn bad_headers_name_the_item_and_the_problem() {
    type Check = fn(&ItemProblem) -> bool;
    let cases: [(&[u8], usize, Check); 9] = [
        (b"{}\n{\"type\":", 0, |p| {
            matches!(p, ItemProblem::HeaderJson(_))
        }),
        (b"{}\nnot json\n", 0, |p| {
            matches!(p, ItemProblem::HeaderJson(_))
        }),
        (b"{}\n[1]\n", 0, |p| *p == ItemProblem::HeaderNotObject),
        (b"{}\n{\"length\":0}\n", 0, |p| {
            *p == ItemProblem::MissingType
        }),
        (b"{}\n{\"type\":5}\n", 0, |p| *p == ItemProblem::BadType),
        (b"{}\n{\"type\":\"\"}\n", 0, |p| *p == ItemProblem::BadType),
        (b"{}\n{\"type\":\"event\",\"length\":-1}\n", 0, |p| {
            *p == ItemProblem::BadLength
        }),
        (b"{}\n{\"type\":\"event\",\"length\":\"2\"}\n", 0, |p| {
            *p == ItemProblem::BadLength
        }),
        (
            b"{}\n{\"type\":\"event\"}\n{}\n{\"type\":\"x\",\"length\":1.5}\n",
            1,
            |p| *p == ItemProblem::BadLength,
        ),
    ];
    for (body, index, check) in cases {
        let (got_index, problem) = item_problem(body);
        assert_eq!(got_index, index, "{}", String::from_utf8_lossy(body));
        assert!(
            check(&problem),
            "{}: {problem:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn bad_envelope_headers_and_empty_bodies() {
    assert_eq!(parse(b"").unwrap_err(), EnvelopeError::Empty);
    assert_eq!(parse(b"\n \n").unwrap_err(), EnvelopeError::Empty);
    assert!(matches!(parse(b"{oops}\n"), Err(EnvelopeError::Header(_))));
    assert!(matches!(parse(b"[]\n"), Err(EnvelopeError::Header(_))));
    assert!(matches!(
        parse(b"\n{\"type\":\"event\"}\n{}"),
        Err(EnvelopeError::Header(_))
    ));
}

#[test]
fn limits_on_items_and_size() {
    let limits = EnvelopeLimits {
        max_items: 2,
        max_bytes: 64,
    };
    let two = b"{}\n{\"type\":\"a\"}\n1\n{\"type\":\"b\"}\n2\n\n";
    assert_eq!(Envelope::parse(two, &limits).unwrap().items.len(), 2);
    let three = b"{}\n{\"type\":\"a\"}\n1\n{\"type\":\"b\"}\n2\n{\"type\":\"c\"}\n3";
    assert_eq!(
        Envelope::parse(three, &limits).unwrap_err(),
        EnvelopeError::TooManyItems { limit: 2 }
    );
    let big = [b"{}\n{\"type\":\"a\"}\n".as_slice(), &[b'x'; 64]].concat();
    assert_eq!(
        Envelope::parse(&big, &limits).unwrap_err(),
        EnvelopeError::TooLarge {
            size: big.len(),
            limit: 64
        }
    );
}

#[test]
fn build_then_parse_round_trips() {
    let mut header = serde_json::Map::new();
    header.insert("event_id".into(), "abc".into());
    let mut attachment_header = serde_json::Map::new();
    attachment_header.insert("filename".into(), "a.txt".into());
    attachment_header.insert("length".into(), 999.into()); // replaced by the real length
    let envelope = Envelope {
        header,
        items: vec![
            EnvelopeItem {
                item_type: "event".into(),
                header: serde_json::Map::new(),
                payload: EVENT,
            },
            EnvelopeItem {
                item_type: "attachment".into(),
                header: attachment_header,
                payload: b"line 1\nline 2\n\n",
            },
        ],
    };
    let bytes = envelope.to_bytes();
    let parsed = parse(&bytes).unwrap();
    assert_eq!(parsed.event_id(), Some("abc"));
    assert_eq!(parsed.items.len(), 2);
    assert_eq!(parsed.items[0].payload, EVENT);
    assert_eq!(parsed.items[1].payload, b"line 1\nline 2\n\n");
    assert_eq!(parsed.items[1].header["length"], 15);
    assert_eq!(parsed.items[1].header["filename"], "a.txt");
}

// ---- auth -----------------------------------------------------------------

const KEY: &str = "0123456789abcdef0123456789abcdef";

#[test]
fn x_sentry_auth_header_variants() {
    let variants = [
        format!("Sentry sentry_key={KEY}, sentry_version=7, sentry_client=sentry.python/2.0"),
        format!("Sentry sentry_version=7,sentry_key={KEY}"),
        format!("sentry sentry_key={KEY}"),
        format!("SENTRY   sentry_key = {KEY} , sentry_timestamp=1700000000,"),
        format!("Sentry sentry_key=\"{KEY}\", sentry_version=\"7\""),
        format!("sentry_key={KEY}, sentry_version=5"), // old SDKs omit the scheme
        format!(
            "Sentry sentry_key={KEY}, sentry_secret=legacy, sentry_client=raven-js/3.0, sentry_version=7"
        ),
    ];
    for value in variants {
        assert_eq!(public_key(Some(&value), None, "").unwrap(), KEY, "{value}");
    }
}

#[test]
fn sentry_auth_fields_are_parsed() {
    let auth = SentryAuth::parse(
        &format!("Sentry sentry_key={KEY}, sentry_version=7, sentry_client=sentry.rust/0.32, sentry_secret=s"),
        AuthSource::XSentryAuth,
    )
    .unwrap();
    assert_eq!(auth.key, KEY);
    assert_eq!(auth.version.as_deref(), Some("7"));
    assert_eq!(auth.client.as_deref(), Some("sentry.rust/0.32"));
    assert_eq!(auth.secret.as_deref(), Some("s"));
}

#[test]
fn authorization_header_and_query_string() {
    let sentry = format!("Sentry sentry_key={KEY}, sentry_version=7");
    assert_eq!(public_key(None, Some(&sentry), "").unwrap(), KEY);
    // Another scheme in Authorization is not ours: fall through to the query.
    let query = format!("sentry_version=7&sentry_key={KEY}");
    assert_eq!(public_key(None, Some("Bearer abc"), &query).unwrap(), KEY);
    assert_eq!(public_key(None, None, &format!("?{query}")).unwrap(), KEY);
    assert_eq!(
        public_key(None, None, "sentry_key=ab%2Dcd").unwrap(),
        "ab-cd"
    );
    // X-Sentry-Auth wins over the others.
    let header = "Sentry sentry_key=fromheader";
    assert_eq!(
        public_key(Some(header), Some(&sentry), &query).unwrap(),
        "fromheader"
    );
}

#[test]
fn missing_and_malformed_auth() {
    assert_eq!(public_key(None, None, ""), Err(AuthError::Missing));
    assert_eq!(
        public_key(None, Some("Bearer x"), "a=b&c"),
        Err(AuthError::Missing)
    );
    let malformed = [
        (
            Some("Sentry sentry_version=7"),
            None,
            "",
            AuthSource::XSentryAuth,
            "missing",
        ),
        (
            Some("Sentry sentry_key"),
            None,
            "",
            AuthSource::XSentryAuth,
            "name=value",
        ),
        (
            Some("Sentry sentry_key=a, sentry_key=b"),
            None,
            "",
            AuthSource::XSentryAuth,
            "twice",
        ),
        (
            Some("Sentry sentry_key="),
            None,
            "",
            AuthSource::XSentryAuth,
            "sentry_key must",
        ),
        (
            Some("Sentry sentry_key=a b"),
            None,
            "",
            AuthSource::XSentryAuth,
            "sentry_key must",
        ),
        (Some(""), None, "", AuthSource::XSentryAuth, "missing"),
        (
            None,
            Some("Sentry sentry_client=x"),
            "",
            AuthSource::Authorization,
            "missing",
        ),
        (
            None,
            None,
            "sentry_key=",
            AuthSource::Query,
            "sentry_key must",
        ),
        (None, None, "sentry_key=%zz", AuthSource::Query, "percent"),
        (None, None, "sentry_key=%C3", AuthSource::Query, "percent"),
    ];
    for (x_auth, authorization, query, source, word) in malformed {
        match public_key(x_auth, authorization, query) {
            Err(error @ AuthError::Malformed { origin, .. }) => {
                assert_eq!(origin, source, "{error}");
                assert!(error.to_string().contains(word), "{error}");
            }
            other => panic!("{x_auth:?} {authorization:?} {query:?}: got {other:?}"),
        }
    }
    let long = format!("Sentry sentry_key={}", "a".repeat(129));
    assert!(public_key(Some(&long), None, "").is_err());
}

#[test]
fn dsn_parsing() {
    let dsn = Dsn::parse(&format!("http://{KEY}@localhost:9091/42")).unwrap();
    assert_eq!(dsn.scheme, "http");
    assert_eq!(dsn.public_key, KEY);
    assert_eq!(dsn.secret_key, None);
    assert_eq!(dsn.host, "localhost");
    assert_eq!(dsn.port, 9091);
    assert_eq!(dsn.path, "");
    assert_eq!(dsn.project_id, 42);
    assert_eq!(dsn.envelope_url(), "http://localhost:9091/api/42/envelope/");
    assert_eq!(dsn.store_url(), "http://localhost:9091/api/42/store/");
    assert_eq!(
        public_key(Some(&dsn.auth_header("test/1.0")), None, "").unwrap(),
        KEY
    );

    let full = Dsn::parse("https://pub:sec@sentry.example.com/prefix/sub/7/").unwrap();
    assert_eq!(full.port, 443);
    assert_eq!(full.secret_key.as_deref(), Some("sec"));
    assert_eq!(full.path, "/prefix/sub");
    assert_eq!(full.project_id, 7);
    assert_eq!(
        full.envelope_url(),
        "https://sentry.example.com:443/prefix/sub/api/7/envelope/"
    );

    let v6 = Dsn::parse("http://k@[::1]:8000/3").unwrap();
    assert_eq!((v6.host.as_str(), v6.port), ("::1", 8000));
    assert_eq!(v6.envelope_url(), "http://[::1]:8000/api/3/envelope/");
    assert_eq!(Dsn::parse("http://k@[::1]/3").unwrap().port, 80);
}

#[test]
fn bad_dsns_say_why() {
    let cases = [
        ("localhost/1", "scheme"),
        ("ftp://k@h/1", "scheme"),
        ("http://localhost:9091/1", "public key"),
        ("http://@h/1", "sentry_key must"),
        ("http://k@/1", "no host"),
        ("http://k@h:99999/1", "port"),
        ("http://k@h:x/1", "port"),
        ("http://k@h", "project id"),
        ("http://k@h/", "project id"),
        ("http://k@h/abc", "project id"),
        ("http://k@[::1/1", "unclosed"),
        ("http://k@[::1]x/1", "after ]"),
    ];
    for (dsn, word) in cases {
        match Dsn::parse(dsn) {
            Err(
                error @ AuthError::Malformed {
                    origin: AuthSource::Dsn,
                    ..
                },
            ) => {
                assert!(error.to_string().contains(word), "{dsn}: {error}");
            }
            other => panic!("{dsn}: expected a DSN error, got {other:?}"),
        }
    }
}

// ---- content encodings ----------------------------------------------------

const LIMIT: usize = 1 << 20;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn identity_and_no_encoding_pass_through() {
    for encoding in [None, Some(""), Some("identity"), Some(" Identity ")] {
        assert_eq!(decode_body(encoding, EVENT, LIMIT).unwrap(), EVENT);
    }
    assert_eq!(
        decode_body(None, EVENT, 10).unwrap_err(),
        BodyError::TooLarge { limit: 10 }
    );
}

#[test]
fn gzip_and_deflate_round_trip() {
    let text = EVENT.repeat(50);
    assert_eq!(
        decode_body(Some("gzip"), &gzip(&text), LIMIT).unwrap(),
        text
    );
    assert_eq!(
        decode_body(Some("GZIP"), &gzip(&text), LIMIT).unwrap(),
        text
    );
    assert_eq!(
        decode_body(Some("x-gzip"), &gzip(&text), LIMIT).unwrap(),
        text
    );
    assert_eq!(
        decode_body(Some("deflate"), &zlib(&text), LIMIT).unwrap(),
        text
    );
    assert_eq!(
        decode_body(Some("deflate"), &raw_deflate(&text), LIMIT).unwrap(),
        text
    );
    assert_eq!(decode_body(Some("gzip"), &gzip(b""), LIMIT).unwrap(), b"");
    // Concatenated gzip members are one gzip body.
    let two = [gzip(b"ab"), gzip(b"cd")].concat();
    assert_eq!(decode_body(Some("gzip"), &two, LIMIT).unwrap(), b"abcd");
    // Encodings listed in the order applied are undone in reverse.
    let layered = gzip(&zlib(&text));
    assert_eq!(
        decode_body(Some("deflate, gzip"), &layered, LIMIT).unwrap(),
        text
    );
    assert_eq!(
        decode_body(Some("identity, gzip"), &gzip(&text), LIMIT).unwrap(),
        text
    );
}

#[test]
fn raw_deflate_of_incompressible_data_round_trips() {
    // Stored blocks: the shape most likely to look like a zlib header.
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for level in [Compression::none(), Compression::fast()] {
        let mut encoder = DeflateEncoder::new(Vec::new(), level);
        encoder.write_all(&noise).unwrap();
        let raw = encoder.finish().unwrap();
        assert_eq!(decode_body(Some("deflate"), &raw, LIMIT).unwrap(), noise);
    }
}

#[test]
fn bombs_over_the_limit_are_refused() {
    let zeros = vec![0u8; 10 * LIMIT];
    for (encoding, body) in [
        ("gzip", gzip(&zeros)),
        ("deflate", zlib(&zeros)),
        ("deflate", raw_deflate(&zeros)),
    ] {
        assert!(body.len() < LIMIT / 10, "a real bomb: {} bytes", body.len());
        assert_eq!(
            decode_body(Some(encoding), &body, LIMIT).unwrap_err(),
            BodyError::TooLarge { limit: LIMIT },
            "{encoding}"
        );
    }
    // Exactly at the limit is fine; one byte over is not.
    let exact = vec![7u8; 1000];
    assert_eq!(
        decode_body(Some("gzip"), &gzip(&exact), 1000).unwrap(),
        exact
    );
    assert_eq!(
        decode_body(Some("gzip"), &gzip(&exact), 999).unwrap_err(),
        BodyError::TooLarge { limit: 999 }
    );
    // A nested bomb is bounded at every layer.
    let nested = gzip(&gzip(&zeros));
    assert_eq!(
        decode_body(Some("gzip, gzip"), &nested, LIMIT).unwrap_err(),
        BodyError::TooLarge { limit: LIMIT }
    );
}

#[test]
fn invalid_compressed_data_is_a_clear_error() {
    let cases: [(&str, Vec<u8>); 5] = [
        ("gzip", EVENT.to_vec()),
        ("gzip", Vec::new()),
        ("gzip", {
            let mut truncated = gzip(&EVENT.repeat(20));
            truncated.truncate(truncated.len() / 2);
            truncated
        }),
        ("deflate", vec![0xff; 32]),
        ("deflate", Vec::new()),
    ];
    for (encoding, body) in cases {
        match decode_body(Some(encoding), &body, LIMIT) {
            Err(
                error @ BodyError::Invalid {
                    encoding: named, ..
                },
            ) => {
                assert_eq!(named, encoding);
                assert!(error.to_string().contains(encoding), "{error}");
            }
            other => panic!("{encoding} {body:?}: expected Invalid, got {other:?}"),
        }
    }
    let mut corrupt = gzip(&EVENT.repeat(20));
    let last = corrupt.len() - 5;
    corrupt[last] ^= 0xff; // the CRC/size trailer
    assert!(matches!(
        decode_body(Some("gzip"), &corrupt, LIMIT),
        Err(BodyError::Invalid { .. })
    ));
}

#[test]
fn unknown_encodings_are_named() {
    for encoding in ["br", "zstd", "compress", "gzip, br"] {
        match decode_body(Some(encoding), EVENT, LIMIT) {
            Err(error @ BodyError::Unsupported(_)) => {
                let name = encoding.rsplit(", ").next().unwrap();
                assert!(error.to_string().contains(&format!("`{name}`")), "{error}");
            }
            other => panic!("{encoding}: got {other:?}"),
        }
    }
    assert_eq!(
        decode_body(Some("gzip, gzip, gzip"), EVENT, LIMIT).unwrap_err(),
        BodyError::TooManyEncodings
    );
}

// ---- never panics, round trips --------------------------------------------

fn item_strategy() -> impl Strategy<Value = (String, Vec<u8>, Option<String>)> {
    (
        "[a-z_]{1,12}",
        proptest::collection::vec(any::<u8>(), 0..200),
        proptest::option::of("[ -~]{0,20}"),
    )
}

proptest! {
    #[test]
    fn envelope_parser_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&body);
    }

    #[test]
    fn envelope_parser_never_panics_on_line_shaped_input(
        lines in proptest::collection::vec(
            prop_oneof![
                Just("{}".to_string()),
                Just("{\"type\":\"event\"}".to_string()),
                "\\{\"type\":\"[a-z]{0,5}\",\"length\":[0-9]{1,3}\\}",
                "[ -~]{0,20}",
            ],
            0..12,
        )
    ) {
        let body = lines.join("\n");
        let _ = parse(body.as_bytes());
    }

    #[test]
    fn envelope_build_parse_round_trip(
        event_id in proptest::option::of("[0-9a-f]{32}"),
        items in proptest::collection::vec(item_strategy(), 0..8),
    ) {
        let mut header = serde_json::Map::new();
        if let Some(id) = &event_id {
            header.insert("event_id".into(), id.clone().into());
        }
        let envelope = Envelope {
            header,
            items: items
                .iter()
                .map(|(kind, payload, filename)| {
                    let mut item_header = serde_json::Map::new();
                    if let Some(name) = filename {
                        item_header.insert("filename".into(), name.clone().into());
                    }
                    item_header.insert("type".into(), kind.clone().into());
                    item_header.insert("length".into(), payload.len().into());
                    EnvelopeItem { item_type: kind.clone(), header: item_header, payload }
                })
                .collect(),
        };
        let bytes = envelope.to_bytes();
        let parsed = parse(&bytes).unwrap();
        prop_assert_eq!(parsed, envelope);
    }

    #[test]
    fn auth_parser_never_panics(
        x_auth in proptest::option::of(".{0,120}"),
        authorization in proptest::option::of(".{0,120}"),
        query in ".{0,120}",
    ) {
        let _ = public_key(x_auth.as_deref(), authorization.as_deref(), &query);
    }

    #[test]
    fn auth_parser_never_panics_on_auth_shaped_input(
        pairs in proptest::collection::vec("(sentry_[a-z]{1,8}|[a-z]{0,4})(=[^,]{0,12})?", 0..6),
        query in "([a-z_%0-9A-F]{0,12}(=[a-z_%0-9A-F+]{0,12})?&?){0,4}",
    ) {
        let value = format!("Sentry {}", pairs.join(", "));
        let _ = public_key(Some(&value), None, "");
        let _ = public_key(None, Some(&value), &query);
        let _ = public_key(None, None, &query);
    }

    #[test]
    fn dsn_parser_never_panics(dsn in ".{0,80}", shaped in "(https?://)?[a-z:]{0,8}@?(\\[[0-9:]{0,6}\\]?)?[a-z.]{0,8}(:[0-9]{0,6})?(/[a-z0-9]{0,4}){0,3}/?") {
        let _ = Dsn::parse(&dsn);
        let _ = Dsn::parse(&shaped);
    }

    #[test]
    fn body_decoder_never_panics(
        encoding in proptest::option::of(prop_oneof![
            Just("gzip".to_string()), Just("deflate".to_string()), Just("identity".to_string()), ".{0,16}",
        ]),
        body in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let _ = decode_body(encoding.as_deref(), &body, 4096);
    }

    #[test]
    fn body_decoder_never_panics_on_damaged_streams(
        data in proptest::collection::vec(any::<u8>(), 0..512),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        for (encoding, mut body) in [("gzip", gzip(&data)), ("deflate", zlib(&data)), ("deflate", raw_deflate(&data))] {
            for (at, byte) in &flips {
                let index = at.index(body.len());
                body[index] ^= byte;
            }
            let _ = decode_body(Some(encoding), &body, 4096);
        }
    }

    #[test]
    fn compressed_bodies_round_trip(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert_eq!(decode_body(Some("gzip"), &gzip(&data), 4096).unwrap(), data.clone());
        prop_assert_eq!(decode_body(Some("deflate"), &zlib(&data), 4096).unwrap(), data.clone());
        prop_assert_eq!(decode_body(Some("deflate"), &raw_deflate(&data), 4096).unwrap(), data);
    }
}
