//! Settings read from the environment (12-factor): where the server listens and how browsers
//! reach it (`HOST`, `PORT`, `BASE_URL`), and where sessions live and for how long
//! (`SESSION_STORE`, `REDIS_URL`, `SESSION_SECRET`, `SESSION_TTL`, `SESSION_IDLE_TIMEOUT`).
//!
//! Every problem is one [`StartupError`] that names the variable and says how to fix it, so
//! that `main` can print a single line instead of a panic. It is logto-client's
//! [`SettingError`](logto_client::settings::SettingError), and the helpers of
//! [`logto_client::settings`] read a product's own settings the same way.
//!
//! Logto's own settings (`LOGTO_*`) are [`LogtoSettings`]: the [`LogtoConfig`] that
//! logto-client reads ([`LogtoConfig::from_lookup`]), with this app's redirect URIs, and the
//! [`SignInMethods`] offered.

use std::time::Duration;

use actix_web::cookie::Key;
use logto_client::LogtoConfig;
use logto_client::session::SessionLifetimes;
use logto_client::settings::{comma_separated, flag, http_url, non_empty};
use url::Url;

use crate::SignInMethods;

/// A session's longest life by default (`SESSION_TTL`): the protocol's 14 days.
pub const DEFAULT_SESSION_TTL: Duration = SessionLifetimes::DEFAULT_ABSOLUTE;
/// How long an unused session lasts by default (`SESSION_IDLE_TIMEOUT`): the protocol's day.
pub const DEFAULT_SESSION_IDLE_TIMEOUT: Duration = SessionLifetimes::DEFAULT_IDLE;
/// The longest session lifetime accepted: browsers cap a cookie's lifetime at 400 days.
pub const MAX_SESSION_LIFETIME: Duration = SessionLifetimes::MAX;
/// The shortest `SESSION_SECRET` accepted, in bytes.
pub const MIN_SESSION_SECRET_BYTES: usize = 64;

/// A setting that cannot be used, worded for the person starting the app:
/// `"{variable} {problem}. {fix}"` (logto-client's, so that its errors need no conversion).
pub use logto_client::settings::SettingError as StartupError;

/// Where the server listens and how the outside world reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// `HOST`, default `127.0.0.1`.
    pub host: String,
    /// `PORT`, default 3000.
    pub port: u16,
    /// The public origin (`BASE_URL`, default `http://localhost:3000/`). Redirect URIs are
    /// built from it, never from `Host`.
    pub base_url: Url,
}

/// Where sessions live, the key that protects their cookie, and how long they last.
pub struct SessionSettings {
    /// `SESSION_STORE` (and `REDIS_URL`).
    pub store: SessionStoreKind,
    /// From `SESSION_SECRET`, or generated.
    pub secret: SessionSecret,
    /// The longest a session lives from its sign-in (`SESSION_TTL`, default 14 days, as long
    /// as Logto's refresh token).
    pub ttl: Duration,
    /// A session unused this long ends (`SESSION_IDLE_TIMEOUT`, default 24 hours).
    pub idle_timeout: Duration,
}

impl std::fmt::Debug for SessionSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionSettings")
            .field("store", &self.store)
            .field("secret", &"[redacted]")
            .field("ttl", &self.ttl)
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}

/// The session store chosen by `SESSION_STORE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionStoreKind {
    /// Encrypted cookie; needs nothing else but is limited to about 4 KB.
    Cookie,
    /// Redis, keyed by a random session id kept in the cookie.
    Redis {
        /// `REDIS_URL`.
        url: String,
    },
}

/// The key that signs and encrypts the session cookie.
pub enum SessionSecret {
    /// From `SESSION_SECRET`: sessions survive restarts and work across instances.
    Configured(Key),
    /// Generated at start-up because `SESSION_SECRET` is unset: sessions end with the process.
    Generated(Key),
}

impl SessionSecret {
    /// The key, wherever it came from.
    pub fn key(&self) -> &Key {
        match self {
            Self::Configured(key) | Self::Generated(key) => key,
        }
    }
}

impl ServerSettings {
    /// Reads `HOST`, `PORT` and `BASE_URL` from the process environment.
    pub fn from_env() -> Result<Self, StartupError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads them through `lookup`, which returns a variable's value when it is set (tests
    /// pass a map here instead of touching the process environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, StartupError> {
        Ok(Self {
            host: non_empty(&lookup, "HOST").unwrap_or_else(|| "127.0.0.1".to_owned()),
            port: parse_port(non_empty(&lookup, "PORT"))?,
            base_url: parse_base_url(non_empty(&lookup, "BASE_URL"))?,
        })
    }

    /// `HOST:PORT`, to bind.
    pub fn listen_address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// `BASE_URL/callback`, the redirect URI registered in Logto.
    pub fn redirect_uri(&self) -> Url {
        let mut uri = self.base_url.clone();
        uri.set_path("/callback");
        uri
    }

    /// `BASE_URL/`, the post sign-out redirect URI registered in Logto.
    pub fn post_sign_out_redirect_uri(&self) -> Url {
        self.base_url.clone()
    }

    /// Whether cookies must be `Secure`: browsers drop them on plain-http origins.
    pub fn is_https(&self) -> bool {
        self.base_url.scheme() == "https"
    }
}

impl SessionSettings {
    /// Reads the `SESSION_*` variables and `REDIS_URL` from the process environment.
    pub fn from_env() -> Result<Self, StartupError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads them through `lookup`, which returns a variable's value when it is set.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, StartupError> {
        let get = |name: &str| non_empty(&lookup, name);
        let lifetimes = SessionLifetimes::from_lookup(&lookup)?;
        Ok(Self {
            store: parse_session_store(get("SESSION_STORE"), get("REDIS_URL"))?,
            secret: parse_session_secret(get("SESSION_SECRET"))?,
            ttl: lifetimes.absolute,
            idle_timeout: lifetimes.idle,
        })
    }
}

/// The Logto application to sign in with (`LOGTO_*`), and the sign-in methods offered.
#[derive(Debug, Clone)]
pub struct LogtoSettings {
    /// `LOGTO_ENDPOINT`, `LOGTO_INTERNAL_ENDPOINT`, `LOGTO_APP_ID`, `LOGTO_APP_SECRET`,
    /// `LOGTO_SCOPES` (after the reserved ones), `LOGTO_PROMPT`, `LOGTO_RESOURCES` and
    /// `LOGTO_TIMEOUT`, as [`LogtoConfig::from_lookup`] reads them; the redirect URIs come
    /// from `BASE_URL`.
    pub config: LogtoConfig,
    /// `LOGTO_SOCIAL_CONNECTORS` and `LOGTO_EMAIL_SIGN_IN`.
    pub sign_in_methods: SignInMethods,
}

impl LogtoSettings {
    /// Reads the `LOGTO_*` variables from the process environment; `server` gives the
    /// redirect URIs.
    pub fn from_env(server: &ServerSettings) -> Result<Self, StartupError> {
        Self::from_lookup(|name| std::env::var(name).ok(), server)
    }

    /// Reads them through `lookup`, which returns a variable's value when it is set.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        server: &ServerSettings,
    ) -> Result<Self, StartupError> {
        let get = |name: &str| non_empty(&lookup, name);
        let config = LogtoConfig::from_lookup(
            &lookup,
            server.redirect_uri(),
            server.post_sign_out_redirect_uri(),
        )?;
        let sign_in_methods = SignInMethods {
            social_connectors: parse_social_connectors(get("LOGTO_SOCIAL_CONNECTORS"))?,
            email_sign_in: flag("LOGTO_EMAIL_SIGN_IN", get("LOGTO_EMAIL_SIGN_IN"))?,
        };
        Ok(Self {
            config,
            sign_in_methods,
        })
    }
}

fn parse_social_connectors(value: Option<String>) -> Result<Vec<String>, StartupError> {
    let targets = comma_separated(value);
    let valid = |target: &str| {
        target.len() <= 64
            && target
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    };
    if let Some(bad) = targets.iter().find(|target| !valid(target)) {
        return Err(StartupError::new(
            "LOGTO_SOCIAL_CONNECTORS",
            format!("contains {bad:?}"),
            "List connector targets as shown in the Logto Console, comma-separated, e.g. github,xiaomi",
        ));
    }
    Ok(targets)
}

fn parse_port(value: Option<String>) -> Result<u16, StartupError> {
    let Some(value) = value else { return Ok(3000) };
    value.trim().parse().map_err(|_| {
        StartupError::new(
            "PORT",
            format!("is {value:?}, which is not a port number"),
            "Use a number from 0 to 65535, for example PORT=3000",
        )
    })
}

fn parse_base_url(value: Option<String>) -> Result<Url, StartupError> {
    const FIX: &str =
        "Set it to the public origin of this app, for example BASE_URL=http://localhost:3000";
    let Some(value) = value else {
        return Ok(Url::parse("http://localhost:3000/").expect("a valid literal URL"));
    };
    let url = http_url("BASE_URL", &value, FIX)?;
    if url.path() != "/" {
        return Err(StartupError::new(
            "BASE_URL",
            format!("has the path {:?}, but it must be an origin", url.path()),
            FIX,
        ));
    }
    Ok(url)
}

/// Whether `url` names a Redis server the way the `redis` crate reads it: `redis://`,
/// `rediss://` (TLS), or a Unix socket (`redis+unix://`, `unix://`).
pub fn is_redis_url(url: &str) -> bool {
    Url::parse(url.trim())
        .is_ok_and(|url| matches!(url.scheme(), "redis" | "rediss" | "redis+unix" | "unix"))
}

/// What `REDIS_URL` must look like.
pub(crate) const REDIS_URL_FIX: &str =
    "Use a URL like redis://127.0.0.1:6379 (or rediss:// for TLS)";

fn parse_session_store(
    store: Option<String>,
    redis_url: Option<String>,
) -> Result<SessionStoreKind, StartupError> {
    match store.as_deref().map(str::trim) {
        None | Some("cookie") => Ok(SessionStoreKind::Cookie),
        Some("redis") => {
            let url = redis_url.unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
            if !is_redis_url(&url) {
                return Err(StartupError::new(
                    "REDIS_URL",
                    format!("is {url:?}, which is not a Redis URL"),
                    REDIS_URL_FIX,
                ));
            }
            Ok(SessionStoreKind::Redis {
                url: url.trim().to_owned(),
            })
        }
        Some(other) => Err(StartupError::new(
            "SESSION_STORE",
            format!("is {other:?}"),
            "Use SESSION_STORE=cookie (the default) or SESSION_STORE=redis",
        )),
    }
}

fn parse_session_secret(value: Option<String>) -> Result<SessionSecret, StartupError> {
    let Some(value) = value else {
        return Ok(SessionSecret::Generated(Key::generate()));
    };
    if value.len() < MIN_SESSION_SECRET_BYTES {
        return Err(StartupError::new(
            "SESSION_SECRET",
            format!(
                "is {} bytes long, but it needs at least {MIN_SESSION_SECRET_BYTES}",
                value.len()
            ),
            "Generate one with `openssl rand -hex 64`, or unset it to use a random key that lasts until the next restart",
        ));
    }
    // HKDF over the whole secret: `Key::from` would use only its first 64 bytes.
    Ok(SessionSecret::Configured(Key::derive_from(
        value.as_bytes(),
    )))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const SECRET_64: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let env: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| env.get(name).cloned()
    }

    fn server(vars: &[(&str, &str)]) -> Result<ServerSettings, StartupError> {
        ServerSettings::from_lookup(env(vars))
    }

    fn session(vars: &[(&str, &str)]) -> Result<SessionSettings, StartupError> {
        SessionSettings::from_lookup(env(vars))
    }

    fn variable_refused(result: Result<impl std::fmt::Debug, StartupError>) -> &'static str {
        result.expect_err("the setting should be refused").variable
    }

    #[test]
    fn logto_settings_are_logto_client_s_configuration_with_base_url_s_redirect_uris() {
        let vars = [
            ("BASE_URL", "https://shop.example"),
            ("LOGTO_ENDPOINT", "https://tenant.logto.app"),
            ("LOGTO_APP_ID", "shop"),
            ("LOGTO_APP_SECRET", "s3cret"),
            ("LOGTO_SCOPES", "email"),
            ("LOGTO_SOCIAL_CONNECTORS", "github"),
        ];
        let server = server(&vars).unwrap();
        let logto = LogtoSettings::from_lookup(env(&vars), &server).unwrap();
        assert_eq!(logto.config.endpoint.as_str(), "https://tenant.logto.app/");
        assert_eq!(
            logto.config.redirect_uri.as_str(),
            "https://shop.example/callback"
        );
        assert_eq!(
            logto.config.post_sign_out_redirect_uri.as_str(),
            "https://shop.example/"
        );
        assert_eq!(logto.sign_in_methods.social_connectors, ["github"]);
        assert!(!format!("{logto:?}").contains("s3cret"));
        let unset = LogtoSettings::from_lookup(env(&[]), &server);
        assert_eq!(
            unset.unwrap_err().to_string(),
            "LOGTO_ENDPOINT is not set. Set it to your Logto endpoint without /oidc, for example LOGTO_ENDPOINT=http://localhost:3001",
            "logto-client's message, as it is"
        );
    }

    #[test]
    fn sign_in_methods_are_validated() {
        let vars = [
            ("LOGTO_ENDPOINT", "http://localhost:3001"),
            ("LOGTO_APP_ID", "bookstore"),
            ("LOGTO_APP_SECRET", "s3cret"),
            ("LOGTO_SOCIAL_CONNECTORS", "github, xiaomi"),
            ("LOGTO_EMAIL_SIGN_IN", "true"),
        ];
        let server = server(&[]).unwrap();
        let logto = |extra: &[(&str, &str)]| {
            let all: Vec<_> = vars.iter().chain(extra).copied().collect();
            LogtoSettings::from_lookup(env(&all), &server)
        };
        let methods = logto(&[]).unwrap().sign_in_methods;
        assert_eq!(methods.social_connectors, ["github", "xiaomi"]);
        assert!(methods.email_sign_in);
        let error = logto(&[("LOGTO_SOCIAL_CONNECTORS", "Git Hub")]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "LOGTO_SOCIAL_CONNECTORS contains \"Git Hub\". List connector targets as shown in the Logto Console, comma-separated, e.g. github,xiaomi"
        );
        assert_eq!(
            variable_refused(logto(&[("LOGTO_EMAIL_SIGN_IN", "maybe")])),
            "LOGTO_EMAIL_SIGN_IN"
        );
    }

    #[test]
    fn defaults_match_the_documentation() {
        let server = server(&[]).unwrap();
        assert_eq!(server.host, "127.0.0.1");
        assert_eq!(server.port, 3000);
        assert_eq!(server.base_url.as_str(), "http://localhost:3000/");
        assert_eq!(server.listen_address(), "127.0.0.1:3000");
        let session = session(&[]).unwrap();
        assert_eq!(session.store, SessionStoreKind::Cookie);
        assert!(matches!(session.secret, SessionSecret::Generated(_)));
    }

    #[test]
    fn an_empty_value_counts_as_unset() {
        let server = server(&[("HOST", " "), ("PORT", ""), ("BASE_URL", "")]).unwrap();
        assert_eq!(server.listen_address(), "127.0.0.1:3000");
    }

    #[test]
    fn redirect_uris_are_built_from_base_url() {
        let server = server(&[("BASE_URL", "https://books.example.com")]).unwrap();
        assert_eq!(
            server.redirect_uri().as_str(),
            "https://books.example.com/callback"
        );
        assert_eq!(
            server.post_sign_out_redirect_uri().as_str(),
            "https://books.example.com/"
        );
        assert!(server.is_https());
    }

    #[test]
    fn base_url_must_be_an_http_origin() {
        for bad in [
            "localhost:3000",
            "ftp://example.com",
            "http://example.com/app",
            "http://example.com/?x=1",
        ] {
            assert_eq!(
                variable_refused(server(&[("BASE_URL", bad)])),
                "BASE_URL",
                "{bad}"
            );
        }
    }

    #[test]
    fn port_must_be_a_number() {
        assert_eq!(server(&[("PORT", "8080")]).unwrap().port, 8080);
        assert_eq!(variable_refused(server(&[("PORT", "http")])), "PORT");
        assert_eq!(variable_refused(server(&[("PORT", "70000")])), "PORT");
    }

    #[test]
    fn redis_may_listen_on_a_unix_socket() {
        for url in [
            "redis+unix:///run/redis/redis.sock",
            "unix:///run/redis/redis.sock",
        ] {
            let session = session(&[("SESSION_STORE", "redis"), ("REDIS_URL", url)]).unwrap();
            assert_eq!(
                session.store,
                SessionStoreKind::Redis {
                    url: url.to_owned()
                }
            );
        }
    }

    #[test]
    fn redis_store_defaults_to_local_redis() {
        let redis = session(&[("SESSION_STORE", "redis")]).unwrap();
        assert_eq!(
            redis.store,
            SessionStoreKind::Redis {
                url: "redis://127.0.0.1:6379".to_owned()
            }
        );
        let refused = session_error(&[("SESSION_STORE", "redis"), ("REDIS_URL", "localhost:6379")]);
        assert_eq!(refused.variable, "REDIS_URL");
        assert_eq!(
            refused.to_string(),
            "REDIS_URL is \"localhost:6379\", which is not a Redis URL. Use a URL like redis://127.0.0.1:6379 (or rediss:// for TLS)",
            "the message names the setting and the fix"
        );
        assert_eq!(
            variable_refused(session(&[("SESSION_STORE", "memcached")])),
            "SESSION_STORE"
        );
    }

    fn session_error(vars: &[(&str, &str)]) -> StartupError {
        session(vars).expect_err("the setting should be refused")
    }

    #[test]
    fn session_secret_needs_64_bytes() {
        let configured = session(&[("SESSION_SECRET", SECRET_64)]).unwrap();
        assert!(matches!(configured.secret, SessionSecret::Configured(_)));
        let error = session_error(&[("SESSION_SECRET", "too-short")]);
        assert_eq!(error.variable, "SESSION_SECRET");
        assert!(error.problem.contains("9 bytes"));
    }

    #[test]
    fn the_same_secret_gives_the_same_key() {
        let first = session(&[("SESSION_SECRET", SECRET_64)]).unwrap();
        let second = session(&[("SESSION_SECRET", SECRET_64)]).unwrap();
        assert_eq!(first.secret.key().master(), second.secret.key().master());
    }

    #[test]
    fn the_whole_session_secret_makes_the_key() {
        let first = format!("{SECRET_64}-first");
        let second = format!("{SECRET_64}-second");
        let first = session(&[("SESSION_SECRET", &first)]).unwrap();
        let second = session(&[("SESSION_SECRET", &second)]).unwrap();
        assert_ne!(
            first.secret.key().master(),
            second.secret.key().master(),
            "secrets that differ only after byte 64 must give different keys"
        );
    }

    #[test]
    fn session_lifetimes_are_logto_client_s() {
        let chosen = session(&[("SESSION_TTL", "7d"), ("SESSION_IDLE_TIMEOUT", "30m")]).unwrap();
        assert_eq!(chosen.ttl, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(chosen.idle_timeout, Duration::from_secs(30 * 60));
        let defaults = session(&[]).unwrap();
        assert_eq!(defaults.ttl, DEFAULT_SESSION_TTL);
        assert_eq!(defaults.idle_timeout, DEFAULT_SESSION_IDLE_TIMEOUT);
        let error = session_error(&[("SESSION_TTL", "1h"), ("SESSION_IDLE_TIMEOUT", "2h")]);
        assert_eq!(error.variable, "SESSION_IDLE_TIMEOUT");
    }

    #[test]
    fn debug_output_hides_the_key() {
        let session = session(&[("SESSION_SECRET", SECRET_64)]).unwrap();
        let debug = format!("{session:?}");
        assert!(!debug.contains(SECRET_64));
        assert!(debug.contains("[redacted]"));
    }
}
