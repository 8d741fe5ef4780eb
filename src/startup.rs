//! Builds the HTTP server from [`Settings`]. Tests call [`Application::build_with_listener`]
//! with a listener on port 0.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{Condition, Logger};
use actix_web::{App, HttpServer};
use logto_actix::BuildError;

use crate::bookstore_api::BookstoreApi;
use crate::configuration::Settings;
use crate::routes;
use crate::security_headers::security_headers;
use crate::state::AppState;
use logto_client::LogtoConfig;

/// One line per request: the peer's address, the path but never the query string (the
/// callback's query carries the authorization code), status, size and latency.
const ACCESS_LOG_FORMAT: &str = r#"%a "%{METHOD}xi %U" %s %b %Dms"#;
/// The same, naming the client that a trusted proxy reports (`TRUST_PROXY=true`).
const PROXIED_ACCESS_LOG_FORMAT: &str = r#"%{r}a "%{METHOD}xi %U" %s %b %Dms"#;

/// The access log's target: actix-web's own, as before, so that `RUST_LOG` filters it alike.
const ACCESS_LOG_TARGET: &str = "actix_web::middleware::logger";

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
    #[error(transparent)]
    Auth(#[from] BuildError),
    #[error("the HTTP client for the Bookstore's own API cannot be made: {0}")]
    ApiClient(#[source] reqwest::Error),
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
        let local_address = listener.local_addr()?;
        let api = BookstoreApi::on_listener(local_address).map_err(StartupError::ApiClient)?;
        let state = AppState::build(&settings, api, adjust_logto)?;
        let port = local_address.port();
        let server = HttpServer::new(move || {
            let access_log_format = if state.trust_proxy {
                PROXIED_ACCESS_LOG_FORMAT
            } else {
                ACCESS_LOG_FORMAT
            };
            // The logger formats every line before it knows whether the level lets it
            // through: left out when `RUST_LOG` hides it, it costs nothing.
            let access_log_enabled = log::log_enabled!(target: ACCESS_LOG_TARGET, log::Level::Info);
            App::new()
                .wrap(security_headers(&state.base_url, &state.logto_endpoint))
                .wrap(Condition::new(
                    access_log_enabled,
                    Logger::new(access_log_format)
                        .log_target(ACCESS_LOG_TARGET)
                        .custom_request_replace("METHOD", |request| request.method().to_string()),
                ))
                .configure(|config| routes::configure(config, &state))
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
