//! Just enough HTTP/1.1 to GET JSON from a monitoring port: one request per connection,
//! bodies framed by Content-Length, chunked encoding, or the connection closing.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{Failure, Outcome};

/// `http://host:port` split into the authority to connect to and the path prefix.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct BaseUrl {
    pub(crate) authority: String,
    pub(crate) prefix: String,
}

impl BaseUrl {
    pub(crate) fn parse(url: &str) -> Outcome<Self> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| Failure::new(format!("monitor URL {url:?} must start with http://")))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(Failure::new(format!("monitor URL {url:?} has no host")));
        }
        let has_port = authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok());
        let authority = if has_port {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        Ok(BaseUrl {
            authority,
            prefix: path.trim_end_matches('/').to_string(),
        })
    }
}

/// GETs `path` (with query) and returns the status code and body.
pub(crate) async fn get(base: &BaseUrl, path: &str, timeout: Duration) -> Outcome<(u16, Vec<u8>)> {
    let target = format!("{}{}", base.prefix, path);
    let work = async {
        let mut stream = TcpStream::connect(&base.authority).await.map_err(|e| {
            Failure::new(format!("cannot connect to http://{}: {e}", base.authority))
        })?;
        let request = format!(
            "GET {target} HTTP/1.1\r\nHost: {}\r\nUser-Agent: natter\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
            base.authority
        );
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::with_capacity(16 * 1024);
        let mut buf = [0u8; 16 * 1024];
        // Read the head, then as much body as the framing says.
        let head_end = loop {
            if let Some(i) = find(&raw, b"\r\n\r\n") {
                break i + 4;
            }
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Err(Failure::new(
                    "monitoring server closed the connection before answering",
                ));
            }
            raw.extend_from_slice(&buf[..n]);
            if raw.len() > 64 * 1024 {
                return Err(Failure::new(
                    "monitoring server sent an oversized response head",
                ));
            }
        };
        let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
        let mut body = raw.split_off(head_end);
        let status = parse_status(&head)?;
        let chunked = header(&head, "transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let length = header(&head, "content-length").and_then(|v| v.trim().parse::<usize>().ok());
        if chunked {
            loop {
                if let Some(decoded) = dechunk(&body)? {
                    return Ok((status, decoded));
                }
                let n = stream.read(&mut buf).await?;
                if n == 0 {
                    return Err(Failure::new("monitoring response ended inside a chunk"));
                }
                body.extend_from_slice(&buf[..n]);
            }
        }
        match length {
            Some(len) => {
                while body.len() < len {
                    let n = stream.read(&mut buf).await?;
                    if n == 0 {
                        return Err(Failure::new(format!(
                            "monitoring response cut short: {} of {len} bytes",
                            body.len()
                        )));
                    }
                    body.extend_from_slice(&buf[..n]);
                }
                body.truncate(len);
            }
            None => {
                stream.read_to_end(&mut body).await?;
            }
        }
        Ok((status, body))
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(Failure::new(format!(
            "no answer from http://{}{target} within {}",
            base.authority,
            crate::common::go_duration(timeout)
        ))),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_status(head: &str) -> Outcome<u16> {
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split_whitespace();
    match (
        parts.next(),
        parts.next().and_then(|c| c.parse::<u16>().ok()),
    ) {
        (Some(v), Some(code)) if v.starts_with("HTTP/1.") => Ok(code),
        _ => Err(Failure::new(format!("not an HTTP response: {line:?}"))),
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// Decodes a complete chunked body; `Ok(None)` when more bytes are needed.
fn dechunk(mut body: &[u8]) -> Outcome<Option<Vec<u8>>> {
    let mut out = Vec::with_capacity(body.len());
    loop {
        let Some(line_end) = find(body, b"\r\n") else {
            return Ok(None);
        };
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| Failure::new(format!("bad chunk size {size_text:?}")))?;
        body = &body[line_end + 2..];
        if size == 0 {
            // Trailers (if any) end with an empty line; we need not read them.
            return Ok(Some(out));
        }
        if body.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_authority_and_prefix() {
        let b = BaseUrl::parse("http://127.0.0.1:8222").unwrap();
        assert_eq!(b.authority, "127.0.0.1:8222");
        assert_eq!(b.prefix, "");
        let b = BaseUrl::parse("http://mon.example/nats/").unwrap();
        assert_eq!(
            (b.authority.as_str(), b.prefix.as_str()),
            ("mon.example:80", "/nats")
        );
        assert!(BaseUrl::parse("https://x").is_err());
    }

    #[test]
    fn chunked_bodies_decode_only_when_complete() {
        assert_eq!(
            dechunk(b"4\r\nWiki\r\n5;x=1\r\npedia\r\n0\r\n\r\n").unwrap(),
            Some(b"Wikipedia".to_vec())
        );
        assert_eq!(dechunk(b"4\r\nWi").unwrap(), None);
        assert!(dechunk(b"zz\r\n").is_err());
    }

    #[tokio::test]
    async fn reads_content_length_and_chunked_responses() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for reply in [
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".to_string(),
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
                    .to_string(),
            ] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await.unwrap();
                // Split the write to exercise the read loop.
                let (a, b) = reply.as_bytes().split_at(reply.len() / 2);
                s.write_all(a).await.unwrap();
                s.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
                s.write_all(b).await.unwrap();
                // Keep the socket open: the client must stop on framing, not on EOF.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        let base = BaseUrl::parse(&format!("http://{addr}")).unwrap();
        let t = Duration::from_secs(5);
        assert_eq!(get(&base, "/a", t).await.unwrap(), (200, b"hello".to_vec()));
        assert_eq!(get(&base, "/b", t).await.unwrap(), (200, b"abcde".to_vec()));
    }
}
