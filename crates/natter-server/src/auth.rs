//! Client authentication checked on CONNECT.
//!
//! Kept behind a small trait so that nkeys and JWT authenticators can be added beside the
//! static one without touching the connection code.

use natter_proto::Connect;

use crate::config::Authorization;

/// Decides whether a CONNECT carries acceptable credentials.
pub trait Authenticator: Send + Sync {
    /// Whether clients must authenticate at all (sets `auth_required` in INFO and makes any
    /// operation before CONNECT an authorization violation).
    fn required(&self) -> bool;
    /// Whether `connect` is allowed in.
    fn check(&self, connect: &Connect) -> bool;
    /// Whether operations before CONNECT are allowed although auth is required (a
    /// `no_auth_user` is configured, so telnet-style sessions work as in nats-server).
    fn allows_anonymous(&self) -> bool {
        false
    }
}

/// Credentials from the `authorization` block: one user/password, one token, or a list of
/// users with plain passwords.
#[derive(Debug, Clone, Default)]
pub struct StaticAuth {
    token: Option<String>,
    users: Vec<(String, String)>,
    /// Clients that send no credentials at all are let in as this user.
    no_auth_user: Option<String>,
}

impl StaticAuth {
    /// Builds the authenticator from the options' `authorization` block (`None`: no auth)
    /// and `no_auth_user`.
    pub fn from_options(auth: Option<&Authorization>, no_auth_user: Option<&str>) -> Self {
        let Some(a) = auth else {
            return StaticAuth::default();
        };
        let mut users = Vec::new();
        if let Some(user) = a.user.as_ref() {
            users.push((user.clone(), a.password.clone().unwrap_or_default()));
        }
        for u in &a.users {
            users.push((u.user.clone(), u.password.clone().unwrap_or_default()));
        }
        let no_auth_user = no_auth_user
            .filter(|n| users.iter().any(|(u, _)| u == n))
            .map(str::to_string);
        StaticAuth {
            token: a.token.clone().filter(|t| !t.is_empty()),
            users,
            no_auth_user,
        }
    }
}

impl Authenticator for StaticAuth {
    fn required(&self) -> bool {
        self.token.is_some() || !self.users.is_empty()
    }

    fn allows_anonymous(&self) -> bool {
        self.no_auth_user.is_some()
    }

    fn check(&self, connect: &Connect) -> bool {
        if !self.required() {
            return true;
        }
        if let Some(token) = &self.token {
            if connect
                .auth_token
                .as_deref()
                .is_some_and(|t| ct_eq(t, token))
            {
                return true;
            }
        }
        let anonymous =
            connect.user.is_none() && connect.pass.is_none() && connect.auth_token.is_none();
        if anonymous && self.no_auth_user.is_some() {
            return true;
        }
        let (Some(user), Some(pass)) = (connect.user.as_deref(), connect.pass.as_deref()) else {
            return false;
        };
        self.users.iter().any(|(u, p)| u == user && ct_eq(p, pass))
    }
}

/// Constant-time comparison so a password check does not leak the matching prefix length.
fn ct_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_whole_strings() {
        assert!(ct_eq("secret", "secret"));
        assert!(!ct_eq("secret", "secreT"));
        assert!(!ct_eq("secret", "secrets"));
    }
}
