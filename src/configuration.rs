//! Settings read from the environment (12-factor). `dotenvy` loads `.env` first when it exists.
//!
//! `HOST`, `PORT`, `BASE_URL` and the session settings are logto-actix's
//! ([`logto_actix::settings`]), Logto's own (`LOGTO_*`) logto-client's
//! ([`logto_client::settings`], with logto-actix's sign-in methods); `TRUST_PROXY` is read here.
//! Every problem is reported as one [`ConfigError`] that names the variable and says how to fix
//! it, so that `main` can print a single line instead of a panic.

use logto_client::settings::flag;

pub use logto_actix::settings::{
    LogtoSettings, ServerSettings, SessionSecret, SessionSettings, SessionStoreKind,
    StartupError as ConfigError,
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
            settings.logto.config.redirect_uri.as_str(),
            "http://localhost:3000/callback"
        );
        assert_eq!(settings.session.store, SessionStoreKind::Cookie);
        assert!(matches!(
            settings.session.secret,
            SessionSecret::Generated(_)
        ));
        assert!(!settings.trust_proxy, "proxies are not trusted unless told");
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
    fn the_logto_settings_are_logto_client_s_with_the_sign_in_methods() {
        let settings =
            settings(&[("LOGTO_TIMEOUT", "2500ms"), ("LOGTO_EMAIL_SIGN_IN", "true")]).unwrap();
        assert_eq!(
            settings.logto.config.http_timeout,
            Duration::from_millis(2_500)
        );
        assert!(settings.logto.sign_in_methods.email_sign_in);
        assert_eq!(
            error_for(&[("LOGTO_PROMPT", "always")]).variable,
            "LOGTO_PROMPT"
        );
    }

    #[test]
    fn the_longest_logto_timeout_fits_in_the_shutdown_grace() {
        assert!(logto_client::settings::MAX_LOGTO_TIMEOUT < crate::startup::SHUTDOWN_GRACE);
    }

    #[test]
    fn debug_output_hides_the_secrets() {
        let settings = settings(&[("SESSION_SECRET", SECRET_64)]).unwrap();
        let debug = format!("{settings:?}");
        assert!(!debug.contains("s3cret"));
        assert!(!debug.contains(SECRET_64));
    }
}
