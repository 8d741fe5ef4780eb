//! [`LogtoAuthBuilder`]: gathers the configuration, and [`build`](LogtoAuthBuilder::build)
//! checks it.
//!
//! Where sessions live is chosen by the builder's type: `build()` does not compile before
//! [`cookie_store`](LogtoAuthBuilder::cookie_store),
//! [`redis_store`](LogtoAuthBuilder::redis_store) or [`LogtoAuth::from_settings`]. Everything
//! else that can be wrong is a [`BuildError`] at start-up, whose message names the setting
//! and the fix: never a silent downgrade.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use actix_web::cookie::{Key, KeyError};
use logto_client::session::{SessionGuard, SessionLifetimes};
use logto_client::{LogtoClient, LogtoConfig, LogtoError, error_chain};

use crate::auth::{CookieNames, Inner, LogtoAuth};
use crate::cross_site::{CrossSiteGuard, OpaqueOrigin};
use crate::pages::{Pages, PlainPages};
use crate::settings::{
    DEFAULT_SESSION_IDLE_TIMEOUT, DEFAULT_SESSION_TTL, MAX_SESSION_LIFETIME, REDIS_URL_FIX,
    SessionSettings, SessionStoreKind, is_redis_url,
};
use crate::sign_in_methods::SignInMethods;
use crate::store::SessionBackend;

/// The Redis key prefix by default.
pub const DEFAULT_REDIS_KEY_PREFIX: &str = "logto:";

/// The path of the callback route this crate serves: the redirect URI must end there.
pub const CALLBACK_PATH: &str = "/callback";

/// Builds a [`LogtoAuth`]. `S` records whether the session store was chosen.
#[must_use = "call `.build()` to check the configuration"]
pub struct LogtoAuthBuilder<S> {
    config: LogtoConfig,
    store: S,
    absolute_lifetime: Duration,
    idle_timeout: Duration,
    sign_in_methods: SignInMethods,
    pages: Arc<dyn Pages>,
    cookie_names: CookieNames,
    redis_key_prefix: &'static str,
    http_client: Option<logto_client::reqwest::Client>,
}

/// No session store chosen yet: `build()` is not available.
#[derive(Debug)]
pub struct NoStore(PhantomData<()>);

/// Sessions in an encrypted cookie.
pub struct CookieStore {
    key: Result<Key, KeyError>,
}

/// Sessions in Redis, keyed by a random id in an encrypted cookie.
pub struct RedisStore {
    url: String,
    key: Result<Key, KeyError>,
}

/// The store chosen by [`SessionSettings`] (`SESSION_STORE`).
pub struct FromSettings {
    store: SessionStoreKind,
    key: Key,
}

mod sealed {
    use actix_web::cookie::Key;

    use super::BuildError;
    use crate::settings::SessionStoreKind;

    /// The store states; only this crate's, so that `StoreChosen` means what it says.
    pub trait Sealed {
        /// The store and its key, checked.
        fn chosen(self) -> Result<(SessionStoreKind, Key), BuildError>;
    }
}

/// A session store has been chosen, so the builder can [`build`](LogtoAuthBuilder::build).
#[diagnostic::on_unimplemented(
    message = "choose where sessions live before `build()`",
    label = "no session store chosen",
    note = "call `.cookie_store(key)` or `.redis_store(redis_url, key)`, or start from `LogtoAuth::from_settings`"
)]
pub trait StoreChosen: sealed::Sealed {}

impl StoreChosen for CookieStore {}
impl StoreChosen for RedisStore {}
impl StoreChosen for FromSettings {}

impl sealed::Sealed for CookieStore {
    fn chosen(self) -> Result<(SessionStoreKind, Key), BuildError> {
        Ok((SessionStoreKind::Cookie, self.key?))
    }
}

impl sealed::Sealed for RedisStore {
    fn chosen(self) -> Result<(SessionStoreKind, Key), BuildError> {
        let url = self.url.trim().to_owned();
        if !is_redis_url(&url) {
            return Err(BuildError::RedisUrl { url });
        }
        Ok((SessionStoreKind::Redis { url }, self.key?))
    }
}

impl sealed::Sealed for FromSettings {
    fn chosen(self) -> Result<(SessionStoreKind, Key), BuildError> {
        if let SessionStoreKind::Redis { url } = &self.store
            && !is_redis_url(url)
        {
            return Err(BuildError::RedisUrl { url: url.clone() });
        }
        Ok((self.store, self.key))
    }
}

/// Key material for the session cookie: a [`Key`], or at least 64 bytes to make one from.
pub trait IntoSessionKey {
    /// The key, or why the material cannot be one.
    fn into_session_key(self) -> Result<Key, KeyError>;
}

impl IntoSessionKey for Key {
    fn into_session_key(self) -> Result<Key, KeyError> {
        Ok(self)
    }
}

impl IntoSessionKey for &Key {
    fn into_session_key(self) -> Result<Key, KeyError> {
        Ok(self.clone())
    }
}

impl IntoSessionKey for &[u8] {
    fn into_session_key(self) -> Result<Key, KeyError> {
        Key::try_from(self)
    }
}

/// A configuration that cannot work, found at start-up. Each message names the setting and
/// the fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The Redis store's URL is not a Redis URL.
    #[error("REDIS_URL is {url:?}, which is not a Redis URL. {fix}", fix = REDIS_URL_FIX)]
    RedisUrl {
        /// The URL given.
        url: String,
    },

    /// The session key material is shorter than 64 bytes.
    #[error(
        "the session key cannot be used ({0}). Give at least 64 bytes, for example SESSION_SECRET from `openssl rand -hex 64`, or `Key::generate()` for sessions that end with the process"
    )]
    SessionKey(#[source] KeyError),

    /// The session lifetimes contradict each other or are out of range.
    #[error(
        "the session lifetimes {problem}. Make both positive and at most 400 days, the idle timeout (SESSION_IDLE_TIMEOUT) at most the absolute lifetime (SESSION_TTL)"
    )]
    Lifetimes {
        /// What is wrong.
        problem: String,
    },

    /// The configuration's redirect URI is not the callback route this crate serves.
    #[error(
        "the redirect URI {found} does not lead to {expected}, where the callback is served. Build it as BASE_URL{expected} and register that in Logto"
    )]
    RedirectUriMismatch {
        /// The callback route's path.
        expected: &'static str,
        /// The redirect URI configured.
        found: String,
    },

    /// The redirect URI has no origin that browsers send, so cross-site forms could not be
    /// told apart.
    #[error(transparent)]
    OpaqueOrigin(#[from] OpaqueOrigin),

    /// The Logto client could not be made (its HTTP client, for example).
    #[error("the Logto client cannot be made: {0}")]
    Logto(#[from] LogtoError),

    /// The Redis URL could not be used.
    #[error("REDIS_URL cannot be used: {reason}. {fix}", fix = REDIS_URL_FIX)]
    Redis {
        /// Why.
        reason: String,
    },

    /// Sessions in Redis were asked for, but this build has no `redis` feature.
    #[error(
        "SESSION_STORE=redis needs logto-actix's `redis` feature. Enable it, or use SESSION_STORE=cookie"
    )]
    RedisFeatureOff,
}

impl From<KeyError> for BuildError {
    fn from(error: KeyError) -> Self {
        Self::SessionKey(error)
    }
}

impl LogtoAuth {
    /// A builder for signing in with `config`. Choose the session store next.
    pub fn builder(config: LogtoConfig) -> LogtoAuthBuilder<NoStore> {
        LogtoAuthBuilder {
            config,
            store: NoStore(PhantomData),
            absolute_lifetime: DEFAULT_SESSION_TTL,
            idle_timeout: DEFAULT_SESSION_IDLE_TIMEOUT,
            sign_in_methods: SignInMethods::default(),
            pages: Arc::new(PlainPages),
            cookie_names: CookieNames::default(),
            redis_key_prefix: DEFAULT_REDIS_KEY_PREFIX,
            http_client: None,
        }
    }

    /// A builder with the store, key and lifetimes of `settings` (`SESSION_*`, `REDIS_URL`).
    pub fn from_settings(
        config: LogtoConfig,
        settings: &SessionSettings,
    ) -> LogtoAuthBuilder<FromSettings> {
        Self::builder(config)
            .with_store(FromSettings {
                store: settings.store.clone(),
                key: settings.secret.key().clone(),
            })
            .lifetimes(settings.ttl, settings.idle_timeout)
    }
}

impl<S> LogtoAuthBuilder<S> {
    fn with_store<T>(self, store: T) -> LogtoAuthBuilder<T> {
        LogtoAuthBuilder {
            config: self.config,
            store,
            absolute_lifetime: self.absolute_lifetime,
            idle_timeout: self.idle_timeout,
            sign_in_methods: self.sign_in_methods,
            pages: self.pages,
            cookie_names: self.cookie_names,
            redis_key_prefix: self.redis_key_prefix,
            http_client: self.http_client,
        }
    }

    /// Sessions in a cookie encrypted with `key` (a [`Key`], or at least 64 bytes). Needs
    /// nothing else, but holds about 4 KB.
    pub fn cookie_store(self, key: impl IntoSessionKey) -> LogtoAuthBuilder<CookieStore> {
        self.with_store(CookieStore {
            key: key.into_session_key(),
        })
    }

    /// Sessions in Redis at `redis_url` (`redis://`, `rediss://` or a Unix socket), the
    /// cookie holding only their id, encrypted with `key`.
    pub fn redis_store(
        self,
        redis_url: &str,
        key: impl IntoSessionKey,
    ) -> LogtoAuthBuilder<RedisStore> {
        self.with_store(RedisStore {
            url: redis_url.to_owned(),
            key: key.into_session_key(),
        })
    }

    /// How long a session lives from its sign-in (`absolute`, default 14 days, as long as
    /// Logto's refresh token) and unused (`idle`, default 24 hours).
    pub fn lifetimes(self, absolute: Duration, idle: Duration) -> Self {
        Self {
            absolute_lifetime: absolute,
            idle_timeout: idle,
            ..self
        }
    }

    /// The sign-in methods offered (social connectors, email codes). Default: Logto's own
    /// sign-in page only.
    pub fn sign_in_methods(self, methods: SignInMethods) -> Self {
        Self {
            sign_in_methods: methods,
            ..self
        }
    }

    /// The product's pages. Default: [`PlainPages`].
    pub fn pages(self, pages: impl Pages) -> Self {
        Self {
            pages: Arc::new(pages),
            ..self
        }
    }

    /// The names of the session cookie and of the sign-in attempts cookie. Default:
    /// `logto_session` and `logto_sign_in`.
    pub fn cookie_names(self, session: &'static str, sign_in: &'static str) -> Self {
        Self {
            cookie_names: CookieNames { session, sign_in },
            ..self
        }
    }

    /// What every Redis key starts with (sessions, their indexes, refresh locks, token
    /// hand-offs, logout tokens). Default: [`DEFAULT_REDIS_KEY_PREFIX`].
    pub fn redis_key_prefix(self, prefix: &'static str) -> Self {
        Self {
            redis_key_prefix: prefix,
            ..self
        }
    }

    /// Sends every request to Logto through `client`, for a proxy, custom CA certificates or
    /// another TLS setup; it also makes an `https` endpoint work in a build without a TLS
    /// feature. Build it with the `reqwest` that logto-client re-exports
    /// ([`logto_client::reqwest`]), with `redirect(reqwest::redirect::Policy::none())`:
    /// [`LogtoClientBuilder::http_client`](logto_client::LogtoClientBuilder::http_client) says
    /// why, and what else it should keep. Default: logto-client's own client.
    pub fn http_client(self, client: logto_client::reqwest::Client) -> Self {
        Self {
            http_client: Some(client),
            ..self
        }
    }

    /// Checks the configuration and makes the Logto client and the session store. Nothing
    /// contacts Logto or Redis here: inside a Tokio runtime, Logto's documents are loaded in
    /// the background, and Redis is connected by the first request that needs it. An `https`
    /// Logto endpoint in a build without a TLS feature, and without an injected
    /// [`http_client`](Self::http_client), is [`BuildError::Logto`] with
    /// [`LogtoError::NoTlsBackend`].
    pub fn build(self) -> Result<LogtoAuth, BuildError>
    where
        S: StoreChosen,
    {
        let (store, key) = self.store.chosen()?;
        check_lifetimes(self.absolute_lifetime, self.idle_timeout)?;
        let redirect_uri = &self.config.redirect_uri;
        if redirect_uri.path() != CALLBACK_PATH
            || redirect_uri.query().is_some()
            || redirect_uri.fragment().is_some()
        {
            return Err(BuildError::RedirectUriMismatch {
                expected: CALLBACK_PATH,
                found: redirect_uri.to_string(),
            });
        }
        let cross_site = CrossSiteGuard::for_base_url(redirect_uri)?;
        let secure = redirect_uri.scheme() == "https";
        let backend = backend_for(&store, self.redis_key_prefix)?;
        let lifetimes = SessionLifetimes {
            absolute: self.absolute_lifetime,
            idle: self.idle_timeout,
        };
        let mut client = LogtoClient::builder(self.config.clone());
        if let Some(http_client) = self.http_client {
            client = client.http_client(http_client);
        }
        let client = Arc::new(client.build()?);
        let guard = SessionGuard::new(Arc::clone(&client), backend.records(lifetimes), lifetimes)
            // A copy of a cookie may outlive a sign-out elsewhere: ask Logto when a token is due.
            .recheck_when_due(store == SessionStoreKind::Cookie);
        prefetch_in_background(&client);
        Ok(LogtoAuth {
            inner: Arc::new(Inner {
                config: self.config,
                client,
                guard,
                store,
                backend,
                key,
                lifetimes,
                sign_in_methods: self.sign_in_methods,
                pages: self.pages,
                cross_site,
                cookie_names: self.cookie_names,
                secure,
            }),
        })
    }
}

fn backend_for(
    store: &SessionStoreKind,
    prefix: &'static str,
) -> Result<SessionBackend, BuildError> {
    match store {
        SessionStoreKind::Cookie => Ok(SessionBackend::Cookie),
        #[cfg(feature = "redis")]
        SessionStoreKind::Redis { url } => crate::store::SharedRedis::new(url)
            .map(|redis| SessionBackend::Redis { redis, prefix })
            .map_err(|error| BuildError::Redis {
                reason: error.to_string(),
            }),
        #[cfg(not(feature = "redis"))]
        SessionStoreKind::Redis { .. } => {
            let _ = prefix;
            Err(BuildError::RedisFeatureOff)
        }
    }
}

/// Loads discovery and keys without delaying start-up; if Logto is down, the app still serves
/// its pages and the next sign-in retries. Outside a Tokio runtime, the first sign-in loads
/// them.
fn prefetch_in_background(client: &Arc<LogtoClient>) {
    if tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    let client = Arc::clone(client);
    tokio::spawn(async move {
        if let Err(error) = client.prefetch().await {
            log::warn!(
                "Logto is not reachable yet, sign-in will retry: {}",
                error_chain(&error)
            );
        }
    });
}

fn check_lifetimes(absolute: Duration, idle: Duration) -> Result<(), BuildError> {
    let problem = if absolute.is_zero() || idle.is_zero() {
        Some(format!(
            "must be positive (absolute {absolute:?}, idle {idle:?})"
        ))
    } else if absolute > MAX_SESSION_LIFETIME {
        Some(format!(
            "exceed 400 days, the longest a browser keeps a cookie (absolute {absolute:?})"
        ))
    } else if idle > absolute {
        Some(format!(
            "have an idle timeout longer than the absolute lifetime ({idle:?} > {absolute:?})"
        ))
    } else {
        None
    };
    match problem {
        Some(problem) => Err(BuildError::Lifetimes { problem }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::net::SocketAddr;

    use logto_client::reqwest;
    use test_support::idp::{RegisteredClient, TestIdp};
    use url::Url;

    use super::*;

    const SECRET_64: &[u8; 64] =
        b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn config(redirect_uri: &str) -> LogtoConfig {
        LogtoConfig::new(
            Url::parse("http://localhost:3001/").unwrap(),
            "app".to_owned(),
            "secret".to_owned().into(),
            Url::parse(redirect_uri).unwrap(),
            Url::parse("http://localhost:3000/").unwrap(),
        )
    }

    fn builder() -> LogtoAuthBuilder<NoStore> {
        LogtoAuth::builder(config("http://localhost:3000/callback"))
    }

    #[test]
    fn a_cookie_store_with_a_key_builds_with_the_defaults() {
        let auth = builder().cookie_store(Key::generate()).build().unwrap();
        assert_eq!(auth.store(), &SessionStoreKind::Cookie);
        assert_eq!(auth.absolute_lifetime(), DEFAULT_SESSION_TTL);
        assert_eq!(auth.idle_timeout(), DEFAULT_SESSION_IDLE_TIMEOUT);
        assert!(auth.sign_in_methods().social_connectors.is_empty());
        assert!(
            auth.cross_site_guard()
                .check(
                    &actix_web::http::Method::POST,
                    &actix_web::http::header::HeaderMap::new()
                )
                .is_ok()
        );
    }

    #[test]
    fn key_material_under_64_bytes_is_refused_at_build() {
        let error = builder()
            .cookie_store(&b"too short"[..])
            .build()
            .unwrap_err();
        assert!(matches!(error, BuildError::SessionKey(_)), "{error:?}");
        assert!(error.to_string().contains("at least 64 bytes"), "{error}");
        let auth = builder().cookie_store(&SECRET_64[..]).build().unwrap();
        assert_eq!(auth.key().master(), Key::from(SECRET_64).master());
    }

    #[test]
    fn a_redis_store_needs_a_redis_url() {
        let error = builder()
            .redis_store("localhost:6379", Key::generate())
            .build()
            .unwrap_err();
        assert!(matches!(error, BuildError::RedisUrl { .. }), "{error:?}");
        assert!(
            error
                .to_string()
                .starts_with("REDIS_URL is \"localhost:6379\""),
            "{error}"
        );
        let auth = builder()
            .redis_store("redis+unix:///run/redis.sock", Key::generate())
            .build()
            .unwrap();
        assert_eq!(
            auth.store(),
            &SessionStoreKind::Redis {
                url: "redis+unix:///run/redis.sock".to_owned()
            }
        );
    }

    #[test]
    fn lifetimes_that_contradict_each_other_are_refused() {
        let day = Duration::from_secs(24 * 3600);
        for (absolute, idle) in [
            (day, 2 * day),
            (Duration::ZERO, Duration::ZERO),
            (day, Duration::ZERO),
            (401 * day, day),
        ] {
            let error = builder()
                .cookie_store(Key::generate())
                .lifetimes(absolute, idle)
                .build()
                .unwrap_err();
            assert!(
                matches!(error, BuildError::Lifetimes { .. }),
                "{absolute:?} {idle:?}: {error:?}"
            );
        }
        let auth = builder()
            .cookie_store(Key::generate())
            .lifetimes(400 * day, 400 * day)
            .build()
            .unwrap();
        assert_eq!(auth.idle_timeout(), 400 * day);
    }

    #[test]
    fn the_redirect_uri_must_be_the_callback_route() {
        for found in [
            "http://localhost:3000/auth/callback",
            "http://localhost:3000/",
            "http://localhost:3000/callback?x=1",
        ] {
            let error = LogtoAuth::builder(config(found))
                .cookie_store(Key::generate())
                .build()
                .unwrap_err();
            assert!(
                matches!(&error, BuildError::RedirectUriMismatch { expected: "/callback", found: f } if f == found),
                "{error:?}"
            );
        }
    }

    #[test]
    fn a_redirect_uri_without_an_origin_is_refused() {
        let error = LogtoAuth::builder(config("file:///callback"))
            .cookie_store(Key::generate())
            .build()
            .unwrap_err();
        assert!(matches!(error, BuildError::OpaqueOrigin(_)), "{error:?}");
    }

    #[test]
    fn from_settings_takes_the_store_key_and_lifetimes_of_the_environment() {
        let env: HashMap<&str, String> = [
            ("SESSION_STORE", "redis".to_owned()),
            ("REDIS_URL", "redis://127.0.0.1:6390".to_owned()),
            (
                "SESSION_SECRET",
                String::from_utf8(SECRET_64.to_vec()).unwrap(),
            ),
            ("SESSION_TTL", "7d".to_owned()),
            ("SESSION_IDLE_TIMEOUT", "2h".to_owned()),
        ]
        .into_iter()
        .collect();
        let settings = SessionSettings::from_lookup(|name| env.get(name).cloned()).unwrap();
        let auth = LogtoAuth::from_settings(config("http://localhost:3000/callback"), &settings)
            .build()
            .unwrap();
        assert_eq!(
            auth.store(),
            &SessionStoreKind::Redis {
                url: "redis://127.0.0.1:6390".to_owned()
            }
        );
        assert_eq!(auth.key().master(), settings.secret.key().master());
        assert_eq!(auth.absolute_lifetime(), Duration::from_secs(7 * 24 * 3600));
        assert_eq!(auth.idle_timeout(), Duration::from_secs(2 * 3600));
    }

    #[test]
    fn the_pages_and_sign_in_methods_given_are_kept() {
        struct Mine;
        impl Pages for Mine {
            fn ui_locales(&self, _: &actix_web::dev::RequestHead) -> Option<String> {
                Some("ja".to_owned())
            }
        }
        let auth = builder()
            .cookie_store(Key::generate())
            .pages(Mine)
            .sign_in_methods(SignInMethods {
                social_connectors: vec!["github".to_owned()],
                email_sign_in: true,
            })
            .build()
            .unwrap();
        let request = actix_web::test::TestRequest::default().to_http_request();
        assert_eq!(
            auth.pages().ui_locales(request.head()).as_deref(),
            Some("ja")
        );
        assert!(auth.sign_in_methods().email_sign_in);
    }

    /// The IdP calls itself `logto.test`, a name no resolver knows: only an HTTP client told
    /// where that name lives reaches it, as a product's client would reach Logto through its
    /// proxy or with its CA certificates.
    #[actix_web::test]
    async fn the_injected_http_client_is_the_one_that_reaches_logto() {
        let idp = TestIdp::start_behind(
            RegisteredClient {
                client_id: "app".to_owned(),
                client_secret: "secret".to_owned(),
                redirect_uri: "http://localhost:3000/callback".to_owned(),
                post_logout_redirect_uri: "http://localhost:3000/".to_owned(),
            },
            "logto.test",
        )
        .await;
        let mut config = config("http://localhost:3000/callback");
        config.endpoint = Url::parse(&format!("{}/", idp.endpoint())).unwrap();
        // Bounds the failure, should the builder's own client try to resolve logto.test.
        config.http_timeout = Duration::from_secs(2);
        let knows_logto_test = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .resolve("logto.test", SocketAddr::from(([127, 0, 0, 1], idp.port())))
            .build()
            .unwrap();

        let auth = LogtoAuth::builder(config)
            .http_client(knows_logto_test)
            .cookie_store(Key::generate())
            .build()
            .unwrap();

        auth.client().prefetch().await.unwrap();
        assert!(auth.client().is_loaded());
        idp.stop().await;
    }

    #[test]
    fn an_https_logto_endpoint_needs_a_tls_backend_or_an_injected_client() {
        let mut https = config("http://localhost:3000/callback");
        https.endpoint = Url::parse("https://tenant.logto.app/").unwrap();
        let built = LogtoAuth::builder(https.clone())
            .cookie_store(Key::generate())
            .build();
        let has_tls_backend = cfg!(any(
            feature = "rustls-tls",
            feature = "rustls-tls-native-roots",
            feature = "native-tls"
        ));
        match built {
            Ok(_) => assert!(has_tls_backend, "built without a TLS backend"),
            Err(error) => {
                assert!(!has_tls_backend, "{error}");
                assert!(
                    matches!(error, BuildError::Logto(LogtoError::NoTlsBackend)),
                    "{error:?}"
                );
                assert_eq!(
                    error.to_string(),
                    "the Logto client cannot be made: the identity provider's endpoint needs TLS, and no TLS backend is enabled. Enable the rustls-tls, rustls-tls-native-roots or native-tls feature, or inject an HTTP client"
                );
            }
        }
        let injected = LogtoAuth::builder(https)
            .http_client(reqwest::Client::new())
            .cookie_store(Key::generate())
            .build();
        assert!(injected.is_ok(), "an injected client brings its own TLS");
    }
}
