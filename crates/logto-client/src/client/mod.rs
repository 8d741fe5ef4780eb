//! [`LogtoClient`]: the sign-in flow from the authorization URL to verified tokens, and what a
//! signed-in session needs afterwards: refresh, userinfo, revocation, and verification of
//! access and logout tokens. Split by concern: [`discovery_cache`] (discovery and keys),
//! [`flow`] (sign-in, refresh, userinfo, revocation, sign-out), [`token_endpoint`] (the
//! token endpoint through `oauth2`) and [`verification`] (every JWT).

mod discovery_cache;
mod flow;
mod machine;
mod token_endpoint;
mod verification;
mod verified_tokens;

use std::sync::{Arc, RwLock};

use crate::LogtoError;
use crate::config::LogtoConfig;
use crate::crypto;
use crate::health::{LogtoHealth, ProviderHealth};
use crate::http::Http;
use crate::jwks::JwksCache;
use crate::time::unix_now;

use discovery_cache::Provider;
pub use machine::MachineToken;
use machine::MachineTokens;
pub use verified_tokens::DEFAULT_VERIFIED_TOKEN_CAPACITY;
use verified_tokens::VerifiedTokens;

/// A Logto client for one application. Cheap to share behind an `Arc`; all state is cached.
pub struct LogtoClient {
    config: LogtoConfig,
    issuer: String,
    http: Http,
    provider: RwLock<Option<Arc<Provider>>>,
    /// Makes discovery single-flight: concurrent requests wait for one fetch.
    discovery: tokio::sync::Mutex<()>,
    jwks: JwksCache,
    /// Whether Logto's public documents can be fetched now; shared with `jwks`.
    health: Arc<ProviderHealth>,
    /// Machine-to-machine tokens by resource and scopes.
    machine_tokens: MachineTokens,
    /// API access tokens that passed verification, until their `exp`
    /// ([`LogtoClientBuilder::verified_token_cache`]).
    verified_tokens: VerifiedTokens<verification::RawApiToken>,
    /// Seconds since the Unix epoch; tests move it.
    clock: fn() -> i64,
}

impl LogtoClient {
    /// Builds the client with this crate's own HTTP client. Nothing is fetched until
    /// [`prefetch`](Self::prefetch) or a sign-in.
    pub fn new(config: LogtoConfig) -> Result<Self, LogtoError> {
        Self::builder(config).build()
    }

    /// A builder, for a client that sends its requests through an injected `reqwest::Client`
    /// ([`LogtoClientBuilder::http_client`]).
    pub fn builder(config: LogtoConfig) -> LogtoClientBuilder {
        LogtoClientBuilder {
            config,
            http_client: None,
            verified_token_capacity: DEFAULT_VERIFIED_TOKEN_CAPACITY,
        }
    }

    fn with_http(config: LogtoConfig, http: Http, verified_token_capacity: usize) -> Self {
        crypto::install_jwt_crypto();
        let health = Arc::new(ProviderHealth::new(config.provider_backoff));
        Self {
            issuer: config.issuer(),
            jwks: JwksCache::new(config.jwks_min_refetch_interval, Arc::clone(&health)),
            health,
            config,
            http,
            provider: RwLock::new(None),
            discovery: tokio::sync::Mutex::new(()),
            machine_tokens: MachineTokens::default(),
            verified_tokens: VerifiedTokens::new(verified_token_capacity),
            clock: unix_now,
        }
    }

    /// The clock every token check here uses: seconds since the Unix epoch.
    fn now(&self) -> i64 {
        (self.clock)()
    }

    /// Whether the discovery document and the keys are loaded: the next sign-in asks Logto
    /// only for its token.
    pub fn is_loaded(&self) -> bool {
        self.cached_provider().is_some()
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

    /// How long a sign-in attempt may take, from its start to the callback: older attempts are
    /// refused at the callback, so an app need not keep them longer.
    pub fn sign_in_lifetime(&self) -> std::time::Duration {
        self.config.sign_in_lifetime
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
}

/// Builds a [`LogtoClient`] ([`LogtoClient::builder`]).
#[must_use = "call `build()` to get the client"]
pub struct LogtoClientBuilder {
    config: LogtoConfig,
    http_client: Option<reqwest::Client>,
    verified_token_capacity: usize,
}

impl LogtoClientBuilder {
    /// Sends every request to Logto through `client`: for a proxy, custom CA certificates or
    /// another TLS setup. Build it with `redirect(reqwest::redirect::Policy::none())`: an
    /// answer that comes from another URL than the one asked is refused
    /// ([`LogtoError::Redirected`]), since following Logto's redirects could send a token
    /// elsewhere. Each request is still bounded by
    /// [`http_timeout`](LogtoConfig::http_timeout); the client's own idle-connection timeout
    /// should stay under 5 s ([`idle_connection_timeout`](LogtoConfig::idle_connection_timeout)
    /// says why).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// How many verified API access tokens [`LogtoClient::authorize_bearer`] remembers
    /// ([`DEFAULT_VERIFIED_TOKEN_CAPACITY`] unless set; 0 turns the cache off). A token sent
    /// again before its `exp` then skips the signature check, which costs far more than the
    /// rest of a request; its audience and scopes are still checked against each route.
    /// Entries are keyed by the token's SHA-256, kept until its `exp` (without leeway), and
    /// when the cache is full the expired ones go first, then the one that expires soonest.
    /// Only tokens that passed verification are cached. A cached token that Logto revokes
    /// stays accepted until its `exp`, as with any JWT checked without introspection.
    pub fn verified_token_cache(mut self, capacity: usize) -> Self {
        self.verified_token_capacity = capacity;
        self
    }

    /// The client. Without an injected HTTP client, builds this crate's own: it fails with
    /// [`LogtoError::HttpClient`] when the TLS backend cannot start, and with
    /// [`LogtoError::NoTlsBackend`] for an `https` endpoint when no TLS feature is enabled.
    pub fn build(self) -> Result<LogtoClient, LogtoError> {
        let http = match self.http_client {
            Some(client) => Http::injected(client, self.config.http_timeout),
            None => Http::default_for(&self.config)?,
        };
        Ok(LogtoClient::with_http(
            self.config,
            http,
            self.verified_token_capacity,
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use secrecy::SecretString;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpListener;
    use url::Url;

    use super::*;
    use crate::{CallbackParams, PendingSignIn, SignInOptions, TokenTarget};

    const DISCOVERY_PATH: &str = "/oidc/.well-known/openid-configuration";

    /// A server that answers the discovery request with a redirect to `/elsewhere`, and
    /// `/elsewhere` with an empty JSON object. Returns its base URL.
    async fn redirecting_server() -> Url {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = Vec::new();
                let mut buffer = [0; 1024];
                while !request.windows(4).any(|window| window == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(read) => request.extend_from_slice(&buffer[..read]),
                    }
                }
                let request = String::from_utf8_lossy(&request);
                let answer = if request.starts_with(&format!("GET {DISCOVERY_PATH} ")) {
                    "HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\
                     Connection: close\r\n\r\n"
                } else {
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\
                     Connection: close\r\n\r\n{}"
                };
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        Url::parse(&format!("http://{address}/")).unwrap()
    }

    fn config_for(endpoint: Url) -> LogtoConfig {
        LogtoConfig::new(
            endpoint,
            "app".to_owned(),
            SecretString::from("secret"),
            Url::parse("http://127.0.0.1:3000/callback").unwrap(),
            Url::parse("http://127.0.0.1:3000/").unwrap(),
        )
    }

    #[tokio::test]
    async fn an_injected_client_that_follows_redirects_gets_no_answer_through() {
        let endpoint = redirecting_server().await;
        let following = reqwest::Client::builder().build().unwrap();
        let client = LogtoClient::builder(config_for(endpoint))
            .http_client(following)
            .build()
            .unwrap();
        let error = client.prefetch().await.unwrap_err();
        assert!(
            matches!(
                error,
                LogtoError::Redirected {
                    document: "discovery document"
                }
            ),
            "{error:?}"
        );
        assert!(!client.is_loaded());
    }

    #[tokio::test]
    async fn the_default_client_does_not_follow_redirects() {
        let endpoint = redirecting_server().await;
        let client = LogtoClient::new(config_for(endpoint)).unwrap();
        let error = client.prefetch().await.unwrap_err();
        assert!(
            matches!(error, LogtoError::ProviderStatus { status: 302, .. }),
            "{error:?}"
        );
    }

    #[test]
    fn an_https_endpoint_needs_a_tls_backend_or_an_injected_client() {
        let config = config_for(Url::parse("https://tenant.logto.app/").unwrap());
        let built = LogtoClient::new(config.clone());
        if crate::http::HAS_TLS_BACKEND {
            assert!(built.is_ok());
        } else {
            assert!(matches!(built, Err(LogtoError::NoTlsBackend)));
        }
        let injected = LogtoClient::builder(config)
            .http_client(reqwest::Client::new())
            .build();
        assert!(injected.is_ok(), "an injected client brings its own TLS");
    }

    /// Web frameworks run handlers on multi-threaded runtimes: every request-time future of
    /// the client must be `Send`. A compile-time check; nothing is awaited.
    #[test]
    fn the_client_futures_are_send() {
        fn assert_send(_: impl Future + Send) {}
        let client =
            LogtoClient::new(config_for(Url::parse("http://127.0.0.1:1/").unwrap())).unwrap();
        let pending = PendingSignIn {
            state: String::new(),
            code_verifier: String::new(),
            nonce: String::new(),
            started_at: 0,
        };
        let callback = CallbackParams::default();
        assert_send(client.prefetch());
        assert_send(client.start_sign_in(&SignInOptions::default()));
        assert_send(client.finish_sign_in(&pending, &callback));
        assert_send(client.refresh("token", &TokenTarget::UserInfo, "sub"));
        assert_send(client.userinfo("token", "sub"));
        assert_send(client.revoke_refresh_token("token"));
        assert_send(client.verify_access_token("token", "resource"));
        assert_send(client.verify_logout_token("token"));
        assert_send(client.sign_out_url(None));
        assert_send(client.authorize_bearer(None, &crate::api::ApiRequirement::resource("r")));
        assert_send(client.client_credentials_token("resource", &["scope"]));
    }
}
