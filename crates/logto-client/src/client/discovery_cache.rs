//! The discovery document and the keys, fetched once and cached: single flight, and not while
//! Logto is being left alone after a failure.

use std::sync::Arc;

use oauth2::{AuthUrl, ClientId, ClientSecret, RedirectUrl, TokenUrl};
use secrecy::ExposeSecret;

use super::LogtoClient;
use super::token_endpoint::OAuthClient;
use crate::LogtoError;
use crate::discovery::{ProviderMetadata, fetch_document};

/// What discovery yields: the metadata, and an OAuth client built from it.
pub(super) struct Provider {
    pub(super) metadata: ProviderMetadata,
    pub(super) oauth: OAuthClient,
}

/// How the discovery document is named in errors.
pub(super) const DISCOVERY_DOCUMENT: &str = "discovery document";

impl LogtoClient {
    pub(super) fn cached_provider(&self) -> Option<Arc<Provider>> {
        self.provider
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The cached provider, discovering it (and its keys) first when needed. While Logto is
    /// backing off after a failure, fails at once without asking it.
    pub(super) async fn provider(&self) -> Result<Arc<Provider>, LogtoError> {
        self.provider_where(|_| true).await
    }

    /// The provider, for sending a browser to Logto. While Logto is marked down (a call to it
    /// failed), the discovery document is fetched again first, at most once per backoff:
    /// a visitor then gets the "unavailable" page rather than a dead end at Logto.
    pub(super) async fn reachable_provider(&self) -> Result<Arc<Provider>, LogtoError> {
        self.provider_where(|_| !self.health.report().is_down())
            .await
    }

    /// The cached provider when `usable` says so, else discovered anew (single-flight,
    /// and not while Logto is being left alone after a failure).
    pub(super) async fn provider_where(
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
    pub(super) async fn discover_with_keys(&self) -> Result<Arc<Provider>, LogtoError> {
        let provider = Arc::new(self.discover().await?);
        self.jwks
            .refresh(&self.http, &provider.metadata.jwks_uri)
            .await?;
        Ok(provider)
    }

    pub(super) async fn discover(&self) -> Result<Provider, LogtoError> {
        let reachable_at = self
            .config
            .internal_endpoint
            .as_ref()
            .unwrap_or(&self.config.endpoint);
        let url = format!("{reachable_at}oidc/.well-known/openid-configuration");
        let url = url::Url::parse(&url).map_err(|error| LogtoError::InvalidProviderDocument {
            document: DISCOVERY_DOCUMENT,
            reason: format!("its URL cannot be built: {error}"),
        })?;
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
