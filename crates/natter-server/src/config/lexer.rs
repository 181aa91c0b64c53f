//! Character-level scanning of the nats-server configuration syntax: keys, scalar values,
//! comments. The block structure (`{}`, `[]`, includes, variables) is in `parser.rs`.
//!
//! The rules follow nats-server's `conf/lex.go` as it behaves in v2.9.10 (checked with
//! `nats-server -c FILE -t`), with two deliberate differences, both more lenient: a bare value
//! may start with `.` (`pid_file: ./nats.pid`; nats-server says "Floats must start with a
//! digit"), and an integer directly followed by `]` ends there (nats-server 2.9.10 reports
//! `[1, 2]` followed by another line as an unterminated array).

use std::sync::Arc;

use super::error::{ConfigError, ErrorKind, Location};
use super::value::Value;

/// A position in the text being scanned. Cheap to copy, so a scanner can look ahead and
/// come back.
#[derive(Clone)]
pub(crate) struct Cursor<'a> {
    src: &'a str,
    pos: usize,
    line: u32,
    column: u32,
    file: Arc<str>,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(src: &'a str, file: Arc<str>) -> Self {
        // A UTF-8 byte order mark is not part of the first key.
        let src = src.strip_prefix('\u{feff}').unwrap_or(src);
        Cursor {
            src,
            pos: 0,
            line: 1,
            column: 1,
            file,
        }
    }

    pub(crate) fn location(&self) -> Location {
        Location {
            file: self.file.clone(),
            line: self.line,
            column: self.column,
        }
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    pub(crate) fn peek_second(&self) -> Option<char> {
        let mut it = self.src[self.pos..].chars();
        it.next();
        it.next()
    }

    pub(crate) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    pub(crate) fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::at(ErrorKind::Syntax, &self.location(), message)
    }

    /// Skips spaces and tabs (not new lines).
    pub(crate) fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.bump();
        }
    }

    /// Skips spaces, tabs and new lines.
    pub(crate) fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    /// Whether a `#` or `//` comment starts here.
    pub(crate) fn at_comment(&self) -> bool {
        match self.peek() {
            Some('#') => true,
            Some('/') => self.peek_second() == Some('/'),
            _ => false,
        }
    }

    /// Consumes a comment up to (not including) the end of its line.
    pub(crate) fn skip_comment(&mut self) {
        while let Some(c) = self.peek() {
            if is_newline(c) {
                break;
            }
            self.bump();
        }
    }

    /// Skips spaces, new lines and comments.
    pub(crate) fn skip_space_and_comments(&mut self) {
        loop {
            self.skip_space();
            if self.at_comment() {
                self.skip_comment();
            } else {
                return;
            }
        }
    }
}

pub(crate) fn is_newline(c: char) -> bool {
    c == '\n' || c == '\r'
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Characters that end a bare (unquoted) value.
fn ends_bare_value(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => is_newline(c) || is_blank(c) || matches!(c, ';' | ',' | ']' | '}'),
    }
}

/// Shows a character in a message, new lines spelled out.
pub(crate) fn show(c: Option<char>) -> String {
    match c {
        None => "end of file".to_string(),
        Some('\n') | Some('\r') => "a new line".to_string(),
        Some(c) => format!("'{c}'"),
    }
}

/// A scanned key.
pub(crate) struct Key {
    pub(crate) name: String,
    pub(crate) location: Location,
    pub(crate) quoted: bool,
}

/// Scans a key: quoted (`"a b"`, `'a'`, no escapes) or bare up to white space, `:` or `=`.
pub(crate) fn scan_key(cur: &mut Cursor<'_>) -> Result<Key, ConfigError> {
    let location = cur.location();
    match cur.peek() {
        Some(q @ ('"' | '\'')) => {
            cur.bump();
            let mut name = String::new();
            loop {
                match cur.bump() {
                    Some(c) if c == q => break,
                    Some(c) => name.push(c),
                    None => {
                        return Err(ConfigError::at(
                            ErrorKind::Syntax,
                            &location,
                            "unterminated quoted key",
                        ))
                    }
                }
            }
            Ok(Key {
                name,
                location,
                quoted: true,
            })
        }
        Some(':' | '=') => Err(cur.error(format!("unexpected key separator {}", show(cur.peek())))),
        _ => {
            let mut name = String::new();
            while let Some(c) = cur.peek() {
                if c.is_whitespace() || c == ':' || c == '=' {
                    break;
                }
                name.push(c);
                cur.bump();
            }
            Ok(Key {
                name,
                location,
                quoted: false,
            })
        }
    }
}

/// What a value position holds.
pub(crate) enum Scanned {
    /// A complete scalar value, with its literal when it had a size suffix.
    Scalar(Value, Option<String>),
    /// `$NAME`: a reference to resolve.
    Variable(String),
    /// `[`, consumed.
    ArrayStart,
    /// `{`, consumed.
    MapStart,
}

/// Scans the value that starts at the cursor (blanks before it already skipped).
pub(crate) fn scan_value(cur: &mut Cursor<'_>) -> Result<Scanned, ConfigError> {
    match cur.peek() {
        None => Err(cur.error("expected a value but found the end of the file")),
        Some(c) if is_newline(c) => Err(cur.error("expected a value but found a new line")),
        Some('[') => {
            cur.bump();
            Ok(Scanned::ArrayStart)
        }
        Some('{') => {
            cur.bump();
            Ok(Scanned::MapStart)
        }
        Some('"') => scan_double_quoted(cur).map(|s| Scanned::Scalar(Value::String(s), None)),
        Some('\'') => scan_single_quoted(cur).map(|s| Scanned::Scalar(Value::String(s), None)),
        Some('(') => scan_block_string(cur).map(|s| Scanned::Scalar(Value::String(s), None)),
        Some(c @ (',' | ';' | ']' | '}')) => {
            Err(cur.error(format!("expected a value but found '{c}'")))
        }
        Some('-') => {
            if cur.peek_second().is_some_and(|c| c.is_ascii_digit()) {
                scan_number(cur)
            } else {
                let mut after = cur.clone();
                after.bump();
                Err(after.error(format!(
                    "expected a digit after '-' but found {}",
                    show(after.peek())
                )))
            }
        }
        Some(c) if c.is_ascii_digit() => scan_number(cur),
        Some(_) => scan_bare(cur),
    }
}

fn scan_double_quoted(cur: &mut Cursor<'_>) -> Result<String, ConfigError> {
    let open = cur.location();
    cur.bump();
    let mut bytes = Vec::new();
    loop {
        match cur.peek() {
            None => {
                return Err(ConfigError::at(
                    ErrorKind::Syntax,
                    &open,
                    "unterminated string: no closing '\"'",
                ))
            }
            Some('"') => {
                cur.bump();
                break;
            }
            Some('\\') => scan_escape(cur, &mut bytes)?,
            Some(c) => {
                cur.bump();
                let mut buf = [0u8; 4];
                bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    String::from_utf8(bytes).map_err(|_| {
        ConfigError::at(
            ErrorKind::Syntax,
            &open,
            "string is not valid UTF-8 once its \\x escapes are applied",
        )
    })
}

/// Escapes nats-server accepts in double-quoted and bare strings.
fn scan_escape(cur: &mut Cursor<'_>, out: &mut Vec<u8>) -> Result<(), ConfigError> {
    let at = cur.location();
    cur.bump();
    let c = cur.bump();
    let byte = match c {
        Some('t') => b'\t',
        Some('n') => b'\n',
        Some('r') => b'\r',
        Some('"') => b'"',
        Some('\\') => b'\\',
        Some('x') => {
            let hi = cur.bump().and_then(|c| c.to_digit(16));
            let lo = cur.bump().and_then(|c| c.to_digit(16));
            match (hi, lo) {
                (Some(h), Some(l)) => (h * 16 + l) as u8,
                _ => {
                    return Err(ConfigError::at(
                        ErrorKind::Syntax,
                        &at,
                        "expected two hexadecimal digits after '\\x'",
                    ))
                }
            }
        }
        other => {
            return Err(ConfigError::at(
                ErrorKind::Syntax,
                &at,
                format!(
                    "invalid escape {}: only \\xXX, \\t, \\n, \\r, \\\" and \\\\ are allowed \
                     (use single quotes for raw text)",
                    match other {
                        Some(c) if !is_newline(c) => format!("'\\{c}'"),
                        other => format!("'\\' followed by {}", show(other)),
                    }
                ),
            ))
        }
    };
    out.push(byte);
    Ok(())
}

fn scan_single_quoted(cur: &mut Cursor<'_>) -> Result<String, ConfigError> {
    let open = cur.location();
    cur.bump();
    let mut s = String::new();
    loop {
        match cur.bump() {
            None => {
                return Err(ConfigError::at(
                    ErrorKind::Syntax,
                    &open,
                    "unterminated string: no closing \"'\"",
                ))
            }
            Some('\'') => return Ok(s),
            Some(c) => s.push(c),
        }
    }
}

/// `( ... )`: everything up to a line holding only `)`; nats-server keeps the new line after
/// `(` and the one before `)`.
fn scan_block_string(cur: &mut Cursor<'_>) -> Result<String, ConfigError> {
    let open = cur.location();
    cur.bump();
    let mut s = String::new();
    loop {
        match cur.bump() {
            None => {
                return Err(ConfigError::at(
                    ErrorKind::Syntax,
                    &open,
                    "unterminated block string: '(' needs a ')' alone on a later line",
                ))
            }
            Some('\n') if cur.peek() == Some(')') => {
                let mut after = cur.clone();
                after.bump();
                let closes = match after.peek() {
                    None | Some('\n') => true,
                    Some('\r') => after.peek_second().is_none_or(|c| c == '\n'),
                    _ => false,
                };
                s.push('\n');
                if closes {
                    *cur = after;
                    return Ok(s);
                }
            }
            Some(c) => s.push(c),
        }
    }
}

/// Numbers, sizes, dates and IP-like strings all start with a digit (or `-digit`).
fn scan_number(cur: &mut Cursor<'_>) -> Result<Scanned, ConfigError> {
    let start = cur.clone();
    let location = cur.location();
    let mut text = String::new();
    if cur.peek() == Some('-') {
        text.push('-');
        cur.bump();
    }
    let negative = !text.is_empty();
    while let Some(c) = cur.peek().filter(char::is_ascii_digit) {
        text.push(c);
        cur.bump();
    }
    match cur.peek() {
        Some('-') if !negative && text.len() == 4 => return scan_datetime(cur, text),
        Some('.') => {
            cur.bump();
            text.push('.');
            if !cur.peek().is_some_and(|c| c.is_ascii_digit()) {
                return Err(cur.error(format!(
                    "expected a digit after the '.' of a number, found {}",
                    show(cur.peek())
                )));
            }
            while let Some(c) = cur.peek().filter(char::is_ascii_digit) {
                text.push(c);
                cur.bump();
            }
            if cur.peek() == Some('.') {
                // A second dot: an address such as 127.0.0.1:4222 (or :-1), a string.
                while let Some(c) = cur
                    .peek()
                    .filter(|c| c.is_ascii_digit() || matches!(c, '.' | ':' | '-'))
                {
                    text.push(c);
                    cur.bump();
                }
                return Ok(Scanned::Scalar(Value::String(text), None));
            }
            let f: f64 = text.parse().map_err(|_| {
                ConfigError::at(
                    ErrorKind::Syntax,
                    &location,
                    format!("invalid float '{text}'"),
                )
            })?;
            return Ok(Scanned::Scalar(Value::Float(f), None));
        }
        _ => {}
    }
    let digits_end = text.len();
    if cur.peek().is_some_and(is_size_suffix_start) {
        let mut probe = cur.clone();
        let mut suffix = String::new();
        if let Some(c) = probe.bump() {
            suffix.push(c);
        }
        while let Some(c) = probe.peek().filter(|c| matches!(c, 'b' | 'B' | 'i' | 'I')) {
            suffix.push(c);
            probe.bump();
        }
        if ends_number(probe.peek()) {
            *cur = probe;
            let value = apply_size_suffix(&text, &suffix).ok_or_else(|| {
                ConfigError::at(
                    ErrorKind::Syntax,
                    &location,
                    format!("invalid size '{text}{suffix}': unknown suffix or out of range"),
                )
            })?;
            text.push_str(&suffix);
            return Ok(Scanned::Scalar(Value::Integer(value), Some(text)));
        }
    } else if ends_number(cur.peek()) {
        let value: i64 = text[..digits_end].parse().map_err(|_| {
            ConfigError::at(
                ErrorKind::Syntax,
                &location,
                format!("integer '{text}' is out of range"),
            )
        })?;
        return Ok(Scanned::Scalar(Value::Integer(value), None));
    }
    // Digits followed by other text (30s, 1h30m, 4222abc): nats-server reads a string.
    *cur = start;
    scan_bare(cur)
}

fn ends_number(c: Option<char>) -> bool {
    ends_bare_value(c)
}

fn is_size_suffix_start(c: char) -> bool {
    matches!(c.to_ascii_lowercase(), 'k' | 'm' | 'g' | 't' | 'p' | 'e')
}

/// nats-server: a bare letter is a power of 1000, with `b`, `i` or `ib` a power of 1024.
fn apply_size_suffix(digits: &str, suffix: &str) -> Option<i64> {
    let n: i64 = digits.parse().ok()?;
    let suffix = suffix.to_ascii_lowercase();
    let (letter, binary) = match suffix.as_str() {
        "k" | "m" | "g" | "t" | "p" | "e" => (suffix.as_bytes()[0], false),
        _ => {
            let letter = suffix.as_bytes()[0];
            match &suffix[1..] {
                "b" | "i" | "ib" => (letter, true),
                _ => return None,
            }
        }
    };
    let power = match letter {
        b'k' => 1,
        b'm' => 2,
        b'g' => 3,
        b't' => 4,
        b'p' => 5,
        b'e' => 6,
        _ => return None,
    };
    let base: i64 = if binary { 1024 } else { 1000 };
    let factor = base.checked_pow(power)?;
    n.checked_mul(factor)
}

fn scan_datetime(cur: &mut Cursor<'_>, mut text: String) -> Result<Scanned, ConfigError> {
    // After "YYYY": "-MM-DDTHH:MM:SSZ", '0' standing for any digit.
    for expected in "-00-00T00:00:00Z".chars() {
        let c = cur.peek();
        let ok = match (expected, c) {
            ('0', Some(c)) => c.is_ascii_digit(),
            (e, Some(c)) => e == c,
            (_, None) => false,
        };
        if !ok {
            return Err(cur.error(format!(
                "dates must be written in full ISO 8601 Zulu form (2006-01-02T15:04:05Z), \
                 found {}",
                show(c)
            )));
        }
        text.push(c.unwrap_or_default());
        cur.bump();
    }
    Ok(Scanned::Scalar(Value::Datetime(text), None))
}

/// A bare string, boolean or variable reference: up to white space, `,`, `;`, `]` or `}`.
fn scan_bare(cur: &mut Cursor<'_>) -> Result<Scanned, ConfigError> {
    let location = cur.location();
    let mut bytes = Vec::new();
    let mut escaped = false;
    while !ends_bare_value(cur.peek()) {
        if cur.peek() == Some('\\') {
            scan_escape(cur, &mut bytes)?;
            escaped = true;
        } else if let Some(c) = cur.bump() {
            let mut buf = [0u8; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        ConfigError::at(
            ErrorKind::Syntax,
            &location,
            "value is not valid UTF-8 once its \\x escapes are applied",
        )
    })?;
    if escaped {
        return Ok(Scanned::Scalar(Value::String(text), None));
    }
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" => return Ok(Scanned::Scalar(Value::Bool(true), None)),
        "false" | "no" | "off" => return Ok(Scanned::Scalar(Value::Bool(false), None)),
        _ => {}
    }
    if let Some(name) = text.strip_prefix('$') {
        // An unquoted bcrypt hash ($2a$11$...) is a string, as nats-server special-cases it.
        if name.starts_with("2a$") {
            return Ok(Scanned::Scalar(Value::String(text), None));
        }
        if name.is_empty() {
            return Err(ConfigError::at(
                ErrorKind::Syntax,
                &location,
                "'$' must be followed by a variable name",
            ));
        }
        return Ok(Scanned::Variable(name.to_string()));
    }
    Ok(Scanned::Scalar(Value::String(text), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(s: &str) -> Result<(Scanned, String), ConfigError> {
        let mut cur = Cursor::new(s, Arc::from("t"));
        let v = scan_value(&mut cur)?;
        let rest = cur.src[cur.pos..].to_string();
        Ok((v, rest))
    }

    fn scalar(s: &str) -> Value {
        match scan(s).unwrap().0 {
            Scanned::Scalar(v, _) => v,
            _ => panic!("not a scalar: {s}"),
        }
    }

    #[test]
    fn sizes_follow_nats_suffixes() {
        assert_eq!(scalar("1k"), Value::Integer(1000));
        assert_eq!(scalar("1K"), Value::Integer(1000));
        assert_eq!(scalar("1kb"), Value::Integer(1024));
        assert_eq!(scalar("1KB"), Value::Integer(1024));
        assert_eq!(scalar("1Ki"), Value::Integer(1024));
        assert_eq!(scalar("1KiB"), Value::Integer(1024));
        assert_eq!(scalar("2m"), Value::Integer(2_000_000));
        assert_eq!(scalar("64MB"), Value::Integer(64 << 20));
        assert_eq!(scalar("1g"), Value::Integer(1_000_000_000));
        assert_eq!(scalar("1GB"), Value::Integer(1 << 30));
        assert_eq!(scalar("1T"), Value::Integer(1_000_000_000_000));
        assert_eq!(scalar("-1"), Value::Integer(-1));
        assert_eq!(scalar("-2k"), Value::Integer(-2000));
    }

    #[test]
    fn digits_followed_by_text_are_strings() {
        assert_eq!(scalar("30s"), Value::String("30s".into()));
        assert_eq!(scalar("500ms"), Value::String("500ms".into()));
        assert_eq!(scalar("1h30m"), Value::String("1h30m".into()));
        assert_eq!(scalar("4222abc"), Value::String("4222abc".into()));
        assert_eq!(
            scalar("127.0.0.1:4222"),
            Value::String("127.0.0.1:4222".into())
        );
        assert_eq!(scalar("127.0.0.1:-1"), Value::String("127.0.0.1:-1".into()));
        assert_eq!(scalar("1.5"), Value::Float(1.5));
    }

    #[test]
    fn integer_stops_at_array_end() {
        let (v, rest) = scan("2]").unwrap();
        assert!(matches!(v, Scanned::Scalar(Value::Integer(2), None)));
        assert_eq!(rest, "]");
    }

    #[test]
    fn bare_words() {
        assert_eq!(scalar("On"), Value::Bool(true));
        assert_eq!(scalar("NO"), Value::Bool(false));
        assert_eq!(scalar("a#b"), Value::String("a#b".into()));
        assert_eq!(scalar(r"a\x41b"), Value::String("aAb".into()));
        assert_eq!(scalar("./x.pid"), Value::String("./x.pid".into()));
        assert!(matches!(scan("$FOO").unwrap().0, Scanned::Variable(n) if n == "FOO"));
        assert_eq!(scalar("$2a$11$abc"), Value::String("$2a$11$abc".into()));
    }

    #[test]
    fn quoted_strings() {
        assert_eq!(scalar(r#""a\tb\"c""#), Value::String("a\tb\"c".into()));
        assert_eq!(scalar(r"'a\qb'"), Value::String(r"a\qb".into()));
        assert_eq!(scalar("\"two\nlines\""), Value::String("two\nlines".into()));
        assert_eq!(scalar("(\nhello\n)"), Value::String("\nhello\n".into()));
        assert_eq!(scalar("(\na)b\n)\n"), Value::String("\na)b\n".into()));
    }

    #[test]
    fn dates() {
        assert_eq!(
            scalar("2016-05-04T18:53:41Z"),
            Value::Datetime("2016-05-04T18:53:41Z".into())
        );
        assert!(scan("2016-05-04").is_err());
    }

    #[test]
    fn errors_point_at_the_problem() {
        let e = scan(r#""a\qb""#).err().unwrap();
        assert_eq!(e.location().unwrap().column, 3);
        let e = scan("\"open").err().unwrap();
        assert!(e.message().contains("unterminated"), "{e}");
        assert!(scan("(\nnever closed").is_err());
        assert!(scan("-x").is_err());
        assert!(scan("1.x").is_err());
        assert!(scan("99999999999999999999").is_err());
        assert!(scan("9999999999999G").is_err());
    }
}
