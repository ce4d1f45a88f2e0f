//! The shared tokenizer: a cursor over one line that reads matchers
//! (`[!]name:value`), assignments (`name=value`) and flags (`^-group`),
//! reporting errors with 1-based line and column.

use super::RuleError;

/// The lines of a rule text, numbered from 1, without their `\r`.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split('\n')
        .enumerate()
        .map(|(index, line)| (index + 1, line.strip_suffix('\r').unwrap_or(line)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TermKind {
    /// `[!]name:value`
    Matcher,
    /// `name=value`
    Assign,
    /// A bare word such as `+app` or `^-group`.
    Flag,
}

/// One whitespace-separated token of a rule.
#[derive(Debug, Clone)]
pub(crate) struct Term {
    pub kind: TermKind,
    pub negated: bool,
    /// The matcher or action name (the whole word for flags).
    pub name: String,
    /// Column of the token's first character (the `!` when negated).
    pub column: usize,
    /// Column of the name (after any `!`).
    pub name_column: usize,
    /// The unquoted value (empty for flags).
    pub value: String,
    pub value_column: usize,
    /// The token as written.
    pub text: String,
}

/// A cursor over the characters of one line.
#[derive(Debug)]
pub(crate) struct Cursor {
    line: usize,
    chars: Vec<char>,
    pos: usize,
    /// End of the last token read (for the rule's text without comments).
    content_end: usize,
    content_start: Option<usize>,
}

impl Cursor {
    pub fn new(line: usize, text: &str) -> Self {
        Cursor {
            line,
            chars: text.chars().collect(),
            pos: 0,
            content_end: 0,
            content_start: None,
        }
    }

    /// Column (1-based) of the current position.
    pub fn column(&self) -> usize {
        self.pos + 1
    }

    pub fn error(&self, column: usize, message: impl Into<String>) -> RuleError {
        RuleError::new(self.line, column, message)
    }

    pub fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    pub fn advance(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.chars.len());
    }

    pub fn starts_with(&self, prefix: &str) -> bool {
        (self.pos..)
            .zip(prefix.chars())
            .all(|(index, expected)| self.chars.get(index) == Some(&expected))
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn at_token_end(&self) -> bool {
        self.peek().is_none_or(char::is_whitespace)
    }

    /// Skips whitespace; true at the end of the line or at a comment.
    pub fn at_end(&mut self) -> bool {
        self.skip_whitespace();
        matches!(self.peek(), None | Some('#'))
    }

    /// Marks the start of a token (for [`Cursor::content`]).
    pub fn begin_token(&mut self) {
        if self.content_start.is_none() {
            self.content_start = Some(self.pos);
        }
    }

    /// Marks the end of a token (for [`Cursor::content`]).
    pub fn end_token(&mut self) {
        self.content_end = self.pos;
    }

    /// The rule as written: from its first token to the end of its last,
    /// without surrounding whitespace or a trailing comment.
    pub fn content(&self) -> String {
        let start = self.content_start.unwrap_or(0);
        self.slice(start, self.content_end.max(start))
    }

    fn slice(&self, start: usize, end: usize) -> String {
        self.chars
            .get(start..end.min(self.chars.len()))
            .map(|chars| chars.iter().collect())
            .unwrap_or_default()
    }

    /// Reads the next matcher, assignment or flag; `None` at the end of the
    /// line or at a comment.
    pub fn next_term(&mut self) -> Result<Option<Term>, RuleError> {
        if self.at_end() {
            return Ok(None);
        }
        self.begin_token();
        let start = self.pos;
        let negated = self.peek() == Some('!');
        if negated {
            self.pos += 1;
        }
        let name_start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_whitespace() || matches!(c, ':' | '=' | '"') {
                break;
            }
            self.pos += 1;
        }
        let name = self.slice(name_start, self.pos);
        let (kind, value, value_column) = match self.peek() {
            Some(separator @ (':' | '=')) => {
                if name.is_empty() {
                    return Err(
                        self.error(name_start + 1, format!("missing name before `{separator}`"))
                    );
                }
                self.pos += 1;
                let value_column = self.column();
                let value = self.read_value(&name)?;
                let kind = if separator == ':' {
                    TermKind::Matcher
                } else {
                    TermKind::Assign
                };
                (kind, value, value_column)
            }
            Some('"') => {
                return Err(self.error(self.column(), "unexpected `\"`"));
            }
            _ => {
                if name.is_empty() {
                    return Err(self.error(start + 1, "expected a matcher after `!`"));
                }
                (TermKind::Flag, String::new(), self.column())
            }
        };
        self.end_token();
        Ok(Some(Term {
            kind,
            negated,
            name,
            column: start + 1,
            name_column: name_start + 1,
            value,
            value_column,
            text: self.slice(start, self.pos),
        }))
    }

    /// Reads a bare or quoted value for `name` at the current position.
    fn read_value(&mut self, name: &str) -> Result<String, RuleError> {
        match self.peek() {
            Some('"') => {
                let value = self.read_quoted()?;
                if !self.at_token_end() {
                    return Err(
                        self.error(self.column(), "expected whitespace after the closing quote")
                    );
                }
                Ok(value)
            }
            None => Err(self.error(self.column(), format!("missing value for `{name}`"))),
            Some(c) if c.is_whitespace() => {
                Err(self.error(self.column(), format!("missing value for `{name}`")))
            }
            Some(_) => {
                let start = self.pos;
                while let Some(c) = self.peek() {
                    if c.is_whitespace() {
                        break;
                    }
                    if c == '"' {
                        return Err(
                            self.error(self.column(), "unexpected `\"` inside an unquoted value")
                        );
                    }
                    self.pos += 1;
                }
                Ok(self.slice(start, self.pos))
            }
        }
    }

    /// Reads a double-quoted string starting at the current `"`. `\"` and
    /// `\\` are escapes; other backslashes are kept.
    pub fn read_quoted(&mut self) -> Result<String, RuleError> {
        let open_column = self.column();
        self.pos += 1;
        let mut value = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(self.error(open_column, "unterminated quoted string"));
                }
                Some('"') => {
                    self.pos += 1;
                    return Ok(value);
                }
                Some('\\') => match self.chars.get(self.pos + 1) {
                    Some(&escaped @ ('"' | '\\')) => {
                        value.push(escaped);
                        self.pos += 2;
                    }
                    _ => {
                        value.push('\\');
                        self.pos += 1;
                    }
                },
                Some(c) => {
                    value.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// Reads an unquoted fingerprint value: up to whitespace or `,`, with
    /// `{{ ... }}` placeholders (which may contain spaces) kept whole.
    pub fn read_fingerprint_word(&mut self) -> Result<String, RuleError> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_whitespace() || c == ',' {
                break;
            }
            if c == '"' {
                return Err(self.error(self.column(), "unexpected `\"` inside an unquoted value"));
            }
            if self.starts_with("{{") {
                let open_column = self.column();
                self.pos += 2;
                loop {
                    if self.starts_with("}}") {
                        self.pos += 2;
                        break;
                    }
                    if self.peek().is_none() {
                        return Err(self.error(open_column, "unterminated `{{`"));
                    }
                    self.pos += 1;
                }
                continue;
            }
            self.pos += 1;
        }
        Ok(self.slice(start, self.pos))
    }

    /// True when the cursor is at whitespace, a comma or the end.
    pub fn at_value_end(&self) -> bool {
        self.peek().is_none_or(|c| c.is_whitespace() || c == ',')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(line: &str) -> Result<Vec<Term>, RuleError> {
        let mut cursor = Cursor::new(1, line);
        let mut out = Vec::new();
        while let Some(term) = cursor.next_term()? {
            out.push(term);
        }
        Ok(out)
    }

    #[test]
    fn reads_matchers_flags_and_assignments() {
        let t = terms(r#"!app:yes function:"foo \"bar\"*" ^-group category=x # c"#)
            .expect("valid line");
        assert_eq!(t.len(), 4);
        assert!(t[0].negated);
        assert_eq!(t[0].name, "app");
        assert_eq!(t[0].value, "yes");
        assert_eq!(t[1].value, "foo \"bar\"*");
        assert_eq!(t[1].value_column, 19);
        assert_eq!(t[2].kind, TermKind::Flag);
        assert_eq!(t[2].name, "^-group");
        assert_eq!(t[3].kind, TermKind::Assign);
        assert_eq!(t[3].value, "x");
    }

    #[test]
    fn keeps_other_backslashes() {
        let t = terms(r#"path:"C:\src\*""#).expect("valid");
        assert_eq!(t[0].value, r"C:\src\*");
    }

    #[test]
    fn reports_columns() {
        let err = terms(r#"function:"abc"#).expect_err("unterminated");
        assert_eq!((err.line, err.column), (1, 10));
        let err = terms("a:b   function:").expect_err("missing");
        assert_eq!(err.column, 16);
        let err = terms("x:\"a\"b").expect_err("glued");
        assert_eq!(err.column, 6);
        let err = terms(":x").expect_err("no name");
        assert_eq!(err.column, 1);
    }

    #[test]
    fn columns_count_characters() {
        let err = terms("function:é   bad\"").expect_err("quote");
        assert_eq!(err.column, 17);
    }

    #[test]
    fn lines_strip_carriage_returns() {
        let all: Vec<_> = lines("a\r\nb\n").collect();
        assert_eq!(all, vec![(1, "a"), (2, "b"), (3, "")]);
    }
}
