//! Settings read from the environment (12-factor), in every framework the same way:
//! [`LogtoConfig::from_env`] reads Logto's own (`LOGTO_*`), [`SessionLifetimes::from_env`] the
//! session lifetimes (`SESSION_TTL`, `SESSION_IDLE_TIMEOUT`).
//!
//! Every problem is one [`SettingError`] that names the variable and says how to fix it, so
//! that `main` can print a single line instead of a panic. The helpers ([`non_empty`],
//! [`http_url`], [`duration`], [`flag`]) read a product's own settings the same way.
//!
//! ```
//! use logto_client::LogtoConfig;
//! use url::Url;
//!
//! let env = |name: &str| match name {
//!     "LOGTO_ENDPOINT" => Some("https://tenant.logto.app".to_owned()),
//!     "LOGTO_APP_ID" => Some("shop".to_owned()),
//!     "LOGTO_APP_SECRET" => Some("s3cret".to_owned()),
//!     "LOGTO_SCOPES" => Some("email".to_owned()),
//!     _ => None, // usually `LogtoConfig::from_env`, which reads the process environment
//! };
//! let config = LogtoConfig::from_lookup(
//!     env,
//!     Url::parse("https://shop.example/callback")?, // the redirect URI
//!     Url::parse("https://shop.example/")?,         // the post sign-out redirect URI
//! )?;
//! assert_eq!(config.scopes, ["openid", "offline_access", "profile", "email"]);
//!
//! let error = LogtoConfig::from_lookup(|_| None, config.redirect_uri, config.endpoint)
//!     .unwrap_err();
//! assert_eq!(error.variable, "LOGTO_ENDPOINT");
//! assert!(error.to_string().starts_with("LOGTO_ENDPOINT is not set. "));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::Duration;

use url::Url;

use crate::config::LogtoConfig;
use crate::session::SessionLifetimes;

/// A setting that cannot be used, worded for the person starting the app:
/// `"{variable} {problem}. {fix}"`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{variable} {problem}. {fix}")]
pub struct SettingError {
    /// The environment variable.
    pub variable: &'static str,
    /// What is wrong with its value.
    pub problem: String,
    /// How to fix it.
    pub fix: &'static str,
}

impl SettingError {
    /// `variable` has `problem`; `fix` says what to do.
    pub fn new(variable: &'static str, problem: impl Into<String>, fix: &'static str) -> Self {
        Self {
            variable,
            problem: problem.into(),
            fix,
        }
    }
}

/// The scopes Logto reserves; [`LogtoConfig::from_lookup`] always requests them.
pub const RESERVED_SCOPES: [&str; 3] = ["openid", "offline_access", "profile"];

/// Values accepted in `LOGTO_PROMPT` (OpenID Connect Core §3.1.2.1).
const PROMPT_VALUES: [&str; 4] = ["consent", "login", "none", "select_account"];

/// The default time Logto has to answer one request (express-openid-connect's `httpTimeout`).
const DEFAULT_LOGTO_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest `LOGTO_TIMEOUT` accepted: a request to Logto in flight at shutdown must finish
/// within a shutdown grace of 8 s.
pub const MAX_LOGTO_TIMEOUT: Duration = Duration::from_secs(7);

const ENDPOINT_FIX: &str =
    "Set it to your Logto endpoint without /oidc, for example LOGTO_ENDPOINT=http://localhost:3001";

impl LogtoConfig {
    /// Reads the `LOGTO_*` variables from the process environment ([`from_lookup`](Self::from_lookup)
    /// says which). The redirect URIs are the product's: registered in Logto, usually built
    /// from its public origin.
    pub fn from_env(
        redirect_uri: Url,
        post_sign_out_redirect_uri: Url,
    ) -> Result<Self, SettingError> {
        Self::from_lookup(
            |name| std::env::var(name).ok(),
            redirect_uri,
            post_sign_out_redirect_uri,
        )
    }

    /// Reads the `LOGTO_*` variables through `lookup`, which returns a variable's value when
    /// it is set (tests pass a map here instead of touching the process environment). An
    /// empty value counts as unset, except for `LOGTO_PROMPT`, where it means no prompt.
    ///
    /// | variable | default | |
    /// |---|---|---|
    /// | `LOGTO_ENDPOINT` | required | [`endpoint`](Self::endpoint), an http(s) URL without `/oidc` |
    /// | `LOGTO_INTERNAL_ENDPOINT` | unset | [`internal_endpoint`](Self::internal_endpoint), like `LOGTO_ENDPOINT` |
    /// | `LOGTO_APP_ID`, `LOGTO_APP_SECRET` | required | the Traditional web app's credentials |
    /// | `LOGTO_SCOPES` | empty | extra scopes, space-separated, after [`RESERVED_SCOPES`] |
    /// | `LOGTO_PROMPT` | `consent` | space-separated values of `consent`, `login`, `none`, `select_account` |
    /// | `LOGTO_RESOURCES` | empty | API resource indicators (URLs), comma-separated |
    /// | `LOGTO_TIMEOUT` | `5s` | [`http_timeout`](Self::http_timeout), at most [`MAX_LOGTO_TIMEOUT`] |
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        redirect_uri: Url,
        post_sign_out_redirect_uri: Url,
    ) -> Result<Self, SettingError> {
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
        let mut config = Self::new(
            endpoint,
            app_id,
            app_secret.into(),
            redirect_uri,
            post_sign_out_redirect_uri,
        );
        config.internal_endpoint = get("LOGTO_INTERNAL_ENDPOINT")
            .map(|value| parse_logto_endpoint("LOGTO_INTERNAL_ENDPOINT", value))
            .transpose()?;
        config.scopes = scopes(get("LOGTO_SCOPES"));
        config.prompt = parse_prompt(lookup("LOGTO_PROMPT"))?;
        config.resources = parse_resources(get("LOGTO_RESOURCES"))?;
        config.http_timeout = parse_logto_timeout(get("LOGTO_TIMEOUT"))?;
        Ok(config)
    }
}

impl SessionLifetimes {
    /// Reads `SESSION_TTL` and `SESSION_IDLE_TIMEOUT` from the process environment.
    pub fn from_env() -> Result<Self, SettingError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads `SESSION_TTL` (default 14 days) and `SESSION_IDLE_TIMEOUT` (default 24 hours)
    /// through `lookup`: positive whole numbers with `s`, `m`, `h` or `d` (`ms` too; a bare
    /// number counts seconds), at most 400 days, the idle timeout at most `SESSION_TTL`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingError> {
        let absolute = session_lifetime(
            "SESSION_TTL",
            non_empty(&lookup, "SESSION_TTL"),
            Self::DEFAULT_ABSOLUTE,
        )?;
        let idle = session_lifetime(
            "SESSION_IDLE_TIMEOUT",
            non_empty(&lookup, "SESSION_IDLE_TIMEOUT"),
            Self::DEFAULT_IDLE,
        )?;
        if idle > absolute {
            return Err(SettingError::new(
                "SESSION_IDLE_TIMEOUT",
                format!("is longer than SESSION_TTL ({idle:?} > {absolute:?})"),
                "Make it at most SESSION_TTL, which bounds every session anyway",
            ));
        }
        Ok(Self { absolute, idle })
    }
}

/// `SESSION_TTL` or `SESSION_IDLE_TIMEOUT`: a duration of at most 400 days.
fn session_lifetime(
    variable: &'static str,
    value: Option<String>,
    default: Duration,
) -> Result<Duration, SettingError> {
    duration(
        variable,
        value,
        default,
        (SessionLifetimes::MAX, "400 days"),
        "Use a positive whole number with s, m, h or d, for example 24h or 14d",
    )
}

/// The value of the variable `name` through `lookup`; an empty value counts as unset, as it
/// does in most .env tooling.
pub fn non_empty(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name).filter(|value| !value.trim().is_empty())
}

fn required(
    variable: &'static str,
    value: Option<String>,
    fix: &'static str,
) -> Result<String, SettingError> {
    value.ok_or_else(|| SettingError::new(variable, "is not set", fix))
}

fn parse_logto_endpoint(variable: &'static str, value: String) -> Result<Url, SettingError> {
    let mut url = http_url(variable, &value, ENDPOINT_FIX)?;
    let path = url.path().trim_end_matches('/').to_owned();
    if path.ends_with("/oidc") {
        return Err(SettingError::new(
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

/// The non-empty items of a comma-separated list, trimmed.
pub fn comma_separated(value: Option<String>) -> Vec<String> {
    value
        .iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_resources(value: Option<String>) -> Result<Vec<String>, SettingError> {
    let resources = comma_separated(value);
    if let Some(bad) = resources.iter().find(|r| Url::parse(r).is_err()) {
        return Err(SettingError::new(
            "LOGTO_RESOURCES",
            format!("contains {bad:?}, which is not a URL"),
            "List API resource indicators as registered in Logto, comma-separated, e.g. https://api.bookstore.example",
        ));
    }
    Ok(resources)
}

/// Unset means `consent` (Logto issues a refresh token only with it); empty means no prompt.
fn parse_prompt(value: Option<String>) -> Result<Option<String>, SettingError> {
    let Some(value) = value else {
        return Ok(Some("consent".to_owned()));
    };
    let values: Vec<&str> = value.split_whitespace().collect();
    if values.is_empty() {
        return Ok(None);
    }
    if let Some(unknown) = values.iter().find(|v| !PROMPT_VALUES.contains(v)) {
        return Err(SettingError::new(
            "LOGTO_PROMPT",
            format!("contains {unknown:?}"),
            "Use space-separated values from consent, login, none and select_account, or leave it empty",
        ));
    }
    Ok(Some(values.join(" ")))
}

/// `LOGTO_TIMEOUT`: a duration like `5s` or `2500ms`, at most [`MAX_LOGTO_TIMEOUT`].
fn parse_logto_timeout(value: Option<String>) -> Result<Duration, SettingError> {
    duration(
        "LOGTO_TIMEOUT",
        value,
        DEFAULT_LOGTO_TIMEOUT,
        (MAX_LOGTO_TIMEOUT, "7s"),
        "Use a duration like 5s or 2500ms, at most 7s: requests in flight must finish within the 8 s shutdown grace",
    )
}

/// `value` of `variable` as an http(s) URL with a host and without query or fragment.
pub fn http_url(
    variable: &'static str,
    value: &str,
    fix: &'static str,
) -> Result<Url, SettingError> {
    let url = Url::parse(value.trim())
        .map_err(|error| SettingError::new(variable, format!("is not a URL ({error})"), fix))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(SettingError::new(
            variable,
            format!("is {value:?}, which is not an http(s) URL"),
            fix,
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(SettingError::new(
            variable,
            "must not have a query string or fragment",
            fix,
        ));
    }
    Ok(url)
}

/// `value` of `variable` as `true`/`1`/`yes` or `false`/`0`/`no`; unset is `false`.
pub fn flag(variable: &'static str, value: Option<String>) -> Result<bool, SettingError> {
    match value.as_deref().map(str::trim) {
        None | Some("false" | "0" | "no") => Ok(false),
        Some("true" | "1" | "yes") => Ok(true),
        Some(other) => Err(SettingError::new(
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
) -> Result<Duration, SettingError> {
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
            SettingError::new(
                variable,
                format!("is {value:?}, which is not a positive duration of at most {max_said}"),
                fix,
            )
        })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use secrecy::ExposeSecret as _;

    use super::*;

    const REQUIRED: [(&str, &str); 3] = [
        ("LOGTO_ENDPOINT", "http://localhost:3001"),
        ("LOGTO_APP_ID", "bookstore"),
        ("LOGTO_APP_SECRET", "s3cret"),
    ];

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let env: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| env.get(name).cloned()
    }

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    /// The configuration from the required variables, then `vars` (which win).
    fn config(vars: &[(&str, &str)]) -> Result<LogtoConfig, SettingError> {
        let all: Vec<(&str, &str)> = REQUIRED.iter().chain(vars).copied().collect();
        LogtoConfig::from_lookup(
            env(&all),
            url("https://shop.example/callback"),
            url("https://shop.example/"),
        )
    }

    fn error_for(vars: &[(&str, &str)]) -> SettingError {
        config(vars).expect_err("the setting should be refused")
    }

    fn lifetimes(vars: &[(&str, &str)]) -> Result<SessionLifetimes, SettingError> {
        SessionLifetimes::from_lookup(env(vars))
    }

    #[test]
    fn the_logto_variables_make_the_configuration_with_the_redirect_uris_given() {
        let config = config(&[
            ("LOGTO_ENDPOINT", "https://tenant.logto.app"),
            ("LOGTO_APP_ID", "shop"),
            ("LOGTO_SCOPES", "email"),
        ])
        .unwrap();
        assert_eq!(config.endpoint.as_str(), "https://tenant.logto.app/");
        assert_eq!(config.app_id, "shop");
        assert_eq!(config.app_secret.expose_secret(), "s3cret");
        assert_eq!(
            config.redirect_uri.as_str(),
            "https://shop.example/callback"
        );
        assert_eq!(
            config.post_sign_out_redirect_uri.as_str(),
            "https://shop.example/"
        );
        assert_eq!(
            config.scopes,
            ["openid", "offline_access", "profile", "email"]
        );
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn defaults_match_the_documentation() {
        let config = config(&[]).unwrap();
        assert_eq!(config.scopes, RESERVED_SCOPES);
        assert_eq!(config.prompt.as_deref(), Some("consent"));
        assert!(config.internal_endpoint.is_none());
        assert!(config.resources.is_empty());
        assert_eq!(config.http_timeout, Duration::from_secs(5));
    }

    #[test]
    fn an_internal_logto_endpoint_is_read_like_the_public_one() {
        let config = config(&[("LOGTO_INTERNAL_ENDPOINT", "http://logto:3001")]).unwrap();
        assert_eq!(
            config.internal_endpoint.unwrap().as_str(),
            "http://logto:3001/"
        );
        let error = error_for(&[("LOGTO_INTERNAL_ENDPOINT", "http://logto:3001/oidc")]);
        assert_eq!(error.variable, "LOGTO_INTERNAL_ENDPOINT");
    }

    #[test]
    fn each_required_variable_is_named_when_missing_or_empty() {
        for variable in ["LOGTO_ENDPOINT", "LOGTO_APP_ID", "LOGTO_APP_SECRET"] {
            let error = error_for(&[(variable, "")]);
            assert_eq!(error.variable, variable);
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("{variable} is not set.")),
                "{error}"
            );
        }
        let unset = LogtoConfig::from_lookup(env(&[]), url("http://a/callback"), url("http://a/"));
        assert_eq!(unset.unwrap_err().variable, "LOGTO_ENDPOINT");
    }

    #[test]
    fn logto_endpoint_keeps_its_path_and_rejects_a_trailing_oidc() {
        let config = config(&[("LOGTO_ENDPOINT", "https://auth.example.com/tenant")]).unwrap();
        assert_eq!(config.endpoint.as_str(), "https://auth.example.com/tenant/");
        let error = error_for(&[("LOGTO_ENDPOINT", "http://localhost:3001/oidc/")]);
        assert_eq!(error.variable, "LOGTO_ENDPOINT");
        assert!(error.problem.contains("/oidc"));
    }

    #[test]
    fn extra_scopes_follow_the_reserved_ones_without_duplicates() {
        let config = config(&[("LOGTO_SCOPES", "email  profile roles email")]).unwrap();
        assert_eq!(
            config.scopes,
            ["openid", "offline_access", "profile", "email", "roles"]
        );
    }

    #[test]
    fn prompt_can_be_changed_or_left_out() {
        let login = config(&[("LOGTO_PROMPT", "login consent")]).unwrap();
        assert_eq!(login.prompt.as_deref(), Some("login consent"));
        let none = config(&[("LOGTO_PROMPT", "")]).unwrap();
        assert_eq!(none.prompt, None);
        assert_eq!(
            error_for(&[("LOGTO_PROMPT", "always")]).variable,
            "LOGTO_PROMPT"
        );
    }

    #[test]
    fn resources_are_a_list_of_urls() {
        let config = config(&[(
            "LOGTO_RESOURCES",
            "https://api.bookstore.example, ,https://api.other.example",
        )])
        .unwrap();
        assert_eq!(
            config.resources,
            ["https://api.bookstore.example", "https://api.other.example"]
        );
        assert_eq!(
            error_for(&[("LOGTO_RESOURCES", "not a url")]).variable,
            "LOGTO_RESOURCES"
        );
    }

    #[test]
    fn the_logto_timeout_defaults_to_5_seconds_and_stays_within_7() {
        let quick = config(&[("LOGTO_TIMEOUT", "2500ms")]).unwrap();
        assert_eq!(quick.http_timeout, Duration::from_millis(2_500));
        let bare = config(&[("LOGTO_TIMEOUT", "7")]).unwrap();
        assert_eq!(bare.http_timeout, Duration::from_secs(7));
        for bad in ["8s", "10", "0ms", "fast", "-1s"] {
            assert_eq!(
                error_for(&[("LOGTO_TIMEOUT", bad)]).variable,
                "LOGTO_TIMEOUT",
                "{bad}"
            );
        }
    }

    /// The whole line an operator reads, for each kind of mistake.
    #[test]
    fn every_message_names_the_variable_the_problem_and_the_fix() {
        let table = [
            (
                ("LOGTO_APP_ID", ""),
                "LOGTO_APP_ID is not set. Copy the App ID of your Traditional web app from the Logto Console into .env",
            ),
            (
                ("LOGTO_APP_SECRET", " "),
                "LOGTO_APP_SECRET is not set. Copy the App secret of your Traditional web app from the Logto Console into .env",
            ),
            (
                ("LOGTO_ENDPOINT", "localhost:3001"),
                "LOGTO_ENDPOINT is \"localhost:3001\", which is not an http(s) URL. Set it to your Logto endpoint without /oidc, for example LOGTO_ENDPOINT=http://localhost:3001",
            ),
            (
                ("LOGTO_ENDPOINT", "http://localhost:3001/oidc"),
                "LOGTO_ENDPOINT ends with /oidc, which the app adds itself. Set it to your Logto endpoint without /oidc, for example LOGTO_ENDPOINT=http://localhost:3001",
            ),
            (
                ("LOGTO_INTERNAL_ENDPOINT", "http://logto:3001/?x=1"),
                "LOGTO_INTERNAL_ENDPOINT must not have a query string or fragment. Set it to your Logto endpoint without /oidc, for example LOGTO_ENDPOINT=http://localhost:3001",
            ),
            (
                ("LOGTO_PROMPT", "consent always"),
                "LOGTO_PROMPT contains \"always\". Use space-separated values from consent, login, none and select_account, or leave it empty",
            ),
            (
                ("LOGTO_RESOURCES", "https://api.example,api"),
                "LOGTO_RESOURCES contains \"api\", which is not a URL. List API resource indicators as registered in Logto, comma-separated, e.g. https://api.bookstore.example",
            ),
            (
                ("LOGTO_TIMEOUT", "8s"),
                "LOGTO_TIMEOUT is \"8s\", which is not a positive duration of at most 7s. Use a duration like 5s or 2500ms, at most 7s: requests in flight must finish within the 8 s shutdown grace",
            ),
        ];
        for (setting, message) in table {
            assert_eq!(error_for(&[setting]).to_string(), message);
        }
        assert_eq!(
            lifetimes(&[("SESSION_TTL", "1w")]).unwrap_err().to_string(),
            "SESSION_TTL is \"1w\", which is not a positive duration of at most 400 days. Use a positive whole number with s, m, h or d, for example 24h or 14d"
        );
        assert_eq!(
            lifetimes(&[("SESSION_TTL", "1h"), ("SESSION_IDLE_TIMEOUT", "2h")])
                .unwrap_err()
                .to_string(),
            "SESSION_IDLE_TIMEOUT is longer than SESSION_TTL (7200s > 3600s). Make it at most SESSION_TTL, which bounds every session anyway"
        );
        assert_eq!(
            flag("F", Some("maybe".into())).unwrap_err().to_string(),
            "F is \"maybe\". Use true or false"
        );
    }

    #[test]
    fn session_lifetimes_default_to_14_days_and_24_hours() {
        let lifetimes = lifetimes(&[("SESSION_TTL", "")]).unwrap();
        assert_eq!(lifetimes.absolute, Duration::from_secs(14 * 24 * 3600));
        assert_eq!(lifetimes.idle, Duration::from_secs(24 * 3600));
    }

    fn idle_timeout(value: &str) -> Duration {
        lifetimes(&[("SESSION_IDLE_TIMEOUT", value)]).unwrap().idle
    }

    #[test]
    fn session_lifetimes_take_units() {
        let both = lifetimes(&[("SESSION_TTL", "7d"), ("SESSION_IDLE_TIMEOUT", "30m")]).unwrap();
        assert_eq!(both.absolute, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(both.idle, Duration::from_secs(30 * 60));
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
            let error = lifetimes(&[("SESSION_TTL", bad)]).unwrap_err();
            assert_eq!(error.variable, "SESSION_TTL", "{bad}");
        }
        let error = lifetimes(&[("SESSION_TTL", "1h"), ("SESSION_IDLE_TIMEOUT", "2h")]);
        assert_eq!(error.unwrap_err().variable, "SESSION_IDLE_TIMEOUT");
    }

    #[test]
    fn flags_are_true_or_false() {
        assert!(flag("F", Some("yes".into())).unwrap());
        assert!(flag("F", Some(" 1 ".into())).unwrap());
        assert!(!flag("F", None).unwrap());
        assert!(!flag("F", Some("no".into())).unwrap());
        assert_eq!(flag("F", Some("maybe".into())).unwrap_err().variable, "F");
    }
}
