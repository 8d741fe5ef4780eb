//! ID token verification (OpenID Connect Core §3.1.3.7) on top of `jsonwebtoken`.
//!
//! `jsonwebtoken` checks the signature, `exp`, `iss` and `aud`; this module adds the algorithm
//! allowlist, `iat`, `azp`, `nonce` and `at_hash`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha384};

use super::jwks::VerificationKey;

/// The signature algorithms Logto may use and this client verifies. Logto signs ES384 by
/// default and RS256 on older tenants. Logto also allows ES512, but no well-kept Rust JWT
/// crate verifies P-521 yet, so such a token is rejected as a disallowed algorithm.
pub const ALLOWED_ALGORITHMS: [Algorithm; 4] = [
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// Why an ID token was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdTokenError {
    #[error("it is not a well-formed JWT")]
    Malformed,
    #[error("it is signed with {0}, which is not allowed")]
    DisallowedAlgorithm(String),
    #[error("no signing key matches its key id {kid:?}")]
    UnknownKey { kid: Option<String> },
    #[error("its signature does not verify")]
    BadSignature,
    #[error("it has expired")]
    Expired,
    #[error("it is not valid yet")]
    NotYetValid,
    #[error("it was issued in the future")]
    IssuedInTheFuture,
    #[error("its issuer is not Logto's")]
    WrongIssuer,
    #[error("its audience is not this app")]
    WrongAudience,
    #[error("its authorized party is not this app")]
    WrongAuthorizedParty,
    #[error("its nonce does not match the sign-in attempt")]
    NonceMismatch,
    #[error("its at_hash does not match the access token")]
    AtHashMismatch,
    #[error("the claim {0} is missing")]
    MissingClaim(String),
    #[error("its claims are invalid ({0})")]
    InvalidClaims(String),
}

/// The verified claims of a Logto ID token that this app uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub exp: i64,
    pub iat: i64,
    pub nonce: Option<String>,
    pub at_hash: Option<String>,
    pub azp: Option<String>,
    /// The Logto session id, used by back-channel logout.
    pub sid: Option<String>,
    pub name: Option<String>,
    pub username: Option<String>,
    pub picture: Option<String>,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
}

/// The `aud` claim: one audience or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn len(&self) -> usize {
        match self {
            Self::One(_) => 1,
            Self::Many(audiences) => audiences.len(),
        }
    }
}

/// What a token must match, taken from the sign-in attempt and the provider.
pub(crate) struct Expectations<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) nonce: &'a str,
    pub(crate) access_token: &'a str,
    /// Tolerated clock skew in seconds.
    pub(crate) leeway: u64,
    pub(crate) now: i64,
}

/// Reads the header and rejects algorithms outside the allowlist before any key is looked up.
pub(crate) fn allowed_header(raw: &str) -> Result<Header, IdTokenError> {
    // `alg: none` does not parse into `Algorithm`, so it fails here as malformed.
    let header = jsonwebtoken::decode_header(raw).map_err(|_| IdTokenError::Malformed)?;
    if !ALLOWED_ALGORITHMS.contains(&header.alg) {
        return Err(IdTokenError::DisallowedAlgorithm(format!(
            "{:?}",
            header.alg
        )));
    }
    Ok(header)
}

/// Verifies `raw`, signed with `alg`, against `key` and `expected`.
pub(crate) fn verify(
    raw: &str,
    alg: Algorithm,
    key: &VerificationKey,
    expected: &Expectations<'_>,
) -> Result<IdTokenClaims, IdTokenError> {
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[expected.issuer]);
    validation.set_audience(&[expected.client_id]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = expected.leeway;

    let claims = jsonwebtoken::decode::<IdTokenClaims>(raw, &key.key, &validation)
        .map_err(|error| match error.into_kind() {
            ErrorKind::InvalidSignature => IdTokenError::BadSignature,
            ErrorKind::ExpiredSignature => IdTokenError::Expired,
            ErrorKind::ImmatureSignature => IdTokenError::NotYetValid,
            ErrorKind::InvalidIssuer => IdTokenError::WrongIssuer,
            ErrorKind::InvalidAudience => IdTokenError::WrongAudience,
            ErrorKind::MissingRequiredClaim(claim) => IdTokenError::MissingClaim(claim),
            ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
                IdTokenError::Malformed
            }
            ErrorKind::Json(error) => IdTokenError::InvalidClaims(error.to_string()),
            other => IdTokenError::InvalidClaims(format!("{other:?}")),
        })?
        .claims;

    if claims.iat > expected.now + i64::try_from(expected.leeway).unwrap_or(i64::MAX) {
        return Err(IdTokenError::IssuedInTheFuture);
    }
    // With several audiences, `azp` must name us (Core §3.1.3.7, items 4 and 5).
    if (claims.aud.len() > 1 || claims.azp.is_some())
        && claims.azp.as_deref() != Some(expected.client_id)
    {
        return Err(IdTokenError::WrongAuthorizedParty);
    }
    if claims.nonce.as_deref() != Some(expected.nonce) {
        return Err(IdTokenError::NonceMismatch);
    }
    if let Some(at_hash) = &claims.at_hash
        && *at_hash != access_token_hash(alg, expected.access_token)
    {
        return Err(IdTokenError::AtHashMismatch);
    }
    Ok(claims)
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
    use super::*;

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
    fn algorithms_outside_the_allowlist_are_rejected_from_the_header() {
        // {"alg":"HS256","typ":"JWT"} . {} . signature
        let hs256 = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.c2ln";
        assert_eq!(
            allowed_header(hs256).unwrap_err(),
            IdTokenError::DisallowedAlgorithm("HS256".to_owned())
        );
        // {"alg":"none"} . {} .
        let none = "eyJhbGciOiJub25lIn0.e30.";
        assert_eq!(allowed_header(none).unwrap_err(), IdTokenError::Malformed);
        assert_eq!(
            allowed_header("not a jwt").unwrap_err(),
            IdTokenError::Malformed
        );
    }
}
