//! [`LogtoClient`]: the sign-in flow from the authorization URL to verified tokens.

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, HttpClientError, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse,
    TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use super::LogtoError;
use super::discovery::ProviderMetadata;
use super::error::error_chain;
use super::id_token::{self, Expectations, IdTokenClaims};
use super::jwks::JwksCache;
use super::types::{CallbackParams, PendingSignIn, SignInStart, SignedIn, TokenSet};

/// How to reach Logto and which application to sign in as.
#[derive(Debug, Clone)]
pub struct LogtoConfig {
    /// Logto's endpoint without `/oidc`, for example `http://localhost:3001/`.
    pub endpoint: Url,
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
    /// Limit for every request to Logto, connection included.
    pub http_timeout: Duration,
    /// How long a sign-in attempt stays valid between `/sign-in` and the callback.
    pub sign_in_lifetime: Duration,
    /// The JWKS is fetched again for an unknown `kid` at most this often.
    pub jwks_min_refetch_interval: Duration,
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
            app_id,
            app_secret,
            redirect_uri,
            post_sign_out_redirect_uri,
            scopes: vec!["openid".into(), "offline_access".into(), "profile".into()],
            prompt: Some("consent".into()),
            http_timeout: Duration::from_secs(10),
            sign_in_lifetime: Duration::from_secs(10 * 60),
            jwks_min_refetch_interval: Duration::from_secs(5),
            clock_leeway: Duration::from_secs(60),
        }
    }

    /// `{endpoint}/oidc`, the issuer Logto puts in its tokens.
    pub fn issuer(&self) -> String {
        format!("{}oidc", self.endpoint)
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

/// What discovery yields: the metadata, and an OAuth client built from it.
struct Provider {
    metadata: ProviderMetadata,
    oauth: OAuthClient,
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
}

impl LogtoClient {
    /// Builds the client. Nothing is fetched until [`prefetch`](Self::prefetch) or a sign-in.
    pub fn new(config: LogtoConfig) -> Result<Self, LogtoError> {
        let http = reqwest::Client::builder()
            // Never follow redirects from the IdP's API endpoints (SSRF, token leaks).
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.http_timeout)
            .timeout(config.http_timeout)
            .user_agent(concat!("logto-bookstore/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(LogtoError::HttpClient)?;
        Ok(Self {
            issuer: config.issuer(),
            jwks: JwksCache::new(config.jwks_min_refetch_interval),
            config,
            http,
            provider: RwLock::new(None),
            discovery: tokio::sync::Mutex::new(()),
        })
    }

    /// The issuer every token and callback must name.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Loads the discovery document and the JWKS, so that the first sign-in costs Logto only
    /// its token request. Call it at start-up; a failure is retried on the next sign-in.
    pub async fn prefetch(&self) -> Result<(), LogtoError> {
        self.provider().await.map(drop)
    }

    /// Starts a sign-in: the URL to send the browser to, and the attempt to keep in the session.
    pub async fn start_sign_in(&self) -> Result<SignInStart, LogtoError> {
        let provider = self.provider().await?;
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

        let response = provider
            .oauth
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.code_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(token_request_error)?;

        let id_token = response
            .extra_fields()
            .id_token
            .clone()
            .ok_or_else(|| LogtoError::InvalidTokenResponse("it has no id_token".to_owned()))?;
        let access_token = response.access_token().secret().clone();
        let claims = self
            .verify_id_token(&provider.metadata, &id_token, &pending.nonce, &access_token)
            .await?;

        let now = unix_now();
        let tokens = TokenSet {
            id_token,
            access_token,
            access_token_expires_at: response.expires_in().map(|lifetime| {
                now.saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX))
            }),
            refresh_token: response.refresh_token().map(|token| token.secret().clone()),
            scope: response.scopes().map(|scopes| {
                scopes
                    .iter()
                    .map(|scope| scope.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
        };
        Ok(SignedIn { claims, tokens })
    }

    /// Logto's end-session URL, which ends the Logto session and returns to the app.
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
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("client_id", &self.config.app_id)
                .append_pair(
                    "post_logout_redirect_uri",
                    self.config.post_sign_out_redirect_uri.as_str(),
                );
            if let Some(hint) = id_token_hint {
                query.append_pair("id_token_hint", hint);
            }
        }
        Ok(url)
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

    async fn verify_id_token(
        &self,
        metadata: &ProviderMetadata,
        raw: &str,
        nonce: &str,
        access_token: &str,
    ) -> Result<IdTokenClaims, LogtoError> {
        let header = id_token::allowed_header(raw)?;
        let key = self
            .jwks
            .find(
                &self.http,
                &metadata.jwks_uri,
                header.kid.as_deref(),
                header.alg,
            )
            .await?;
        let expectations = Expectations {
            issuer: &self.issuer,
            client_id: &self.config.app_id,
            nonce,
            access_token,
            leeway: self.config.clock_leeway.as_secs(),
            now: unix_now(),
        };
        Ok(id_token::verify(raw, header.alg, &key, &expectations)?)
    }

    fn cached_provider(&self) -> Option<Arc<Provider>> {
        self.provider
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The cached provider, discovering it (and its keys) first when needed.
    async fn provider(&self) -> Result<Arc<Provider>, LogtoError> {
        if let Some(provider) = self.cached_provider() {
            return Ok(provider);
        }
        let _single_flight = self.discovery.lock().await;
        if let Some(provider) = self.cached_provider() {
            return Ok(provider);
        }
        let provider = Arc::new(self.discover().await?);
        // Keys come with discovery so that a callback never waits for them.
        self.jwks
            .refresh(&self.http, &provider.metadata.jwks_uri)
            .await?;
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

    async fn discover(&self) -> Result<Provider, LogtoError> {
        const DOCUMENT: &str = "discovery document";
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let response =
            self.http
                .get(&url)
                .send()
                .await
                .map_err(|source| LogtoError::ProviderUnreachable {
                    document: DOCUMENT,
                    source,
                })?;
        if !response.status().is_success() {
            return Err(LogtoError::ProviderStatus {
                document: DOCUMENT,
                status: response.status().as_u16(),
            });
        }
        let invalid = |reason: String| LogtoError::InvalidProviderDocument {
            document: DOCUMENT,
            reason,
        };
        let metadata: ProviderMetadata = response
            .json()
            .await
            .map_err(|error| invalid(error.to_string()))?;
        // OpenID Connect Discovery §4.3: the issuer must be the one we asked.
        if metadata.issuer != self.issuer {
            return Err(invalid(format!(
                "its issuer is {:?}, not {:?}; check LOGTO_ENDPOINT",
                metadata.issuer, self.issuer
            )));
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

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}
