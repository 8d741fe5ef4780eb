//! Logto sign-in in an axum 0.8 app, on `logto-client` alone: a home page, a protected page, a
//! profile page with the user's claims from Logto's userinfo endpoint, sign-out (a confirmation
//! page and a CSRF-checked POST) and back-channel logout. And the other half, an API for
//! Logto access tokens: `GET /api/books` needs a token for the API resource (the first of
//! `LOGTO_RESOURCES`) with `read:books`.
//!
//! - The signed-in session lives server-side in tower-sessions' `MemoryStore` (sign-out deletes
//!   it; the cookie holds only its random id). Every read goes through
//!   [`SessionGuard::check`]: both lifetimes, sign-out and back-channel logout.
//! - A sign-in in progress rides in an encrypted cookie (axum-extra's `PrivateCookieJar`), so
//!   anonymous visitors create no server-side state.
//! - Access tokens come from [`SessionGuard::tokens`]: refreshed once at a time per session,
//!   never losing a rotated refresh token.
//! - The API sits outside the session layer (no cookie, no session): the [`BooksReader`]
//!   extractor hands the `Authorization` header to [`LogtoClient::authorize_bearer`], and a
//!   refusal is answered the RFC 6750 way with what [`BearerError`] says (status,
//!   `WWW-Authenticate`, JSON body).
//!
//! It reads the Bookstore's settings (`.env.example`), Logto's and the session lifetimes
//! through logto-client, as the Bookstore does and with its messages:
//! [`LogtoConfig::from_env`] reads `LOGTO_ENDPOINT`, `LOGTO_APP_ID`, `LOGTO_APP_SECRET`,
//! `LOGTO_INTERNAL_ENDPOINT`, `LOGTO_SCOPES`, `LOGTO_PROMPT`, `LOGTO_RESOURCES` and
//! `LOGTO_TIMEOUT`, and [`SessionLifetimes::from_env`] `SESSION_TTL` and `SESSION_IDLE_TIMEOUT`.
//! `BASE_URL`, `HOST`, `PORT` and `SESSION_SECRET` are read here. (`LOGTO_SOCIAL_CONNECTORS`
//! and `LOGTO_EMAIL_SIGN_IN` choose the Bookstore's sign-in buttons: not read here.)
//!
//! Sessions and the protocol's records are in this process's memory, so it runs as one
//! instance, and `MemoryStore` keeps expired sessions until it restarts: a product picks a
//! tower-sessions store with expired-session deletion (Redis, SQL) and shared records
//! (logto-actix's Redis records show how).
//!
//! ```sh
//! cargo run --example axum
//! ```

use std::sync::Arc;

use axum::extract::{Form, FromRef, FromRequestParts, OptionalFromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router, serve};
use axum_extra::extract::PrivateCookieJar;
use axum_extra::extract::cookie::{Cookie, Key, SameSite};
use logto_client::api::{ApiClaims, ApiRequirement, BearerError};
use logto_client::return_to::safe_return_to;
use logto_client::session::{
    BackchannelError, Checked, CookieBudget, MAX_COOKIE_BYTES, MemoryRecords, SessionData,
    SessionError, SessionGuard, SessionLifetimes, SessionWrite, SignInAttempts, StoreError,
    Unbounded,
};
use logto_client::settings::{SettingError, http_url, non_empty};
use logto_client::{
    CallbackParams, LogtoClient, LogtoConfig, LogtoError, SignInOptions, TokenTarget, error_chain,
    unix_now,
};
use serde::Deserialize;
use tower_sessions::{Expiry, MemoryStore, Session, SessionManagerLayer};
use url::Url;

/// The session cookie (tower-sessions), holding only the id of the server-side session.
const SESSION_COOKIE: &str = "logto_session";
/// Where the signed-in user's [`SessionData`] sits in the session.
const SESSION_KEY: &str = "logto.session";
/// The encrypted cookie with the sign-in attempts in progress.
const ATTEMPTS_COOKIE: &str = "logto_sign_in";

#[derive(Clone)]
struct AppState {
    guard: Arc<SessionGuard<MemoryRecords>>,
    /// Encrypts the sign-in attempts cookie.
    key: Key,
    /// Cookies get `Secure` when `BASE_URL` is https.
    secure: bool,
}

impl FromRef<AppState> for Key {
    fn from_ref(state: &AppState) -> Key {
        state.key.clone()
    }
}

/// Why a request failed: one status and one page for each.
#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error(transparent)]
    Logto(#[from] LogtoError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Records(#[from] StoreError),
    #[error("the session store failed: {0}")]
    SessionStore(#[from] tower_sessions::session::Error),
    #[error("the form's CSRF token is missing or wrong")]
    CsrfMismatch,
    #[error("the request has no {0}")]
    Missing(&'static str),
    #[error("the session layer is not in front of this route")]
    NoSessionLayer,
    #[error("the logout token was used before")]
    ReplayedLogoutToken,
    #[error("the sign-in attempts could not be stored: {0}")]
    Attempts(#[from] serde_json::Error),
}

impl AppError {
    fn status(&self) -> StatusCode {
        let code = match self {
            Self::Logto(error) | Self::Session(SessionError::Logto(error)) => error.status_code(),
            Self::Session(SessionError::Ended) => 401,
            Self::Session(SessionError::Store(_) | SessionError::LockTimeout)
            | Self::Records(_) => 503,
            Self::CsrfMismatch => 403,
            Self::Missing(_) | Self::ReplayedLogoutToken => 400,
            Self::Session(_) | Self::SessionStore(_) | Self::NoSessionLayer | Self::Attempts(_) => {
                500
            }
        };
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        // The messages name no token: logto-client keeps them out of its errors.
        if status.is_server_error() {
            log::error!("{status}: {}", error_chain(&self));
        } else {
            log::info!("{status}: {}", error_chain(&self));
        }
        let reason = status.canonical_reason().unwrap_or("Error");
        let body = format!(
            r#"<p>{}.</p><p><a href="/">Home</a></p>"#,
            escape(&self.to_string())
        );
        (
            status,
            page(&format!("{} {reason}", status.as_u16()), &body),
        )
            .into_response()
    }
}

/// The signed-in user of a request, checked by the session guard. As an extractor, anyone else
/// is sent to sign in and brought back; `Option<SignedIn>` lets anyone in.
struct SignedIn {
    data: SessionData,
    session: Session,
}

impl OptionalFromRequestParts<AppState> for SignedIn {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, AppError> {
        let Ok(session) = Session::from_request_parts(parts, state).await else {
            return Err(AppError::NoSessionLayer);
        };
        let Some(data) = session.get::<SessionData>(SESSION_KEY).await? else {
            return Ok(None);
        };
        match state.guard.check(data, &Unbounded).await {
            Checked::Ended { reason } => {
                log::info!("a session ended because {reason}");
                session.flush().await?;
                Ok(None)
            }
            Checked::Valid {
                session: data,
                write,
            } => {
                store(&session, &data, write).await?;
                Ok(Some(Self {
                    data: *data,
                    session,
                }))
            }
            Checked::Failed {
                session: data,
                error,
                write,
            } => {
                store(&session, &data, write).await?;
                Err(error.into())
            }
        }
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match <Self as OptionalFromRequestParts<AppState>>::from_request_parts(parts, state).await {
            Ok(Some(user)) => Ok(user),
            Ok(None) => {
                let here = parts.uri.path_and_query().map_or("/", |path| path.as_str());
                let query = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("return_to", here)
                    .finish();
                Err(Redirect::to(&format!("/sign-in?{query}")).into_response())
            }
            Err(error) => Err(error.into_response()),
        }
    }
}

/// Stores or deletes the session as the protocol says (a renewed idle stamp, a rotated refresh
/// token, an ended grant).
async fn store(session: &Session, data: &SessionData, write: SessionWrite) -> Result<(), AppError> {
    match write {
        SessionWrite::Store => session.insert(SESSION_KEY, data).await?,
        SessionWrite::End => session.flush().await?,
        SessionWrite::Unchanged => {}
    }
    Ok(())
}

/// `GET /`: who is signed in, with the way in or out.
async fn home(user: Option<SignedIn>) -> Response {
    let body = match user {
        Some(user) => format!(
            r#"<p>Signed in as {}.</p><p><a href="/private">Private page</a> ·
            <a href="/profile">Profile</a> · <a href="/sign-out">Sign out</a></p>"#,
            escape(user.data.profile.display_name())
        ),
        None => r#"<p>Not signed in. <a href="/sign-in">Sign in</a></p>"#.to_owned(),
    };
    page("Home", &body)
}

/// `GET /private`: signed-in users only.
async fn private(user: SignedIn) -> Response {
    let body = format!(
        "<p>Only {} can read this.</p>",
        escape(user.data.profile.display_name())
    );
    page("Private", &body)
}

/// `GET /profile`: the user's claims from Logto's userinfo endpoint, with an access token that
/// is refreshed first when it is due.
async fn profile(State(state): State<AppState>, user: SignedIn) -> Result<Response, AppError> {
    let SignedIn { mut data, session } = user;
    let tokens = state.guard.tokens();
    let outcome = tokens
        .access_token(&mut data, &TokenTarget::UserInfo, &Unbounded)
        .await;
    store(&session, &data, outcome.write).await?;
    let claims = match state
        .guard
        .client()
        .userinfo(&outcome.token?, &data.profile.sub)
        .await
    {
        Err(LogtoError::AccessTokenRejected) => {
            // Logto revoked the grant: this session is over.
            session.flush().await?;
            return Err(LogtoError::AccessTokenRejected.into());
        }
        claims => claims?,
    };
    let rows: String = claims
        .iter()
        .map(|(name, value)| {
            format!(
                "<dt>{}</dt><dd>{}</dd>",
                escape(name),
                escape(&value.to_string())
            )
        })
        .collect();
    Ok(page("Profile", &format!("<dl>{rows}</dl>")))
}

#[derive(Deserialize)]
struct SignInQuery {
    return_to: Option<String>,
}

/// `GET /sign-in?return_to=/path`: to Logto, remembering the attempt in an encrypted cookie.
async fn sign_in(
    State(state): State<AppState>,
    jar: PrivateCookieJar,
    Query(query): Query<SignInQuery>,
) -> Result<(PrivateCookieJar, Redirect), AppError> {
    let client = state.guard.client();
    let start = client.start_sign_in(&SignInOptions::default()).await?;
    let mut attempts = attempts_in(&jar, client);
    attempts.begin(start.pending, query.return_to.as_deref().unwrap_or("/"));
    let jar = with_attempts(jar, &mut attempts, &state)?;
    Ok((jar, Redirect::to(start.url.as_str())))
}

/// `GET /callback`: finishes the attempt named by `state`, signs in under a new session id and
/// returns where the sign-in started. The attempt is spent either way.
async fn callback(
    State(state): State<AppState>,
    jar: PrivateCookieJar,
    session: Session,
    Query(params): Query<CallbackParams>,
) -> Response {
    let client = state.guard.client();
    let mut attempts = attempts_in(&jar, client);
    let Some(attempt) = params.state.as_deref().and_then(|sent| attempts.take(sent)) else {
        return AppError::Logto(LogtoError::SignInExpired).into_response();
    };
    let jar = match with_attempts(jar, &mut attempts, &state) {
        Ok(jar) => jar,
        Err(error) => return error.into_response(),
    };
    let signed_in = async {
        let data = SessionData::new(client.finish_sign_in(&attempt.pending, &params).await?);
        // A new id for the signed-in session: an id planted before the sign-in is worthless.
        session.cycle_id().await?;
        session.insert(SESSION_KEY, &data).await?;
        let back_to = safe_return_to(&attempt.return_to).unwrap_or("/");
        Ok::<_, AppError>(Redirect::to(back_to))
    };
    (jar, signed_in.await).into_response()
}

/// The attempts in the browser's cookie that have not expired.
fn attempts_in(jar: &PrivateCookieJar, client: &LogtoClient) -> SignInAttempts {
    let json = jar.get(ATTEMPTS_COOKIE);
    SignInAttempts::from_json(
        json.as_ref().map(Cookie::value),
        client.sign_in_lifetime(),
        unix_now(),
    )
}

/// The jar with `attempts` in the cookie, the oldest dropped until it fits in a browser.
fn with_attempts(
    jar: PrivateCookieJar,
    attempts: &mut SignInAttempts,
    state: &AppState,
) -> Result<PrivateCookieJar, AppError> {
    let budget = CookieBudget::new(ATTEMPTS_COOKIE);
    let cookie = |value: String| {
        let lifetime = state.guard.client().sign_in_lifetime();
        Cookie::build((ATTEMPTS_COOKIE, value))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(state.secure)
            .max_age(lifetime.try_into().unwrap_or_default())
    };
    let fits_in_a_browser = |bytes| budget.cookie_bytes(bytes) <= MAX_COOKIE_BYTES;
    Ok(match attempts.to_json_within(fits_in_a_browser)? {
        Some(json) => jar.add(cookie(json)),
        None => jar.remove(cookie(String::new())),
    })
}

/// `GET /sign-out`: asks, with a form that carries the session's CSRF token.
async fn sign_out_page(user: SignedIn) -> Response {
    let body = format!(
        r#"<form method="post" action="/sign-out">
        <input type="hidden" name="csrf_token" value="{}"><button>Sign out</button></form>"#,
        escape(&user.data.csrf_token)
    );
    page("Sign out", &body)
}

#[derive(Deserialize)]
struct SignOutForm {
    csrf_token: Option<String>,
}

/// `POST /sign-out`: revokes the refresh token, deletes the session and sends the browser to
/// Logto's end-session endpoint, which returns it to `BASE_URL`.
async fn sign_out(
    State(state): State<AppState>,
    user: SignedIn,
    Form(form): Form<SignOutForm>,
) -> Result<Redirect, AppError> {
    if !form
        .csrf_token
        .is_some_and(|sent| user.data.csrf_matches(&sent))
    {
        return Err(AppError::CsrfMismatch);
    }
    let signed_out = state.guard.sign_out(&user.data).await?;
    user.session.flush().await?;
    Ok(Redirect::to(
        signed_out.end_session_url.as_ref().map_or("/", Url::as_str),
    ))
}

#[derive(Deserialize)]
struct LogoutForm {
    logout_token: Option<String>,
}

/// `POST /backchannel-logout`: Logto ends a session (OIDC Back-Channel Logout 1.0).
async fn backchannel_logout(
    State(state): State<AppState>,
    Form(form): Form<LogoutForm>,
) -> Result<impl IntoResponse, AppError> {
    let token = form.logout_token.ok_or(AppError::Missing("logout_token"))?;
    let ended = state
        .guard
        .backchannel_logout(&token)
        .await
        .map_err(|error| match error {
            BackchannelError::Invalid(error) => AppError::Logto(error),
            BackchannelError::Replayed => AppError::ReplayedLogoutToken,
            BackchannelError::Store(error) => AppError::Records(error),
            other => AppError::Records(StoreError::new(other)),
        })?;
    log::info!("back-channel logout of user {:?}", ended.sub);
    Ok([(header::CACHE_CONTROL, "no-store")])
}

/// The permission `GET /api/books` requires.
const READ_BOOKS: &str = "read:books";

/// What the API routes need: the client that verifies tokens, and what `/api/books` requires.
#[derive(Clone)]
struct ApiState {
    client: Arc<LogtoClient>,
    books: ApiRequirement,
}

/// A caller of `GET /api/books`: its bearer token is for the API resource and grants
/// `read:books`. Anyone else gets the RFC 6750 answer of [`ApiRefusal`].
struct BooksReader(ApiClaims);

impl FromRequestParts<ApiState> for BooksReader {
    type Rejection = ApiRefusal;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiRefusal> {
        let authorization = match parts.headers.get(header::AUTHORIZATION) {
            None => None,
            // Only a header of visible ASCII can hold a bearer token.
            Some(value) => Some(value.to_str().map_err(|_| BearerError::MalformedHeader)?),
        };
        let claims = state
            .client
            .authorize_bearer(authorization, &state.books)
            .await?;
        Ok(Self(claims))
    }
}

/// A refused API request: JSON `{"error", "error_description"}` with the status and
/// `WWW-Authenticate` challenge that logto-client's [`BearerError`] gives, never a page.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct ApiRefusal(#[from] BearerError);

impl IntoResponse for ApiRefusal {
    fn into_response(self) -> Response {
        let Self(error) = self;
        let status =
            StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // The message names no token: logto-client keeps it out of the error.
        if status.is_server_error() {
            log::error!(
                "API request not checked ({status}): {}",
                error_chain(&error)
            );
        } else {
            log::info!("API request refused ({status}): {}", error_chain(&error));
        }
        let mut response = (status, Json(error.body())).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        // logto-client quotes only characters a header may hold.
        if let Some(challenge) = error.www_authenticate()
            && let Ok(challenge) = HeaderValue::from_str(&challenge)
        {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// `GET /api/books` (`read:books`): the shelf, as JSON.
async fn list_books(BooksReader(caller): BooksReader) -> Response {
    let caller_kind = if caller.is_app() { "app" } else { "user" };
    log::info!("GET /api/books by {caller_kind} {}", caller.sub);
    let books = serde_json::json!({
        "books": [{ "title": "Botchan" }, { "title": "Kokoro" }, { "title": "Rashomon" }],
    });
    ([(header::CACHE_CONTROL, "no-store")], Json(books)).into_response()
}

/// A page that no cache keeps: most show who is signed in.
fn page(title: &str, body: &str) -> Response {
    let html = format!("<!doctype html><title>{title}</title><h1>{title}</h1>{body}");
    ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

/// Text made safe to put in HTML, by askama's escaper.
fn escape(text: &str) -> String {
    let escaped = askama::filters::escape(text, askama::filters::Html);
    escaped.map_or_else(|never| match never {}, |safe| safe.to_string())
}

/// A setting that cannot be used, or a server that cannot start: one line for the operator.
#[derive(thiserror::Error)]
#[error("{0}")]
struct StartupError(String);

impl std::fmt::Debug for StartupError {
    // `main` prints its error with `Debug`: keep it the one readable line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<SettingError> for StartupError {
    fn from(error: SettingError) -> Self {
        Self(error.to_string())
    }
}

/// An environment variable, `None` when unset or empty (as the Bookstore reads them).
fn env(name: &str) -> Option<String> {
    non_empty(&|name: &str| std::env::var(name).ok(), name)
}

/// Everything the app reads from its environment.
struct Settings {
    logto: LogtoConfig,
    listen: (String, u16),
    secure: bool,
    key: Key,
    lifetimes: SessionLifetimes,
}

fn settings() -> Result<Settings, StartupError> {
    let base_url = http_url(
        "BASE_URL",
        &env("BASE_URL").unwrap_or("http://localhost:3000".into()),
        "Set it to the public origin of this app",
    )?;
    let at = |path: &str| {
        base_url
            .join(path)
            .map_err(|error| StartupError(format!("BASE_URL: {error}")))
    };
    // LOGTO_ENDPOINT, LOGTO_APP_ID and LOGTO_APP_SECRET, and the optional LOGTO_* settings.
    let logto = LogtoConfig::from_env(at("/callback")?, at("/")?)?;
    let port = env("PORT").unwrap_or("3000".into());
    let port = port
        .parse()
        .map_err(|_| StartupError(format!("PORT is not a port number: {port:?}")))?;
    let key =
        match env("SESSION_SECRET") {
            // HKDF over the whole secret, as the Bookstore derives its key.
            Some(secret) if secret.len() >= 64 => Key::derive_from(secret.as_bytes()),
            Some(_) => return Err(StartupError(
                "SESSION_SECRET is shorter than 64 bytes; generate one with `openssl rand -hex 64`"
                    .into(),
            )),
            None => {
                log::warn!(
                    "SESSION_SECRET is not set: sign-ins in progress end when this process does"
                );
                Key::generate()
            }
        };
    Ok(Settings {
        logto,
        listen: (env("HOST").unwrap_or("127.0.0.1".into()), port),
        secure: base_url.scheme() == "https",
        key,
        // SESSION_TTL and SESSION_IDLE_TIMEOUT.
        lifetimes: SessionLifetimes::from_env()?,
    })
}

#[tokio::main]
async fn main() -> Result<(), StartupError> {
    dotenvy::dotenv().ok();
    env_logger::init_from_env(env_logger::Env::default().default_filter_or("info"));
    let settings = settings()?;
    // The API resource this app's API serves: the first of LOGTO_RESOURCES, as in the Bookstore.
    let api_resource = settings.logto.resources.first().cloned();
    let client = Arc::new(
        LogtoClient::new(settings.logto).map_err(|error| StartupError(error_chain(&error)))?,
    );
    let records = MemoryRecords::new(settings.lifetimes.absolute);
    let guard = SessionGuard::new(Arc::clone(&client), records, settings.lifetimes);
    let idle = settings
        .lifetimes
        .idle
        .try_into()
        .map_err(|_| StartupError("SESSION_IDLE_TIMEOUT is too long".into()))?;
    let sessions = SessionManagerLayer::new(MemoryStore::default())
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax) // Strict would lose the session on the way back from Logto
        .with_secure(settings.secure)
        .with_expiry(Expiry::OnInactivity(idle));
    let state = AppState {
        guard: Arc::new(guard),
        key: settings.key,
        secure: settings.secure,
    };
    let pages = Router::new()
        .route("/", get(home))
        .route("/private", get(private))
        .route("/profile", get(profile))
        .route("/sign-in", get(sign_in))
        .route("/callback", get(callback))
        .route("/sign-out", get(sign_out_page).post(sign_out))
        .layer(sessions)
        // Logto calls this one, without cookies: outside the session layer.
        .route(
            "/backchannel-logout",
            axum::routing::post(backchannel_logout),
        )
        .with_state(state);
    // The API: outside the session layer, with its own state. Without an API resource no
    // token can be for it, so it is not offered.
    let app = match api_resource {
        Some(resource) => {
            let books = ApiRequirement::resource(resource).with_scopes([READ_BOOKS]);
            let api = Router::new()
                .route("/api/books", get(list_books))
                .with_state(ApiState { client, books });
            pages.merge(api)
        }
        None => {
            log::warn!("LOGTO_RESOURCES is empty: GET /api/books is not offered");
            pages
        }
    };

    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|error| StartupError(format!("cannot listen on HOST:PORT: {error}")))?;
    let address = listener
        .local_addr()
        .map_err(|error| StartupError(error.to_string()))?;
    log::info!("listening on http://{address}");
    serve(listener, app)
        .with_graceful_shutdown(async {
            tokio::signal::ctrl_c().await.ok();
        })
        .await
        .map_err(|error| StartupError(format!("the server failed: {error}")))
}
