//! `parameterize`: messages that differ only in variable parts become equal.

use proptest::prelude::*;
use stackherd::fingerprint::message::parameterize;

const CASES: &[(&str, &str)] = &[
    // The reference example.
    (
        "User 1234 failed login from 10.0.0.1 at 2024-01-02T03:04:05Z",
        "User <int> failed login from <ip> at <date>",
    ),
    // Emails.
    (
        "mail to john.doe@example.com failed",
        "mail to <email> failed",
    ),
    ("<jane+tag@mail.example.org>", "<<email>>"),
    ("user_name-1@sub.example.co.uk bounced", "<email> bounced"),
    ("contact: a@b.io.", "contact: <email>."),
    // URLs.
    (
        "GET https://api.example.com/v1/users/42?x=1 failed",
        "GET <url> failed",
    ),
    ("see http://example.com/a.", "see <url>."),
    ("(https://example.com/path)", "(<url>)"),
    ("fetch ftp://files.example.com/x.tar.gz", "fetch <url>"),
    (
        "postgres://user:pw@db.internal:5432/app refused",
        "<url> refused",
    ),
    ("http://10.0.0.1:8080/health", "<url>"),
    // Hostnames.
    (
        "could not resolve api.example.com",
        "could not resolve <hostname>",
    ),
    (
        "connect to db.example.com:5432",
        "connect to <hostname>:<int>",
    ),
    ("redis-1.cache.internal timed out", "<hostname> timed out"),
    ("www.bbc.co.uk", "<hostname>"),
    ("api.example.de down", "<hostname> down"),
    // Not hostnames: files, identifiers, packages.
    ("cannot open file.txt", "cannot open file.txt"),
    ("error in main.py", "error in main.py"),
    ("config.json is invalid", "config.json is invalid"),
    ("lib.rs and Foo.java", "lib.rs and Foo.java"),
    ("self.user.id is None", "self.user.id is None"),
    (
        "this.props.onClick is not a function",
        "this.props.onClick is not a function",
    ),
    (
        "java.lang.NullPointerException",
        "java.lang.NullPointerException",
    ),
    ("com.example.app crashed", "com.example.app crashed"),
    ("index.html not found", "index.html not found"),
    // IPv4 and IPv6.
    ("from 192.168.1.254", "from <ip>"),
    ("255.255.255.255 and 0.0.0.0", "<ip> and <ip>"),
    ("peer 10.0.0.1:443 reset", "peer <ip>:<int> reset"),
    ("fe80::1 unreachable", "<ip> unreachable"),
    ("listen [::1]:8080", "listen [<ip>]:<int>"),
    ("2001:db8:85a3:0:0:8a2e:370:7334 blocked", "<ip> blocked"),
    ("2001:db8::ff00:42:8329", "<ip>"),
    ("::ffff:192.0.2.1 mapped", "<ip> mapped"),
    (
        "999.1.1.1 is not an address",
        "<float>.<float> is not an address",
    ),
    ("version 1.2.3.4.5", "version <float>.<float>.<int>"),
    // Traceparent.
    (
        "trace 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 lost",
        "trace <traceparent> lost",
    ),
    // UUIDs.
    (
        "order 123e4567-e89b-12d3-a456-426614174000 missing",
        "order <uuid> missing",
    ),
    ("{123E4567-E89B-12D3-A456-426614174000}", "{<uuid>}"),
    // Hashes.
    (
        "commit 2fd4e1c67a2d28fced849ee1bb76e7391b93eb12",
        "commit <sha1>",
    ),
    (
        "md5 d41d8cd98f00b204e9800998ecf8427e mismatch",
        "md5 <md5> mismatch",
    ),
    ("D41D8CD98F00B204E9800998ECF8427E", "<md5>"),
    // Dates and times.
    ("at 2024-01-02T03:04:05.123+05:30", "at <date>"),
    ("at 2024-01-02T03:04:05", "at <date>"),
    ("at 2024-01-02 03:04:05", "at <date>"),
    ("at 2024-01-02 03:04:05 UTC", "at <date>"),
    ("on 2024-01-02", "on <date>"),
    ("Tue, 02 Jan 2024 03:04:05 +0000", "<date>"),
    ("Date: Tue, 02 Jan 2024 03:04:05 GMT.", "Date: <date>."),
    ("02 Jan 2024", "<date>"),
    ("on 02/01/2024", "on <date>"),
    ("on 1/2/2024 10:11:12", "on <date>"),
    ("on 02.01.2024", "on <date>"),
    ("on 2024/01/02", "on <date>"),
    ("at 03:04:05", "at <date>"),
    ("at 3:04:05 PM", "at <date>"),
    ("at 03:04:05.999", "at <date>"),
    (
        "Tue Jan 02 2024 03:04:05 GMT+0000 (Coordinated Universal Time)",
        "<date>",
    ),
    ("since Jan 2, 2024", "since <date>"),
    ("Jan  2 03:04:05 host sshd", "<date> host sshd"),
    ("line 12:34", "line <int>:<int>"),
    // Durations.
    ("took 12ms", "took <duration>"),
    ("timeout after 1.5s", "timeout after <duration>"),
    ("waited 250us", "waited <duration>"),
    ("retry in 3m", "retry in <duration>"),
    ("elapsed 1h30m15s", "elapsed <duration>"),
    ("5min later", "<duration> later"),
    ("size 5mb", "size 5mb"),
    // Hex.
    ("segfault at 0x7fff5fbff8c8", "segfault at <hex>"),
    ("<Foo object at 0x7f8b8c0d0e10>", "<Foo object at <hex>>"),
    ("0XDEADBEEF", "<hex>"),
    ("token 3f2a1b9c4d", "token <hex>"),
    ("deadbeef is a word", "deadbeef is a word"),
    // Git shas.
    ("deployed abc1234", "deployed <git_sha>"),
    ("deployed 1234abc", "deployed <git_sha>"),
    ("accede 1234567", "accede <int>"),
    ("facade0", "<git_sha>"),
    ("defaced", "defaced"),
    // Floats and integers.
    ("ratio 0.75", "ratio <float>"),
    ("value 1.5e10", "value <float>"),
    ("value 2e10", "value <float>"),
    ("temperature -3.5", "temperature -<float>"),
    ("offset -5", "offset -<int>"),
    ("id 1234567", "id <int>"),
    ("id 12345678901", "id <int>"),
    ("1,234 items", "<int>,<int> items"),
    ("item#5 and #6", "item#<int> and #<int>"),
    // Boundaries.
    ("user_123 abc123 123abc v2", "user_123 abc123 123abc v2"),
    ("id=42", "id=<int>"),
    ("(42)", "(<int>)"),
    ("[42]", "[<int>]"),
    // After `=`.
    ("name=\"bob\" failed", "name=<quoted_str> failed"),
    ("name='bob'", "name=<quoted_str>"),
    ("name = \"bob smith\"", "name = <quoted_str>"),
    ("say \"hello\"", "say \"hello\""),
    ("enabled=true", "enabled=<bool>"),
    ("enabled=False", "enabled=<bool>"),
    ("it is true", "it is true"),
    ("x=trueish", "x=trueish"),
    ("esc=\"a\\\"b\" end", "esc=<quoted_str> end"),
    // Several patterns in one line.
    (
        "req 123e4567-e89b-12d3-a456-426614174000 from 10.1.2.3 took 35ms at 2024-05-06T07:08:09Z",
        "req <uuid> from <ip> took <duration> at <date>",
    ),
    (
        "user bob@example.com id=7 ok=true host=api.example.com",
        "user <email> id=<int> ok=<bool> host=<hostname>",
    ),
    // Priority conflicts.
    ("mailto bob@10.0.0.1", "mailto bob@<ip>"),
    ("https://bob@example.com/x", "<url>"),
    ("12:34:56:78:9a:bc:de:f0", "<ip>"),
    ("2024-01-02.log", "<date>.log"),
    ("abc1234.py", "<git_sha>.py"),
    // Lines.
    ("first\nsecond\nthird", "first\nsecond..."),
    ("\n\n  first  \n\n second \n", "first\nsecond"),
    ("only line", "only line"),
    ("a 1\r\nb 2\r\nc 3", "a <int>\nb <int>..."),
    ("", ""),
    // Unicode.
    (
        "Benutzer 42 für ü@example.com",
        "Benutzer <int> für ü@<hostname>",
    ),
    ("ошибка 500 на сервере", "ошибка <int> на сервере"),
    ("日本語123 テスト 456", "日本語123 テスト <int>"),
    ("emoji 🎉 7", "emoji 🎉 <int>"),
    ("café 12", "café <int>"),
];

#[test]
fn messages_parameterize_as_documented() {
    assert!(CASES.len() >= 80, "the table keeps at least 80 cases");
    let mut failures = Vec::new();
    for &(input, expected) in CASES {
        let actual = parameterize(input);
        if actual != expected {
            failures.push(format!(
                "{input:?}\n   expected {expected:?}\n   got      {actual:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_table_is_idempotent() {
    for &(input, _) in CASES {
        let once = parameterize(input);
        assert_eq!(parameterize(&once), once, "{input:?}");
    }
}

/// Adversarial repetitive inputs finish without panicking (the regexes are
/// linear-time); no timing threshold, by policy.
#[test]
fn huge_adversarial_inputs_are_handled() {
    for chunk in ["a.", "1.", "a@", "=\"", "x://", "0:", "ab-", "Jan 1 "] {
        let input = chunk.repeat(50_000);
        let output = parameterize(&input);
        assert!(!output.is_empty(), "{chunk:?} lost the whole text");
    }
}

fn variable_part() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        (0u32..10_000_000, 0u32..10_000_000).prop_map(|(a, b)| (a.to_string(), b.to_string())),
        (any::<[u8; 4]>(), any::<[u8; 4]>()).prop_map(|(a, b)| {
            let ip = |o: [u8; 4]| format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3]);
            (ip(a), ip(b))
        }),
        (any::<u128>(), any::<u128>()).prop_map(|(a, b)| {
            let uuid = |v: u128| {
                let h = format!("{v:032x}");
                format!(
                    "{}-{}-{}-{}-{}",
                    &h[..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..]
                )
            };
            (uuid(a), uuid(b))
        }),
    ]
}

proptest! {
    #[test]
    fn never_panics(input in any::<String>()) {
        let _ = parameterize(&input);
    }

    #[test]
    fn never_panics_on_pattern_soup(input in r"[0-9a-fA-Fx:.\-@/=' T]{0,80}") {
        let _ = parameterize(&input);
    }

    #[test]
    fn is_idempotent(input in any::<String>()) {
        let once = parameterize(&input);
        prop_assert_eq!(parameterize(&once), once);
    }

    #[test]
    fn is_idempotent_on_pattern_soup(input in r"[0-9a-fA-Fx:.\-@/=' TZ\n]{0,80}") {
        let once = parameterize(&input);
        prop_assert_eq!(parameterize(&once), once);
    }

    #[test]
    fn embedded_ids_do_not_split_messages(
        (a, b) in variable_part(),
        prefix in "[A-Za-z ]{0,20}",
        suffix in "[A-Za-z ]{0,20}",
    ) {
        let left = format!("{prefix} {a} {suffix}");
        let right = format!("{prefix} {b} {suffix}");
        prop_assert_eq!(parameterize(&left), parameterize(&right));
    }
}
