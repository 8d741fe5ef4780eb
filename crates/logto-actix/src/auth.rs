//! [`LogtoAuth`]: the checked configuration a product builds once at start-up, and what it
//! mounts.

use std::sync::Arc;
use std::time::Duration;

use actix_web::cookie::Key;
use logto_client::session::{SessionGuard, SessionLifetimes};
use logto_client::{LogtoClient, LogtoConfig};

use crate::cross_site::CrossSiteGuard;
use crate::pages::Pages;
use crate::settings::SessionStoreKind;
use crate::sign_in_methods::SignInMethods;
use crate::store::{Records, SessionBackend};

/// Sign-in with Logto for an actix-web app: the configuration, checked by
/// [`LogtoAuthBuilder::build`](crate::LogtoAuthBuilder::build), with the Logto client, the
/// session store and the protocol's records. Cheap to clone.
///
/// [`scope`](Self::scope) is what a product mounts: the auth routes (`/sign-in`, `/callback`,
/// `/sign-out`) inside the session middleware, and `/backchannel-logout` beside it. Its own
/// pages go into that scope and take [`SignedInUser`](crate::SignedInUser) or
/// [`MaybeUser`](crate::MaybeUser).
///
/// A session store must be chosen before `build()`; without one, it does not compile:
///
/// ```compile_fail,E0277
/// # fn config() -> logto_actix::logto_client::LogtoConfig { unimplemented!() }
/// let auth = logto_actix::LogtoAuth::builder(config()).build();
/// ```
///
/// With one, it does:
///
/// ```no_run
/// # fn config() -> logto_actix::logto_client::LogtoConfig { unimplemented!() }
/// use actix_web::cookie::Key;
///
/// let auth = logto_actix::LogtoAuth::builder(config())
///     .cookie_store(Key::generate())
///     .build()?;
/// # Ok::<(), logto_actix::BuildError>(())
/// ```
#[derive(Clone)]
pub struct LogtoAuth {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: LogtoConfig,
    pub(crate) client: Arc<LogtoClient>,
    pub(crate) guard: SessionGuard<Records>,
    pub(crate) store: SessionStoreKind,
    pub(crate) backend: SessionBackend,
    pub(crate) key: Key,
    pub(crate) lifetimes: SessionLifetimes,
    pub(crate) sign_in_methods: SignInMethods,
    pub(crate) pages: Arc<dyn Pages>,
    pub(crate) cross_site: CrossSiteGuard,
    pub(crate) cookie_names: CookieNames,
    /// Cookies get `Secure` when the redirect URI is https.
    pub(crate) secure: bool,
}

/// The names of the two cookies: the session's and the sign-in attempts'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieNames {
    /// The session cookie (default `logto_session`).
    pub session: &'static str,
    /// The sign-in attempts cookie (default `logto_sign_in`).
    pub sign_in: &'static str,
}

impl Default for CookieNames {
    fn default() -> Self {
        Self {
            session: "logto_session",
            sign_in: "logto_sign_in",
        }
    }
}

impl std::fmt::Debug for LogtoAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogtoAuth")
            .field("config", &self.inner.config)
            .field("store", &self.inner.store)
            .field("key", &"[redacted]")
            .field("lifetimes", &self.inner.lifetimes)
            .field("sign_in_methods", &self.inner.sign_in_methods)
            .field("cookie_names", &self.inner.cookie_names)
            .finish_non_exhaustive()
    }
}

/// Whether the session store answers (`/readyz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreStatus {
    /// The cookie store has nothing to reach.
    NotUsed,
    /// Redis answered `PING`.
    Ok,
    /// Redis did not answer in time.
    Unavailable,
}

impl LogtoAuth {
    /// The Logto configuration, with its redirect URI checked against the callback route.
    pub fn config(&self) -> &LogtoConfig {
        &self.inner.config
    }

    /// The Logto client.
    pub fn client(&self) -> &Arc<LogtoClient> {
        &self.inner.client
    }

    /// Where sessions live.
    pub fn store(&self) -> &SessionStoreKind {
        &self.inner.store
    }

    /// The key that encrypts the session and sign-in cookies.
    pub fn key(&self) -> &Key {
        &self.inner.key
    }

    /// The longest a session lives from its sign-in.
    pub fn absolute_lifetime(&self) -> Duration {
        self.inner.lifetimes.absolute
    }

    /// A session unused this long ends.
    pub fn idle_timeout(&self) -> Duration {
        self.inner.lifetimes.idle
    }

    /// The sign-in methods offered.
    pub fn sign_in_methods(&self) -> &SignInMethods {
        &self.inner.sign_in_methods
    }

    /// The product's pages.
    pub fn pages(&self) -> &Arc<dyn Pages> {
        &self.inner.pages
    }

    /// The cross-site check for the redirect URI's origin (`BASE_URL`).
    pub fn cross_site_guard(&self) -> &CrossSiteGuard {
        &self.inner.cross_site
    }

    /// The names of the session and sign-in cookies.
    pub fn cookie_names(&self) -> CookieNames {
        self.inner.cookie_names
    }

    /// Whether the session store answers: Redis `PING` within `timeout`.
    pub async fn session_store_status(&self, timeout: Duration) -> StoreStatus {
        #[cfg(feature = "redis")]
        if let Some(redis) = self.inner.backend.redis() {
            let command = redis::cmd("PING");
            let ping = redis.query::<String>(&command);
            return match tokio::time::timeout(timeout, ping).await {
                Ok(Ok(_)) => StoreStatus::Ok,
                Ok(Err(error)) => {
                    log::warn!("not ready: Redis: {error}");
                    StoreStatus::Unavailable
                }
                Err(_) => {
                    log::warn!("not ready: Redis took over {timeout:?} to answer PING");
                    StoreStatus::Unavailable
                }
            };
        }
        let _ = timeout;
        StoreStatus::NotUsed
    }

    pub(crate) fn guard(&self) -> &SessionGuard<Records> {
        &self.inner.guard
    }
}
