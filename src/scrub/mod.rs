//! Scrubbing of personal data from text before it is embedded or stored
//! (DESIGN.md, "Consent and privacy").
//!
//! [`Scrubber::scrub`] replaces what it finds with stable placeholders:
//!
//! | found | becomes |
//! |---|---|
//! | JWT (`eyJ…` header, three base64url segments) | `[jwt]` |
//! | password in a URL (`scheme://user:pw@host`) | `scheme://user:[redacted]@host` |
//! | `Bearer <token>` / `Basic <base64>` (token: 8+ chars with a digit, symbol or inner capital) | `Bearer [token]` |
//! | secret in `key=value`, `key: value`, `"key": "value"`, `'key': 'value'` | key and quotes kept, value `[redacted]` |
//! | email address | `[email]` |
//! | Luhn-valid card number, 13–19 digits, optional single spaces/dashes | `[card]` |
//! | IPv6 (compressed, zone id, v4-mapped) and IPv4 address | `[ip]` |
//! | SQL string literal / number on a SQL line | `%s` |
//!
//! A key is secret when, with `_`, `-` and `.` removed and case ignored, it
//! contains `password`, `passwd`, `passphrase`, `pwd`, `secret`, `token`,
//! `apikey`, `accesskey`, `authorization`, `credential`, `privatekey`,
//! `session`, `cookie`, `csrf` or `xsrf`, or has `auth` as a whole segment
//! (`x-auth`, not `author`). A bare value ends at whitespace, `,;&`, quotes
//! or a closing bracket; a bare value ending in `(` is a call in source code
//! (`token = get_token(`) and is kept.
//!
//! Passes run in that order so they do not fight: JWTs and auth schemes go
//! before `key=value` (whose value would otherwise swallow half a token),
//! secrets before emails (a password that looks like an email is still a
//! password), cards before IPs and SQL (SQL would split a spaced card into
//! `%s` groups), IPv6 before IPv4 (v4-mapped addresses), SQL last so that a
//! redacted `password='[redacted]'` becomes `password=%s`.
//!
//! All patterns are linear-time (`regex` crate or hand-written scans). The
//! passes are repeated until nothing changes (at most [`MAX_ROUNDS`]), which
//! makes scrubbing idempotent even where one pass's placeholder creates a
//! match for an earlier pass. Clean text costs one round and no allocation.

mod card;
mod ip;
mod patterns;
mod sql;

use std::borrow::Cow;

pub use card::luhn_valid;

/// Upper bound on scrub rounds; real text settles in one or two.
pub const MAX_ROUNDS: usize = 4;

/// Placeholders written by the scrubber (all free of digits, quotes, `@`
/// and `:` so that no pass can match inside one).
pub mod placeholder {
    pub const EMAIL: &str = "[email]";
    pub const IP: &str = "[ip]";
    pub const CARD: &str = "[card]";
    pub const JWT: &str = "[jwt]";
    pub const TOKEN: &str = "[token]";
    pub const REDACTED: &str = "[redacted]";
    /// SQL literals are parameterized like a driver would.
    pub const SQL: &str = "%s";
}

/// One scrub pass: the rewritten text, or `None` when nothing matched.
type Pass<'s> = &'s dyn Fn(&str) -> Option<String>;

/// Replaces personal data in text. Build once (regexes are compiled in
/// [`Scrubber::new`]) and share: it is `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Scrubber {
    patterns: patterns::Patterns,
    sql: sql::Sql,
}

impl Default for Scrubber {
    fn default() -> Self {
        Scrubber::new()
    }
}

impl Scrubber {
    pub fn new() -> Self {
        Scrubber {
            patterns: patterns::Patterns::new(),
            sql: sql::Sql::new(),
        }
    }

    /// The scrubbed text; borrowed when there was nothing to replace.
    /// Never panics on any UTF-8 input.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut current = Cow::Borrowed(text);
        for _ in 0..MAX_ROUNDS {
            match self.round(&current) {
                Some(changed) => current = Cow::Owned(changed),
                None => break,
            }
        }
        current
    }

    /// One run of every pass; `None` when no pass changed anything.
    fn round(&self, text: &str) -> Option<String> {
        let passes: [Pass<'_>; 9] = [
            &|t| self.patterns.jwt(t),
            &|t| self.patterns.url_credentials(t),
            &|t| self.patterns.auth_scheme(t),
            &|t| self.patterns.key_value(t),
            &|t| self.patterns.email(t),
            &card::scrub_cards,
            &ip::scrub_ipv6,
            &ip::scrub_ipv4,
            &|t| self.sql.parameterize(t),
        ];
        let mut changed: Option<String> = None;
        for pass in passes {
            let input = changed.as_deref().unwrap_or(text);
            if let Some(output) = pass(input) {
                changed = Some(output);
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrub(text: &str) -> String {
        Scrubber::new().scrub(text).into_owned()
    }

    #[test]
    fn shareable_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Scrubber>();
    }

    #[test]
    fn clean_text_is_borrowed() {
        let scrubber = Scrubber::new();
        let text = "KeyError: 'user_id'\n  File \"app/views.py\", function get_user";
        assert!(matches!(scrubber.scrub(text), Cow::Borrowed(_)));
    }

    #[test]
    fn design_example() {
        assert_eq!(scrub("password='x' WHERE id=1"), "password=%s WHERE id=%s");
    }

    #[test]
    fn mixed_line() {
        assert_eq!(
            scrub("login failed for bob@example.com from 10.1.2.3 with token=abc123"),
            "login failed for [email] from [ip] with token=[redacted]"
        );
    }

    #[test]
    fn jwt_before_key_value() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
        assert_eq!(scrub(&format!("token={jwt}")), "token=[jwt]");
        assert_eq!(
            scrub(&format!("Authorization: Bearer {jwt}")),
            "Authorization: Bearer [jwt]"
        );
    }

    #[test]
    fn card_in_sql() {
        assert_eq!(
            scrub("UPDATE cards SET pan='4111 1111 1111 1111' WHERE id=7"),
            "UPDATE cards SET pan=%s WHERE id=%s"
        );
        assert_eq!(
            scrub("UPDATE cards SET pan=4111-1111-1111-1111 WHERE id=7"),
            "UPDATE cards SET pan=[card] WHERE id=%s"
        );
    }

    #[test]
    fn scrubbing_twice_changes_nothing() {
        let scrubber = Scrubber::new();
        for text in [
            "WHERE x='a'@example.com",
            "password=\"a@b.co\" and Basic dXNlcjpwYXNz",
            "::ffff:10.0.0.1 fe80::1%eth0 [::1]:80",
            "Cookie: sessionid=abc; csrftoken=xyz",
        ] {
            let once = scrubber.scrub(text).into_owned();
            assert_eq!(scrubber.scrub(&once), once, "input {text:?}");
        }
    }
}
