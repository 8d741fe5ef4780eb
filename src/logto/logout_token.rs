//! Back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0, §2.4 and §2.6).

use serde::{Deserialize, Deserializer, Serialize};

use super::jwt::{Claims, TokenError};

/// The member of `events` that makes a JWT a logout token.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The verified claims of a logout token: which Logto session (`sid`) and/or which user
/// (`sub`) signed out. At least one of the two is present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutTokenClaims {
    pub iss: String,
    pub sub: Option<String>,
    pub sid: Option<String>,
    /// Unique per token: remember it until the token would expire to refuse replays.
    pub jti: String,
    pub iat: i64,
    /// When the token expires (Unix seconds).
    pub exp: i64,
}

/// A logout token's claims as sent, before the logout-specific checks.
#[derive(Deserialize)]
pub(crate) struct RawLogoutToken {
    iss: String,
    sub: Option<String>,
    sid: Option<String>,
    jti: Option<String>,
    iat: i64,
    exp: i64,
    events: Option<serde_json::Map<String, serde_json::Value>>,
    /// Whether a `nonce` claim exists at all, even `null`.
    #[serde(default, rename = "nonce", deserialize_with = "present")]
    has_nonce: bool,
}

impl Claims for RawLogoutToken {
    fn issued_at(&self) -> Option<i64> {
        Some(self.iat)
    }
}

/// Any value, `null` included, means the claim is present.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(deserializer).map(|_| true)
}

impl RawLogoutToken {
    /// §2.6 steps 4 to 7 (signature, `iss`, `aud`, `iat` and `exp` were checked by the core).
    pub(crate) fn check(self) -> Result<LogoutTokenClaims, TokenError> {
        if !self
            .events
            .as_ref()
            .is_some_and(|events| events.contains_key(BACKCHANNEL_LOGOUT_EVENT))
        {
            return Err(TokenError::NotALogoutToken);
        }
        if self.has_nonce {
            return Err(TokenError::UnexpectedNonce);
        }
        let jti = self
            .jti
            .ok_or_else(|| TokenError::MissingClaim("jti".to_owned()))?;
        if self.sid.is_none() && self.sub.is_none() {
            return Err(TokenError::MissingClaim("sid or sub".to_owned()));
        }
        Ok(LogoutTokenClaims {
            iss: self.iss,
            sub: self.sub,
            sid: self.sid,
            jti,
            iat: self.iat,
            exp: self.exp,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn valid() -> Value {
        json!({
            "iss": "https://logto.example/oidc",
            "aud": "app",
            "iat": 1_000,
            "exp": 1_120,
            "jti": "j",
            "sid": "s",
            "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
        })
    }

    fn check(claims: Value) -> Result<LogoutTokenClaims, TokenError> {
        serde_json::from_value::<RawLogoutToken>(claims)
            .expect("well-formed claims")
            .check()
    }

    fn with(name: &str, value: Value) -> Value {
        let mut claims = valid();
        claims[name] = value;
        claims
    }

    fn without(name: &str) -> Value {
        let mut claims = valid();
        claims.as_object_mut().expect("an object").remove(name);
        claims
    }

    #[test]
    fn a_logout_token_needs_the_event_a_jti_and_a_sid_or_sub() {
        let claims = check(valid()).unwrap();
        assert_eq!(claims.sid.as_deref(), Some("s"));
        assert_eq!(claims.jti, "j");
        assert!(check(with("sub", json!("u")).clone()).is_ok());

        assert_eq!(check(without("events")), Err(TokenError::NotALogoutToken));
        assert_eq!(
            check(with("events", json!({ "other": {} }))),
            Err(TokenError::NotALogoutToken)
        );
        assert_eq!(
            check(without("jti")),
            Err(TokenError::MissingClaim("jti".into()))
        );
        assert_eq!(
            check(without("sid")),
            Err(TokenError::MissingClaim("sid or sub".into()))
        );
        let mut only_sub = without("sid");
        only_sub["sub"] = json!("u");
        assert!(check(only_sub).is_ok());
    }

    #[test]
    fn any_nonce_is_refused() {
        for nonce in [json!("n"), Value::Null] {
            assert_eq!(
                check(with("nonce", nonce)),
                Err(TokenError::UnexpectedNonce)
            );
        }
    }
}
