//! The verification core shared by every JWT Logto issues: ID tokens, JWT access tokens and
//! back-channel logout tokens.
//!
//! `jsonwebtoken` checks the signature, `exp`, `nbf`, `iss`, `aud` and `sub`; this module adds
//! the algorithm allowlist (before any key is looked up) and the `iat` check. What is specific
//! to one kind of token lives in its own module.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::jwks::VerificationKey;

/// The signature algorithms Logto may use and this client verifies. Logto signs ES384 by
/// default and RS256 on older tenants. Logto also allows ES512, but no well-kept Rust JWT
/// crate verifies P-521 yet, so such a token is rejected as a disallowed algorithm.
pub const ALLOWED_ALGORITHMS: [Algorithm; 4] = [
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// Why a token (ID token, access token or logout token) was rejected. Messages never quote the
/// token. New reasons may be added in a minor release: match with a wildcard arm.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    #[error("it is not a well-formed JWT")]
    /// It is not three base64url parts with a JSON header and claims.
    Malformed,
    #[error("it is signed with {0}, which is not allowed")]
    /// Its `alg` is not among [`ALLOWED_ALGORITHMS`](crate::ALLOWED_ALGORITHMS).
    DisallowedAlgorithm(String),
    #[error("no signing key matches its key id {kid:?}")]
    /// Logto publishes no key with its `kid` (after fetching the JWKS again).
    UnknownKey {
        /// The token's `kid`, if it has one.
        kid: Option<String>,
    },
    #[error("its signature does not verify")]
    /// The signature does not match the key.
    BadSignature,
    #[error("it has expired")]
    /// `exp` is past, beyond the clock leeway.
    Expired,
    #[error("it is not valid yet")]
    /// `nbf` is in the future, beyond the clock leeway.
    NotYetValid,
    #[error("it was issued in the future")]
    /// `iat` is in the future, beyond the clock leeway.
    IssuedInTheFuture,
    #[error("its issuer is not Logto's")]
    /// `iss` is not Logto's issuer.
    WrongIssuer,
    #[error("its audience is not the expected one")]
    /// `aud` does not name the expected audience.
    WrongAudience,
    #[error("its subject is not the signed-in user")]
    /// `sub` is not the signed-in user's.
    SubjectMismatch,
    #[error("its authorized party is not this app")]
    /// `azp` names another application.
    WrongAuthorizedParty,
    #[error("its nonce does not match the sign-in attempt")]
    /// `nonce` is not the sign-in attempt's.
    NonceMismatch,
    #[error("its at_hash does not match the access token")]
    /// `at_hash` does not match the access token issued with it.
    AtHashMismatch,
    /// An access token whose header `typ` is not `at+jwt` (RFC 9068 §4).
    #[error("its type {0:?} is not at+jwt")]
    WrongType(Option<String>),
    /// A logout token without the back-channel logout event, or whose event is not a JSON
    /// object.
    #[error("it is not a logout token (no back-channel logout event object)")]
    NotALogoutToken,
    /// A logout token issued longer ago than
    /// [`LOGOUT_TOKEN_MAX_AGE`](super::LOGOUT_TOKEN_MAX_AGE) and the clock leeway.
    #[error("it was issued too long ago")]
    IssuedTooLongAgo,
    /// A logout token with a `nonce`, which OIDC Back-Channel Logout §2.4 forbids.
    #[error("it carries a nonce, which a logout token must not")]
    UnexpectedNonce,
    #[error("the claim {0} is missing")]
    /// A required claim (named) is missing.
    MissingClaim(String),
    #[error("its claims are invalid ({0})")]
    /// The claims do not have the expected shape (the reason, never a claim's value).
    InvalidClaims(String),
}

/// The `aud` claim: one audience or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience, as a string.
    One(String),
    /// Several audiences, as an array.
    Many(Vec<String>),
}

impl Audience {
    /// How many audiences the claim names.
    pub fn len(&self) -> usize {
        match self {
            Self::One(_) => 1,
            Self::Many(audiences) => audiences.len(),
        }
    }

    /// Whether the claim names no audience at all (an empty array).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `audience` is one of the audiences.
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Self::One(one) => one == audience,
            Self::Many(audiences) => audiences.iter().any(|one| one == audience),
        }
    }
}

/// Claims types the core can decode: they must say when they were issued.
pub(crate) trait Claims: DeserializeOwned {
    /// The `iat` claim, when the token has one.
    fn issued_at(&self) -> Option<i64>;

    /// The `exp` claim, for types whose expiry is also checked against [`Rules::now`] (the
    /// client's clock, which tests can move; `jsonwebtoken` reads the system clock).
    fn expires_at(&self) -> Option<i64> {
        None
    }
}

/// The checks every kind of token gets; the caller fills in what differs.
pub(crate) struct Rules<'a> {
    pub(crate) issuer: &'a str,
    /// `aud` must contain it; `None` when the caller checks `aud` itself.
    pub(crate) audience: Option<&'a str>,
    /// Registered claims that must be present (among `exp`, `iss`, `aud`, `sub`, `nbf`).
    /// `exp` and `nbf` are checked whenever present, required or not.
    pub(crate) required: &'a [&'a str],
    /// When set, `sub` must equal it.
    pub(crate) subject: Option<&'a str>,
    /// Tolerated clock skew in seconds.
    pub(crate) leeway: u64,
    /// Unix seconds.
    pub(crate) now: i64,
}

/// Reads the header and rejects algorithms outside the allowlist before any key is looked up.
pub(crate) fn allowed_header(raw: &str) -> Result<Header, TokenError> {
    // `alg: none` does not parse into `Algorithm`, so it fails here as malformed.
    let header = jsonwebtoken::decode_header(raw).map_err(|_| TokenError::Malformed)?;
    if !ALLOWED_ALGORITHMS.contains(&header.alg) {
        return Err(TokenError::DisallowedAlgorithm(format!("{:?}", header.alg)));
    }
    Ok(header)
}

/// Verifies the signature of `raw` (made with `alg`, checked by [`allowed_header`]) against
/// `key`, then the [`Rules`], and returns its claims.
pub(crate) fn decode<T: Claims>(
    raw: &str,
    alg: Algorithm,
    key: &VerificationKey,
    rules: &Rules<'_>,
) -> Result<T, TokenError> {
    // The key's own algorithm binding is checked by the JWKS lookup; `Validation::new` pins the
    // header's `alg`, so a token cannot switch algorithm families (the HS256 key confusion).
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[rules.issuer]);
    match rules.audience {
        Some(audience) => validation.set_audience(&[audience]),
        None => validation.validate_aud = false,
    }
    validation.set_required_spec_claims(rules.required);
    validation.sub = rules.subject.map(str::to_owned);
    validation.validate_nbf = true;
    validation.leeway = rules.leeway;

    let claims = jsonwebtoken::decode::<T>(raw, &key.key, &validation)
        .map_err(|error| match error.into_kind() {
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            ErrorKind::ExpiredSignature => TokenError::Expired,
            ErrorKind::ImmatureSignature => TokenError::NotYetValid,
            ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
            ErrorKind::InvalidAudience => TokenError::WrongAudience,
            ErrorKind::InvalidSubject => TokenError::SubjectMismatch,
            ErrorKind::MissingRequiredClaim(claim) => TokenError::MissingClaim(claim),
            ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
                TokenError::Malformed
            }
            ErrorKind::Json(error) => TokenError::InvalidClaims(error.to_string()),
            other => TokenError::InvalidClaims(format!("{other:?}")),
        })?
        .claims;

    let leeway = i64::try_from(rules.leeway).unwrap_or(i64::MAX);
    if claims
        .expires_at()
        .is_some_and(|exp| exp.saturating_add(leeway) < rules.now)
    {
        return Err(TokenError::Expired);
    }
    if claims
        .issued_at()
        .is_some_and(|iat| iat > rules.now.saturating_add(leeway))
    {
        return Err(TokenError::IssuedInTheFuture);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithms_outside_the_allowlist_are_rejected_from_the_header() {
        // {"alg":"HS256","typ":"JWT"} . {} . signature
        let hs256 = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.c2ln";
        assert_eq!(
            allowed_header(hs256).unwrap_err(),
            TokenError::DisallowedAlgorithm("HS256".to_owned())
        );
        // {"alg":"none"} . {} .
        let none = "eyJhbGciOiJub25lIn0.e30.";
        assert_eq!(allowed_header(none).unwrap_err(), TokenError::Malformed);
        assert_eq!(
            allowed_header("not a jwt").unwrap_err(),
            TokenError::Malformed
        );
    }

    #[test]
    fn audiences_are_matched_exactly() {
        let one = Audience::One("app".into());
        assert!(one.contains("app") && !one.contains("ap"));
        let many = Audience::Many(vec!["a".into(), "b".into()]);
        assert_eq!(many.len(), 2);
        assert!(many.contains("b") && !many.contains("c"));
        assert!(Audience::Many(Vec::new()).is_empty());
    }
}
