//! Regex passes: JWTs, URL passwords, auth schemes, `key=value` secrets and
//! emails. Every pass returns `None` when it changed nothing, so clean text
//! is never copied.

use super::placeholder;
use regex::{Captures, Regex};

/// Compiled once per [`super::Scrubber`].
#[derive(Debug, Clone)]
pub(super) struct Patterns {
    jwt: Regex,
    url_credentials: Regex,
    auth_scheme: Regex,
    key_value: Regex,
    email: Regex,
}

/// Header and payload start with `eyJ` (base64 of `{"`); the signature may
/// be empty (`alg: none`). Not anchored on the left so a JWT glued to other
/// text is still caught.
const JWT: &str = r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*";

/// `scheme://user:password@` — the password is group 2.
const URL_CREDENTIALS: &str = r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@\[\]]+):([^\s/@]+)@";

/// `Bearer <token>` and `Basic <base64>`; whether the word after the scheme
/// is a credential or prose is decided by [`looks_like_credential`].
const AUTH_SCHEME: &str = r"(?i)\b(bearer|basic)([ \t]+)([A-Za-z0-9\-._~+/]+=*)";

/// A key containing a secret-ish word, an optional closing quote, `:` or `=`,
/// and a value: a placeholder (left alone), an escaped-quoted, quoted,
/// unterminated-quoted or bare value (optionally after an auth scheme).
/// The first bare character may not be `=` or `:` so `token == x` and
/// `session::Store` are not assignments.
const KEY_VALUE: &str = r#"(?xi)
    (?P<key>[a-z0-9_.\-]*
        (?:password|passwd|passphrase|pwd|secret|token|api[_\-]?key|access[_\-]?key
          |auth|credential|private[_\-]?key|session|cookie|csrf|xsrf)
        [a-z0-9_.\-]*)
    (?P<kq>\\?["']?)
    (?P<sep>[\ \t]*[:=][\ \t]*)
    (?P<val>
        (?:(?:bearer|basic)[\ \t]+)?\[[a-z]+\]
      | %s
      | \\".*?\\"
      | \\'.*?\\'
      | "(?:[^"\\\n]|\\.)*"
      | '(?:[^'\\\n]|\\.)*'
      | ["'][^"'\s]*
      | (?:(?:bearer|basic)[\ \t]+)?[^\s=:,;&'"<>()\[\]{}\\][^\s,;&'"<>)\]}]*
    )"#;

/// Secret words matched anywhere in a key once `_`, `-` and `.` are removed.
const SECRET_KEY_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "authorization",
    "credential",
    "privatekey",
    "session",
    "cookie",
    "csrf",
    "xsrf",
];

/// A pragmatic address shape (ASCII; `%` is left out of the local part so
/// that SQL's `%s` never becomes part of an address).
const EMAIL: &str = r"[A-Za-z0-9._+\-]+@(?:[A-Za-z0-9\-]+\.)+[A-Za-z]{2,}";

const PLACEHOLDERS: &[&str] = &[
    placeholder::EMAIL,
    placeholder::IP,
    placeholder::CARD,
    placeholder::JWT,
    placeholder::TOKEN,
    placeholder::REDACTED,
    placeholder::SQL,
];

impl Patterns {
    pub(super) fn new() -> Self {
        let compile = |pattern: &str| Regex::new(pattern).expect("static pattern compiles");
        Patterns {
            jwt: compile(JWT),
            url_credentials: compile(URL_CREDENTIALS),
            auth_scheme: compile(AUTH_SCHEME),
            key_value: compile(KEY_VALUE),
            email: compile(EMAIL),
        }
    }

    pub(super) fn jwt(&self, text: &str) -> Option<String> {
        replace_all(&self.jwt, text, |_| placeholder::JWT.to_owned())
    }

    pub(super) fn email(&self, text: &str) -> Option<String> {
        replace_all(&self.email, text, |_| placeholder::EMAIL.to_owned())
    }

    pub(super) fn url_credentials(&self, text: &str) -> Option<String> {
        replace_all(&self.url_credentials, text, |caps| {
            if is_placeholder(&caps[2]) {
                return caps[0].to_owned();
            }
            format!("{}:{}@", &caps[1], placeholder::REDACTED)
        })
    }

    pub(super) fn auth_scheme(&self, text: &str) -> Option<String> {
        replace_all(&self.auth_scheme, text, |caps| {
            if !looks_like_credential(&caps[3]) {
                return caps[0].to_owned();
            }
            format!("{}{}{}", &caps[1], &caps[2], placeholder::TOKEN)
        })
    }

    pub(super) fn key_value(&self, text: &str) -> Option<String> {
        replace_all(&self.key_value, text, |caps| {
            let value = &caps["val"];
            if !is_secret_key(&caps["key"]) {
                return caps[0].to_owned();
            }
            match redact_value(value) {
                Some(redacted) => format!(
                    "{}{}{}{}",
                    &caps["key"], &caps["kq"], &caps["sep"], redacted
                ),
                None => caps[0].to_owned(),
            }
        })
    }
}

/// `Regex::replace_all`, but `None` when every replacement equals its match.
fn replace_all(
    regex: &Regex,
    text: &str,
    mut replacement: impl FnMut(&Captures<'_>) -> String,
) -> Option<String> {
    let mut out: Option<String> = None;
    let mut copied = 0;
    for caps in regex.captures_iter(text) {
        let Some(whole) = caps.get(0) else { continue };
        let new = replacement(&caps);
        if new == whole.as_str() {
            continue;
        }
        let buf = out.get_or_insert_with(|| String::with_capacity(text.len()));
        buf.push_str(&text[copied..whole.start()]);
        buf.push_str(&new);
        copied = whole.end();
    }
    let mut buf = out?;
    buf.push_str(&text[copied..]);
    Some(buf)
}

fn is_placeholder(value: &str) -> bool {
    PLACEHOLDERS.contains(&value)
}

/// The key names a secret: a secret word anywhere (separators ignored), or
/// `auth` as a whole `_`/`-`/`.` segment (so `author` and `oauthlib` stay).
pub(super) fn is_secret_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    let joined: String = lower
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | '.'))
        .collect();
    SECRET_KEY_WORDS.iter().any(|word| joined.contains(word))
        || lower
            .split(['_', '-', '.'])
            .any(|segment| segment == "auth")
}

/// The value with its secret part replaced, keeping quotes and a leading
/// auth scheme; `None` when there is nothing to replace (already a
/// placeholder, an empty quoted string, or a call expression).
fn redact_value(value: &str) -> Option<String> {
    let (scheme, rest) = split_scheme(value);
    for quote in ["\\\"", "\\'", "\"", "'"] {
        if let Some(inner) = rest.strip_prefix(quote) {
            let (inner, close) = match inner.strip_suffix(quote) {
                Some(inner) => (inner, quote),
                None => (inner, ""),
            };
            if inner.is_empty() || is_placeholder(inner) {
                return None;
            }
            return Some(format!("{scheme}{quote}{}{close}", placeholder::REDACTED));
        }
    }
    // `token = request.headers.get(` is code calling something, not a
    // secret: leave it so source lines stay readable.
    if rest.is_empty() || is_placeholder(rest) || rest.ends_with('(') {
        return None;
    }
    Some(format!("{scheme}{}", placeholder::REDACTED))
}

/// Splits `Bearer xyz` into (`Bearer `, `xyz`); no scheme → (``, value).
fn split_scheme(value: &str) -> (&str, &str) {
    let Some(space) = value.find([' ', '\t']) else {
        return ("", value);
    };
    let word = &value[..space];
    if word.eq_ignore_ascii_case("bearer") || word.eq_ignore_ascii_case("basic") {
        let rest = value[space..].trim_start_matches([' ', '\t']);
        let scheme_len = value.len() - rest.len();
        (&value[..scheme_len], rest)
    } else {
        ("", value)
    }
}

/// Tells `Bearer dXNlcjpwYXNz` from `basic authentication`: at least eight
/// characters with a digit, a symbol, or an uppercase letter past the first.
fn looks_like_credential(token: &str) -> bool {
    token.len() >= 8
        && (token
            .bytes()
            .any(|b| b.is_ascii_digit() || b"-._~+/=".contains(&b))
            || token.bytes().skip(1).any(|b| b.is_ascii_uppercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pass: impl Fn(&Patterns, &str) -> Option<String>, text: &str) -> String {
        pass(&Patterns::new(), text).unwrap_or_else(|| text.to_owned())
    }

    #[test]
    fn jwts() {
        let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0In0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
        assert_eq!(run(Patterns::jwt, &format!("a {jwt} b")), "a [jwt] b");
        assert_eq!(
            run(Patterns::jwt, "eyJhbGciOiJub25lIn0.eyJ4IjoxfQ."),
            "[jwt]"
        );
        assert_eq!(run(Patterns::jwt, "eyJ alone"), "eyJ alone");
    }

    #[test]
    fn emails() {
        assert_eq!(
            run(Patterns::email, "mail a.b+c@mail.example.co.uk, ok"),
            "mail [email], ok"
        );
        assert_eq!(run(Patterns::email, "user@localhost"), "user@localhost");
        assert_eq!(run(Patterns::email, "@decorator.attr"), "@decorator.attr");
    }

    #[test]
    fn url_passwords() {
        assert_eq!(
            run(Patterns::url_credentials, "postgres://app:s3cr3t@db:5432/x"),
            "postgres://app:[redacted]@db:5432/x"
        );
        assert_eq!(
            run(Patterns::url_credentials, "http://host:8080/path"),
            "http://host:8080/path"
        );
    }

    #[test]
    fn auth_schemes() {
        assert_eq!(
            run(Patterns::auth_scheme, "Authorization: Basic dXNlcjpwYXNz"),
            "Authorization: Basic [token]"
        );
        assert_eq!(
            run(Patterns::auth_scheme, "bearer abcdef0123456789"),
            "bearer [token]"
        );
        assert_eq!(
            run(Patterns::auth_scheme, "basic authentication failed"),
            "basic authentication failed"
        );
        assert_eq!(run(Patterns::auth_scheme, "Bearer token"), "Bearer token");
    }

    #[test]
    fn key_value_forms() {
        let kv = |text: &str| run(Patterns::key_value, text);
        assert_eq!(kv("password=hunter2 next"), "password=[redacted] next");
        assert_eq!(kv("DB_PASSWORD: hunter2"), "DB_PASSWORD: [redacted]");
        assert_eq!(kv(r#"{"api_key": "abc"}"#), r#"{"api_key": "[redacted]"}"#);
        assert_eq!(kv("{'Api-Key': 'abc'}"), "{'Api-Key': '[redacted]'}");
        assert_eq!(
            kv(r#"{\"secret\": \"x y\"}"#),
            r#"{\"secret\": \"[redacted]\"}"#
        );
        assert_eq!(
            kv("?access_token=abc&user=1"),
            "?access_token=[redacted]&user=1"
        );
        assert_eq!(
            kv("Cookie: sessionid=abc; csrftoken=xyz"),
            "Cookie: [redacted]; csrftoken=[redacted]"
        );
        assert_eq!(
            kv("Authorization: Bearer abc"),
            "Authorization: Bearer [redacted]"
        );
        assert_eq!(kv("password=\"unterminated"), "password=\"[redacted]");
        assert_eq!(kv("x-auth: abc"), "x-auth: [redacted]");
        assert_eq!(kv("privateKey=abc"), "privateKey=[redacted]");
    }

    #[test]
    fn key_value_leaves_non_secrets() {
        let kv = |text: &str| run(Patterns::key_value, text);
        for text in [
            "author=bob",
            "if token == expected:",
            "session::Store::new()",
            "user=bob",
            "password=%s",
            "password=[redacted]",
            "Authorization: Bearer [token]",
            "password=''",
            "    token = request.headers.get('Authorization')",
            "    self.session = Session()",
        ] {
            assert_eq!(kv(text), text);
        }
    }

    #[test]
    fn secret_keys() {
        assert!(is_secret_key("AWS_SECRET_ACCESS_KEY"));
        assert!(is_secret_key("apiKey"));
        assert!(is_secret_key("set-cookie"));
        assert!(is_secret_key("auth"));
        assert!(!is_secret_key("author"));
        assert!(!is_secret_key("oauthlib"));
    }
}
