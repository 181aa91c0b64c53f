//! Subject syntax: tokens, wildcards, validity and the relations between patterns.
//!
//! A subject is a byte string of tokens separated by `.`. A subscription subject (a
//! *pattern*) may use two wildcards, each only as a whole token: `*` matches exactly one
//! token and `>` matches one or more trailing tokens, so it must be the last token. A
//! publish subject (a *literal*) has no wildcards. Neither may contain an empty token or
//! whitespace. A `*` or `>` inside a longer token (`a*`, `>b`) is an ordinary character,
//! as in nats-server.
//!
//! ```
//! use natter_sublist::subject;
//!
//! assert!(subject::is_valid_pattern(b"orders.*.created"));
//! assert!(subject::matches_pattern(b"orders.>", b"orders.eu.created"));
//! assert!(subject::is_subset(b"orders.eu.*", b"orders.>"));
//! assert!(!subject::is_valid_literal(b"orders.*"));
//! ```

/// The byte that separates tokens.
pub const SEPARATOR: u8 = b'.';
/// The wildcard token that matches exactly one token.
pub const SINGLE_WILDCARD: &[u8] = b"*";
/// The wildcard token that matches one or more trailing tokens.
pub const FULL_WILDCARD: &[u8] = b">";

/// What a single token means inside a pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Token<'a> {
    Literal(&'a [u8]),
    Single,
    Full,
}

impl<'a> Token<'a> {
    #[inline]
    pub(crate) fn classify(token: &'a [u8]) -> Self {
        match token {
            b"*" => Token::Single,
            b">" => Token::Full,
            other => Token::Literal(other),
        }
    }
}

/// The bytes nats-server refuses inside a subject.
#[inline]
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0c)
}

/// Splits off the first token: `(token, rest after the separator)`.
#[inline]
pub(crate) fn split_first(subject: &[u8]) -> (&[u8], Option<&[u8]>) {
    match subject.iter().position(|&b| b == SEPARATOR) {
        Some(i) => (&subject[..i], Some(&subject[i + 1..])),
        None => (subject, None),
    }
}

/// The shape of a subject found by one scan: `None` if invalid, else whether it has wildcards.
fn scan(s: &[u8]) -> Option<bool> {
    let mut token_start = 0;
    let mut wildcard = false;
    let mut after_full = false;
    for (i, &b) in s.iter().enumerate() {
        match b {
            SEPARATOR => {
                if i == token_start || after_full {
                    return None;
                }
                token_start = i + 1;
            }
            b'*' | b'>' => {
                let whole_token = i == token_start && s.get(i + 1).is_none_or(|&n| n == SEPARATOR);
                if whole_token {
                    wildcard = true;
                    after_full = b == b'>';
                }
            }
            b if is_space(b) => return None,
            _ => {}
        }
    }
    // Covers the empty subject and a trailing separator alike.
    if token_start == s.len() {
        return None;
    }
    Some(wildcard)
}

/// Whether `s` is a valid publish subject: non-empty tokens, no whitespace, no wildcards.
pub fn is_valid_literal(s: &[u8]) -> bool {
    scan(s) == Some(false)
}

/// Whether `s` is a valid subscription subject: non-empty tokens, no whitespace, `*` and
/// `>` only as whole tokens, and `>` only as the last token.
pub fn is_valid_pattern(s: &[u8]) -> bool {
    scan(s).is_some()
}

/// Whether a message published on `s` can reach any subscription: non-empty tokens and no
/// whitespace. Unlike [`is_valid_literal`], a `*` or `>` token is allowed and stands for
/// itself, as in nats-server: a publish on `foo.*` (accepted from non-pedantic clients)
/// reaches subscriptions on `foo.*` and `>`, never one on `foo.bar`.
pub fn is_routable(s: &[u8]) -> bool {
    !s.is_empty()
        && s.split(|&b| b == SEPARATOR)
            .all(|t| !t.is_empty() && !t.iter().any(|&b| is_space(b)))
}

/// Whether `s` contains a wildcard token (`*` or `>` standing alone between separators).
///
/// This does not check validity: `has_wildcard(b"a..*")` is true.
pub fn has_wildcard(s: &[u8]) -> bool {
    s.iter().enumerate().any(|(i, &b)| {
        (b == b'*' || b == b'>')
            && (i == 0 || s[i - 1] == SEPARATOR)
            && s.get(i + 1).is_none_or(|&n| n == SEPARATOR)
    })
}

/// The tokens of `s`: the byte strings between separators, in order.
///
/// Every separator delimits a token, so `b"a..b"` yields `a`, an empty token and `b`, and
/// the empty subject yields one empty token; validity is the job of [`is_valid_pattern`].
pub fn tokens(s: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> + Clone + '_ {
    s.split(|&b| b == SEPARATOR)
}

/// Whether the valid literal `literal` is matched by the valid pattern `pattern`, without
/// checking either.
#[inline]
pub(crate) fn matches_unchecked(pattern: &[u8], literal: &[u8]) -> bool {
    let mut lit = tokens(literal);
    for p in tokens(pattern) {
        match Token::classify(p) {
            Token::Full => return lit.next().is_some(),
            Token::Single => {
                if lit.next().is_none() {
                    return false;
                }
            }
            Token::Literal(p) => {
                if lit.next() != Some(p) {
                    return false;
                }
            }
        }
    }
    lit.next().is_none()
}

/// Whether a message published on `literal` is delivered to a subscription on `pattern`.
///
/// False when `pattern` is not a valid pattern or `literal` not a valid literal.
pub fn matches_pattern(pattern: &[u8], literal: &[u8]) -> bool {
    is_valid_pattern(pattern) && is_valid_literal(literal) && matches_unchecked(pattern, literal)
}

/// Whether every literal subject matched by `pattern` is also matched by `of_pattern`.
///
/// Both may contain wildcards: `foo.*` is a subset of `foo.>`, `*.*` and `>`, but not of
/// `foo.bar` or `foo.*.baz`. A literal is a subset of the patterns that match it. False
/// when either argument is not a valid pattern. Used for permission checks, where a
/// subscription is allowed only if all it could receive is allowed.
pub fn is_subset(pattern: &[u8], of_pattern: &[u8]) -> bool {
    if !is_valid_pattern(pattern) || !is_valid_pattern(of_pattern) {
        return false;
    }
    let mut sub = tokens(pattern);
    for outer in tokens(of_pattern) {
        let Some(inner) = sub.next() else {
            return false;
        };
        match Token::classify(outer) {
            // `inner` exists, so `pattern` has at least one token here, as `>` requires.
            Token::Full => return true,
            Token::Single => {
                if Token::classify(inner) == Token::Full {
                    return false;
                }
            }
            Token::Literal(outer) => {
                if inner != outer {
                    return false;
                }
            }
        }
    }
    sub.next().is_none()
}

/// Whether `q` can name a queue group: non-empty and free of whitespace.
///
/// nats-server 2.9 accepts any other bytes, wildcards and separators included, and treats
/// the name as opaque.
pub fn is_valid_queue(q: &[u8]) -> bool {
    !q.is_empty() && !q.iter().any(|&b| is_space(b))
}
