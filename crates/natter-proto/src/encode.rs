//! Outbound encoding for the hot path: append one operation to a connection's buffer.
//!
//! Nothing here allocates besides the buffer's own growth, and nothing validates: subjects,
//! sids, replies and queue names must be non-empty tokens without blanks or line breaks
//! (the parsers only ever produce such tokens).

use bytes::BytesMut;

use crate::scan::put_decimal;
use crate::Info;

#[inline]
fn put_token(buf: &mut BytesMut, token: &[u8]) {
    buf.extend_from_slice(token);
    buf.extend_from_slice(b" ");
}

/// `MSG <subject> <sid> [reply] <size>\r\n<payload>\r\n`
#[inline]
pub fn msg(buf: &mut BytesMut, subject: &[u8], sid: &[u8], reply: Option<&[u8]>, payload: &[u8]) {
    buf.reserve(
        4 + subject.len()
            + 1
            + sid.len()
            + 1
            + reply.map_or(0, |r| r.len() + 1)
            + 10
            + 2
            + payload.len()
            + 2,
    );
    buf.extend_from_slice(b"MSG ");
    put_token(buf, subject);
    put_token(buf, sid);
    if let Some(r) = reply {
        put_token(buf, r);
    }
    put_decimal(buf, payload.len() as u64);
    buf.extend_from_slice(b"\r\n");
    buf.extend_from_slice(payload);
    buf.extend_from_slice(b"\r\n");
}

/// `HMSG <subject> <sid> [reply] <hdr_size> <total_size>\r\n<headers><payload>\r\n`;
/// `headers` is the raw block, `NATS/1.0...\r\n\r\n`.
#[inline]
pub fn hmsg(
    buf: &mut BytesMut,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    headers: &[u8],
    payload: &[u8],
) {
    buf.reserve(
        5 + subject.len()
            + 1
            + sid.len()
            + 1
            + reply.map_or(0, |r| r.len() + 1)
            + 22
            + headers.len()
            + payload.len()
            + 2,
    );
    buf.extend_from_slice(b"HMSG ");
    put_token(buf, subject);
    put_token(buf, sid);
    if let Some(r) = reply {
        put_token(buf, r);
    }
    put_decimal(buf, headers.len() as u64);
    buf.extend_from_slice(b" ");
    put_decimal(buf, (headers.len() + payload.len()) as u64);
    buf.extend_from_slice(b"\r\n");
    buf.extend_from_slice(headers);
    buf.extend_from_slice(payload);
    buf.extend_from_slice(b"\r\n");
}

/// `INFO {json} \r\n`, byte for byte as nats-server writes it to clients (including the
/// blank before `\r\n`).
pub fn info(buf: &mut BytesMut, info: &Info) {
    buf.extend_from_slice(b"INFO ");
    put_json(buf, info);
    buf.extend_from_slice(b" \r\n");
}

/// Serializes into the buffer directly, without an intermediate `String`.
pub(crate) fn put_json<T: serde::Serialize>(buf: &mut BytesMut, value: &T) {
    use bytes::BufMut;
    // Serializing these plain structs into memory cannot fail: no maps with non-string
    // keys, no fallible Serialize impls, and the writer never errors.
    let _ = serde_json::to_writer((&mut *buf).writer(), value);
}

/// `+OK\r\n`
#[inline]
pub fn ok(buf: &mut BytesMut) {
    buf.extend_from_slice(b"+OK\r\n");
}

/// `-ERR <text>\r\n`; `text` as from [`crate::ProtoError::err_text`], quotes included.
pub fn err(buf: &mut BytesMut, text: &str) {
    buf.reserve(5 + text.len() + 2);
    buf.extend_from_slice(b"-ERR ");
    buf.extend_from_slice(text.as_bytes());
    buf.extend_from_slice(b"\r\n");
}

/// `PING\r\n`
#[inline]
pub fn ping(buf: &mut BytesMut) {
    buf.extend_from_slice(b"PING\r\n");
}

/// `PONG\r\n`
#[inline]
pub fn pong(buf: &mut BytesMut) {
    buf.extend_from_slice(b"PONG\r\n");
}

/// Route message: `RMSG <account> <subject> ...` or, with `headers`, `HMSG <account> ...`.
///
/// The reply/queue part follows nats-server: without queues, `[reply]`; with queues,
/// `+ <reply> <queue>...` or `| <queue>...`.
pub fn rmsg(
    buf: &mut BytesMut,
    account: &[u8],
    subject: &[u8],
    reply: Option<&[u8]>,
    queues: &[&[u8]],
    headers: Option<&[u8]>,
    payload: &[u8],
) {
    let hdr_len = headers.map_or(0, <[u8]>::len);
    buf.reserve(
        5 + account.len()
            + subject.len()
            + reply.map_or(0, |r| r.len() + 3)
            + queues.iter().map(|q| q.len() + 1).sum::<usize>()
            + 26
            + hdr_len
            + payload.len(),
    );
    buf.extend_from_slice(if headers.is_some() {
        b"HMSG "
    } else {
        b"RMSG "
    });
    put_token(buf, account);
    put_token(buf, subject);
    if queues.is_empty() {
        if let Some(r) = reply {
            put_token(buf, r);
        }
    } else {
        match reply {
            Some(r) => {
                buf.extend_from_slice(b"+ ");
                put_token(buf, r);
            }
            None => buf.extend_from_slice(b"| "),
        }
        for q in queues {
            put_token(buf, q);
        }
    }
    if let Some(h) = headers {
        put_decimal(buf, h.len() as u64);
        buf.extend_from_slice(b" ");
    }
    put_decimal(buf, (hdr_len + payload.len()) as u64);
    buf.extend_from_slice(b"\r\n");
    if let Some(h) = headers {
        buf.extend_from_slice(h);
    }
    buf.extend_from_slice(payload);
    buf.extend_from_slice(b"\r\n");
}

/// `RS+ <account> <subject>[ <queue> <weight>]\r\n`. A queue without a weight is sent
/// with weight 1 (nats-server requires one).
pub fn rs_plus(
    buf: &mut BytesMut,
    account: &[u8],
    subject: &[u8],
    queue: Option<&[u8]>,
    weight: Option<u32>,
) {
    buf.extend_from_slice(b"RS+ ");
    put_token(buf, account);
    buf.extend_from_slice(subject);
    if let Some(q) = queue {
        buf.extend_from_slice(b" ");
        put_token(buf, q);
        put_decimal(buf, u64::from(weight.unwrap_or(1)));
    }
    buf.extend_from_slice(b"\r\n");
}

/// `RS- <account> <subject>[ <queue>]\r\n`
pub fn rs_minus(buf: &mut BytesMut, account: &[u8], subject: &[u8], queue: Option<&[u8]>) {
    buf.extend_from_slice(b"RS- ");
    put_token(buf, account);
    buf.extend_from_slice(subject);
    if let Some(q) = queue {
        buf.extend_from_slice(b" ");
        buf.extend_from_slice(q);
    }
    buf.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(f: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
        let mut b = BytesMut::new();
        f(&mut b);
        b.to_vec()
    }

    #[test]
    fn client_frames() {
        assert_eq!(
            out(|b| msg(b, b"foo", b"1", None, b"hi")),
            b"MSG foo 1 2\r\nhi\r\n"
        );
        assert_eq!(
            out(|b| msg(b, b"foo", b"22", Some(b"_INBOX.x"), b"")),
            b"MSG foo 22 _INBOX.x 0\r\n\r\n"
        );
        assert_eq!(
            out(|b| hmsg(b, b"foo", b"1", Some(b"r"), b"NATS/1.0\r\n\r\n", b"ab")),
            b"HMSG foo 1 r 12 14\r\nNATS/1.0\r\n\r\nab\r\n"
        );
        assert_eq!(out(ok), b"+OK\r\n");
        assert_eq!(out(ping), b"PING\r\n");
        assert_eq!(out(pong), b"PONG\r\n");
        assert_eq!(
            out(|b| err(b, crate::ProtoError::UnknownOp.err_text())),
            b"-ERR 'Unknown Protocol Operation'\r\n"
        );
    }

    #[test]
    fn info_has_nats_trailing_blank() {
        let i = Info {
            server_id: "S".into(),
            ..Info::default()
        };
        let b = out(|b| info(b, &i));
        assert!(b.starts_with(b"INFO {\"server_id\":\"S\""));
        assert!(b.ends_with(b"} \r\n"));
    }

    #[test]
    fn route_frames_use_nats_markers() {
        assert_eq!(
            out(|b| rmsg(b, b"$G", b"foo", None, &[], None, b"x")),
            b"RMSG $G foo 1\r\nx\r\n"
        );
        assert_eq!(
            out(|b| rmsg(b, b"$G", b"foo", Some(b"r"), &[], None, b"x")),
            b"RMSG $G foo r 1\r\nx\r\n"
        );
        assert_eq!(
            out(|b| rmsg(b, b"$G", b"foo", Some(b"r"), &[b"q1", b"q2"], None, b"x")),
            b"RMSG $G foo + r q1 q2 1\r\nx\r\n"
        );
        assert_eq!(
            out(|b| rmsg(b, b"$G", b"foo", None, &[b"q1"], None, b"x")),
            b"RMSG $G foo | q1 1\r\nx\r\n"
        );
        assert_eq!(
            out(|b| rmsg(
                b,
                b"A",
                b"foo",
                None,
                &[b"q"],
                Some(b"NATS/1.0\r\n\r\n"),
                b"x"
            )),
            b"HMSG A foo | q 12 13\r\nNATS/1.0\r\n\r\nx\r\n"
        );
        assert_eq!(
            out(|b| rs_plus(b, b"$G", b"foo.>", None, None)),
            b"RS+ $G foo.>\r\n"
        );
        assert_eq!(
            out(|b| rs_plus(b, b"$G", b"foo", Some(b"q"), Some(3))),
            b"RS+ $G foo q 3\r\n"
        );
        assert_eq!(
            out(|b| rs_minus(b, b"$G", b"foo", Some(b"q"))),
            b"RS- $G foo q\r\n"
        );
    }
}
