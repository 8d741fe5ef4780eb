//! Back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0 with errata 1, §2.4 and
//! §2.6).

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::jwt::{Claims, TokenError};

/// The member of `events` that makes a JWT a logout token.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How old a logout token may be, by its `iat`, before it is refused (§2.6 step 7 lets the
/// receiver bound it; the clock leeway comes on top). Logto sends logout tokens the moment a
/// session ends, so an older one can only be a replay or a token held back.
pub const LOGOUT_TOKEN_MAX_AGE: Duration = Duration::from_secs(5 * 60);

/// The verified claims of a logout token: which Logto session (`sid`) and/or which user
/// (`sub`) signed out. At least one of the two is present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutTokenClaims {
    /// The issuer: Logto's.
    pub iss: String,
    /// The user whose sessions end, if named.
    pub sub: Option<String>,
    /// The Logto session that ends, if named.
    pub sid: Option<String>,
    /// Unique per token: remember it until the token would expire to refuse replays.
    pub jti: String,
    /// Issue time, in Unix seconds.
    pub iat: i64,
    /// When the token expires, in Unix seconds: how long its `jti` must be remembered. Every
    /// accepted logout token has one.
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
    exp: Option<i64>,
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
    /// §2.6 steps 4 to 7. The core checked the signature, `iss`, `aud`, an `iat` in the future
    /// and an `exp` in the past; this requires `exp` and bounds the token's age by `iat`:
    /// at most [`LOGOUT_TOKEN_MAX_AGE`] plus `leeway` seconds before `now` (Unix seconds).
    pub(crate) fn check(self, now: i64, leeway: u64) -> Result<LogoutTokenClaims, TokenError> {
        // §2.4: the member's value is a JSON object (usually `{}`).
        if !self.events.as_ref().is_some_and(|events| {
            events
                .get(BACKCHANNEL_LOGOUT_EVENT)
                .is_some_and(serde_json::Value::is_object)
        }) {
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
        let exp = self
            .exp
            .ok_or_else(|| TokenError::MissingClaim("exp".to_owned()))?;
        let oldest_accepted = now
            .saturating_sub(duration_secs(LOGOUT_TOKEN_MAX_AGE))
            .saturating_sub(i64::try_from(leeway).unwrap_or(i64::MAX));
        if self.iat < oldest_accepted {
            return Err(TokenError::IssuedTooLongAgo);
        }
        Ok(LogoutTokenClaims {
            iss: self.iss,
            sub: self.sub,
            sid: self.sid,
            jti,
            iat: self.iat,
            exp,
        })
    }
}

fn duration_secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// The verifier's clock in these tests, in Unix seconds.
    const NOW: i64 = 1_000_000;
    const LEEWAY: u64 = 60;
    /// The oldest `iat` still accepted: five minutes and the leeway before `NOW`.
    const OLDEST_IAT: i64 = NOW - 5 * 60 - 60;

    fn valid() -> Value {
        json!({
            "iss": "https://logto.example/oidc",
            "aud": "app",
            "iat": NOW,
            "exp": NOW + 120,
            "jti": "j",
            "sid": "s",
            "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
        })
    }

    fn check(claims: Value) -> Result<LogoutTokenClaims, TokenError> {
        serde_json::from_value::<RawLogoutToken>(claims)
            .expect("well-formed claims")
            .check(NOW, LEEWAY)
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
    fn the_logout_event_must_be_a_json_object() {
        assert!(
            check(with(
                "events",
                json!({ BACKCHANNEL_LOGOUT_EVENT: { "x": 1 } })
            ))
            .is_ok()
        );
        for value in [json!(true), json!("yes"), json!([]), json!(1), Value::Null] {
            assert_eq!(
                check(with(
                    "events",
                    json!({ BACKCHANNEL_LOGOUT_EVENT: value.clone() })
                )),
                Err(TokenError::NotALogoutToken),
                "{value}"
            );
        }
    }

    #[test]
    fn exp_is_required_and_given_to_the_caller() {
        assert_eq!(check(valid()).unwrap().exp, NOW + 120);
        assert_eq!(
            check(without("exp")),
            Err(TokenError::MissingClaim("exp".into()))
        );
    }

    #[test]
    fn a_token_older_than_five_minutes_and_the_leeway_is_refused() {
        assert_eq!(LOGOUT_TOKEN_MAX_AGE, Duration::from_secs(300));
        assert!(check(with("iat", json!(OLDEST_IAT))).is_ok());
        assert_eq!(
            check(with("iat", json!(OLDEST_IAT - 1))),
            Err(TokenError::IssuedTooLongAgo)
        );
        assert_eq!(
            check(with("iat", json!(i64::MIN))),
            Err(TokenError::IssuedTooLongAgo)
        );
        let without_leeway =
            serde_json::from_value::<RawLogoutToken>(with("iat", json!(NOW - 5 * 60 - 1)))
                .unwrap()
                .check(NOW, 0);
        assert_eq!(without_leeway, Err(TokenError::IssuedTooLongAgo));
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
