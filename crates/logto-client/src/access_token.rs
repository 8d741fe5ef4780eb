//! JWT access tokens (RFC 9068), which Logto issues for an API resource or an organization.
//! Access tokens without a resource are opaque and are checked by Logto at `/oidc/me` only.

use serde::{Deserialize, Serialize};

use crate::jwt::{Audience, Claims, TokenError};

/// The verified claims of a JWT access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// The issuer: Logto's.
    pub iss: String,
    /// The user, or the client for machine-to-machine tokens.
    pub sub: Option<String>,
    /// The resource indicator, or `urn:logto:organization:<id>` for an organization token.
    pub aud: Audience,
    /// Expiry, in Unix seconds.
    pub exp: i64,
    /// Issue time, in Unix seconds.
    pub iat: Option<i64>,
    /// Space-separated scopes granted for this audience.
    pub scope: Option<String>,
    /// The application the token was issued to.
    pub client_id: Option<String>,
}

impl AccessTokenClaims {
    /// Whether `scope` was granted, for example `write:books`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope
            .as_deref()
            .is_some_and(|scopes| scopes.split_whitespace().any(|granted| granted == scope))
    }
}

impl Claims for AccessTokenClaims {
    fn issued_at(&self) -> Option<i64> {
        self.iat
    }
}

/// RFC 9068 §4: the header `typ` must be `at+jwt` (the `application/` prefix may be left out),
/// so that no other JWT of the issuer, such as an ID token, passes as an access token.
pub(crate) fn check_type(typ: Option<&str>) -> Result<(), TokenError> {
    let media_type = typ.map(|typ| {
        let lower = typ.to_ascii_lowercase();
        match lower.strip_prefix("application/") {
            Some(rest) => rest.to_owned(),
            None => lower,
        }
    });
    if media_type.as_deref() == Some("at+jwt") {
        Ok(())
    } else {
        Err(TokenError::WrongType(typ.map(str::to_owned)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_access_token_type_is_accepted() {
        for accepted in ["at+jwt", "AT+JWT", "application/at+jwt"] {
            assert_eq!(check_type(Some(accepted)), Ok(()), "{accepted}");
        }
        for rejected in [Some("JWT"), Some("logout+jwt"), Some("at+jwt2"), None] {
            assert_eq!(
                check_type(rejected),
                Err(TokenError::WrongType(rejected.map(str::to_owned)))
            );
        }
    }

    #[test]
    fn scopes_are_matched_whole() {
        let claims = AccessTokenClaims {
            iss: "i".into(),
            sub: None,
            aud: Audience::One("https://api.example".into()),
            exp: 0,
            iat: None,
            scope: Some("read:books write:books".into()),
            client_id: None,
        };
        assert!(claims.has_scope("write:books"));
        assert!(!claims.has_scope("write"));
        assert!(
            !AccessTokenClaims {
                scope: None,
                ..claims
            }
            .has_scope("read:books")
        );
    }
}
