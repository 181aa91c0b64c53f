//! Control-line scanning shared by the client, server and route parsers.
//!
//! A [`LineScanner`] finds the next complete control line in a `BytesMut`: it matches the
//! verb case-insensitively, skips the blanks after it, and locates the line end with
//! `memchr`. It keeps the nats-server rules: the blank after most verbs is mandatory, `\r`
//! before `\n` is optional, and only the argument bytes count towards `max_control_line`.
//! Input it has ruled on but cannot yet complete (blanks after a verb, junk after `PING`)
//! is consumed and remembered in its state, so nothing is buffered without bound.

use bytes::{Buf, BytesMut};

use crate::ProtoError;

/// How the bytes after a verb are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// At least one blank, then arguments up to the line end (`PUB`, `SUB`, `-ERR`...).
    Args,
    /// Optional blanks, then arguments up to the line end (`CONNECT`, `INFO`).
    OptionalBlank,
    /// Anything up to `\n` is ignored (`PING`, `PONG`, `+OK`).
    NoArgs,
}

/// One verb a parser accepts.
#[derive(Debug)]
pub(crate) struct VerbSpec<V> {
    pub name: &'static [u8],
    pub verb: V,
    pub shape: Shape,
}

/// A complete control line found at the front of the buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line<V> {
    pub verb: V,
    /// Arguments, as indexes into the buffer (without the line ending).
    pub args: (usize, usize),
    /// Bytes to consume for the whole line, `\n` included.
    pub len: usize,
}

#[derive(Debug, Clone, Copy)]
enum State<V> {
    Start,
    /// The verb and its blanks were consumed; the arguments start at the buffer front.
    Args(V),
    /// Discarding the rest of a no-argument line.
    Discard(V),
}

#[derive(Debug)]
pub(crate) struct LineScanner<V> {
    state: State<V>,
}

#[inline]
fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

impl<V: Copy> LineScanner<V> {
    pub fn new() -> Self {
        LineScanner {
            state: State::Start,
        }
    }

    pub fn reset(&mut self) {
        self.state = State::Start;
    }

    /// Next complete control line, or `Ok(None)` when more bytes are needed. The caller
    /// consumes `line.len` bytes (possibly after slicing the arguments out).
    #[inline]
    pub fn next_line(
        &mut self,
        buf: &mut BytesMut,
        verbs: &[VerbSpec<V>],
        max_control_line: usize,
    ) -> Result<Option<Line<V>>, ProtoError> {
        match self.state {
            State::Start => {
                let Some(spec) = match_verb(buf, verbs)? else {
                    return Ok(None);
                };
                let after = spec.name.len();
                match spec.shape {
                    Shape::NoArgs => self.discard_line(buf, spec.verb, after),
                    Shape::OptionalBlank => self.args_line(buf, spec.verb, after, max_control_line),
                    Shape::Args => match buf.get(after) {
                        None => Ok(None),
                        Some(&b) if is_blank(b) => {
                            self.args_line(buf, spec.verb, after + 1, max_control_line)
                        }
                        Some(_) => Err(ProtoError::UnknownOp),
                    },
                }
            }
            State::Args(verb) => self.args_line(buf, verb, 0, max_control_line),
            State::Discard(verb) => self.discard_line(buf, verb, 0),
        }
    }

    fn discard_line(
        &mut self,
        buf: &mut BytesMut,
        verb: V,
        from: usize,
    ) -> Result<Option<Line<V>>, ProtoError> {
        match memchr::memchr(b'\n', &buf[from..]) {
            Some(p) => {
                self.state = State::Start;
                Ok(Some(Line {
                    verb,
                    args: (from, from),
                    len: from + p + 1,
                }))
            }
            None => {
                buf.advance(buf.len());
                self.state = State::Discard(verb);
                Ok(None)
            }
        }
    }

    /// `from`: where blank-skipping starts.
    fn args_line(
        &mut self,
        buf: &mut BytesMut,
        verb: V,
        from: usize,
        max_control_line: usize,
    ) -> Result<Option<Line<V>>, ProtoError> {
        let Some(skip) = buf[from..].iter().position(|&b| !is_blank(b)) else {
            // Only blanks so far: drop them (nats-server never limits them) and remember
            // that the verb was seen.
            buf.advance(buf.len());
            self.state = State::Args(verb);
            return Ok(None);
        };
        let start = from + skip;
        // The first argument byte is never the terminator, even if it is `\n`:
        // nats-server switches to its argument state on that byte without examining it.
        match memchr::memchr(b'\n', &buf[start + 1..]) {
            Some(p) => {
                let nl = start + 1 + p;
                let end = if nl - 1 > start && buf[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                if end - start > max_control_line {
                    self.state = State::Start;
                    return Err(ProtoError::MaxControlLine);
                }
                self.state = State::Start;
                Ok(Some(Line {
                    verb,
                    args: (start, end),
                    len: nl + 1,
                }))
            }
            None => {
                let mut partial = buf.len() - start;
                if buf.last() == Some(&b'\r') {
                    partial -= 1;
                }
                if partial > max_control_line {
                    self.state = State::Start;
                    return Err(ProtoError::MaxControlLine);
                }
                // The verb is settled: keep only the arguments, at the buffer front.
                buf.advance(start);
                self.state = State::Args(verb);
                Ok(None)
            }
        }
    }
}

/// Which verb the buffer starts with. `Ok(None)`: the buffer is a strict prefix of a verb.
#[inline]
fn match_verb<'v, V>(
    buf: &[u8],
    verbs: &'v [VerbSpec<V>],
) -> Result<Option<&'v VerbSpec<V>>, ProtoError> {
    if buf.is_empty() {
        return Ok(None);
    }
    // The table lists the hot verb first: in its usual upper case it is decided by one
    // compare, with the same result as the loop below.
    if let Some(first) = verbs.first() {
        if buf.starts_with(first.name) {
            return Ok(Some(first));
        }
    }
    let mut prefix = false;
    for spec in verbs {
        let n = buf.len().min(spec.name.len());
        if buf[..n].eq_ignore_ascii_case(&spec.name[..n]) {
            if n == spec.name.len() {
                return Ok(Some(spec));
            }
            prefix = true;
        }
    }
    if prefix {
        Ok(None)
    } else {
        Err(ProtoError::UnknownOp)
    }
}

/// Separators of `PUB`/`HPUB`/`MSG` arguments.
pub(crate) const BLANKS: &[u8] = b" \t";
/// Separators of `SUB`/`UNSUB`/route arguments (nats-server's `splitArg`).
pub(crate) const BLANKS_AND_EOL: &[u8] = b" \t\r\n";

/// Argument ranges of a control line, the first `N` kept inline; `count` may exceed `N`.
pub(crate) struct Tokens<const N: usize> {
    pub ranges: [(usize, usize); N],
    pub count: usize,
}

impl<const N: usize> Tokens<N> {
    /// Splits `line[start..end]`; ranges are absolute indexes into `line`.
    #[inline]
    pub fn split(line: &[u8], start: usize, end: usize, seps: &[u8]) -> Self {
        let mut t = Tokens {
            ranges: [(0, 0); N],
            count: 0,
        };
        let mut tok_start = None;
        for (i, &b) in line[start..end].iter().enumerate() {
            let i = start + i;
            if seps.contains(&b) {
                if let Some(s) = tok_start.take() {
                    t.push(s, i);
                }
            } else if tok_start.is_none() {
                tok_start = Some(i);
            }
        }
        if let Some(s) = tok_start {
            t.push(s, end);
        }
        t
    }

    #[inline]
    fn push(&mut self, s: usize, e: usize) {
        if self.count < N {
            self.ranges[self.count] = (s, e);
        }
        self.count += 1;
    }
}

/// All argument ranges of `line[start..end]`, for the rare lines with many arguments.
pub(crate) fn split_all(line: &[u8], start: usize, end: usize, seps: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut tok_start = None;
    for (i, &b) in line[start..end].iter().enumerate() {
        let i = start + i;
        if seps.contains(&b) {
            if let Some(s) = tok_start.take() {
                out.push((s, i));
            }
        } else if tok_start.is_none() {
            tok_start = Some(i);
        }
    }
    if let Some(s) = tok_start {
        out.push((s, end));
    }
    out
}

/// nats-server's `parseSize`: 1 to 9 decimal digits, nothing else.
#[inline]
pub(crate) fn parse_size(d: &[u8]) -> Option<usize> {
    if d.is_empty() || d.len() > 9 {
        return None;
    }
    let mut n = 0usize;
    for &b in d {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + usize::from(b - b'0');
    }
    Some(n)
}

/// What to do with a payload whose announced size is known.
pub(crate) enum PayloadCheck {
    /// `size` bytes plus `\r\n` are present at `at`.
    Ready,
    /// Not all there yet, and nothing wrong so far.
    NeedMore,
}

/// Checks the `\r\n` after a payload of `size` bytes at `buf[at..]` as far as bytes are
/// present, so a bad trailer is reported as soon as it arrives (as nats-server does).
#[inline]
pub(crate) fn check_payload(
    buf: &[u8],
    at: usize,
    size: usize,
) -> Result<PayloadCheck, ProtoError> {
    let end = at + size;
    match buf.len().checked_sub(end) {
        None | Some(0) => Ok(PayloadCheck::NeedMore),
        Some(1) => {
            if buf[end] == b'\r' {
                Ok(PayloadCheck::NeedMore)
            } else {
                Err(ProtoError::UnknownOp)
            }
        }
        Some(_) => {
            if buf[end] == b'\r' && buf[end + 1] == b'\n' {
                Ok(PayloadCheck::Ready)
            } else {
                Err(ProtoError::UnknownOp)
            }
        }
    }
}

/// Takes `line_len` bytes of control line plus a `size`-byte payload and its `\r\n` from the
/// buffer front, if all present: returns line and payload as one frozen slice, the `\r\n`
/// dropped. `Ok(None)` (nothing consumed) when the payload is incomplete.
#[inline]
pub(crate) fn take_frame(
    buf: &mut BytesMut,
    line_len: usize,
    size: usize,
) -> Result<Option<bytes::Bytes>, ProtoError> {
    match check_payload(buf, line_len, size)? {
        PayloadCheck::NeedMore => Ok(None),
        PayloadCheck::Ready => {
            let frame = buf.split_to(line_len + size).freeze();
            buf.advance(2);
            Ok(Some(frame))
        }
    }
}

/// Appends a decimal number without going through `fmt`.
#[inline]
pub(crate) fn put_decimal(buf: &mut BytesMut, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_size_is_nats_parse_size() {
        assert_eq!(parse_size(b"0"), Some(0));
        assert_eq!(parse_size(b"00003"), Some(3));
        assert_eq!(parse_size(b"999999999"), Some(999_999_999));
        assert_eq!(parse_size(b"1000000000"), None);
        assert_eq!(parse_size(b""), None);
        assert_eq!(parse_size(b"+3"), None);
        assert_eq!(parse_size(b"-1"), None);
        assert_eq!(parse_size(b"3x"), None);
    }

    #[test]
    fn tokens_keep_count_past_capacity() {
        let line = b"a  b\tc d e";
        let t = Tokens::<3>::split(line, 0, line.len(), BLANKS);
        assert_eq!(t.count, 5);
        assert_eq!(&line[t.ranges[1].0..t.ranges[1].1], b"b");
        assert_eq!(&line[t.ranges[2].0..t.ranges[2].1], b"c");
        assert_eq!(split_all(line, 0, line.len(), BLANKS).len(), 5);
    }

    #[test]
    fn decimal() {
        let mut b = BytesMut::new();
        put_decimal(&mut b, 0);
        b.extend_from_slice(b" ");
        put_decimal(&mut b, u64::MAX);
        assert_eq!(&b[..], b"0 18446744073709551615");
    }
}
