//! The client `CONNECT` options.

use serde::{Deserialize, Deserializer, Serialize};

fn yes() -> bool {
    true
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `null` reads as the field's default, as Go's JSON decoder leaves a field untouched on
/// `null`: clients that serialize unset options as `null` must still get in.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// [`null_as_default`] for the options whose default is `true`.
fn null_as_true<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(true))
}

/// The JSON object a client sends with `CONNECT`.
///
/// Absent fields take nats-server's defaults: `verbose`, `pedantic` and `echo` are `true`,
/// everything else is off or empty. A `null` value counts as absent. Unknown fields are
/// ignored, as nats-server does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connect {
    /// Acknowledge every operation with `+OK`.
    #[serde(default = "yes", deserialize_with = "null_as_true")]
    pub verbose: bool,
    /// Check publish subjects strictly (`'Invalid Publish Subject'`).
    #[serde(default = "yes", deserialize_with = "null_as_true")]
    pub pedantic: bool,
    /// The client requires TLS.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tls_required: bool,
    /// Token authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,
    /// User name for user/password authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Password for user/password authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    /// Client name, shown in monitoring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Client library language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// Client library version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Nonce signature (nkey / JWT authentication).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
    /// Public nkey.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nkey: Option<String>,
    /// User JWT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<String>,
    /// Protocol level: 0 (original) or 1 (asynchronous INFO). Others are refused with
    /// [`crate::ProtoError::InvalidClientProtocol`].
    #[serde(default, deserialize_with = "null_as_default")]
    pub protocol: i32,
    /// Deliver the client's own publishes to its matching subscriptions.
    #[serde(default = "yes", deserialize_with = "null_as_true")]
    pub echo: bool,
    /// The client understands `HPUB`/`HMSG`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_false"
    )]
    pub headers: bool,
    /// Answer requests without responders with a 503 status message (needs `headers`).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_false"
    )]
    pub no_responders: bool,
}

impl Default for Connect {
    /// The options nats-server assumes for `CONNECT {}`.
    fn default() -> Self {
        Connect {
            verbose: true,
            pedantic: true,
            tls_required: false,
            auth_token: None,
            user: None,
            pass: None,
            name: None,
            lang: None,
            version: None,
            sig: None,
            nkey: None,
            jwt: None,
            protocol: 0,
            echo: true,
            headers: false,
            no_responders: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_fields_take_nats_defaults() {
        let c: Connect = serde_json::from_str("{}").unwrap();
        assert_eq!(c, Connect::default());
        assert!(c.verbose && c.pedantic && c.echo);
        assert!(!c.headers && !c.no_responders && !c.tls_required);
    }

    #[test]
    fn reads_what_clients_send() {
        let c: Connect = serde_json::from_str(
            r#"{"verbose":false,"pedantic":false,"user":"u","pass":"p","tls_required":false,
                "name":"svc","lang":"go","version":"1.31.0","protocol":1,"echo":false,
                "headers":true,"no_responders":true,"unknown_field":[1,2]}"#,
        )
        .unwrap();
        assert!(!c.verbose && !c.pedantic && !c.echo);
        assert_eq!(c.user.as_deref(), Some("u"));
        assert_eq!(c.lang.as_deref(), Some("go"));
        assert_eq!(c.protocol, 1);
        assert!(c.headers && c.no_responders);
        let back: Connect = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn null_reads_as_the_default_for_every_field() {
        let c: Connect = serde_json::from_str(
            r#"{"verbose":null,"pedantic":null,"tls_required":null,"auth_token":null,
                "user":null,"pass":null,"name":null,"lang":null,"version":null,"sig":null,
                "nkey":null,"jwt":null,"protocol":null,"echo":null,"headers":null,
                "no_responders":null}"#,
        )
        .unwrap();
        assert_eq!(c, Connect::default());
        let c: Connect = serde_json::from_str(r#"{"verbose":false,"echo":null}"#).unwrap();
        assert!(!c.verbose && c.echo && c.pedantic);
    }
}
