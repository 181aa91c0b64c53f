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

    /// The user name an accepted `connect` is known by in monitoring (`authorized_user`).
    ///
    /// As in nats-server, that is the CONNECT `user` whenever one was sent. A token is a
    /// secret, not a name, so token logins have none (nats-server 2.9 shows the raw token
    /// here, later versions a placeholder).
    fn authorized_user<'a>(&'a self, connect: &'a Connect) -> Option<&'a str> {
        connect.user.as_deref().filter(|u| !u.is_empty())
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

    fn authorized_user<'a>(&'a self, connect: &'a Connect) -> Option<&'a str> {
        if let Some(user) = connect.user.as_deref().filter(|u| !u.is_empty()) {
            return Some(user);
        }
        // nats-server treats a client let in without credentials as the no_auth_user.
        let anonymous = connect.pass.is_none() && connect.auth_token.is_none();
        self.no_auth_user.as_deref().filter(|_| anonymous)
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
    fn authorized_user_is_the_login_name_never_a_token() {
        let auth = |a: Authorization, nau: Option<&str>| StaticAuth::from_options(Some(&a), nau);
        let connect = |user: Option<&str>, pass: Option<&str>, token: Option<&str>| Connect {
            user: user.map(str::to_string),
            pass: pass.map(str::to_string),
            auth_token: token.map(str::to_string),
            ..Connect::default()
        };
        let users = auth(
            Authorization {
                user: Some("u".into()),
                password: Some("p".into()),
                ..Authorization::default()
            },
            Some("u"),
        );
        let c = connect(Some("u"), Some("p"), None);
        assert_eq!(users.authorized_user(&c), Some("u"));
        assert_eq!(users.authorized_user(&connect(None, None, None)), Some("u"));
        let token = auth(
            Authorization {
                token: Some("s3cr3t".into()),
                ..Authorization::default()
            },
            None,
        );
        let c = connect(None, None, Some("s3cr3t"));
        assert!(token.check(&c));
        assert_eq!(token.authorized_user(&c), None);
        let none = StaticAuth::default();
        assert_eq!(none.authorized_user(&connect(None, None, None)), None);
    }

    #[test]
    fn constant_time_eq_compares_whole_strings() {
        assert!(ct_eq("secret", "secret"));
        assert!(!ct_eq("secret", "secreT"));
        assert!(!ct_eq("secret", "secrets"));
    }
}
