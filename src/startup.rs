//! Builds the HTTP server from [`Settings`]. Tests call [`Application::build_with_listener`]
//! with a listener on port 0.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{Logger, from_fn};
use actix_web::{App, HttpServer, web};
use logto_actix::SignInMethods;
use logto_actix::cross_site::{CrossSiteGuard, OpaqueOrigin, refuse_cross_site_writes};

use crate::configuration::{SessionSecret, SessionStoreKind, Settings};
use crate::error::AppError;
use crate::i18n::LanguageCookie;
use crate::logto::{LogtoClient, LogtoConfig, LogtoError, error_chain};
use crate::pages::render_errors_in_visitor_language;
use crate::routes::{self, ApiResources, Endpoint, Readiness};
use crate::security_headers::security_headers;
use crate::session::{
    self, AppRecords, CookieBudget, SESSION_COOKIE_NAME, SessionBackend, SessionConfig,
    SessionLifetimes, SignInCookie,
};
use crate::tokens::TokenService;

/// One line per request: the peer's address, the path but never the query string (the
/// callback's query carries the authorization code), status, size and latency.
const ACCESS_LOG_FORMAT: &str = r#"%a "%{METHOD}xi %U" %s %b %Dms"#;
/// The same, naming the client that a trusted proxy reports (`TRUST_PROXY=true`).
const PROXIED_ACCESS_LOG_FORMAT: &str = r#"%{r}a "%{METHOD}xi %U" %s %b %Dms"#;

/// How long in-flight requests may take to finish after SIGTERM or SIGINT. Below Docker's
/// default 10 s stop timeout, so the container exits on its own.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

/// Why the app could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {address}: {source}. Set HOST and PORT to a free local address")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("REDIS_URL cannot be used: {0}")]
    Redis(String),
    #[error(transparent)]
    Logto(#[from] LogtoError),
    #[error(transparent)]
    CrossSite(#[from] OpaqueOrigin),
    #[error("the HTTP server could not start: {0}")]
    Server(#[from] std::io::Error),
}

/// The running server and the port it listens on.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Binds `HOST:PORT` and builds the server.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener =
            TcpListener::bind(&address).map_err(|source| StartupError::Bind { address, source })?;
        Self::build_with_listener(settings, listener).await
    }

    /// Builds the server on a listener that is already bound (port 0 in tests).
    pub async fn build_with_listener(
        settings: Settings,
        listener: TcpListener,
    ) -> Result<Self, StartupError> {
        Self::build_with_logto(settings, listener, |_| {}).await
    }

    /// Like [`build_with_listener`](Self::build_with_listener), with a chance to adjust the
    /// Logto client's configuration (timeouts, leeway) first.
    pub async fn build_with_logto(
        settings: Settings,
        listener: TcpListener,
        adjust_logto: impl FnOnce(&mut LogtoConfig),
    ) -> Result<Self, StartupError> {
        let mut logto_config = logto_config(&settings);
        adjust_logto(&mut logto_config);
        let logto = Arc::new(LogtoClient::new(logto_config)?);
        prefetch_in_background(Arc::clone(&logto));

        if let SessionSecret::Generated(_) = settings.session.secret {
            log::warn!(
                "SESSION_SECRET is not set: using a random key, so sessions will not survive a restart \
                 (generate one with `openssl rand -hex 64`)"
            );
        }
        let backend = SessionBackend::new(&settings.session.store).map_err(StartupError::Redis)?;
        let lifetimes = SessionLifetimes {
            absolute: settings.session.ttl,
            idle: settings.session.idle_timeout,
        };
        let session_config = web::Data::new(SessionConfig {
            lifetimes,
            cookie_budget: (settings.session.store == SessionStoreKind::Cookie)
                .then(|| CookieBudget::new(SESSION_COOKIE_NAME)),
        });
        let records = AppRecords::new(backend.redis().cloned(), settings.session.ttl);
        let tokens = web::Data::new(TokenService::new(
            Arc::clone(&logto),
            records,
            lifetimes,
            settings.session.store == SessionStoreKind::Cookie,
        ));
        let methods = web::Data::new(SignInMethods {
            social_connectors: settings.logto.social_connectors.clone(),
            email_sign_in: settings.logto.email_sign_in,
        });
        let resources = web::Data::new(ApiResources(settings.logto.resources.clone()));
        let readiness = web::Data::new(Readiness {
            logto: Arc::clone(&logto),
            redis: backend.redis().cloned(),
        });
        let access_log_format = if settings.trust_proxy {
            PROXIED_ACCESS_LOG_FORMAT
        } else {
            ACCESS_LOG_FORMAT
        };
        let base_url = settings.server.base_url.clone();
        let cross_site_guard = CrossSiteGuard::for_base_url(&base_url)?;
        let logto_endpoint = settings.logto.endpoint.clone();

        let port = listener.local_addr()?.port();
        let key = settings.session.secret.key().clone();
        let secure_cookies = settings.server.is_https();
        let sign_in_cookie = web::Data::new(SignInCookie::new(key.clone(), secure_cookies));
        let language_cookie = web::Data::new(LanguageCookie::new(secure_cookies));
        let logto = web::Data::from(logto);
        let server = HttpServer::new(move || {
            let app_data = App::new()
                .app_data(logto.clone())
                .app_data(tokens.clone())
                .app_data(methods.clone())
                .app_data(resources.clone())
                .app_data(session_config.clone())
                .app_data(sign_in_cookie.clone())
                .app_data(language_cookie.clone())
                .app_data(readiness.clone())
                .app_data(
                    web::QueryConfig::default().error_handler(|error, _request| {
                        AppError::BadRequest(error.to_string()).into()
                    }),
                )
                .app_data(web::FormConfig::default().limit(4096).error_handler(
                    |error, _request| AppError::BadRequest(error.to_string()).into(),
                ));
            // Every GET without side effects answers HEAD alike (`Endpoint::read`); an address
            // asked with a method it does not take answers 405 with `Allow`.
            // Probes and assets never touch the session: a session cookie on them must not
            // cost a Redis read, nor make liveness depend on Redis.
            // The last `.wrap` runs first: a cross-site write is refused before the session
            // middleware loads or sets a cookie, and its page is in the visitor's language.
            let guard = cross_site_guard.clone();
            let pages = web::scope("")
                .wrap(session::session_middleware(
                    &backend,
                    key.clone(),
                    secure_cookies,
                    lifetimes,
                ))
                .wrap(from_fn(session::render_session_store_failures))
                .wrap(from_fn(move |request, next| {
                    refuse_cross_site_writes(guard.clone(), request, next)
                }))
                .wrap(from_fn(render_errors_in_visitor_language))
                .service(Endpoint::at("/").read(routes::home))
                .service(
                    Endpoint::at("/sign-in")
                        .get_with_side_effects(routes::sign_in)
                        .post(routes::sign_in_with_form),
                )
                .service(Endpoint::at("/callback").get_with_side_effects(routes::callback))
                .service(
                    Endpoint::at("/sign-out")
                        .read(routes::confirm_sign_out)
                        .post(routes::sign_out),
                )
                .service(Endpoint::at("/profile").read(routes::profile))
                .service(Endpoint::at("/books").read(routes::books))
                .service(Endpoint::at("/api-token").read(routes::api_token))
                .service(Endpoint::at("/organizations/{id}/token").read(routes::organization_token))
                .service(
                    Endpoint::at("/lang/{code}").get_with_side_effects(routes::switch_language),
                )
                .default_service(web::to(routes::not_found));
            app_data
                .wrap(security_headers(&base_url, &logto_endpoint))
                .wrap(
                    Logger::new(access_log_format)
                        .custom_request_replace("METHOD", |request| request.method().to_string()),
                )
                .service(Endpoint::at("/healthz").read(routes::healthz))
                .service(Endpoint::at("/readyz").read(routes::readyz))
                .service(Endpoint::at("/static/{file}").read(routes::static_asset))
                .service(Endpoint::at("/robots.txt").read(routes::robots_txt))
                // Logto calls this server to server, from any origin: outside the pages, so
                // outside the cross-site check and the session.
                .service(Endpoint::at("/backchannel-logout").post(routes::backchannel_logout))
                .service(pages)
        })
        .shutdown_timeout(SHUTDOWN_GRACE.as_secs())
        .listen(listener)?
        .run();

        Ok(Self { port, server })
    }

    /// The port the server listens on (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the server is stopped (SIGINT or SIGTERM).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

fn logto_config(settings: &Settings) -> LogtoConfig {
    let mut config = LogtoConfig::new(
        settings.logto.endpoint.clone(),
        settings.logto.app_id.clone(),
        settings.logto.app_secret.clone(),
        settings.server.redirect_uri(),
        settings.server.post_sign_out_redirect_uri(),
    );
    config.internal_endpoint = settings.logto.internal_endpoint.clone();
    config.scopes = settings.logto.scopes.clone();
    config.prompt = settings.logto.prompt.clone();
    config.resources = settings.logto.resources.clone();
    config.http_timeout = settings.logto.timeout;
    config
}

/// Loads discovery and keys without delaying start-up; if Logto is down, the app still serves
/// `/` and the next sign-in retries.
fn prefetch_in_background(logto: Arc<LogtoClient>) {
    tokio::spawn(async move {
        if let Err(error) = logto.prefetch().await {
            log::warn!(
                "Logto is not reachable yet, sign-in will retry: {}",
                error_chain(&error)
            );
        }
    });
}
