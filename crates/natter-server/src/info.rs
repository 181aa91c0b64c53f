//! The INFO a server sends first on every client connection.

use std::net::SocketAddr;

use bytes::BytesMut;
use natter_proto::{encode, Info};
use rand::Rng;

/// What the Go runtime field reports; clients only display it.
pub(crate) const GO_FIELD: &str = "natter";

/// Natter's own version, sent in INFO beside the nats-server protocol level.
pub(crate) const NATTER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A nats-style server id: `N` then 55 base32 characters (the shape of an nkeys server
/// public key, which tools display and some validate by length and prefix).
pub(crate) fn new_server_id() -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut rng = rand::rng();
    let mut id = String::with_capacity(56);
    id.push('N');
    for _ in 0..55 {
        id.push(ALPHABET[rng.random_range(0..32)] as char);
    }
    id
}

/// Fields shared by every client's INFO.
#[derive(Debug, Clone)]
pub(crate) struct InfoTemplate {
    info: Info,
}

impl InfoTemplate {
    pub(crate) fn new(
        server_id: &str,
        server_name: &str,
        version: &str,
        host: &str,
        port: u16,
        max_payload: usize,
        auth_required: bool,
    ) -> Self {
        let info = Info {
            server_id: server_id.to_string(),
            server_name: server_name.to_string(),
            version: version.to_string(),
            proto: 1,
            go: GO_FIELD.to_string(),
            host: host.to_string(),
            port,
            headers: true,
            max_payload: max_payload as _,
            auth_required,
            natter_version: Some(NATTER_VERSION.to_string()),
            ..Info::default()
        };
        InfoTemplate { info }
    }

    /// The INFO for one client, as bytes on the wire.
    pub(crate) fn encode_for(
        &self,
        buf: &mut BytesMut,
        client_id: u64,
        peer: SocketAddr,
        ldm: bool,
    ) {
        let mut info = self.info.clone();
        info.client_id = Some(client_id);
        info.client_ip = Some(peer.ip().to_string());
        if ldm {
            info.ldm = true;
        }
        encode::info(buf, &info);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_id_has_nats_shape() {
        let id = new_server_id();
        assert_eq!(id.len(), 56);
        assert!(id.starts_with('N'));
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)));
        assert_ne!(id, new_server_id());
    }
}
