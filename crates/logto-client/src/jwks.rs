//! A cache of Logto's signing keys.
//!
//! Logto serves its JWKS with `Cache-Control: no-cache`, so the cache is ours: keys are fetched
//! with the discovery document, and fetched again only when a token names a `kid` we do not
//! know (key rotation), at most once per `min_refetch_interval`, and not at all while Logto is
//! backing off after a failure ([`ProviderHealth`]).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use url::Url;

use crate::LogtoError;
use crate::discovery::fetch_document;
use crate::health::ProviderHealth;
use crate::http::Http;

/// How the JWKS is named in errors.
const DOCUMENT: &str = "JWKS";

/// A public key ready to verify signatures, with what the JWKS says about it.
pub(crate) struct VerificationKey {
    pub(crate) key: DecodingKey,
    /// The `alg` the JWK is bound to, when it names one.
    pub(crate) alg: Option<Algorithm>,
}

impl VerificationKey {
    fn from_jwk(jwk: &Jwk) -> Option<Self> {
        // A key bound to an algorithm we cannot verify with (ES512, encryption) is unusable.
        let alg = match jwk.common.key_algorithm {
            Some(bound) => Some(Algorithm::try_from(bound).ok()?),
            None => None,
        };
        let key = DecodingKey::from_jwk(jwk).ok()?;
        Some(Self { key, alg })
    }

    /// Whether this key may verify a signature made with `alg`.
    pub(crate) fn accepts(&self, alg: Algorithm) -> bool {
        self.key.family() == alg.family() && self.alg.is_none_or(|bound| bound == alg)
    }
}

#[derive(Default)]
struct KeyRing {
    by_kid: HashMap<String, Arc<VerificationKey>>,
    without_kid: Vec<Arc<VerificationKey>>,
}

impl KeyRing {
    fn find(&self, kid: Option<&str>, alg: Algorithm) -> Option<Arc<VerificationKey>> {
        match kid {
            Some(kid) => self.by_kid.get(kid).filter(|key| key.accepts(alg)).cloned(),
            // Without a `kid`, a key is only unambiguous when exactly one fits.
            None => {
                let mut fitting = self
                    .by_kid
                    .values()
                    .chain(&self.without_kid)
                    .filter(|key| key.accepts(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => Some(Arc::clone(key)),
                    _ => None,
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<serde_json::Value>,
}

/// Signing keys by `kid`, shared by all requests.
pub(crate) struct JwksCache {
    keys: RwLock<Arc<KeyRing>>,
    /// When the keys were last requested, successfully or not; the mutex also makes concurrent
    /// re-fetches single-flight.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
    min_refetch_interval: Duration,
    health: Arc<ProviderHealth>,
}

impl JwksCache {
    pub(crate) fn new(min_refetch_interval: Duration, health: Arc<ProviderHealth>) -> Self {
        Self {
            keys: RwLock::default(),
            last_fetch: tokio::sync::Mutex::new(None),
            min_refetch_interval,
            health,
        }
    }

    /// Fetches the JWKS now, replacing the cached keys. Part of discovery, which checks and
    /// records Logto's health for the two requests together.
    pub(crate) async fn refresh(&self, http: &Http, jwks_uri: &Url) -> Result<(), LogtoError> {
        let mut last_fetch = self.last_fetch.lock().await;
        *last_fetch = Some(Instant::now());
        self.fetch(http, jwks_uri).await
    }

    /// The key for a token header, fetching the JWKS again when the `kid` is new to us.
    /// `None` when no published key fits: the caller names the token that failed.
    pub(crate) async fn find(
        &self,
        http: &Http,
        jwks_uri: &Url,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Option<Arc<VerificationKey>>, LogtoError> {
        if let Some(key) = self.cached(kid, alg) {
            return Ok(Some(key));
        }
        let mut last_fetch = self.last_fetch.lock().await;
        // Another request may have fetched the new keys while we waited for the lock.
        if let Some(key) = self.cached(kid, alg) {
            return Ok(Some(key));
        }
        // While Logto is failing, an unknown key costs it nothing: fail fast.
        self.health.allow_request(DOCUMENT)?;
        self.fetch_unless_recent(&mut last_fetch, http, jwks_uri)
            .await?;
        Ok(self.cached(kid, alg))
    }

    /// The key for a token header as Logto publishes it now, not as it was cached: the JWKS
    /// is fetched again first unless it was fetched within `min_refetch_interval`, so a key
    /// Logto has deleted is no longer found. `None` when no published key fits; an error when
    /// Logto is backing off or the fetch failed.
    pub(crate) async fn find_published(
        &self,
        http: &Http,
        jwks_uri: &Url,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Option<Arc<VerificationKey>>, LogtoError> {
        let mut last_fetch = self.last_fetch.lock().await;
        self.fetch_unless_recent(&mut last_fetch, http, jwks_uri)
            .await?;
        Ok(self.cached(kid, alg))
    }

    /// Fetches the JWKS unless it was fetched within `min_refetch_interval` (whose time the
    /// caller holds locked) or Logto is being left alone after a failure, recording the
    /// attempt first, so that a failed one counts against the interval too.
    async fn fetch_unless_recent(
        &self,
        last_fetch: &mut Option<Instant>,
        http: &Http,
        jwks_uri: &Url,
    ) -> Result<(), LogtoError> {
        if last_fetch.is_some_and(|at| at.elapsed() < self.min_refetch_interval) {
            return Ok(());
        }
        self.health.allow_request(DOCUMENT)?;
        log::info!("fetching Logto's JWKS again");
        *last_fetch = Some(Instant::now());
        let fetched = self.fetch(http, jwks_uri).await;
        self.health.record(fetched)
    }

    fn cached(&self, kid: Option<&str>, alg: Algorithm) -> Option<Arc<VerificationKey>> {
        // A poisoned lock only means a panic elsewhere; the key ring itself is always whole.
        let keys = self
            .keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        keys.find(kid, alg)
    }

    async fn fetch(&self, http: &Http, jwks_uri: &Url) -> Result<(), LogtoError> {
        let raw: RawJwks = fetch_document(http, jwks_uri, DOCUMENT).await?;

        let mut ring = KeyRing::default();
        for value in raw.keys {
            // Keys we cannot use (encryption keys, unknown types) are skipped, not fatal.
            let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
                continue;
            };
            let signing = jwk
                .common
                .public_key_use
                .as_ref()
                .is_none_or(|key_use| *key_use == jsonwebtoken::jwk::PublicKeyUse::Signature);
            let Some(key) = VerificationKey::from_jwk(&jwk).filter(|_| signing) else {
                continue;
            };
            match jwk.common.key_id {
                Some(kid) => {
                    ring.by_kid.insert(kid, Arc::new(key));
                }
                None => ring.without_kid.push(Arc::new(key)),
            }
        }
        if ring.by_kid.is_empty() && ring.without_kid.is_empty() {
            return Err(LogtoError::InvalidProviderDocument {
                document: DOCUMENT,
                reason: "it holds no usable signing key".to_owned(),
            });
        }
        let mut keys = self
            .keys
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *keys = Arc::new(ring);
        Ok(())
    }
}
