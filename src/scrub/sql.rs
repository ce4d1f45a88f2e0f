//! SQL literal parameterization: on a line that looks like SQL, single-quoted
//! strings and numbers become `%s`, as a driver's parameters would.
//!
//! "Looks like SQL" is decided per line (a line is the unit of the rendered
//! stacktrace text): it contains one of `SELECT INSERT UPDATE DELETE WHERE
//! VALUES SET FROM` as an upper-case word, or a statement shape in any case
//! (`select … from`, `insert into`, `update … set`, `delete from`). Lower-case
//! `from`/`set` alone are English, so "error from upstream 502" is left.
//!
//! Numbers are whole words of digits (optionally with a decimal part): the
//! `2` in `v2` or `utf8`, hex like `0x1F` and exponents like `1e5` are part of
//! identifiers and stay, as do positional parameters (`$1`).

use super::placeholder;
use regex::Regex;

#[derive(Debug, Clone)]
pub(super) struct Sql {
    keyword: Regex,
    statement: Regex,
    literal: Regex,
}

const KEYWORD: &str = r"\b(?:SELECT|INSERT|UPDATE|DELETE|WHERE|VALUES|SET|FROM)\b";
const STATEMENT: &str =
    r"(?i)\bselect\b.*\bfrom\b|\binsert[ \t]+into\b|\bupdate\b.*\bset\b|\bdelete[ \t]+from\b";
/// A quoted string (with `''` and backslash escapes, within the line) or a
/// number; strings first so digits inside them go with the string.
const LITERAL: &str = r"'(?:[^'\\\n]|\\.|'')*'|\b[0-9]+(?:\.[0-9]+)?\b";

impl Sql {
    pub(super) fn new() -> Self {
        let compile = |pattern: &str| Regex::new(pattern).expect("static pattern compiles");
        Sql {
            keyword: compile(KEYWORD),
            statement: compile(STATEMENT),
            literal: compile(LITERAL),
        }
    }

    fn is_sql_line(&self, line: &str) -> bool {
        self.keyword.is_match(line) || self.statement.is_match(line)
    }

    /// `None` when no line is SQL or no SQL line has a literal.
    pub(super) fn parameterize(&self, text: &str) -> Option<String> {
        // One scan of the whole text rules out the common, SQL-free case.
        if !self.is_sql_line(text) {
            return None;
        }
        let mut out: Option<String> = None;
        let mut done = 0;
        let mut line_start = 0;
        for line in text.split_inclusive('\n') {
            if self.is_sql_line(line) {
                if let Some(new_line) = self.parameterize_line(line) {
                    let buf = out.get_or_insert_with(|| String::with_capacity(text.len()));
                    buf.push_str(&text[done..line_start]);
                    buf.push_str(&new_line);
                    done = line_start + line.len();
                }
            }
            line_start += line.len();
        }
        let mut buf = out?;
        buf.push_str(&text[done..]);
        Some(buf)
    }

    fn parameterize_line(&self, line: &str) -> Option<String> {
        let mut out: Option<String> = None;
        let mut copied = 0;
        for literal in self.literal.find_iter(line) {
            let positional = line[..literal.start()].ends_with('$');
            if positional {
                continue;
            }
            let buf = out.get_or_insert_with(|| String::with_capacity(line.len()));
            buf.push_str(&line[copied..literal.start()]);
            buf.push_str(placeholder::SQL);
            copied = literal.end();
        }
        let mut buf = out?;
        buf.push_str(&line[copied..]);
        Some(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(text: &str) -> String {
        Sql::new()
            .parameterize(text)
            .unwrap_or_else(|| text.to_owned())
    }

    #[test]
    fn literals_in_sql_lines() {
        assert_eq!(param("password='x' WHERE id=1"), "password=%s WHERE id=%s");
        assert_eq!(
            param("select * from t where name = 'O''Brien' and n > 2.5 limit 10"),
            "select * from t where name = %s and n > %s limit %s"
        );
        assert_eq!(
            param("INSERT INTO t (a, b) VALUES ('it\\'s', -3)"),
            "INSERT INTO t (a, b) VALUES (%s, -%s)"
        );
    }

    #[test]
    fn identifiers_and_params_stay() {
        assert_eq!(
            param("SELECT v2, utf8, col_1 FROM t2 WHERE x = $1 AND y = 0x1F"),
            "SELECT v2, utf8, col_1 FROM t2 WHERE x = $1 AND y = 0x1F"
        );
    }

    #[test]
    fn only_sql_lines_change() {
        assert_eq!(
            param("KeyError: 'user_id' at 12\nUPDATE t SET a='b' WHERE id=3\nline 7"),
            "KeyError: 'user_id' at 12\nUPDATE t SET a=%s WHERE id=%s\nline 7"
        );
        let prose = "error from upstream 502, could not set 'x'";
        assert_eq!(param(prose), prose);
    }
}
