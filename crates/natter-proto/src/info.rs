//! The server `INFO` object (client and route flavours).

use serde::{Deserialize, Serialize};

fn is_false(b: &bool) -> bool {
    !*b
}

/// The JSON object of an `INFO` operation.
///
/// Field names and omission rules follow nats-server: the always-present fields are always
/// written, the optional ones only when set. Unknown fields are ignored when reading.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// Unique id of the server.
    #[serde(default)]
    pub server_id: String,
    /// Configured server name (nats-server sends the id when none is configured).
    #[serde(default)]
    pub server_name: String,
    /// nats-server protocol level implemented (clients gate features on it).
    #[serde(default)]
    pub version: String,
    /// Protocol number (1: supports asynchronous INFO).
    #[serde(default)]
    pub proto: i32,
    /// Natter's own version; nats-server has no such field and clients ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub natter_version: Option<String>,
    /// Git commit of the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    /// Toolchain version (nats-server reports its Go version here).
    #[serde(default)]
    pub go: String,
    /// Listen host.
    #[serde(default)]
    pub host: String,
    /// Listen port.
    #[serde(default)]
    pub port: u16,
    /// The server supports headers.
    #[serde(default)]
    pub headers: bool,
    /// Largest message the server accepts.
    #[serde(default)]
    pub max_payload: u64,
    /// Authentication is required.
    #[serde(default, skip_serializing_if = "is_false")]
    pub auth_required: bool,
    /// TLS is required.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_required: bool,
    /// Client certificates are verified.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    /// TLS is possible but not required.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_available: bool,
    /// JetStream is enabled.
    #[serde(default, skip_serializing_if = "is_false")]
    pub jetstream: bool,
    /// Advertised IP/URL (routes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// The connection's id on the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<u64>,
    /// The client's IP as the server sees it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    /// Nonce to sign for nkey/JWT authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Cluster name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The cluster name was generated, not configured (routes).
    #[serde(default, skip_serializing_if = "is_false")]
    pub cluster_dynamic: bool,
    /// JetStream domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Client URLs of the cluster's servers, for reconnects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connect_urls: Vec<String>,
    /// WebSocket URLs of the cluster's servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ws_connect_urls: Vec<String>,
    /// The server is in lame duck mode: clients should move elsewhere.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ldm: bool,
    /// Route: the sender understands leaf-origin (`LS+`/`LMSG`) protocols.
    #[serde(default, skip_serializing_if = "is_false")]
    pub lnoc: bool,
    /// Route: the receiver should answer `CONNECT` with an `INFO`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub info_on_connect: bool,
    /// Route: this `INFO` answers a `CONNECT`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub connect_info: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_optional_fields_are_omitted() {
        let info = Info {
            server_id: "ID".into(),
            server_name: "n".into(),
            version: "2.10.0".into(),
            proto: 1,
            go: "rust".into(),
            host: "0.0.0.0".into(),
            port: 4222,
            headers: true,
            max_payload: 1_048_576,
            ..Info::default()
        };
        let json = serde_json::to_string(&info).unwrap();
        assert_eq!(
            json,
            r#"{"server_id":"ID","server_name":"n","version":"2.10.0","proto":1,"go":"rust","host":"0.0.0.0","port":4222,"headers":true,"max_payload":1048576}"#
        );
    }

    #[test]
    fn reads_a_real_nats_server_info() {
        // Captured from nats-server 2.9.10.
        let raw = r#"{"server_id":"NCGU6XTI","server_name":"NCGU6XTI","version":"2.9.10","proto":1,"go":"go1.19.8","host":"127.0.0.1","port":14224,"headers":true,"max_payload":1048576,"client_id":6,"client_ip":"127.0.0.1"}"#;
        let info: Info = serde_json::from_str(raw).unwrap();
        assert_eq!(info.version, "2.9.10");
        assert_eq!(info.client_id, Some(6));
        assert_eq!(info.client_ip.as_deref(), Some("127.0.0.1"));
        assert!(info.headers && !info.auth_required);
    }
}
