//! [`AppState`]: what every worker shares, built once at start-up from [`Settings`].

use logto_actix::{BuildError, LogtoAuth};
use logto_client::LogtoConfig;
use url::Url;

use crate::bookstore_api::BookstoreApi;
use crate::configuration::{SessionSecret, Settings};
use crate::i18n::LanguageCookie;
use crate::pages::BookstorePages;

/// The session cookie's name.
pub const SESSION_COOKIE_NAME: &str = "bookstore_session";
/// The sign-in attempts cookie's name.
pub const SIGN_IN_COOKIE_NAME: &str = "bookstore_sign_in";
/// What every Redis key of the Bookstore starts with.
pub const REDIS_KEY_PREFIX: &str = "bookstore:";

/// The API resources requested at sign-in (`LOGTO_RESOURCES`).
#[derive(Debug, Clone, Default)]
pub struct ApiResources(pub Vec<String>);

/// The app's shared state: sign-in (logto-actix) and what its own pages need.
#[derive(Clone)]
pub struct AppState {
    /// Sign-in with Logto, the session store and the auth routes.
    pub auth: LogtoAuth,
    pub resources: ApiResources,
    pub language_cookie: LanguageCookie,
    /// `BASE_URL`, for the security headers.
    pub base_url: Url,
    /// Logto's endpoint, which the security headers allow forms to post to.
    pub logto_endpoint: Url,
    /// Whether a trusted proxy names the client in the access log (`TRUST_PROXY`).
    pub trust_proxy: bool,
    /// The Bookstore's own API, which its pages call.
    pub api: BookstoreApi,
}

impl AppState {
    /// Builds the state from `settings`, with a chance to adjust the Logto client's
    /// configuration (timeouts, leeway) first. Nothing contacts Logto or Redis yet.
    pub fn build(
        settings: &Settings,
        api: BookstoreApi,
        adjust_logto: impl FnOnce(&mut LogtoConfig),
    ) -> Result<Self, BuildError> {
        let mut logto_config = settings.logto.config.clone();
        adjust_logto(&mut logto_config);
        if let SessionSecret::Generated(_) = settings.session.secret {
            log::warn!(
                "SESSION_SECRET is not set: using a random key, so sessions will not survive a restart \
                 (generate one with `openssl rand -hex 64`)"
            );
        }
        let methods = settings.logto.sign_in_methods.clone();
        let auth = LogtoAuth::from_settings(logto_config, &settings.session)
            .cookie_names(SESSION_COOKIE_NAME, SIGN_IN_COOKIE_NAME)
            .redis_key_prefix(REDIS_KEY_PREFIX)
            .sign_in_methods(methods.clone())
            .pages(BookstorePages::new(methods))
            .build()?;
        Ok(Self {
            auth,
            resources: ApiResources(settings.logto.config.resources.clone()),
            language_cookie: LanguageCookie::new(settings.server.is_https()),
            base_url: settings.server.base_url.clone(),
            logto_endpoint: settings.logto.config.endpoint.clone(),
            trust_proxy: settings.trust_proxy,
            api,
        })
    }
}
