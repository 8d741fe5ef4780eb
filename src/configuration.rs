//! Settings read from the environment (12-factor). `dotenvy` loads `.env` first when it exists.
//!
//! Every problem is reported as one [`ConfigError`] that names the variable and says how to fix
//! it, so that `main` can print a single line instead of a panic.

use std::time::Duration;

use actix_web::cookie::Key;
use secrecy::SecretString;
use url::Url;

use crate::logto::session::SessionLifetimes;

/// The scopes Logto reserves; they are always requested.
pub const RESERVED_SCOPES: [&str; 3] = ["openid", "offline_access", "profile"];

/// A session's longest life (14 days) and its idle timeout (a day): the protocol's defaults.
const DEFAULT_SESSION_TTL: Duration = SessionLifetimes::DEFAULT_ABSOLUTE;
const DEFAULT_SESSION_IDLE_TIMEOUT: Duration = SessionLifetimes::DEFAULT_IDLE;

/// Values accepted in `LOGTO_PROMPT` (OpenID Connect Core §3.1.2.1).
const PROMPT_VALUES: [&str; 4] = ["consent", "login", "none", "select_account"];

/// Everything the app needs to start.
#[derive(Debug)]
pub struct Settings {
    pub server: ServerSettings,
    pub logto: LogtoSettings,
    pub session: SessionSettings,
}

/// Where the app listens and how the outside world reaches it.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// The public origin (`BASE_URL`). Redirect URIs are built from it, never from `Host`.
    pub base_url: Url,
    /// Whether a reverse proxy's `X-Forwarded-For`/`Forwarded` may name the client in the
    /// access log (`TRUST_PROXY`). Redirects never read them: `BASE_URL` decides.
    pub trust_proxy: bool,
}

/// The Logto application this app signs in with.
#[derive(Debug, Clone)]
pub struct LogtoSettings {
    /// Logto's endpoint without `/oidc`, for example `http://localhost:3001`.
    pub endpoint: Url,
    /// Where this server reaches Logto, when that differs from `endpoint` (`LOGTO_INTERNAL_ENDPOINT`,
    /// for example `http://logto:3001` inside Docker Compose).
    pub internal_endpoint: Option<Url>,
    pub app_id: String,
    pub app_secret: SecretString,
    /// Reserved scopes first, then `LOGTO_SCOPES`, without duplicates.
    pub scopes: Vec<String>,
    /// The `prompt` parameter; `None` when `LOGTO_PROMPT` is empty.
    pub prompt: Option<String>,
    /// API resource indicators requested at sign-in (`LOGTO_RESOURCES`).
    pub resources: Vec<String>,
    /// Social connector targets offered as "Continue with ..." (`LOGTO_SOCIAL_CONNECTORS`).
    pub social_connectors: Vec<String>,
    /// Whether to offer "Email me a code" (`LOGTO_EMAIL_SIGN_IN`).
    pub email_sign_in: bool,
    /// How long Logto has to answer one request (`LOGTO_TIMEOUT`, default 5 s, at most 7 s).
    pub timeout: Duration,
}

/// Where sessions live, the key that protects their cookie, and how long they last.
pub struct SessionSettings {
    pub store: SessionStoreKind,
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
    Redis { url: String },
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

/// A configuration problem, worded for the person starting the app.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{variable} {problem}. {fix}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
    pub fix: &'static str,
}

impl ConfigError {
    fn new(variable: &'static str, problem: impl Into<String>, fix: &'static str) -> Self {
        Self {
            variable,
            problem: problem.into(),
            fix,
        }
    }
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, which returns a variable's value when it is set.
    /// Tests pass a map here instead of touching the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        // An empty value counts as unset, as it does in most .env tooling.
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());

        let server = ServerSettings {
            host: get("HOST").unwrap_or_else(|| "127.0.0.1".to_owned()),
            port: parse_port(get("PORT"))?,
            base_url: parse_base_url(get("BASE_URL"))?,
            trust_proxy: parse_flag("TRUST_PROXY", get("TRUST_PROXY"))?,
        };
        let logto = LogtoSettings {
            endpoint: parse_logto_endpoint(
                "LOGTO_ENDPOINT",
                required("LOGTO_ENDPOINT", get("LOGTO_ENDPOINT"), ENDPOINT_FIX)?,
            )?,
            internal_endpoint: get("LOGTO_INTERNAL_ENDPOINT")
                .map(|value| parse_logto_endpoint("LOGTO_INTERNAL_ENDPOINT", value))
                .transpose()?,
            app_id: required(
                "LOGTO_APP_ID",
                get("LOGTO_APP_ID"),
                "Copy the App ID of your Traditional web app from the Logto Console into .env",
            )?,
            app_secret: SecretString::from(required(
                "LOGTO_APP_SECRET",
                get("LOGTO_APP_SECRET"),
                "Copy the App secret of your Traditional web app from the Logto Console into .env",
            )?),
            scopes: scopes(get("LOGTO_SCOPES")),
            prompt: parse_prompt(lookup("LOGTO_PROMPT"))?,
            resources: parse_resources(get("LOGTO_RESOURCES"))?,
            social_connectors: parse_social_connectors(get("LOGTO_SOCIAL_CONNECTORS"))?,
            email_sign_in: parse_flag("LOGTO_EMAIL_SIGN_IN", get("LOGTO_EMAIL_SIGN_IN"))?,
            timeout: parse_logto_timeout(get("LOGTO_TIMEOUT"))?,
        };
        let ttl = parse_duration("SESSION_TTL", get("SESSION_TTL"), DEFAULT_SESSION_TTL)?;
        let idle_timeout = parse_duration(
            "SESSION_IDLE_TIMEOUT",
            get("SESSION_IDLE_TIMEOUT"),
            DEFAULT_SESSION_IDLE_TIMEOUT,
        )?;
        if idle_timeout > ttl {
            return Err(ConfigError::new(
                "SESSION_IDLE_TIMEOUT",
                format!("is longer than SESSION_TTL ({idle_timeout:?} > {ttl:?})"),
                "Make it at most SESSION_TTL, which bounds every session anyway",
            ));
        }
        let session = SessionSettings {
            store: parse_session_store(get("SESSION_STORE"), get("REDIS_URL"))?,
            secret: parse_session_secret(get("SESSION_SECRET"))?,
            ttl,
            idle_timeout,
        };
        Ok(Self {
            server,
            logto,
            session,
        })
    }
}

impl ServerSettings {
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

fn required(
    variable: &'static str,
    value: Option<String>,
    fix: &'static str,
) -> Result<String, ConfigError> {
    value.ok_or_else(|| ConfigError::new(variable, "is not set", fix))
}

fn parse_port(value: Option<String>) -> Result<u16, ConfigError> {
    let Some(value) = value else { return Ok(3000) };
    value.trim().parse().map_err(|_| {
        ConfigError::new(
            "PORT",
            format!("is {value:?}, which is not a port number"),
            "Use a number from 0 to 65535, for example PORT=3000",
        )
    })
}

fn parse_http_url(
    variable: &'static str,
    value: &str,
    fix: &'static str,
) -> Result<Url, ConfigError> {
    let url = Url::parse(value.trim())
        .map_err(|error| ConfigError::new(variable, format!("is not a URL ({error})"), fix))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::new(
            variable,
            format!("is {value:?}, which is not an http(s) URL"),
            fix,
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new(
            variable,
            "must not have a query string or fragment",
            fix,
        ));
    }
    Ok(url)
}

fn parse_base_url(value: Option<String>) -> Result<Url, ConfigError> {
    const FIX: &str =
        "Set it to the public origin of this app, for example BASE_URL=http://localhost:3000";
    let Some(value) = value else {
        return Ok(Url::parse("http://localhost:3000/").expect("a valid literal URL"));
    };
    let url = parse_http_url("BASE_URL", &value, FIX)?;
    if url.path() != "/" {
        return Err(ConfigError::new(
            "BASE_URL",
            format!("has the path {:?}, but it must be an origin", url.path()),
            FIX,
        ));
    }
    Ok(url)
}

const ENDPOINT_FIX: &str =
    "Set it to your Logto endpoint without /oidc, for example LOGTO_ENDPOINT=http://localhost:3001";

fn parse_logto_endpoint(variable: &'static str, value: String) -> Result<Url, ConfigError> {
    let mut url = parse_http_url(variable, &value, ENDPOINT_FIX)?;
    let path = url.path().trim_end_matches('/').to_owned();
    if path.ends_with("/oidc") {
        return Err(ConfigError::new(
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

fn parse_resources(value: Option<String>) -> Result<Vec<String>, ConfigError> {
    let resources = comma_separated(value);
    if let Some(bad) = resources.iter().find(|r| Url::parse(r).is_err()) {
        return Err(ConfigError::new(
            "LOGTO_RESOURCES",
            format!("contains {bad:?}, which is not a URL"),
            "List API resource indicators as registered in Logto, comma-separated, e.g. https://api.bookstore.example",
        ));
    }
    Ok(resources)
}

fn parse_social_connectors(value: Option<String>) -> Result<Vec<String>, ConfigError> {
    let targets = comma_separated(value);
    let valid = |target: &str| {
        target.len() <= 64
            && target
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    };
    if let Some(bad) = targets.iter().find(|target| !valid(target)) {
        return Err(ConfigError::new(
            "LOGTO_SOCIAL_CONNECTORS",
            format!("contains {bad:?}"),
            "List connector targets as shown in the Logto Console, comma-separated, e.g. github,xiaomi",
        ));
    }
    Ok(targets)
}

fn parse_flag(variable: &'static str, value: Option<String>) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::trim) {
        None | Some("false" | "0" | "no") => Ok(false),
        Some("true" | "1" | "yes") => Ok(true),
        Some(other) => Err(ConfigError::new(
            variable,
            format!("is {other:?}"),
            "Use true or false",
        )),
    }
}

/// Unset means `consent` (Logto issues a refresh token only with it); empty means no prompt.
fn parse_prompt(value: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(value) = value else {
        return Ok(Some("consent".to_owned()));
    };
    let values: Vec<&str> = value.split_whitespace().collect();
    if values.is_empty() {
        return Ok(None);
    }
    if let Some(unknown) = values.iter().find(|v| !PROMPT_VALUES.contains(v)) {
        return Err(ConfigError::new(
            "LOGTO_PROMPT",
            format!("contains {unknown:?}"),
            "Use space-separated values from consent, login, none and select_account, or leave it empty",
        ));
    }
    Ok(Some(values.join(" ")))
}

fn parse_session_store(
    store: Option<String>,
    redis_url: Option<String>,
) -> Result<SessionStoreKind, ConfigError> {
    match store.as_deref().map(str::trim) {
        None | Some("cookie") => Ok(SessionStoreKind::Cookie),
        Some("redis") => {
            let url = redis_url.unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
            let scheme_ok = Url::parse(url.trim())
                .is_ok_and(|u| matches!(u.scheme(), "redis" | "rediss" | "redis+unix" | "unix"));
            if !scheme_ok {
                return Err(ConfigError::new(
                    "REDIS_URL",
                    format!("is {url:?}, which is not a Redis URL"),
                    "Use a URL like redis://127.0.0.1:6379 (or rediss:// for TLS)",
                ));
            }
            Ok(SessionStoreKind::Redis {
                url: url.trim().to_owned(),
            })
        }
        Some(other) => Err(ConfigError::new(
            "SESSION_STORE",
            format!("is {other:?}"),
            "Use SESSION_STORE=cookie (the default) or SESSION_STORE=redis",
        )),
    }
}

/// The shortest `SESSION_SECRET` accepted, in bytes.
const MIN_SESSION_SECRET_BYTES: usize = 64;

fn parse_session_secret(value: Option<String>) -> Result<SessionSecret, ConfigError> {
    let Some(value) = value else {
        return Ok(SessionSecret::Generated(Key::generate()));
    };
    if value.len() < MIN_SESSION_SECRET_BYTES {
        return Err(ConfigError::new(
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

/// The longest session lifetime accepted: browsers cap a cookie's lifetime at 400 days.
const MAX_SESSION_LIFETIME: Duration = Duration::from_secs(400 * 24 * 60 * 60);

/// The default time Logto has to answer one request (express-openid-connect's `httpTimeout`).
const DEFAULT_LOGTO_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest `LOGTO_TIMEOUT` accepted: a request to Logto in flight at shutdown must finish
/// within the shutdown grace.
pub const MAX_LOGTO_TIMEOUT: Duration = Duration::from_secs(7);

/// A duration such as `90s`, `30m`, `24h` or `14d`, up to 400 days; a bare number counts
/// seconds.
fn parse_duration(
    variable: &'static str,
    value: Option<String>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    parse_bounded_duration(value, default, (MAX_SESSION_LIFETIME, "400 days")).map_err(|problem| {
        ConfigError::new(
            variable,
            problem,
            "Use a positive whole number with s, m, h or d, for example 24h or 14d",
        )
    })
}

/// `LOGTO_TIMEOUT`: like [`parse_duration`], `ms` allowed, at most [`MAX_LOGTO_TIMEOUT`].
fn parse_logto_timeout(value: Option<String>) -> Result<Duration, ConfigError> {
    parse_bounded_duration(value, DEFAULT_LOGTO_TIMEOUT, (MAX_LOGTO_TIMEOUT, "7s"))
        .map_err(|problem| {
            ConfigError::new(
                "LOGTO_TIMEOUT",
                problem,
                "Use a duration like 5s or 2500ms, at most 7s: requests in flight must finish within the 8 s shutdown grace",
            )
        })
}

/// A positive whole number with `ms`, `s`, `m`, `h` or `d` (a bare number counts seconds),
/// at most `max` (with how to say it); the error says what was wrong.
fn parse_bounded_duration(
    value: Option<String>,
    default: Duration,
    (max, max_said): (Duration, &str),
) -> Result<Duration, String> {
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
            format!("is {value:?}, which is not a positive duration of at most {max_said}")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const SECRET_64: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let mut env: HashMap<String, String> = [
            ("LOGTO_ENDPOINT", "http://localhost:3001"),
            ("LOGTO_APP_ID", "bookstore"),
            ("LOGTO_APP_SECRET", "s3cret"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (key, value) in vars {
            env.insert(key.to_string(), value.to_string());
        }
        Settings::from_lookup(|name| env.get(name).cloned())
    }

    fn error_for(vars: &[(&str, &str)]) -> ConfigError {
        settings(vars).expect_err("settings should be rejected")
    }

    #[test]
    fn defaults_match_the_documentation() {
        let settings = settings(&[]).unwrap();
        assert_eq!(settings.server.host, "127.0.0.1");
        assert_eq!(settings.server.port, 3000);
        assert_eq!(settings.server.base_url.as_str(), "http://localhost:3000/");
        assert_eq!(
            settings.logto.scopes,
            ["openid", "offline_access", "profile"]
        );
        assert_eq!(settings.logto.prompt.as_deref(), Some("consent"));
        assert_eq!(settings.session.store, SessionStoreKind::Cookie);
        assert!(matches!(
            settings.session.secret,
            SessionSecret::Generated(_)
        ));
        assert!(settings.logto.internal_endpoint.is_none());
        assert!(
            !settings.server.trust_proxy,
            "proxies are not trusted unless told"
        );
    }

    #[test]
    fn an_internal_logto_endpoint_is_read_like_the_public_one() {
        let settings = settings(&[("LOGTO_INTERNAL_ENDPOINT", "http://logto:3001")]).unwrap();
        assert_eq!(
            settings.logto.internal_endpoint.unwrap().as_str(),
            "http://logto:3001/"
        );
        let error = error_for(&[("LOGTO_INTERNAL_ENDPOINT", "http://logto:3001/oidc")]);
        assert_eq!(error.variable, "LOGTO_INTERNAL_ENDPOINT");
    }

    #[test]
    fn trust_proxy_is_a_flag() {
        assert!(
            settings(&[("TRUST_PROXY", "true")])
                .unwrap()
                .server
                .trust_proxy
        );
        assert_eq!(
            error_for(&[("TRUST_PROXY", "maybe")]).variable,
            "TRUST_PROXY"
        );
    }

    #[test]
    fn each_required_variable_is_named_when_missing() {
        for variable in ["LOGTO_ENDPOINT", "LOGTO_APP_ID", "LOGTO_APP_SECRET"] {
            let error = error_for(&[(variable, "")]);
            assert_eq!(error.variable, variable);
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("{variable} is not set."))
            );
        }
    }

    #[test]
    fn redirect_uris_are_built_from_base_url() {
        let settings = settings(&[("BASE_URL", "https://books.example.com")]).unwrap();
        assert_eq!(
            settings.server.redirect_uri().as_str(),
            "https://books.example.com/callback"
        );
        assert_eq!(
            settings.server.post_sign_out_redirect_uri().as_str(),
            "https://books.example.com/"
        );
        assert!(settings.server.is_https());
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
                error_for(&[("BASE_URL", bad)]).variable,
                "BASE_URL",
                "{bad}"
            );
        }
    }

    #[test]
    fn logto_endpoint_keeps_its_path_and_rejects_a_trailing_oidc() {
        let settings = settings(&[("LOGTO_ENDPOINT", "https://auth.example.com/tenant")]).unwrap();
        assert_eq!(
            settings.logto.endpoint.as_str(),
            "https://auth.example.com/tenant/"
        );
        let error = error_for(&[("LOGTO_ENDPOINT", "http://localhost:3001/oidc/")]);
        assert_eq!(error.variable, "LOGTO_ENDPOINT");
        assert!(error.problem.contains("/oidc"));
    }

    #[test]
    fn extra_scopes_follow_the_reserved_ones_without_duplicates() {
        let settings = settings(&[("LOGTO_SCOPES", "email  profile roles email")]).unwrap();
        assert_eq!(
            settings.logto.scopes,
            ["openid", "offline_access", "profile", "email", "roles"]
        );
    }

    #[test]
    fn prompt_can_be_changed_or_left_out() {
        let login = settings(&[("LOGTO_PROMPT", "login consent")]).unwrap();
        assert_eq!(login.logto.prompt.as_deref(), Some("login consent"));
        let none = settings(&[("LOGTO_PROMPT", "")]).unwrap();
        assert_eq!(none.logto.prompt, None);
        assert_eq!(
            error_for(&[("LOGTO_PROMPT", "always")]).variable,
            "LOGTO_PROMPT"
        );
    }

    #[test]
    fn sign_in_methods_and_resources_are_validated_lists() {
        let settings = settings(&[
            ("LOGTO_SOCIAL_CONNECTORS", "github, xiaomi"),
            ("LOGTO_EMAIL_SIGN_IN", "true"),
            (
                "LOGTO_RESOURCES",
                "https://api.bookstore.example,https://api.other.example",
            ),
        ])
        .unwrap();
        assert_eq!(settings.logto.social_connectors, ["github", "xiaomi"]);
        assert!(settings.logto.email_sign_in);
        assert_eq!(settings.logto.resources.len(), 2);
        assert_eq!(
            error_for(&[("LOGTO_SOCIAL_CONNECTORS", "Git Hub")]).variable,
            "LOGTO_SOCIAL_CONNECTORS"
        );
        assert_eq!(
            error_for(&[("LOGTO_EMAIL_SIGN_IN", "maybe")]).variable,
            "LOGTO_EMAIL_SIGN_IN"
        );
        assert_eq!(
            error_for(&[("LOGTO_RESOURCES", "not a url")]).variable,
            "LOGTO_RESOURCES"
        );
    }

    #[test]
    fn port_must_be_a_number() {
        assert_eq!(settings(&[("PORT", "8080")]).unwrap().server.port, 8080);
        assert_eq!(error_for(&[("PORT", "http")]).variable, "PORT");
        assert_eq!(error_for(&[("PORT", "70000")]).variable, "PORT");
    }

    #[test]
    fn redis_may_listen_on_a_unix_socket() {
        for url in [
            "redis+unix:///run/redis/redis.sock",
            "unix:///run/redis/redis.sock",
        ] {
            let settings = settings(&[("SESSION_STORE", "redis"), ("REDIS_URL", url)]).unwrap();
            assert_eq!(
                settings.session.store,
                SessionStoreKind::Redis {
                    url: url.to_owned()
                }
            );
        }
    }

    #[test]
    fn redis_store_defaults_to_local_redis() {
        let settings = settings(&[("SESSION_STORE", "redis")]).unwrap();
        assert_eq!(
            settings.session.store,
            SessionStoreKind::Redis {
                url: "redis://127.0.0.1:6379".to_owned()
            }
        );
        let error = error_for(&[("SESSION_STORE", "redis"), ("REDIS_URL", "localhost:6379")]);
        assert_eq!(error.variable, "REDIS_URL");
        assert_eq!(
            error_for(&[("SESSION_STORE", "memcached")]).variable,
            "SESSION_STORE"
        );
    }

    #[test]
    fn session_secret_needs_64_bytes() {
        let configured = settings(&[("SESSION_SECRET", SECRET_64)]).unwrap();
        assert!(matches!(
            configured.session.secret,
            SessionSecret::Configured(_)
        ));
        let error = error_for(&[("SESSION_SECRET", "too-short")]);
        assert_eq!(error.variable, "SESSION_SECRET");
        assert!(error.problem.contains("9 bytes"));
    }

    #[test]
    fn the_same_secret_gives_the_same_key() {
        let first = settings(&[("SESSION_SECRET", SECRET_64)]).unwrap();
        let second = settings(&[("SESSION_SECRET", SECRET_64)]).unwrap();
        assert_eq!(
            first.session.secret.key().master(),
            second.session.secret.key().master()
        );
    }

    #[test]
    fn the_whole_session_secret_makes_the_key() {
        let first = format!("{SECRET_64}-first");
        let second = format!("{SECRET_64}-second");
        let first = settings(&[("SESSION_SECRET", &first)]).unwrap();
        let second = settings(&[("SESSION_SECRET", &second)]).unwrap();
        assert_ne!(
            first.session.secret.key().master(),
            second.session.secret.key().master(),
            "secrets that differ only after byte 64 must give different keys"
        );
    }

    #[test]
    fn session_lifetimes_default_to_14_days_and_24_hours() {
        let settings = settings(&[]).unwrap();
        assert_eq!(settings.session.ttl, Duration::from_secs(14 * 24 * 3600));
        assert_eq!(
            settings.session.idle_timeout,
            Duration::from_secs(24 * 3600)
        );
    }

    #[test]
    fn session_lifetimes_take_units() {
        let settings = settings(&[("SESSION_TTL", "7d"), ("SESSION_IDLE_TIMEOUT", "30m")]).unwrap();
        assert_eq!(settings.session.ttl, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(settings.session.idle_timeout, Duration::from_secs(30 * 60));
        let seconds = settings_with_idle("90");
        assert_eq!(seconds, Duration::from_secs(90));
        assert_eq!(settings_with_idle("2h"), Duration::from_secs(2 * 3600));
        assert_eq!(settings_with_idle("45s"), Duration::from_secs(45));
    }

    fn settings_with_idle(value: &str) -> Duration {
        settings(&[("SESSION_IDLE_TIMEOUT", value)])
            .unwrap()
            .session
            .idle_timeout
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
                error_for(&[("SESSION_TTL", bad)]).variable,
                "SESSION_TTL",
                "{bad}"
            );
        }
        let error = error_for(&[("SESSION_TTL", "1h"), ("SESSION_IDLE_TIMEOUT", "2h")]);
        assert_eq!(error.variable, "SESSION_IDLE_TIMEOUT");
    }

    #[test]
    fn the_logto_timeout_defaults_to_5_seconds_and_stays_within_the_shutdown_grace() {
        assert_eq!(settings(&[]).unwrap().logto.timeout, Duration::from_secs(5));
        let quick = settings(&[("LOGTO_TIMEOUT", "2500ms")]).unwrap();
        assert_eq!(quick.logto.timeout, Duration::from_millis(2_500));
        assert_eq!(
            settings(&[("LOGTO_TIMEOUT", "7")]).unwrap().logto.timeout,
            Duration::from_secs(7)
        );
        for bad in ["8s", "10", "0ms", "fast", "-1s"] {
            assert_eq!(
                error_for(&[("LOGTO_TIMEOUT", bad)]).variable,
                "LOGTO_TIMEOUT",
                "{bad}"
            );
        }
        assert!(MAX_LOGTO_TIMEOUT < crate::startup::SHUTDOWN_GRACE);
    }

    #[test]
    fn debug_output_hides_the_secrets() {
        let settings = settings(&[("SESSION_SECRET", SECRET_64)]).unwrap();
        let debug = format!("{settings:?}");
        assert!(!debug.contains("s3cret"));
        assert!(!debug.contains(SECRET_64));
    }
}
