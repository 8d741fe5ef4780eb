//! Settings read from the environment (12-factor): where the server listens and how browsers
//! reach it (`HOST`, `PORT`, `BASE_URL`), and where sessions live and for how long
//! (`SESSION_STORE`, `REDIS_URL`, `SESSION_SECRET`, `SESSION_TTL`, `SESSION_IDLE_TIMEOUT`).
//!
//! Every problem is one [`StartupError`] that names the variable and says how to fix it, so
//! that `main` can print a single line instead of a panic. The helpers at the end
//! ([`http_url`], [`duration`], [`flag`]) read a product's own settings the same way.
//!
//! Logto's own settings (`LOGTO_*`) are [`LogtoSettings`]: a [`LogtoConfig`] and the
//! [`SignInMethods`] offered.

use std::time::Duration;

use actix_web::cookie::Key;
use logto_client::LogtoConfig;
use logto_client::session::SessionLifetimes;
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
/// `"{variable} {problem}. {fix}"`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{variable} {problem}. {fix}")]
pub struct StartupError {
    /// The environment variable.
    pub variable: &'static str,
    /// What is wrong with its value.
    pub problem: String,
    /// How to fix it.
    pub fix: &'static str,
}

impl StartupError {
    /// `variable` has `problem`; `fix` says what to do.
    pub fn new(variable: &'static str, problem: impl Into<String>, fix: &'static str) -> Self {
        Self {
            variable,
            problem: problem.into(),
            fix,
        }
    }
}

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

/// An empty value counts as unset, as it does in most .env tooling.
fn non_empty(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name).filter(|value| !value.trim().is_empty())
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
        let ttl = session_lifetime("SESSION_TTL", get("SESSION_TTL"), DEFAULT_SESSION_TTL)?;
        let idle_timeout = session_lifetime(
            "SESSION_IDLE_TIMEOUT",
            get("SESSION_IDLE_TIMEOUT"),
            DEFAULT_SESSION_IDLE_TIMEOUT,
        )?;
        if idle_timeout > ttl {
            return Err(StartupError::new(
                "SESSION_IDLE_TIMEOUT",
                format!("is longer than SESSION_TTL ({idle_timeout:?} > {ttl:?})"),
                "Make it at most SESSION_TTL, which bounds every session anyway",
            ));
        }
        Ok(Self {
            store: parse_session_store(get("SESSION_STORE"), get("REDIS_URL"))?,
            secret: parse_session_secret(get("SESSION_SECRET"))?,
            ttl,
            idle_timeout,
        })
    }
}

/// The scopes Logto reserves; they are always requested.
pub const RESERVED_SCOPES: [&str; 3] = ["openid", "offline_access", "profile"];

/// Values accepted in `LOGTO_PROMPT` (OpenID Connect Core §3.1.2.1).
const PROMPT_VALUES: [&str; 4] = ["consent", "login", "none", "select_account"];

/// The default time Logto has to answer one request (express-openid-connect's `httpTimeout`).
const DEFAULT_LOGTO_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest `LOGTO_TIMEOUT` accepted: a request to Logto in flight at shutdown must finish
/// within a shutdown grace of 8 s.
pub const MAX_LOGTO_TIMEOUT: Duration = Duration::from_secs(7);

/// The Logto application to sign in with (`LOGTO_*`), and the sign-in methods offered.
#[derive(Debug, Clone)]
pub struct LogtoSettings {
    /// `LOGTO_ENDPOINT`, `LOGTO_INTERNAL_ENDPOINT`, `LOGTO_APP_ID`, `LOGTO_APP_SECRET`,
    /// `LOGTO_SCOPES` (after the reserved ones), `LOGTO_PROMPT`, `LOGTO_RESOURCES` and
    /// `LOGTO_TIMEOUT`; the redirect URIs come from `BASE_URL`.
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
        let endpoint = parse_logto_endpoint(
            "LOGTO_ENDPOINT",
            required("LOGTO_ENDPOINT", get("LOGTO_ENDPOINT"), ENDPOINT_FIX)?,
        )?;
        let app_id = required(
            "LOGTO_APP_ID",
            get("LOGTO_APP_ID"),
            "Copy the App ID of your Traditional web app from the Logto Console into .env",
        )?;
        let app_secret = required(
            "LOGTO_APP_SECRET",
            get("LOGTO_APP_SECRET"),
            "Copy the App secret of your Traditional web app from the Logto Console into .env",
        )?;
        let mut config = LogtoConfig::new(
            endpoint,
            app_id,
            app_secret.into(),
            server.redirect_uri(),
            server.post_sign_out_redirect_uri(),
        );
        config.internal_endpoint = get("LOGTO_INTERNAL_ENDPOINT")
            .map(|value| parse_logto_endpoint("LOGTO_INTERNAL_ENDPOINT", value))
            .transpose()?;
        config.scopes = scopes(get("LOGTO_SCOPES"));
        config.prompt = parse_prompt(lookup("LOGTO_PROMPT"))?;
        config.resources = parse_resources(get("LOGTO_RESOURCES"))?;
        config.http_timeout = parse_logto_timeout(get("LOGTO_TIMEOUT"))?;
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

fn required(
    variable: &'static str,
    value: Option<String>,
    fix: &'static str,
) -> Result<String, StartupError> {
    value.ok_or_else(|| StartupError::new(variable, "is not set", fix))
}

const ENDPOINT_FIX: &str =
    "Set it to your Logto endpoint without /oidc, for example LOGTO_ENDPOINT=http://localhost:3001";

fn parse_logto_endpoint(variable: &'static str, value: String) -> Result<Url, StartupError> {
    let mut url = http_url(variable, &value, ENDPOINT_FIX)?;
    let path = url.path().trim_end_matches('/').to_owned();
    if path.ends_with("/oidc") {
        return Err(StartupError::new(
            variable,
            "ends with /oidc, which the app adds itself",
            ENDPOINT_FIX,
        ));
    }
    // A trailing slash keeps `Url::join` from dropping the last path segment.
    url.set_path(&format!("{path}/"));
    Ok(url)
}

fn scopes(extra: Option<String>) -> Vec<String> {
    let mut scopes: Vec<String> = RESERVED_SCOPES.iter().map(|&s| s.to_owned()).collect();
    for scope in extra.iter().flat_map(|value| value.split_whitespace()) {
        if !scopes.iter().any(|known| known == scope) {
            scopes.push(scope.to_owned());
        }
    }
    scopes
}

fn comma_separated(value: Option<String>) -> Vec<String> {
    value
        .iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_resources(value: Option<String>) -> Result<Vec<String>, StartupError> {
    let resources = comma_separated(value);
    if let Some(bad) = resources.iter().find(|r| Url::parse(r).is_err()) {
        return Err(StartupError::new(
            "LOGTO_RESOURCES",
            format!("contains {bad:?}, which is not a URL"),
            "List API resource indicators as registered in Logto, comma-separated, e.g. https://api.bookstore.example",
        ));
    }
    Ok(resources)
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

/// Unset means `consent` (Logto issues a refresh token only with it); empty means no prompt.
fn parse_prompt(value: Option<String>) -> Result<Option<String>, StartupError> {
    let Some(value) = value else {
        return Ok(Some("consent".to_owned()));
    };
    let values: Vec<&str> = value.split_whitespace().collect();
    if values.is_empty() {
        return Ok(None);
    }
    if let Some(unknown) = values.iter().find(|v| !PROMPT_VALUES.contains(v)) {
        return Err(StartupError::new(
            "LOGTO_PROMPT",
            format!("contains {unknown:?}"),
            "Use space-separated values from consent, login, none and select_account, or leave it empty",
        ));
    }
    Ok(Some(values.join(" ")))
}

/// `LOGTO_TIMEOUT`: a duration like `5s` or `2500ms`, at most [`MAX_LOGTO_TIMEOUT`].
fn parse_logto_timeout(value: Option<String>) -> Result<Duration, StartupError> {
    duration(
        "LOGTO_TIMEOUT",
        value,
        DEFAULT_LOGTO_TIMEOUT,
        (MAX_LOGTO_TIMEOUT, "7s"),
        "Use a duration like 5s or 2500ms, at most 7s: requests in flight must finish within the 8 s shutdown grace",
    )
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

/// `SESSION_TTL` or `SESSION_IDLE_TIMEOUT`: a duration of at most 400 days.
fn session_lifetime(
    variable: &'static str,
    value: Option<String>,
    default: Duration,
) -> Result<Duration, StartupError> {
    duration(
        variable,
        value,
        default,
        (MAX_SESSION_LIFETIME, "400 days"),
        "Use a positive whole number with s, m, h or d, for example 24h or 14d",
    )
}

/// `value` of `variable` as an http(s) URL with a host and without query or fragment.
pub fn http_url(
    variable: &'static str,
    value: &str,
    fix: &'static str,
) -> Result<Url, StartupError> {
    let url = Url::parse(value.trim())
        .map_err(|error| StartupError::new(variable, format!("is not a URL ({error})"), fix))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(StartupError::new(
            variable,
            format!("is {value:?}, which is not an http(s) URL"),
            fix,
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(StartupError::new(
            variable,
            "must not have a query string or fragment",
            fix,
        ));
    }
    Ok(url)
}

/// `value` of `variable` as `true`/`1`/`yes` or `false`/`0`/`no`; unset is `false`.
pub fn flag(variable: &'static str, value: Option<String>) -> Result<bool, StartupError> {
    match value.as_deref().map(str::trim) {
        None | Some("false" | "0" | "no") => Ok(false),
        Some("true" | "1" | "yes") => Ok(true),
        Some(other) => Err(StartupError::new(
            variable,
            format!("is {other:?}"),
            "Use true or false",
        )),
    }
}

/// `value` of `variable` as a positive whole number with `ms`, `s`, `m`, `h` or `d` (a bare
/// number counts seconds), at most `max` (with how to say it); `default` when unset.
pub fn duration(
    variable: &'static str,
    value: Option<String>,
    default: Duration,
    (max, max_said): (Duration, &str),
    fix: &'static str,
) -> Result<Duration, StartupError> {
    let Some(value) = value else {
        return Ok(default);
    };
    let text = value.trim();
    let (number, unit_millis) = if let Some(number) = text.strip_suffix("ms") {
        (number, 1)
    } else {
        match text.char_indices().last() {
            Some((at, 's')) => (&text[..at], 1_000),
            Some((at, 'm')) => (&text[..at], 60 * 1_000),
            Some((at, 'h')) => (&text[..at], 60 * 60 * 1_000),
            Some((at, 'd')) => (&text[..at], 24 * 60 * 60 * 1_000),
            _ => (text, 1_000),
        }
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|number| number.checked_mul(unit_millis))
        .filter(|millis| *millis > 0)
        .map(Duration::from_millis)
        .filter(|duration| *duration <= max)
        .ok_or_else(|| {
            StartupError::new(
                variable,
                format!("is {value:?}, which is not a positive duration of at most {max_said}"),
                fix,
            )
        })
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
    fn logto_settings_make_the_client_configuration_with_base_url_s_redirect_uris() {
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
        assert_eq!(
            logto.config.scopes,
            ["openid", "offline_access", "profile", "email"]
        );
        assert_eq!(logto.sign_in_methods.social_connectors, ["github"]);
        assert!(!format!("{logto:?}").contains("s3cret"));
        let unset = LogtoSettings::from_lookup(env(&[]), &server);
        assert_eq!(variable_refused(unset), "LOGTO_ENDPOINT");
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
    fn session_lifetimes_default_to_14_days_and_24_hours() {
        let session = session(&[]).unwrap();
        assert_eq!(session.ttl, Duration::from_secs(14 * 24 * 3600));
        assert_eq!(session.idle_timeout, Duration::from_secs(24 * 3600));
    }

    fn idle_timeout(value: &str) -> Duration {
        session(&[("SESSION_IDLE_TIMEOUT", value)])
            .unwrap()
            .idle_timeout
    }

    #[test]
    fn session_lifetimes_take_units() {
        let session = session(&[("SESSION_TTL", "7d"), ("SESSION_IDLE_TIMEOUT", "30m")]).unwrap();
        assert_eq!(session.ttl, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(session.idle_timeout, Duration::from_secs(30 * 60));
        assert_eq!(idle_timeout("90"), Duration::from_secs(90));
        assert_eq!(idle_timeout("2h"), Duration::from_secs(2 * 3600));
        assert_eq!(idle_timeout("45s"), Duration::from_secs(45));
    }

    #[test]
    fn bad_session_lifetimes_are_named() {
        for bad in [
            "0",
            "-5m",
            "1w",
            "soon",
            "1.5h",
            "h",
            "401d",
            "18446744073709551615",
        ] {
            assert_eq!(
                variable_refused(session(&[("SESSION_TTL", bad)])),
                "SESSION_TTL",
                "{bad}"
            );
        }
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

    #[test]
    fn flags_are_true_or_false() {
        assert!(flag("F", Some("yes".into())).unwrap());
        assert!(!flag("F", None).unwrap());
        assert_eq!(flag("F", Some("maybe".into())).unwrap_err().variable, "F");
    }
}
