//! NATS message header blocks: `NATS/1.0[ status[ description]]\r\n` + `Key: Value\r\n`... + `\r\n`.

use bytes::BytesMut;

use crate::scan::put_decimal;
use crate::ProtoError;

/// The header block nats-server sends with a "no responders" status message.
pub const NO_RESPONDERS_HEADER: &[u8] = b"NATS/1.0 503\r\n\r\n";

const VERSION_LINE: &str = "NATS/1.0";

/// A parsed header block. Entries keep their order, the case of their names, and repeats.
///
/// Lookups are case-sensitive, as in the NATS client libraries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderMap {
    status: Option<u16>,
    description: Option<String>,
    entries: Vec<(String, String)>,
}

fn check_name(name: &str) -> Result<(), ProtoError> {
    if name.is_empty() {
        return Err(ProtoError::InvalidHeader("empty header name"));
    }
    if name
        .bytes()
        .any(|b| b == b':' || b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(ProtoError::InvalidHeader(
            "header name with ':', blank or control byte",
        ));
    }
    Ok(())
}

fn check_value(value: &str) -> Result<(), ProtoError> {
    if value.bytes().any(|b| b == b'\r' || b == b'\n') {
        return Err(ProtoError::InvalidHeader("header value with CR or LF"));
    }
    Ok(())
}

impl HeaderMap {
    /// An empty block (`NATS/1.0\r\n\r\n`).
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty block with a status line, e.g. 503 or `408 Request Timeout`.
    pub fn with_status(status: u16, description: Option<&str>) -> Result<Self, ProtoError> {
        if !(100..=999).contains(&status) {
            return Err(ProtoError::InvalidHeader("status is not three digits"));
        }
        if let Some(d) = description {
            check_value(d)?;
        }
        Ok(HeaderMap {
            status: Some(status),
            description: description.filter(|d| !d.is_empty()).map(str::to_owned),
            entries: Vec::new(),
        })
    }

    /// Parses a raw header block as it appears in `HPUB`/`HMSG` (the first `hdr_size`
    /// bytes of the message). The final empty line may be missing; values are trimmed of
    /// surrounding blanks, names are kept as written.
    pub fn parse(block: &[u8]) -> Result<Self, ProtoError> {
        let text = std::str::from_utf8(block)
            .map_err(|_| ProtoError::InvalidHeader("header block is not UTF-8"))?;
        let mut lines = text.split("\r\n");
        let first = lines.next().unwrap_or_default();
        let rest = first
            .strip_prefix(VERSION_LINE)
            .ok_or(ProtoError::InvalidHeader(
                "header block does not start with NATS/1.0",
            ))?;
        let mut map = HeaderMap::new();
        if !rest.is_empty() {
            if !rest.starts_with([' ', '\t']) {
                return Err(ProtoError::InvalidHeader("bad version line"));
            }
            let rest = rest.trim_start_matches([' ', '\t']);
            if !rest.is_empty() {
                let code = rest
                    .get(..3)
                    .filter(|c| c.bytes().all(|b| b.is_ascii_digit()));
                let code = code.ok_or(ProtoError::InvalidHeader("status is not three digits"))?;
                map.status = code.parse().ok();
                let description = rest[3..].trim_matches([' ', '\t']);
                if !description.is_empty() {
                    map.description = Some(description.to_owned());
                }
            }
        }
        let mut ended = false;
        for line in lines {
            if ended {
                if line.is_empty() {
                    continue;
                }
                return Err(ProtoError::InvalidHeader(
                    "bytes after the end of the header block",
                ));
            }
            if line.is_empty() {
                ended = true;
                continue;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or(ProtoError::InvalidHeader("header line without ':'"))?;
            check_name(name)?;
            let value = value.trim_matches([' ', '\t']);
            check_value(value)?;
            map.entries.push((name.to_owned(), value.to_owned()));
        }
        Ok(map)
    }

    /// Appends the block in wire form, final empty line included.
    pub fn encode(&self, buf: &mut BytesMut) {
        buf.reserve(self.encoded_len());
        buf.extend_from_slice(VERSION_LINE.as_bytes());
        if let Some(status) = self.status {
            buf.extend_from_slice(b" ");
            put_decimal(buf, u64::from(status));
            if let Some(d) = &self.description {
                buf.extend_from_slice(b" ");
                buf.extend_from_slice(d.as_bytes());
            }
        }
        buf.extend_from_slice(b"\r\n");
        for (k, v) in &self.entries {
            buf.extend_from_slice(k.as_bytes());
            buf.extend_from_slice(b": ");
            buf.extend_from_slice(v.as_bytes());
            buf.extend_from_slice(b"\r\n");
        }
        buf.extend_from_slice(b"\r\n");
    }

    /// The exact length [`HeaderMap::encode`] writes: the `hdr_size` of `HPUB`/`HMSG`.
    pub fn encoded_len(&self) -> usize {
        let mut n = VERSION_LINE.len() + 2 + 2;
        if self.status.is_some() {
            n += 4;
            if let Some(d) = &self.description {
                n += 1 + d.len();
            }
        }
        for (k, v) in &self.entries {
            n += k.len() + 2 + v.len() + 2;
        }
        n
    }

    /// The status code of the version line (e.g. 503 for no responders).
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The status description of the version line.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The first value of `name` (exact, case-sensitive match).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `name` to the single value `value`: the first entry of that name is replaced
    /// in place, later ones are removed; appended if absent.
    pub fn insert(&mut self, name: &str, value: &str) -> Result<(), ProtoError> {
        check_name(name)?;
        check_value(value)?;
        match self.entries.iter().position(|(k, _)| k == name) {
            Some(i) => {
                self.entries[i].1 = value.to_owned();
                let mut seen = 0usize;
                self.entries.retain(|(k, _)| {
                    if k == name {
                        seen += 1;
                        seen == 1
                    } else {
                        true
                    }
                });
            }
            None => self.entries.push((name.to_owned(), value.to_owned())),
        }
        Ok(())
    }

    /// Adds one more value for `name` at the end, keeping existing ones.
    pub fn append(&mut self, name: &str, value: &str) -> Result<(), ProtoError> {
        check_name(name)?;
        check_value(value)?;
        self.entries.push((name.to_owned(), value.to_owned()));
        Ok(())
    }

    /// Removes every entry of `name`; returns how many there were.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.entries.len();
        self.entries.retain(|(k, _)| k != name);
        before - self.entries.len()
    }

    /// All entries in order, as (name, value).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of entries (repeats counted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No entries (a status line alone still makes an empty map).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_case_and_repeats() {
        let block = b"NATS/1.0\r\nX-Id: 1\r\nx-id: 2\r\nX-Id:  3 \r\nEmpty:\r\n\r\n";
        let h = HeaderMap::parse(block).unwrap();
        assert_eq!(h.status(), None);
        assert_eq!(h.len(), 4);
        assert_eq!(h.get("X-Id"), Some("1"));
        assert_eq!(h.get("x-id"), Some("2"));
        assert_eq!(h.get_all("X-Id").collect::<Vec<_>>(), ["1", "3"]);
        assert_eq!(h.get("Empty"), Some(""));
        assert_eq!(h.get("X-ID"), None);
        let names: Vec<_> = h.iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["X-Id", "x-id", "X-Id", "Empty"]);
    }

    #[test]
    fn status_and_description() {
        let h = HeaderMap::parse(NO_RESPONDERS_HEADER).unwrap();
        assert_eq!(h.status(), Some(503));
        assert_eq!(h.description(), None);
        assert!(h.is_empty());
        let h = HeaderMap::parse(b"NATS/1.0 408 Request Timeout\r\n\r\n").unwrap();
        assert_eq!(h.status(), Some(408));
        assert_eq!(h.description(), Some("Request Timeout"));
        let h = HeaderMap::parse(b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 5\r\n\r\n")
            .unwrap();
        assert_eq!(h.get("Nats-Last-Consumer"), Some("5"));
    }

    #[test]
    fn encode_is_exact_and_round_trips() {
        let mut h = HeaderMap::with_status(503, None).unwrap();
        let mut buf = BytesMut::new();
        h.encode(&mut buf);
        assert_eq!(&buf[..], NO_RESPONDERS_HEADER);
        assert_eq!(h.encoded_len(), NO_RESPONDERS_HEADER.len());

        h = HeaderMap::with_status(408, Some("Request Timeout")).unwrap();
        h.append("A", "1").unwrap();
        h.append("a", "2").unwrap();
        h.append("A", "3").unwrap();
        buf.clear();
        h.encode(&mut buf);
        assert_eq!(
            &buf[..],
            b"NATS/1.0 408 Request Timeout\r\nA: 1\r\na: 2\r\nA: 3\r\n\r\n"
        );
        assert_eq!(buf.len(), h.encoded_len());
        assert_eq!(HeaderMap::parse(&buf).unwrap(), h);
    }

    #[test]
    fn insert_replaces_all_values_in_place() {
        let mut h = HeaderMap::new();
        h.append("A", "1").unwrap();
        h.append("B", "x").unwrap();
        h.append("A", "2").unwrap();
        h.insert("A", "9").unwrap();
        assert_eq!(h.iter().collect::<Vec<_>>(), [("A", "9"), ("B", "x")]);
        h.insert("C", "c").unwrap();
        assert_eq!(h.len(), 3);
        assert_eq!(h.remove("A"), 1);
        assert_eq!(h.remove("A"), 0);
    }

    #[test]
    fn rejects_malformed_blocks_and_entries() {
        for bad in [
            &b"HTTP/1.1 200\r\n\r\n"[..],
            b"NATS/1.0 5x3\r\n\r\n",
            b"NATS/1.0x\r\n\r\n",
            b"NATS/1.0\r\nno colon\r\n\r\n",
            b"NATS/1.0\r\n: empty name\r\n\r\n",
            b"NATS/1.0\r\nA B: v\r\n\r\n",
            b"NATS/1.0\r\n\r\ntrailing",
            b"NATS/1.0\r\nA: \xff\r\n\r\n",
        ] {
            assert!(
                matches!(HeaderMap::parse(bad), Err(ProtoError::InvalidHeader(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let mut h = HeaderMap::new();
        assert!(h.insert("A:B", "v").is_err());
        assert!(h.append("A", "v\r\nB: x").is_err());
        assert!(HeaderMap::with_status(42, None).is_err());
        assert!(h.is_empty());
    }

    #[test]
    fn lenient_about_missing_final_line() {
        let h = HeaderMap::parse(b"NATS/1.0\r\nA: 1\r\n").unwrap();
        assert_eq!(h.get("A"), Some("1"));
        assert!(HeaderMap::parse(b"NATS/1.0").unwrap().is_empty());
    }
}
