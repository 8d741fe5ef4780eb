//! Settings read from the environment (12-factor). `dotenvy` loads `.env` first when it exists.
//!
//! `HOST`, `PORT`, `BASE_URL` and the session settings are logto-actix's
//! ([`logto_actix::settings`]); Logto's own (`LOGTO_*`) and `TRUST_PROXY` are read here.
//! Every problem is reported as one [`ConfigError`] that names the variable and says how to fix
//! it, so that `main` can print a single line instead of a panic.

use std::time::Duration;

use logto_actix::settings::{duration, flag, http_url};
use secrecy::SecretString;
use url::Url;

pub use logto_actix::settings::{
    ServerSettings, SessionSecret, SessionSettings, SessionStoreKind, StartupError as ConfigError,
};

/// The scopes Logto reserves; they are always requested.
pub const RESERVED_SCOPES: [&str; 3] = ["openid", "offline_access", "profile"];

/// Values accepted in `LOGTO_PROMPT` (OpenID Connect Core §3.1.2.1).
const PROMPT_VALUES: [&str; 4] = ["consent", "login", "none", "select_account"];

/// Everything the app needs to start.
#[derive(Debug)]
pub struct Settings {
    pub server: ServerSettings,
    /// Whether a reverse proxy's `X-Forwarded-For`/`Forwarded` may name the client in the
    /// access log (`TRUST_PROXY`). Redirects never read them: `BASE_URL` decides.
    pub trust_proxy: bool,
    pub logto: LogtoSettings,
    pub session: SessionSettings,
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

        let server = ServerSettings::from_lookup(&lookup)?;
        let trust_proxy = flag("TRUST_PROXY", get("TRUST_PROXY"))?;
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
            email_sign_in: flag("LOGTO_EMAIL_SIGN_IN", get("LOGTO_EMAIL_SIGN_IN"))?,
            timeout: parse_logto_timeout(get("LOGTO_TIMEOUT"))?,
        };
        let session = SessionSettings::from_lookup(&lookup)?;
        Ok(Self {
            server,
            trust_proxy,
            logto,
            session,
        })
    }
}

fn required(
    variable: &'static str,
    value: Option<String>,
    fix: &'static str,
) -> Result<String, ConfigError> {
    value.ok_or_else(|| ConfigError::new(variable, "is not set", fix))
}

const ENDPOINT_FIX: &str =
    "Set it to your Logto endpoint without /oidc, for example LOGTO_ENDPOINT=http://localhost:3001";

fn parse_logto_endpoint(variable: &'static str, value: String) -> Result<Url, ConfigError> {
    let mut url = http_url(variable, &value, ENDPOINT_FIX)?;
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

/// The default time Logto has to answer one request (express-openid-connect's `httpTimeout`).
const DEFAULT_LOGTO_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest `LOGTO_TIMEOUT` accepted: a request to Logto in flight at shutdown must finish
/// within the shutdown grace.
pub const MAX_LOGTO_TIMEOUT: Duration = Duration::from_secs(7);

/// `LOGTO_TIMEOUT`: a duration like `5s` or `2500ms`, at most [`MAX_LOGTO_TIMEOUT`].
fn parse_logto_timeout(value: Option<String>) -> Result<Duration, ConfigError> {
    duration(
        "LOGTO_TIMEOUT",
        value,
        DEFAULT_LOGTO_TIMEOUT,
        (MAX_LOGTO_TIMEOUT, "7s"),
        "Use a duration like 5s or 2500ms, at most 7s: requests in flight must finish within the 8 s shutdown grace",
    )
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
        assert!(!settings.trust_proxy, "proxies are not trusted unless told");
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
        assert!(settings(&[("TRUST_PROXY", "true")]).unwrap().trust_proxy);
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
    fn the_server_and_session_settings_are_logto_actix_s() {
        let settings = settings(&[
            ("PORT", "8080"),
            ("BASE_URL", "https://books.example.com"),
            ("SESSION_STORE", "redis"),
            ("SESSION_SECRET", SECRET_64),
            ("SESSION_IDLE_TIMEOUT", "30m"),
        ])
        .unwrap();
        assert_eq!(settings.server.port, 8080);
        assert_eq!(
            settings.server.redirect_uri().as_str(),
            "https://books.example.com/callback"
        );
        assert!(matches!(
            settings.session.store,
            SessionStoreKind::Redis { .. }
        ));
        assert!(matches!(
            settings.session.secret,
            SessionSecret::Configured(_)
        ));
        assert_eq!(settings.session.idle_timeout, Duration::from_secs(30 * 60));
        assert_eq!(error_for(&[("BASE_URL", "ftp://x")]).variable, "BASE_URL");
        assert_eq!(error_for(&[("SESSION_TTL", "1w")]).variable, "SESSION_TTL");
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
