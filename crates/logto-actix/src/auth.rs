//! [`LogtoAuth`]: the checked configuration a product builds once at start-up.

use std::sync::Arc;
use std::time::Duration;

use actix_web::cookie::Key;
use logto_client::LogtoConfig;

use crate::cross_site::CrossSiteGuard;
use crate::pages::Pages;
use crate::settings::SessionStoreKind;
use crate::sign_in_methods::SignInMethods;

/// Sign-in with Logto for an actix-web app: the configuration, checked by
/// [`LogtoAuthBuilder::build`](crate::LogtoAuthBuilder::build). Cheap to clone.
///
/// **Not there yet.** This release holds the checked pieces only: the session store and its
/// key, the session lifetimes, the sign-in methods, the pages and the cross-site guard. The
/// auth routes (`/sign-in`, `/callback`, `/sign-out`, `/backchannel-logout`), the session
/// middleware and the `SignedInUser` extractor are still the Bookstore's own and come to this
/// crate next; nothing here serves a request yet, apart from
/// [`refuse_cross_site_writes`](crate::cross_site::refuse_cross_site_writes) and
/// [`render_error_pages`](crate::pages::render_error_pages).
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
    pub(crate) store: SessionStoreKind,
    pub(crate) key: Key,
    pub(crate) absolute_lifetime: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) sign_in_methods: SignInMethods,
    pub(crate) pages: Arc<dyn Pages>,
    pub(crate) cross_site: CrossSiteGuard,
}

impl std::fmt::Debug for LogtoAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogtoAuth")
            .field("config", &self.inner.config)
            .field("store", &self.inner.store)
            .field("key", &"[redacted]")
            .field("absolute_lifetime", &self.inner.absolute_lifetime)
            .field("idle_timeout", &self.inner.idle_timeout)
            .field("sign_in_methods", &self.inner.sign_in_methods)
            .finish_non_exhaustive()
    }
}

impl LogtoAuth {
    /// The Logto configuration, with its redirect URI checked against the callback route.
    pub fn config(&self) -> &LogtoConfig {
        &self.inner.config
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
        self.inner.absolute_lifetime
    }

    /// A session unused this long ends.
    pub fn idle_timeout(&self) -> Duration {
        self.inner.idle_timeout
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
}
