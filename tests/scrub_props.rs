//! Properties of the scrubber: whatever surrounds a piece of personal data,
//! it is gone afterwards; scrubbing is idempotent; it never panics.
//!
//! "Inserted into" means as a token: the generated value is separated from
//! the surrounding text by a space on each side (glued to a word it is
//! deliberately not recognized, e.g. `v1.2.3.4` or `x4111…`).

use proptest::prelude::*;
use stackherd::scrub::{Scrubber, luhn_valid};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

fn scrubber() -> &'static Scrubber {
    static SCRUBBER: OnceLock<Scrubber> = OnceLock::new();
    SCRUBBER.get_or_init(Scrubber::new)
}

/// Arbitrary text (any Unicode, including newlines), plus text built from
/// fragments the passes care about, so that neighbours can interact.
fn surrounding() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        any::<String>(),
        "\\PC{0,20}",
        Just("password=".to_owned()),
        Just("WHERE id=".to_owned()),
        Just("SELECT '".to_owned()),
        Just("Bearer".to_owned()),
        Just("::".to_owned()),
        Just("12".to_owned()),
        Just("@".to_owned()),
        Just(".".to_owned()),
        Just("'".to_owned()),
        Just("\n".to_owned()),
        Just("é".to_owned()),
        "[0-9 .:-]{0,12}",
    ];
    prop::collection::vec(fragment, 0..4).prop_map(|parts| parts.concat())
}

fn email() -> impl Strategy<Value = String> {
    (
        "[a-z0-9][a-z0-9._+-]{0,15}",
        "[a-z0-9][a-z0-9-]{0,10}(\\.[a-z0-9][a-z0-9-]{0,10}){0,2}",
        "[a-z]{2,6}",
    )
        .prop_map(|(local, domain, tld)| format!("{local}@{domain}.{tld}"))
}

fn ipv4() -> impl Strategy<Value = String> {
    any::<u32>().prop_map(|bits| Ipv4Addr::from(bits).to_string())
}

fn ipv6() -> impl Strategy<Value = String> {
    let random = any::<u128>().prop_map(|bits| Ipv6Addr::from(bits).to_string());
    let link_local = (any::<u16>(), "[a-z][a-z0-9]{0,5}")
        .prop_map(|(host, zone)| format!("fe80::{host:x}%{zone}"));
    let mapped = any::<u32>().prop_map(|v4| format!("::ffff:{}", Ipv4Addr::from(v4)));
    let compressed =
        (1u16..=0xffff, 1u16..=0xffff).prop_map(|(a, b)| format!("2001:db8::{a:x}:{b:x}"));
    prop_oneof![
        random,
        link_local,
        mapped,
        compressed,
        Just("::1".to_owned()),
        Just("fe80::1%eth0".to_owned()),
    ]
}

/// A Luhn-valid number of 13–19 digits, plain or grouped by 4 with spaces
/// or dashes.
fn card() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(0u8..10, 12..=18),
        prop_oneof![Just(""), Just(" "), Just("-")],
    )
        .prop_map(|(mut digits, separator)| {
            digits.push(0);
            let last = digits.len() - 1;
            for check in 0..10 {
                digits[last] = check;
                let number: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
                if luhn_valid(&number) {
                    break;
                }
            }
            let number: Vec<String> = digits
                .chunks(4)
                .map(|chunk| chunk.iter().map(|d| char::from(b'0' + d)).collect())
                .collect();
            number.join(separator)
        })
}

fn jwt() -> impl Strategy<Value = String> {
    (
        "[A-Za-z0-9_-]{4,40}",
        "[A-Za-z0-9_-]{4,80}",
        "[A-Za-z0-9_-]{0,43}",
    )
        .prop_map(|(header, payload, signature)| format!("eyJ{header}.eyJ{payload}.{signature}"))
}

fn assert_gone(before: &str, secret: &str, after: &str) -> Result<(), TestCaseError> {
    // The surrounding text may itself spell the secret (`::1` in `::12`).
    prop_assume!(!before.contains(secret) && !after.contains(secret));
    let scrubbed = scrubber()
        .scrub(&format!("{before} {secret} {after}"))
        .into_owned();
    assert!(
        !scrubbed.contains(secret),
        "{secret:?} survived in {scrubbed:?}"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        // Shrunk failures are reported, not written next to the tests.
        failure_persistence: None,
        ..ProptestConfig::with_cases(512)
    })]

    #[test]
    fn emails_are_gone(before in surrounding(), secret in email(), after in surrounding()) {
        assert_gone(&before, &secret, &after)?;
    }

    #[test]
    fn ipv4_addresses_are_gone(before in surrounding(), secret in ipv4(), after in surrounding()) {
        assert_gone(&before, &secret, &after)?;
    }

    #[test]
    fn ipv6_addresses_are_gone(before in surrounding(), secret in ipv6(), after in surrounding()) {
        assert_gone(&before, &secret, &after)?;
    }

    #[test]
    fn cards_are_gone(before in surrounding(), secret in card(), after in surrounding()) {
        prop_assert!(luhn_valid(&secret));
        assert_gone(&before, &secret, &after)?;
    }

    #[test]
    fn jwts_are_gone(before in surrounding(), secret in jwt(), after in surrounding()) {
        assert_gone(&before, &secret, &after)?;
    }

    #[test]
    fn scrubbing_is_idempotent(text in surrounding(), secret in prop_oneof![email(), ipv4(), ipv6(), card(), jwt()], tail in surrounding()) {
        let input = format!("{text}{secret}{tail}");
        let once = scrubber().scrub(&input).into_owned();
        let twice = scrubber().scrub(&once).into_owned();
        prop_assert_eq!(twice, once);
    }

    #[test]
    fn arbitrary_text_is_idempotent(text in any::<String>()) {
        let once = scrubber().scrub(&text).into_owned();
        prop_assert_eq!(scrubber().scrub(&once).into_owned(), once);
    }

    #[test]
    fn never_panics_on_bytes_made_text(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = scrubber().scrub(&text);
    }
}
