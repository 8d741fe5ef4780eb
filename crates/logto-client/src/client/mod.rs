//! [`LogtoClient`]: the sign-in flow from the authorization URL to verified tokens, and what a
//! signed-in session needs afterwards: refresh, userinfo, revocation, and verification of
//! access and logout tokens. Split by concern: [`discovery_cache`] (discovery and keys),
//! [`flow`] (sign-in, refresh, userinfo, revocation, sign-out), [`token_endpoint`] (the
//! token endpoint through `oauth2`) and [`verification`] (every JWT).

mod discovery_cache;
mod flow;
mod token_endpoint;
mod verification;

use std::sync::{Arc, RwLock};

use crate::LogtoError;
use crate::config::LogtoConfig;
use crate::crypto;
use crate::health::{LogtoHealth, ProviderHealth};
use crate::http::Http;
use crate::jwks::JwksCache;

use discovery_cache::Provider;

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
        }
    }

    fn with_http(config: LogtoConfig, http: Http) -> Self {
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
        }
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

    /// The client. Without an injected HTTP client, builds this crate's own: it fails with
    /// [`LogtoError::HttpClient`] when the TLS backend cannot start, and with
    /// [`LogtoError::NoTlsBackend`] for an `https` endpoint when no TLS feature is enabled.
    pub fn build(self) -> Result<LogtoClient, LogtoError> {
        let http = match self.http_client {
            Some(client) => Http::injected(client, self.config.http_timeout),
            None => Http::default_for(&self.config)?,
        };
        Ok(LogtoClient::with_http(self.config, http))
    }
}
