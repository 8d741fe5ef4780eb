//! Verification of every JWT Logto issues (ID, access and logout tokens) through one path:
//! the algorithm allowlist, the key by `kid` from the JWKS cache, the signature, then the
//! rules of each kind of token.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::LogtoClient;
use super::discovery_cache::Provider;
use crate::LogtoError;
use crate::access_token::{self, AccessTokenClaims};
use crate::api::{
    ApiClaims, ApiRequirement, BearerError, ORGANIZATION_AUDIENCE_PREFIX, Presented, read_bearer,
};
use crate::id_token::{self, IdTokenChecks, IdTokenClaims};
use crate::jwt::{self, Audience, Claims, Rules, TokenError};
use crate::logout_token::{LogoutTokenClaims, RawLogoutToken};

/// The kinds of JWT this client verifies; each failure is reported as its own error.
#[derive(Clone, Copy)]
enum TokenKind {
    Id,
    Access,
    Logout,
}

impl TokenKind {
    fn rejected(self, error: TokenError) -> LogtoError {
        match self {
            Self::Id => LogtoError::InvalidIdToken(error),
            Self::Access => LogtoError::InvalidAccessToken(error),
            Self::Logout => LogtoError::InvalidLogoutToken(error),
        }
    }
}

/// What a JWT must match besides the issuer, the clock and its signature.
struct JwtExpectations<'a> {
    kind: TokenKind,
    /// `None` when the caller checks `aud` itself.
    audience: Option<&'a str>,
    /// Registered claims that must be present.
    required: &'a [&'a str],
    /// When set, `sub` must equal it.
    subject: Option<&'a str>,
}

/// Why the ID token is left out of the end-session URL.
#[derive(Debug, thiserror::Error)]
pub(super) enum UnusableHint {
    #[error("the ID token's header is unusable")]
    Malformed(#[source] TokenError),
    #[error("Logto no longer publishes the key that signed the ID token (key id {kid})")]
    KeyDeleted { kid: String },
    #[error("Logto's keys cannot be checked now")]
    KeysUnavailable(#[source] LogtoError),
}

impl LogtoClient {
    /// Verifies a JWT access token issued for `resource` (a resource indicator, or
    /// `urn:logto:organization:<id>`, see [`TokenTarget::audience`](crate::TokenTarget::audience)): signature by `kid` from
    /// the cached JWKS, algorithm allowlist, `typ` `at+jwt`, `iss`, `aud` and `exp`.
    pub async fn verify_access_token(
        &self,
        raw: &str,
        resource: &str,
    ) -> Result<AccessTokenClaims, LogtoError> {
        let expected = JwtExpectations {
            kind: TokenKind::Access,
            audience: Some(resource),
            required: &["exp", "iss", "aud"],
            subject: None,
        };
        let (header, claims) = self.verify_jwt::<AccessTokenClaims>(raw, &expected).await?;
        access_token::check_type(header.typ.as_deref()).map_err(LogtoError::InvalidAccessToken)?;
        Ok(claims)
    }

    /// Verifies a back-channel logout token (OpenID Connect Back-Channel Logout 1.0 with
    /// errata 1, §2.6): signature and algorithm like an ID token, `iss`, `aud` (this app), an
    /// `exp` not past, an `iat` neither in the future nor older than [`LOGOUT_TOKEN_MAX_AGE`]
    /// (both with the clock leeway), an `events` object holding the back-channel logout event
    /// as an object, no `nonce`, a `jti`, and a `sid` and/or `sub`.
    ///
    /// Refusing a replayed `jti` is not done here: [`SessionGuard::backchannel_logout`]
    /// does it with a [`LogoutTokenLedger`], remembering it until [`LogoutTokenClaims::exp`].
    ///
    /// [`SessionGuard::backchannel_logout`]: crate::session::SessionGuard::backchannel_logout
    /// [`LogoutTokenLedger`]: crate::session::LogoutTokenLedger
    ///
    /// [`LOGOUT_TOKEN_MAX_AGE`]: crate::LOGOUT_TOKEN_MAX_AGE
    pub async fn verify_logout_token(&self, raw: &str) -> Result<LogoutTokenClaims, LogtoError> {
        let expected = JwtExpectations {
            kind: TokenKind::Logout,
            audience: Some(&self.config.app_id),
            required: &["exp", "iss", "aud"],
            subject: None,
        };
        let (_, claims) = self.verify_jwt::<RawLogoutToken>(raw, &expected).await?;
        claims
            .check(self.now(), self.config.clock_leeway.as_secs())
            .map_err(LogtoError::InvalidLogoutToken)
    }

    /// `Ok` when Logto can still validate `hint`: the key named in its header is published.
    pub(super) async fn check_id_token_hint(
        &self,
        provider: &Provider,
        hint: &str,
    ) -> Result<(), UnusableHint> {
        let header = jwt::allowed_header(hint).map_err(UnusableHint::Malformed)?;
        let published = self
            .jwks
            .find_published(
                &self.http,
                &provider.metadata.jwks_uri,
                header.kid.as_deref(),
                header.alg,
            )
            .await
            .map_err(UnusableHint::KeysUnavailable)?;
        match published {
            Some(_) => Ok(()),
            None => Err(UnusableHint::KeyDeleted {
                kid: header.kid.unwrap_or_else(|| "none".to_owned()),
            }),
        }
    }

    /// Verifies an ID token from the token endpoint, at sign-in or after a refresh.
    pub(super) async fn verify_id_token(
        &self,
        raw: &str,
        checks: &IdTokenChecks<'_>,
        subject: Option<&str>,
    ) -> Result<IdTokenClaims, LogtoError> {
        let expected = JwtExpectations {
            kind: TokenKind::Id,
            audience: Some(&self.config.app_id),
            required: &["exp", "iss", "aud", "sub"],
            subject,
        };
        let (header, claims) = self.verify_jwt::<IdTokenClaims>(raw, &expected).await?;
        id_token::check(&claims, header.alg, checks).map_err(LogtoError::InvalidIdToken)?;
        Ok(claims)
    }

    /// The one path every JWT takes: the algorithm allowlist, the key by `kid` from the JWKS
    /// cache, then the signature and the shared rules. Returns the header too, for the checks
    /// of each kind of token.
    async fn verify_jwt<T: Claims>(
        &self,
        raw: &str,
        expected: &JwtExpectations<'_>,
    ) -> Result<(jsonwebtoken::Header, T), LogtoError> {
        let rejected = |error| expected.kind.rejected(error);
        let header = jwt::allowed_header(raw).map_err(rejected)?;
        let provider = self.provider().await?;
        let key = self
            .jwks
            .find(
                &self.http,
                &provider.metadata.jwks_uri,
                header.kid.as_deref(),
                header.alg,
            )
            .await?
            .ok_or_else(|| {
                rejected(TokenError::UnknownKey {
                    kid: header.kid.clone(),
                })
            })?;
        let rules = Rules {
            issuer: &self.issuer,
            audience: expected.audience,
            required: expected.required,
            subject: expected.subject,
            leeway: self.config.clock_leeway.as_secs(),
            now: self.now(),
        };
        let claims = jwt::decode(raw, header.alg, &key, &rules).map_err(rejected)?;
        Ok((header, claims))
    }
}

/// The claims of an API access token as Logto writes them (RFC 9068), before the guard's
/// route checks (`aud`, scopes); cached once verified.
#[derive(serde::Deserialize)]
pub(super) struct RawApiToken {
    sub: String,
    aud: Audience,
    exp: i64,
    iat: Option<i64>,
    scope: Option<String>,
    client_id: Option<String>,
    organization_id: Option<String>,
    jti: Option<String>,
}

impl Claims for RawApiToken {
    fn issued_at(&self) -> Option<i64> {
        self.iat
    }

    fn expires_at(&self) -> Option<i64> {
        Some(self.exp)
    }
}

impl LogtoClient {
    /// Guards an API route: reads the bearer token from the raw `Authorization` header value
    /// (`None` when the request has none) and verifies it against `requirement`, the way
    /// [`verify_access_token`](Self::verify_access_token) does (signature by `kid` from the
    /// cached JWKS, the algorithm allowlist, `typ` `at+jwt`, `iss`, `exp` and `nbf` with the
    /// clock leeway), then `aud` and the required scopes.
    ///
    /// The error says what to answer (RFC 6750): 401 for a missing, malformed, opaque or
    /// invalid token, 403 for a genuine token that lacks a scope or belongs to another
    /// organization, 503 when Logto's keys cannot be loaded; see [`BearerError`]. Nothing is
    /// logged, and the token is never part of an error.
    pub async fn authorize_bearer(
        &self,
        authorization: Option<&str>,
        requirement: &ApiRequirement,
    ) -> Result<ApiClaims, BearerError> {
        let raw = match read_bearer(authorization)? {
            Presented::Jwt(raw) => raw,
            Presented::Opaque => {
                return Err(BearerError::Opaque {
                    organization: requirement.organization_id().is_some(),
                    audience: requirement.audience().to_owned(),
                });
            }
        };
        let invalid = |reason| BearerError::Invalid {
            reason,
            audience: requirement.audience().to_owned(),
        };
        let token = self
            .verified_api_token(raw)
            .await
            .map_err(|error| match error {
                LogtoError::InvalidAccessToken(reason) => invalid(reason),
                other => BearerError::CannotVerify(other),
            })?;

        // The route's own checks, on every request: a token cached for one route proves
        // nothing about another's audience or scopes.
        if !token.aud.contains(requirement.audience()) {
            let another_organization = requirement.organization_id().is_some()
                && audiences(&token.aud)
                    .iter()
                    .any(|audience| audience.starts_with(ORGANIZATION_AUDIENCE_PREFIX));
            return Err(if another_organization {
                BearerError::OtherOrganization {
                    required: requirement.scopes().to_vec(),
                }
            } else {
                invalid(TokenError::WrongAudience)
            });
        }

        let scopes: BTreeSet<String> = token
            .scope
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let missing: Vec<String> = requirement
            .scopes()
            .iter()
            .filter(|scope| !scopes.contains(scope.as_str()))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(BearerError::InsufficientScope {
                required: requirement.scopes().to_vec(),
                missing,
            });
        }
        Ok(ApiClaims {
            organization_id: requirement
                .organization_id()
                .map(str::to_owned)
                .or_else(|| token.organization_id.clone()),
            audience: requirement.audience().to_owned(),
            sub: token.sub.clone(),
            client_id: token.client_id.clone(),
            scopes,
            expires_at: token.exp,
            issued_at: token.iat,
            jti: token.jti.clone(),
        })
    }
}

impl LogtoClient {
    /// The claims of `raw` once it passed every check that does not depend on the route
    /// (signature, algorithm allowlist, `typ`, `iss`, `exp`/`nbf`): from the cache of verified
    /// tokens while `now < exp`, else verified and then cached. Failures are not cached.
    async fn verified_api_token(&self, raw: &str) -> Result<Arc<RawApiToken>, LogtoError> {
        if let Some(cached) = self.verified_tokens.get(raw, self.now()) {
            return Ok(cached);
        }
        let expected = JwtExpectations {
            kind: TokenKind::Access,
            // Checked by the route, to tell another organization's token from a foreign one.
            audience: None,
            required: &["exp", "iss", "aud", "sub"],
            subject: None,
        };
        let (header, token) = self.verify_jwt::<RawApiToken>(raw, &expected).await?;
        access_token::check_type(header.typ.as_deref()).map_err(LogtoError::InvalidAccessToken)?;
        let token = Arc::new(token);
        self.verified_tokens
            .insert(raw, Arc::clone(&token), token.exp, self.now());
        Ok(token)
    }
}

fn audiences(audience: &Audience) -> &[String] {
    match audience {
        Audience::One(one) => std::slice::from_ref(one),
        Audience::Many(many) => many,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};

    use secrecy::SecretString;
    use test_support::idp::{
        AccessTokenSpec, BOOKSTORE_API, Misbehaviour, RegisteredClient, TestIdp,
    };
    use url::Url;

    use super::*;
    use crate::time::unix_now;
    use crate::{DEFAULT_VERIFIED_TOKEN_CAPACITY, LogtoConfig};

    const APP: &str = "http://localhost:8000";

    async fn idp_and_api(verified_token_capacity: usize) -> (TestIdp, LogtoClient) {
        let idp = TestIdp::start(RegisteredClient {
            client_id: "bookstore-test".to_owned(),
            client_secret: "bookstore-test-secret".to_owned(),
            redirect_uri: format!("{APP}/callback"),
            post_logout_redirect_uri: format!("{APP}/"),
        })
        .await;
        let config = LogtoConfig::new(
            Url::parse(&idp.endpoint()).unwrap(),
            "bookstore-test".to_owned(),
            SecretString::from("bookstore-test-secret"),
            Url::parse(&format!("{APP}/callback")).unwrap(),
            Url::parse(&format!("{APP}/")).unwrap(),
        );
        let api = LogtoClient::builder(config)
            .verified_token_cache(verified_token_capacity)
            .build()
            .unwrap();
        (idp, api)
    }

    fn books() -> ApiRequirement {
        ApiRequirement::resource(BOOKSTORE_API).with_scopes(["read:books"])
    }

    fn readers_token(idp: &TestIdp, lifetime_secs: i64) -> String {
        let spec = AccessTokenSpec {
            lifetime_secs,
            ..AccessTokenSpec::user("user_alice", BOOKSTORE_API).with_scope("read:books")
        };
        format!("Bearer {}", idp.access_token(&spec))
    }

    /// How far this module's clock runs ahead of the real one.
    static CLOCK_AHEAD: AtomicI64 = AtomicI64::new(0);

    fn clock_ahead() -> i64 {
        unix_now() + CLOCK_AHEAD.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn a_cached_token_is_refused_once_it_has_expired() {
        let (idp, mut api) = idp_and_api(DEFAULT_VERIFIED_TOKEN_CAPACITY).await;
        api.clock = clock_ahead;
        let leeway = api.clock_leeway().as_secs() as i64;
        let token = readers_token(&idp, 120);
        api.authorize_bearer(Some(&token), &books()).await.unwrap();
        assert_eq!(api.verified_tokens.len(), 1, "verified, and now cached");

        // Past `exp` but within the leeway: verified again (and accepted), not served cached.
        CLOCK_AHEAD.store(121, Ordering::SeqCst);
        api.authorize_bearer(Some(&token), &books()).await.unwrap();
        assert_eq!(api.verified_tokens.len(), 0, "not cached past its exp");

        CLOCK_AHEAD.store(120 + leeway + 2, Ordering::SeqCst);
        let error = api
            .authorize_bearer(Some(&token), &books())
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                BearerError::Invalid {
                    reason: TokenError::Expired,
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn many_distinct_tokens_stay_within_the_bound() {
        let (idp, api) = idp_and_api(4).await;
        for n in 0..20 {
            let token = readers_token(&idp, 600 + n);
            api.authorize_bearer(Some(&token), &books()).await.unwrap();
            assert!(api.verified_tokens.len() <= 4);
        }
        assert_eq!(api.verified_tokens.len(), 4);
    }

    #[tokio::test]
    async fn refused_tokens_are_not_cached() {
        let (idp, api) = idp_and_api(DEFAULT_VERIFIED_TOKEN_CAPACITY).await;
        let forged = |misbehaviour| {
            let spec = AccessTokenSpec::user("user_alice", BOOKSTORE_API)
                .with_scope("read:books")
                .forged(misbehaviour);
            format!("Bearer {}", idp.access_token(&spec))
        };
        for token in [
            forged(Misbehaviour::WrongSignature),
            forged(Misbehaviour::WrongIssuer),
            readers_token(&idp, -3600),
        ] {
            for _ in 0..2 {
                let error = api
                    .authorize_bearer(Some(&token), &books())
                    .await
                    .unwrap_err();
                assert_eq!(error.status(), 401, "{error:?}");
            }
        }
        assert_eq!(api.verified_tokens.len(), 0);
    }
}
