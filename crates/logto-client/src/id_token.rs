//! ID tokens (OpenID Connect Core §3.1.3.7 and §12.2): the claims, and the checks on top of the
//! shared JWT core in [`super::jwt`]: `azp`, `nonce` and `at_hash`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha384};

use crate::LogtoError;
use crate::jwt::{Audience, Claims, TokenError};

/// The claims of a Logto ID token. The ones this app reads are fields; every other claim
/// (`custom_data`, `roles`, `organizations`, `created_at` ...) is kept in `extra`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// The issuer: Logto's.
    pub iss: String,
    /// The user's ID in Logto.
    pub sub: String,
    /// The application(s) the token is for.
    pub aud: Audience,
    /// Expiry, in Unix seconds.
    pub exp: i64,
    /// Issue time, in Unix seconds.
    pub iat: i64,
    /// The sign-in attempt's `nonce` (absent after a refresh).
    pub nonce: Option<String>,
    /// The hash of the access token issued with it (OpenID Connect Core §3.1.3.6).
    pub at_hash: Option<String>,
    /// The authorized party: this application, when present.
    pub azp: Option<String>,
    /// The Logto session id, used by back-channel logout.
    pub sid: Option<String>,
    /// The user's full name.
    pub name: Option<String>,
    /// The user's username in Logto.
    pub username: Option<String>,
    /// The URL of the user's picture.
    pub picture: Option<String>,
    /// The user's email address.
    pub email: Option<String>,
    /// Whether Logto verified the email address.
    pub email_verified: Option<bool>,
    /// Every other claim, as sent. Logto's `created_at` and `updated_at` are in milliseconds.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Claims for IdTokenClaims {
    fn issued_at(&self) -> Option<i64> {
        Some(self.iat)
    }
}

/// What an ID token must match besides the [`super::jwt::Rules`].
pub(crate) struct IdTokenChecks<'a> {
    pub(crate) client_id: &'a str,
    /// The sign-in attempt's nonce. `None` after a refresh: such ID tokens carry none (§12.2).
    pub(crate) nonce: Option<&'a str>,
    /// The access token that came with the ID token, for `at_hash` when the token has one.
    pub(crate) access_token: &'a str,
}

/// The ID-token-specific checks, on claims whose signature and registered claims verified.
pub(crate) fn check(
    claims: &IdTokenClaims,
    alg: Algorithm,
    expected: &IdTokenChecks<'_>,
) -> Result<(), TokenError> {
    // With several audiences, `azp` must name us (Core §3.1.3.7, items 4 and 5).
    if (claims.aud.len() > 1 || claims.azp.is_some())
        && claims.azp.as_deref() != Some(expected.client_id)
    {
        return Err(TokenError::WrongAuthorizedParty);
    }
    if let Some(nonce) = expected.nonce
        && claims.nonce.as_deref() != Some(nonce)
    {
        return Err(TokenError::NonceMismatch);
    }
    // Optional in every response Logto sends, but binding when present (Core §3.1.3.8).
    if let Some(at_hash) = &claims.at_hash
        && *at_hash != access_token_hash(alg, expected.access_token)
    {
        return Err(TokenError::AtHashMismatch);
    }
    Ok(())
}

/// Reads the claims of an ID token **without verifying it**.
///
/// Only for an ID token that this client verified at sign-in or refresh, and that has been
/// kept since in storage the user cannot write (a server-side session, or an encrypted and
/// authenticated cookie); for example to show its claims on a profile page. Never call it on a
/// token that came from a request.
pub fn decode_stored_id_token(raw: &str) -> Result<IdTokenClaims, LogtoError> {
    jsonwebtoken::dangerous::insecure_decode_claims::<IdTokenClaims>(raw).map_err(|error| {
        LogtoError::InvalidIdToken(match error.into_kind() {
            jsonwebtoken::errors::ErrorKind::Json(error) => {
                TokenError::InvalidClaims(error.to_string())
            }
            _ => TokenError::Malformed,
        })
    })
}

/// `at_hash`: the left half of the access token's hash, with the hash of the signing algorithm.
fn access_token_hash(alg: Algorithm, access_token: &str) -> String {
    let digest = match alg {
        Algorithm::ES384 | Algorithm::RS384 | Algorithm::PS384 => {
            Sha384::digest(access_token.as_bytes()).to_vec()
        }
        _ => Sha256::digest(access_token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims() -> IdTokenClaims {
        serde_json::from_value(json!({
            "iss": "https://logto.example/oidc",
            "sub": "user_1",
            "aud": "app",
            "exp": 2_000_000_000,
            "iat": 1_000_000_000,
            "nonce": "n",
            "picture": null,
            "created_at": 1_700_000_000_000_i64,
            "roles": ["admin"],
        }))
        .expect("valid claims")
    }

    fn expected<'a>(nonce: Option<&'a str>) -> IdTokenChecks<'a> {
        IdTokenChecks {
            client_id: "app",
            nonce,
            access_token: "access",
        }
    }

    #[test]
    fn at_hash_uses_the_hash_of_the_signing_algorithm() {
        // Worked example from OpenID Connect Core, appendix A.3 (RS256).
        assert_eq!(
            access_token_hash(
                Algorithm::RS256,
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(access_token_hash(Algorithm::ES384, "token").len(), 32);
    }

    #[test]
    fn unknown_claims_are_kept_in_extra() {
        let claims = claims();
        assert_eq!(claims.picture, None);
        assert_eq!(claims.extra["created_at"], json!(1_700_000_000_000_i64));
        assert_eq!(claims.extra["roles"], json!(["admin"]));
        assert!(!claims.extra.contains_key("sub"), "known claims are fields");
    }

    #[test]
    fn the_nonce_is_checked_only_when_expected() {
        let claims = claims();
        let alg = Algorithm::ES384;
        assert_eq!(check(&claims, alg, &expected(Some("n"))), Ok(()));
        assert_eq!(
            check(&claims, alg, &expected(Some("other"))),
            Err(TokenError::NonceMismatch)
        );
        let without_nonce = IdTokenClaims {
            nonce: None,
            ..claims
        };
        assert_eq!(check(&without_nonce, alg, &expected(None)), Ok(()));
        assert_eq!(
            check(&without_nonce, alg, &expected(Some("n"))),
            Err(TokenError::NonceMismatch)
        );
    }

    #[test]
    fn at_hash_and_azp_are_binding_when_present() {
        let alg = Algorithm::ES384;
        let with_at_hash = IdTokenClaims {
            at_hash: Some(access_token_hash(alg, "access")),
            ..claims()
        };
        assert_eq!(check(&with_at_hash, alg, &expected(None)), Ok(()));
        let other_access_token = IdTokenChecks {
            access_token: "another",
            ..expected(None)
        };
        assert_eq!(
            check(&with_at_hash, alg, &other_access_token),
            Err(TokenError::AtHashMismatch)
        );

        let two_audiences = IdTokenClaims {
            aud: Audience::Many(vec!["app".into(), "api".into()]),
            ..claims()
        };
        assert_eq!(
            check(&two_audiences, alg, &expected(None)),
            Err(TokenError::WrongAuthorizedParty)
        );
        let named_by_azp = IdTokenClaims {
            azp: Some("app".into()),
            ..two_audiences
        };
        assert_eq!(check(&named_by_azp, alg, &expected(None)), Ok(()));
    }

    #[test]
    fn stored_id_tokens_decode_without_a_key() {
        // {"alg":"ES384"} . {"iss":"i","sub":"s","aud":"a","exp":2,"iat":1,"custom_data":{"k":1}} . sig
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES384"}"#);
        let payload = URL_SAFE_NO_PAD
            .encode(br#"{"iss":"i","sub":"s","aud":"a","exp":2,"iat":1,"custom_data":{"k":1}}"#);
        let claims = decode_stored_id_token(&format!("{header}.{payload}.c2ln")).unwrap();
        assert_eq!(claims.sub, "s");
        assert_eq!(claims.extra["custom_data"], json!({ "k": 1 }));

        assert!(matches!(
            decode_stored_id_token("garbage"),
            Err(LogtoError::InvalidIdToken(TokenError::Malformed))
        ));
        let no_sub = URL_SAFE_NO_PAD.encode(br#"{"iss":"i"}"#);
        assert!(matches!(
            decode_stored_id_token(&format!("{header}.{no_sub}.c2ln")),
            Err(LogtoError::InvalidIdToken(TokenError::InvalidClaims(_)))
        ));
    }
}
