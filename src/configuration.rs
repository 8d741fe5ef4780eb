//! Settings read from the environment (12-factor). `dotenvy` loads `.env` first when it exists.
//!
//! `HOST`, `PORT`, `BASE_URL`, the session settings and Logto's own (`LOGTO_*`) are
//! logto-actix's ([`logto_actix::settings`]); `TRUST_PROXY` is read here.
//! Every problem is reported as one [`ConfigError`] that names the variable and says how to fix
//! it, so that `main` can print a single line instead of a panic.

use logto_actix::settings::flag;

pub use logto_actix::settings::{
    LogtoSettings, MAX_LOGTO_TIMEOUT, RESERVED_SCOPES, ServerSettings, SessionSecret,
    SessionSettings, SessionStoreKind, StartupError as ConfigError,
};

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
        let logto = LogtoSettings::from_lookup(&lookup, &server)?;
        let session = SessionSettings::from_lookup(&lookup)?;
        Ok(Self {
            server,
            trust_proxy,
            logto,
            session,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::time::Duration;

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
            settings.logto.config.scopes,
            ["openid", "offline_access", "profile"]
        );
        assert_eq!(settings.logto.config.prompt.as_deref(), Some("consent"));
        assert_eq!(settings.session.store, SessionStoreKind::Cookie);
        assert!(matches!(
            settings.session.secret,
            SessionSecret::Generated(_)
        ));
        assert!(settings.logto.config.internal_endpoint.is_none());
        assert!(!settings.trust_proxy, "proxies are not trusted unless told");
    }

    #[test]
    fn an_internal_logto_endpoint_is_read_like_the_public_one() {
        let settings = settings(&[("LOGTO_INTERNAL_ENDPOINT", "http://logto:3001")]).unwrap();
        assert_eq!(
            settings.logto.config.internal_endpoint.unwrap().as_str(),
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
            settings.logto.config.endpoint.as_str(),
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
            settings.logto.config.scopes,
            ["openid", "offline_access", "profile", "email", "roles"]
        );
    }

    #[test]
    fn prompt_can_be_changed_or_left_out() {
        let login = settings(&[("LOGTO_PROMPT", "login consent")]).unwrap();
        assert_eq!(login.logto.config.prompt.as_deref(), Some("login consent"));
        let none = settings(&[("LOGTO_PROMPT", "")]).unwrap();
        assert_eq!(none.logto.config.prompt, None);
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
        assert_eq!(
            settings.logto.sign_in_methods.social_connectors,
            ["github", "xiaomi"]
        );
        assert!(settings.logto.sign_in_methods.email_sign_in);
        assert_eq!(settings.logto.config.resources.len(), 2);
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
        assert_eq!(
            settings(&[]).unwrap().logto.config.http_timeout,
            Duration::from_secs(5)
        );
        let quick = settings(&[("LOGTO_TIMEOUT", "2500ms")]).unwrap();
        assert_eq!(
            quick.logto.config.http_timeout,
            Duration::from_millis(2_500)
        );
        assert_eq!(
            settings(&[("LOGTO_TIMEOUT", "7")])
                .unwrap()
                .logto
                .config
                .http_timeout,
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
