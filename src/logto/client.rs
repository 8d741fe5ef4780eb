//! [`LogtoClient`]: the sign-in flow from the authorization URL to verified tokens, and what a
//! signed-in session needs afterwards: refresh, userinfo, revocation, and verification of
//! access and logout tokens.

use std::pin::Pin;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AsyncHttpClient, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, ExtraTokenFields, HttpClientError, HttpRequest, HttpResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope, StandardRevocableToken,
    StandardTokenResponse, TokenResponse, TokenUrl,
};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use super::LogtoError;
use super::access_token::{self, AccessTokenClaims};
use super::discovery::{ProviderMetadata, fetch_document};
use super::error::error_chain;
use super::health::{Backoff, LogtoHealth, ProviderHealth};
use super::id_token::{self, IdTokenChecks, IdTokenClaims};
use super::jwks::JwksCache;
use super::jwt::{self, Claims, Rules, TokenError};
use super::logout_token::{LogoutTokenClaims, RawLogoutToken};
use super::options::SignInOptions;
use super::types::{
    CallbackParams, ORGANIZATIONS_RESOURCE, ORGANIZATIONS_SCOPE, PendingSignIn, Refreshed,
    SignInStart, SignedIn, TokenSet, TokenTarget,
};

/// How to reach Logto and which application to sign in as.
#[derive(Debug, Clone)]
pub struct LogtoConfig {
    /// Logto's endpoint without `/oidc`, for example `http://localhost:3001/`: what browsers
    /// are sent to, and the base of the issuer.
    pub endpoint: Url,
    /// Where this server reaches Logto when that differs from [`endpoint`](Self::endpoint),
    /// as inside Docker Compose (`http://logto:3001/`). Discovery, JWKS, token, userinfo and
    /// revocation requests go there; the issuer and browser redirects keep `endpoint`.
    pub internal_endpoint: Option<Url>,
    pub app_id: String,
    pub app_secret: SecretString,
    /// Registered in Logto as the app's redirect URI.
    pub redirect_uri: Url,
    /// Registered in Logto as the app's post sign-out redirect URI.
    pub post_sign_out_redirect_uri: Url,
    /// Sent as `scope`, in this order.
    pub scopes: Vec<String>,
    /// Sent as `prompt` when set (`consent` makes Logto issue a refresh token).
    pub prompt: Option<String>,
    /// API resource indicators, each sent as a `resource` parameter at sign-in. Their JWT
    /// access tokens come from [`LogtoClient::refresh`] with [`TokenTarget::Resource`]; the
    /// code exchange itself still yields the opaque userinfo token. With
    /// [`ORGANIZATIONS_SCOPE`] among the scopes, [`ORGANIZATIONS_RESOURCE`] is sent too
    /// ([`sign_in_resources`](Self::sign_in_resources)).
    pub resources: Vec<String>,
    /// Limit for every request to Logto, connection included (default 5 s).
    pub http_timeout: Duration,
    /// How long a connection to Logto may sit unused and still be reused (default 4 s).
    /// Logto runs on Node.js, whose HTTP server closes a keep-alive connection after 5 s
    /// idle: a request sent on it just as it closes is reset, and a token request cannot be
    /// sent again (its code or refresh token may have been used). Keeping idle connections for
    /// less than the server does, as Node's own `fetch` does, avoids that race.
    pub idle_connection_timeout: Duration,
    /// How long a sign-in attempt stays valid between `/sign-in` and the callback.
    pub sign_in_lifetime: Duration,
    /// The JWKS is fetched again for an unknown `kid` at most this often.
    pub jwks_min_refetch_interval: Duration,
    /// How long to leave Logto alone after a failed request for its discovery document, its
    /// JWKS or its token endpoint (no answer, a 5xx or `server_error`; not a refusal): 1 s,
    /// doubling with each failure in a row up to 60 s. Requests that need Logto meanwhile fail
    /// at once with [`LogtoError::ProviderBackingOff`].
    pub provider_backoff: Backoff,
    /// Tolerated clock skew when checking `exp`, `nbf` and `iat`.
    pub clock_leeway: Duration,
}

impl LogtoConfig {
    /// A configuration with the defaults for timeouts, lifetimes and leeway.
    pub fn new(
        endpoint: Url,
        app_id: String,
        app_secret: SecretString,
        redirect_uri: Url,
        post_sign_out_redirect_uri: Url,
    ) -> Self {
        Self {
            endpoint,
            internal_endpoint: None,
            app_id,
            app_secret,
            redirect_uri,
            post_sign_out_redirect_uri,
            scopes: vec!["openid".into(), "offline_access".into(), "profile".into()],
            prompt: Some("consent".into()),
            resources: Vec::new(),
            http_timeout: Duration::from_secs(5),
            idle_connection_timeout: Duration::from_secs(4),
            sign_in_lifetime: Duration::from_secs(10 * 60),
            jwks_min_refetch_interval: Duration::from_secs(5),
            provider_backoff: Backoff::default(),
            clock_leeway: Duration::from_secs(60),
        }
    }

    /// `{endpoint}/oidc`, the issuer Logto puts in its tokens.
    pub fn issuer(&self) -> String {
        format!("{}oidc", self.endpoint)
    }

    /// The `resource` parameters of the authorization request: [`resources`](Self::resources),
    /// then [`ORGANIZATIONS_RESOURCE`] when [`ORGANIZATIONS_SCOPE`] is requested and the
    /// resource is not configured already. Like Logto's own SDKs: without that resource,
    /// Logto issues organization tokens with an empty scope.
    pub fn sign_in_resources(&self) -> Vec<&str> {
        let mut resources: Vec<&str> = self.resources.iter().map(String::as_str).collect();
        let wants_organizations = self.scopes.iter().any(|scope| scope == ORGANIZATIONS_SCOPE);
        if wants_organizations && !resources.contains(&ORGANIZATIONS_RESOURCE) {
            resources.push(ORGANIZATIONS_RESOURCE);
        }
        resources
    }
}

/// The `id_token` field of the token response, which `oauth2` does not know about.
#[derive(Clone, Deserialize, Serialize)]
pub struct IdTokenField {
    id_token: Option<String>,
}

impl std::fmt::Debug for IdTokenField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdTokenField([redacted])")
    }
}

impl ExtraTokenFields for IdTokenField {}

type LogtoTokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;

/// An `oauth2` client whose authorization and token endpoints are set (from discovery).
type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    LogtoTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

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
    audience: &'a str,
    /// Registered claims that must be present.
    required: &'a [&'a str],
    /// When set, `sub` must equal it.
    subject: Option<&'a str>,
}

/// Why the ID token is left out of the end-session URL.
#[derive(Debug, thiserror::Error)]
enum UnusableHint {
    #[error("the ID token's header is unusable")]
    Malformed(#[source] TokenError),
    #[error("Logto no longer publishes the key that signed the ID token (key id {kid})")]
    KeyDeleted { kid: String },
    #[error("Logto's keys cannot be checked now")]
    KeysUnavailable(#[source] LogtoError),
}

/// What discovery yields: the metadata, and an OAuth client built from it.
struct Provider {
    metadata: ProviderMetadata,
    oauth: OAuthClient,
}

/// What the token endpoint is called in errors and in the health record.
const TOKEN_ENDPOINT: &str = "token endpoint";

type HttpResult = Result<HttpResponse, HttpClientError<reqwest::Error>>;

/// The HTTP status of a token-endpoint answer; 0 until one arrives.
#[derive(Default)]
struct AnswerStatus(AtomicU16);

impl AnswerStatus {
    /// Whether a failed token request says that Logto is down rather than no: no answer, a
    /// 5xx, Logto's own `server_error` or `temporarily_unavailable`, or a 2xx that is not a
    /// token response. Never a 4xx otherwise: anyone can make a callback's code exchange end
    /// in one (a forged code, a front end that refuses it), and that must not hold back
    /// everyone else's sign-in.
    fn says_logto_is_down(&self, error: &LogtoError) -> bool {
        let status = self.0.load(Ordering::Relaxed);
        let server_failed = status >= 500;
        match error {
            LogtoError::TokenEndpointUnreachable(_) => true,
            LogtoError::TokenRejected { .. } => server_failed || error.is_token_endpoint_failure(),
            _ => status == 0 || server_failed || (200..300).contains(&status),
        }
    }

    /// A gateway's 502, 503 or 504 in front of Logto says that Logto is unreachable, whatever
    /// page came with it.
    fn unreachable_if_gateway_failed(&self, error: LogtoError) -> LogtoError {
        let status = self.0.load(Ordering::Relaxed);
        match error {
            LogtoError::InvalidTokenResponse(_) if (502..=504).contains(&status) => {
                LogtoError::TokenEndpointUnreachable(format!("Logto answered HTTP {status}"))
            }
            error => error,
        }
    }
}

/// A Logto client for one application. Cheap to share behind an `Arc`; all state is cached.
pub struct LogtoClient {
    config: LogtoConfig,
    issuer: String,
    http: reqwest::Client,
    provider: RwLock<Option<Arc<Provider>>>,
    /// Makes discovery single-flight: concurrent requests wait for one fetch.
    discovery: tokio::sync::Mutex<()>,
    jwks: JwksCache,
    /// Whether Logto's public documents can be fetched now; shared with `jwks`.
    health: Arc<ProviderHealth>,
}

impl LogtoClient {
    /// Builds the client. Nothing is fetched until [`prefetch`](Self::prefetch) or a sign-in.
    pub fn new(config: LogtoConfig) -> Result<Self, LogtoError> {
        let http = reqwest::Client::builder()
            // Never follow redirects from the IdP's API endpoints (SSRF, token leaks).
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.http_timeout)
            .timeout(config.http_timeout)
            .pool_idle_timeout(config.idle_connection_timeout)
            .user_agent(concat!("logto-bookstore/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(LogtoError::HttpClient)?;
        let health = Arc::new(ProviderHealth::new(config.provider_backoff));
        Ok(Self {
            issuer: config.issuer(),
            jwks: JwksCache::new(config.jwks_min_refetch_interval, Arc::clone(&health)),
            health,
            config,
            http,
            provider: RwLock::new(None),
            discovery: tokio::sync::Mutex::new(()),
        })
    }

    /// Logto's health as this client last saw it through its discovery document, JWKS and
    /// token endpoint:
    /// whether it is considered down, since when, and when it will be asked again. Reading it
    /// sends nothing to Logto.
    pub fn health(&self) -> LogtoHealth {
        self.health.report()
    }

    /// The issuer every token and callback must name.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// How long one request to Logto may take, connecting included.
    pub fn http_timeout(&self) -> std::time::Duration {
        self.config.http_timeout
    }

    /// How much clock skew token checks tolerate: a token stays acceptable this long past
    /// its `exp`.
    pub fn clock_leeway(&self) -> std::time::Duration {
        self.config.clock_leeway
    }

    /// Loads the discovery document and the JWKS, so that the first sign-in costs Logto only
    /// its token request. Call it at start-up; after a failure, the next sign-in retries once
    /// the [backoff](LogtoConfig::provider_backoff) has passed.
    pub async fn prefetch(&self) -> Result<(), LogtoError> {
        self.provider().await.map(drop)
    }

    /// Starts a sign-in: the URL to send the browser to, and the attempt to keep in the session.
    /// `options` are sent as Logto's extra parameters, and each of
    /// [`LogtoConfig::sign_in_resources`] as a `resource` parameter.
    pub async fn start_sign_in(&self, options: &SignInOptions) -> Result<SignInStart, LogtoError> {
        let provider = self.reachable_provider().await?;
        let (pkce_challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = CsrfToken::new_random();

        let mut request = provider
            .oauth
            .authorize_url(CsrfToken::new_random)
            .add_scopes(self.config.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(pkce_challenge)
            .add_extra_param("nonce", nonce.secret());
        if let Some(prompt) = &self.config.prompt {
            request = request.add_extra_param("prompt", prompt);
        }
        for resource in self.config.sign_in_resources() {
            request = request.add_extra_param("resource", resource);
        }
        for (name, value) in options.to_params() {
            request = request.add_extra_param(name, value);
        }
        let (url, state) = request.url();

        Ok(SignInStart {
            url,
            pending: PendingSignIn {
                state: state.into_secret(),
                code_verifier: pkce_verifier.into_secret(),
                nonce: nonce.into_secret(),
                started_at: unix_now(),
            },
        })
    }

    /// Finishes a sign-in from the callback's query: checks it against the attempt, exchanges
    /// the code and verifies the ID token. The caller has found `pending` by `params.state`.
    pub async fn finish_sign_in(
        &self,
        pending: &PendingSignIn,
        params: &CallbackParams,
    ) -> Result<SignedIn, LogtoError> {
        if pending.is_expired(self.config.sign_in_lifetime, unix_now()) {
            return Err(LogtoError::SignInExpired);
        }
        if let Some(error) = &params.error {
            return Err(LogtoError::AuthorizationDenied {
                error: error.clone(),
                description: params.error_description.clone(),
            });
        }
        let code = params.code.as_deref().ok_or(LogtoError::MissingCode)?;
        let provider = self.provider().await?;
        self.check_response_issuer(&provider.metadata, params.iss.as_deref())?;

        self.health.allow_request(TOKEN_ENDPOINT)?;
        let status = AnswerStatus::default();
        let response = provider
            .oauth
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.code_verifier.clone()))
            .request_async(&self.noting_status(&status))
            .await
            .map_err(|error| status.unreachable_if_gateway_failed(token_request_error(error)));
        let response = self
            .health
            .record_outcome(response, |error| status.says_logto_is_down(error))?;
        let issued_at_ms = unix_now_ms();

        let id_token = response
            .extra_fields()
            .id_token
            .clone()
            .ok_or_else(|| LogtoError::InvalidTokenResponse("it has no id_token".to_owned()))?;
        let access_token = response.access_token().secret().clone();
        let expected = IdTokenChecks {
            client_id: &self.config.app_id,
            nonce: Some(&pending.nonce),
            access_token: &access_token,
        };
        let claims = self.verify_id_token(&id_token, &expected, None).await?;

        let tokens = TokenSet {
            id_token,
            access_token_expires_at: expires_at(&response, issued_at_ms),
            access_token_issued_at_ms: Some(issued_at_ms),
            refresh_token: response.refresh_token().map(|token| token.secret().clone()),
            scope: granted_scope(&response),
            access_token,
        };
        Ok(SignedIn { claims, tokens })
    }

    /// Uses a refresh token (the refresh-token grant, `client_secret_basic`). `target` selects
    /// what the new access token is for. Any ID token that comes back is verified like the
    /// sign-in's, except for `nonce`, and its `sub` must be `expected_sub`.
    ///
    /// Logto may rotate the refresh token: a Traditional web app's once 70 % of its 14-day
    /// lifetime has passed (about day 10), then on every use; a public client's on every use.
    /// So store [`Refreshed::refresh_token`] before anything else can use the old one, and
    /// never run two refreshes of one token at once, since a rotated-away token used again
    /// revokes the whole grant ([`LogtoError::is_invalid_grant`]). When the grant succeeds but
    /// its ID token does not verify, the refresh token to use next comes with the error
    /// ([`LogtoError::RefreshedIdTokenRejected`]): store it all the same.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        target: &TokenTarget,
        expected_sub: &str,
    ) -> Result<Refreshed, LogtoError> {
        let provider = self.provider().await?;
        let spent = RefreshToken::new(refresh_token.to_owned());
        let request = provider.oauth.exchange_refresh_token(&spent);
        let request = match target {
            TokenTarget::UserInfo => request,
            TokenTarget::Resource(resource) => request.add_extra_param("resource", resource),
            TokenTarget::Organization(id) => request.add_extra_param("organization_id", id),
        };
        self.health.allow_request(TOKEN_ENDPOINT)?;
        let status = AnswerStatus::default();
        let response = request
            .request_async(&self.noting_status(&status))
            .await
            .map_err(|error| status.unreachable_if_gateway_failed(token_request_error(error)));
        let response = self
            .health
            .record_outcome(response, |error| status.says_logto_is_down(error))?;
        let issued_at_ms = unix_now_ms();

        let access_token = response.access_token().secret().clone();
        let refresh_token = response.refresh_token().unwrap_or(&spent).secret().clone();
        let id_token = response.extra_fields().id_token.clone();
        let claims = match &id_token {
            Some(raw) => {
                let expected = IdTokenChecks {
                    client_id: &self.config.app_id,
                    nonce: None,
                    access_token: &access_token,
                };
                let verified = self.verify_id_token(raw, &expected, Some(expected_sub));
                Some(verified.await.map_err(|reason| {
                    // Logto may have rotated the refresh token already: hand it on with the error.
                    LogtoError::RefreshedIdTokenRejected {
                        rotated_refresh_token: SecretString::from(refresh_token.clone()),
                        reason: Box::new(reason),
                    }
                })?)
            }
            None => None,
        };
        Ok(Refreshed {
            expires_at: expires_at(&response, issued_at_ms),
            issued_at_ms,
            refresh_token,
            scope: granted_scope(&response),
            access_token,
            id_token,
            claims,
        })
    }

    /// Fetches `/oidc/me` with an opaque access token ([`TokenTarget::UserInfo`]): every claim
    /// the granted scopes allow, `custom_data` and `identities` included. Its `sub` must be
    /// `expected_sub`, the signed-in user's from the ID token (OpenID Connect Core §5.3.2);
    /// otherwise the answer is refused with [`LogtoError::UserInfoSubjectMismatch`].
    pub async fn userinfo(
        &self,
        access_token: &str,
        expected_sub: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, LogtoError> {
        const DOCUMENT: &str = "userinfo";
        let provider = self.provider().await?;
        let endpoint = provider.metadata.userinfo_endpoint.clone().ok_or_else(|| {
            LogtoError::InvalidProviderDocument {
                document: "discovery document",
                reason: "it has no userinfo_endpoint".to_owned(),
            }
        })?;
        let response = self
            .http
            .get(endpoint)
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(|source| LogtoError::ProviderUnreachable {
                document: DOCUMENT,
                source,
            })?;
        match response.status() {
            status if status.is_success() => {}
            StatusCode::UNAUTHORIZED => return Err(LogtoError::AccessTokenRejected),
            status => {
                return Err(LogtoError::ProviderStatus {
                    document: DOCUMENT,
                    status: status.as_u16(),
                });
            }
        }
        // The parser's message is left out: it can quote the user's claims.
        let claims: serde_json::Map<String, serde_json::Value> =
            response
                .json()
                .await
                .map_err(|_| LogtoError::InvalidProviderDocument {
                    document: DOCUMENT,
                    reason: "it is not a JSON object".to_owned(),
                })?;
        match claims.get("sub").and_then(serde_json::Value::as_str) {
            Some(sub) if sub == expected_sub => Ok(claims),
            Some(_) => Err(LogtoError::UserInfoSubjectMismatch),
            None => Err(LogtoError::InvalidProviderDocument {
                document: DOCUMENT,
                reason: "it has no sub".to_owned(),
            }),
        }
    }

    /// Revokes a refresh token at Logto's revocation endpoint (RFC 7009, `client_secret_basic`),
    /// which also revokes its grant. Logto answers success for an unknown or spent token too.
    pub async fn revoke_refresh_token(&self, refresh_token: &str) -> Result<(), LogtoError> {
        let provider = self.provider().await?;
        let endpoint = provider
            .metadata
            .revocation_endpoint
            .clone()
            .ok_or_else(|| LogtoError::InvalidProviderDocument {
                document: "discovery document",
                reason: "it has no revocation_endpoint".to_owned(),
            })?;
        // Sent with reqwest rather than `oauth2`, which refuses plain-HTTP revocation endpoints
        // and so a local Logto.
        let response = self
            .http
            .post(endpoint)
            .header(reqwest::header::AUTHORIZATION, self.client_secret_basic())
            .form(&[
                ("token", refresh_token),
                ("token_type_hint", "refresh_token"),
            ])
            .send()
            .await
            .map_err(|error| LogtoError::Revocation(error_chain(&error)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // Only the OAuth error code is kept: the rest of the body is not ours to log.
        let reason = match response.json::<OAuthError>().await {
            Ok(body) => format!("Logto answered HTTP {} {}", status.as_u16(), body.error),
            Err(_) => format!("Logto answered HTTP {}", status.as_u16()),
        };
        Err(LogtoError::Revocation(reason))
    }

    /// Verifies a JWT access token issued for `resource` (a resource indicator, or
    /// `urn:logto:organization:<id>`, see [`TokenTarget::audience`]): signature by `kid` from
    /// the cached JWKS, algorithm allowlist, `typ` `at+jwt`, `iss`, `aud` and `exp`.
    pub async fn verify_access_token(
        &self,
        raw: &str,
        resource: &str,
    ) -> Result<AccessTokenClaims, LogtoError> {
        let expected = JwtExpectations {
            kind: TokenKind::Access,
            audience: resource,
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
    /// Refusing a replayed `jti` is up to the caller: remember it until
    /// [`LogoutTokenClaims::exp`].
    ///
    /// [`LOGOUT_TOKEN_MAX_AGE`]: super::LOGOUT_TOKEN_MAX_AGE
    pub async fn verify_logout_token(&self, raw: &str) -> Result<LogoutTokenClaims, LogtoError> {
        let expected = JwtExpectations {
            kind: TokenKind::Logout,
            audience: &self.config.app_id,
            required: &["exp", "iss", "aud"],
            subject: None,
        };
        let (_, claims) = self.verify_jwt::<RawLogoutToken>(raw, &expected).await?;
        claims
            .check(unix_now(), self.config.clock_leeway.as_secs())
            .map_err(LogtoError::InvalidLogoutToken)
    }

    /// Logto's end-session URL, which ends the Logto session and returns to the app.
    ///
    /// `id_token_hint` (the ID token from sign-in) goes along only while Logto still publishes
    /// the key that signed it: Logto answers a hint it cannot validate with a bare 400
    /// `invalid_request`, which would strand the user there, while `client_id` alone is enough
    /// for it to end the session. Whether the key is still published is checked against the
    /// JWKS, fetched again unless that happened within
    /// [`jwks_min_refetch_interval`](LogtoConfig::jwks_min_refetch_interval); when Logto cannot
    /// be asked, the hint is left out too.
    pub async fn sign_out_url(&self, id_token_hint: Option<&str>) -> Result<Url, LogtoError> {
        let provider = self.provider().await?;
        let mut url = provider
            .metadata
            .end_session_endpoint
            .clone()
            .ok_or_else(|| LogtoError::InvalidProviderDocument {
                document: "discovery document",
                reason: "it has no end_session_endpoint".to_owned(),
            })?;
        let hint = match id_token_hint {
            Some(hint) => match self.check_id_token_hint(&provider, hint).await {
                Ok(()) => Some(hint),
                Err(reason) => {
                    log::info!(
                        "signing out without id_token_hint: {}",
                        error_chain(&reason)
                    );
                    None
                }
            },
            None => None,
        };
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("client_id", &self.config.app_id)
                .append_pair(
                    "post_logout_redirect_uri",
                    self.config.post_sign_out_redirect_uri.as_str(),
                );
            if let Some(hint) = hint {
                query.append_pair("id_token_hint", hint);
            }
        }
        Ok(url)
    }

    /// `Ok` when Logto can still validate `hint`: the key named in its header is published.
    async fn check_id_token_hint(
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

    /// The HTTP client for one token request, noting the answer's status in `status`: oauth2
    /// keeps it to itself, and Logto's health needs it to tell an outage from a refusal.
    fn noting_status<'a>(
        &'a self,
        status: &'a AnswerStatus,
    ) -> impl Fn(HttpRequest) -> Pin<Box<dyn Future<Output = HttpResult> + Send + 'a>> + 'a {
        move |request| {
            Box::pin(async move {
                let response = self.http.call(request).await?;
                status
                    .0
                    .store(response.status().as_u16(), Ordering::Relaxed);
                Ok(response)
            })
        }
    }

    /// RFC 9207: a provider that announces `iss` must send it, and it must be the issuer.
    fn check_response_issuer(
        &self,
        metadata: &ProviderMetadata,
        received: Option<&str>,
    ) -> Result<(), LogtoError> {
        let required = metadata.authorization_response_iss_parameter_supported;
        match received {
            Some(iss) if iss == self.issuer => Ok(()),
            None if !required => Ok(()),
            _ => Err(LogtoError::IssuerMismatch {
                expected: self.issuer.clone(),
                received: received.map(str::to_owned),
            }),
        }
    }

    /// The `Authorization` header of `client_secret_basic`. RFC 6749 §2.3.1 has id and secret
    /// form-encoded before base64, which reqwest's `basic_auth` does not do.
    fn client_secret_basic(&self) -> String {
        let encode = |value: &str| -> String {
            url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
        };
        let credentials = format!(
            "{}:{}",
            encode(&self.config.app_id),
            encode(self.config.app_secret.expose_secret())
        );
        format!("Basic {}", STANDARD.encode(credentials))
    }

    /// Verifies an ID token from the token endpoint, at sign-in or after a refresh.
    async fn verify_id_token(
        &self,
        raw: &str,
        checks: &IdTokenChecks<'_>,
        subject: Option<&str>,
    ) -> Result<IdTokenClaims, LogtoError> {
        let expected = JwtExpectations {
            kind: TokenKind::Id,
            audience: &self.config.app_id,
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
            now: unix_now(),
        };
        let claims = jwt::decode(raw, header.alg, &key, &rules).map_err(rejected)?;
        Ok((header, claims))
    }

    fn cached_provider(&self) -> Option<Arc<Provider>> {
        self.provider
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The cached provider, discovering it (and its keys) first when needed. While Logto is
    /// backing off after a failure, fails at once without asking it.
    async fn provider(&self) -> Result<Arc<Provider>, LogtoError> {
        self.provider_where(|_| true).await
    }

    /// The provider, for sending a browser to Logto. While Logto is marked down (a call to it
    /// failed), the discovery document is fetched again first, at most once per backoff:
    /// a visitor then gets the "unavailable" page rather than a dead end at Logto.
    async fn reachable_provider(&self) -> Result<Arc<Provider>, LogtoError> {
        self.provider_where(|_| !self.health.report().is_down())
            .await
    }

    /// The cached provider when `usable` says so, else discovered anew (single-flight,
    /// and not while Logto is being left alone after a failure).
    async fn provider_where(
        &self,
        usable: impl Fn(&Provider) -> bool,
    ) -> Result<Arc<Provider>, LogtoError> {
        if let Some(cached) = self.cached_provider().filter(|cached| usable(cached)) {
            return Ok(cached);
        }
        // Checked before waiting for the lock too, so that an outage costs requests no wait.
        self.health.allow_request(DISCOVERY_DOCUMENT)?;
        let _single_flight = self.discovery.lock().await;
        if let Some(cached) = self.cached_provider().filter(|cached| usable(cached)) {
            return Ok(cached);
        }
        // The request that held the lock may just have failed.
        self.health.allow_request(DISCOVERY_DOCUMENT)?;
        let provider = self.health.record(self.discover_with_keys().await)?;
        *self
            .provider
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Arc::clone(&provider));
        log::info!(
            "loaded Logto's discovery document and keys from {}",
            self.issuer
        );
        Ok(provider)
    }

    /// Discovery, then the JWKS: keys come with discovery so that a callback never waits for
    /// them.
    async fn discover_with_keys(&self) -> Result<Arc<Provider>, LogtoError> {
        let provider = Arc::new(self.discover().await?);
        self.jwks
            .refresh(&self.http, &provider.metadata.jwks_uri)
            .await?;
        Ok(provider)
    }

    async fn discover(&self) -> Result<Provider, LogtoError> {
        let reachable_at = self
            .config
            .internal_endpoint
            .as_ref()
            .unwrap_or(&self.config.endpoint);
        let url = format!("{reachable_at}oidc/.well-known/openid-configuration");
        let mut metadata: ProviderMetadata =
            fetch_document(&self.http, &url, DISCOVERY_DOCUMENT).await?;
        // OpenID Connect Discovery §4.3: the issuer must be the one we asked.
        if metadata.issuer != self.issuer {
            return Err(LogtoError::InvalidProviderDocument {
                document: DISCOVERY_DOCUMENT,
                reason: format!(
                    "its issuer is {:?}, not {:?}; check LOGTO_ENDPOINT",
                    metadata.issuer, self.issuer
                ),
            });
        }
        if let Some(internal) = &self.config.internal_endpoint {
            metadata.call_through(&self.config.endpoint, internal);
        }

        let oauth = oauth2::Client::new(ClientId::new(self.config.app_id.clone()))
            .set_client_secret(ClientSecret::new(
                self.config.app_secret.expose_secret().to_owned(),
            ))
            .set_auth_uri(AuthUrl::from_url(metadata.authorization_endpoint.clone()))
            .set_token_uri(TokenUrl::from_url(metadata.token_endpoint.clone()))
            .set_redirect_uri(RedirectUrl::from_url(self.config.redirect_uri.clone()));
        Ok(Provider { metadata, oauth })
    }
}

/// How the discovery document is named in errors.
const DISCOVERY_DOCUMENT: &str = "discovery document";

/// The code of an OAuth error response (RFC 6749 §5.2).
#[derive(Deserialize)]
struct OAuthError {
    error: String,
}

/// When the access token expires, in Unix seconds, from the response's `expires_in`, counted
/// from `issued_at_ms` (Unix milliseconds).
fn expires_at(response: &LogtoTokenResponse, issued_at_ms: i64) -> Option<i64> {
    response.expires_in().map(|lifetime| {
        (issued_at_ms / 1_000).saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX))
    })
}

/// The response's `scope`, space-separated as Logto sent it.
fn granted_scope(response: &LogtoTokenResponse) -> Option<String> {
    response.scopes().map(|scopes| {
        scopes
            .iter()
            .map(|scope| scope.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    })
}

fn token_request_error(
    error: RequestTokenError<HttpClientError<reqwest::Error>, BasicErrorResponse>,
) -> LogtoError {
    match error {
        RequestTokenError::ServerResponse(response) => LogtoError::TokenRejected {
            error: response.error().to_string(),
            description: response.error_description().cloned(),
        },
        RequestTokenError::Request(error) => {
            LogtoError::TokenEndpointUnreachable(error_chain(&error))
        }
        // Only the JSON path: the parser's message can quote values, and values are tokens.
        RequestTokenError::Parse(error, _body) => LogtoError::InvalidTokenResponse(format!(
            "it is not a token response (at {})",
            error.path()
        )),
        RequestTokenError::Other(message) => LogtoError::InvalidTokenResponse(message),
    }
}

/// Milliseconds since the Unix epoch, for tokens that live only seconds.
pub fn unix_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// Seconds since the Unix epoch: the clock every expiry here is measured with.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(scopes: &[&str], resources: &[&str]) -> LogtoConfig {
        let url = |value: &str| Url::parse(value).unwrap();
        let mut config = LogtoConfig::new(
            url("http://localhost:3001/"),
            "app".to_owned(),
            SecretString::from("secret"),
            url("http://localhost:3000/callback"),
            url("http://localhost:3000/"),
        );
        config
            .scopes
            .extend(scopes.iter().map(|&scope| scope.to_owned()));
        config.resources = resources
            .iter()
            .map(|&resource| resource.to_owned())
            .collect();
        config
    }

    #[test]
    fn the_organizations_scope_brings_the_organizations_resource_once() {
        let api = "https://api.bookstore.example";
        assert_eq!(config(&[], &[api]).sign_in_resources(), [api]);
        assert_eq!(
            config(&[ORGANIZATIONS_SCOPE, "read:club-shelf"], &[api]).sign_in_resources(),
            [api, ORGANIZATIONS_RESOURCE]
        );
        assert_eq!(
            config(&[ORGANIZATIONS_SCOPE], &[ORGANIZATIONS_RESOURCE, api]).sign_in_resources(),
            [ORGANIZATIONS_RESOURCE, api],
            "configured already: not sent twice"
        );
        assert_eq!(
            config(&["urn:logto:scope:organization_roles"], &[]).sign_in_resources(),
            Vec::<&str>::new(),
            "organization roles alone carry no permissions"
        );
    }
}
