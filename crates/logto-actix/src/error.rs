//! [`AuthError`]: every way signing in, staying signed in and signing out can fail, and
//! [`ErrorView`]: what the visitor is told about it.
//!
//! [`AuthError::view`] is the one table from a failure to its HTTP status, its
//! [`ErrorKind`] (which words a page uses) and its [`Retry`] link. A product's pages
//! ([`Pages`](crate::Pages)) render views, never errors, so they need no table of their own.

use actix_web::http::header::{Allow, LOCATION, TryIntoHeaderPair};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use logto_client::log_safe::Escaped;
use logto_client::{LogtoError, error_chain};

use crate::pages::PlainPages;

/// Longest text from outside (for example an IdP's `error_description`) that a view carries.
pub const MAX_DETAIL_CHARS: usize = 300;

/// A failed auth request. Its `Display` is for the logs and never holds a token or a secret.
///
/// New kinds of failure may be added in a minor release: match with a wildcard arm, or use
/// [`view`](Self::view).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The callback came without `state`.
    #[error("the callback has no state parameter")]
    MissingState,

    /// No attempt in this browser has the callback's `state`: replayed, expired, or started in
    /// another browser.
    #[error("no sign-in attempt in this session matches the callback's state")]
    UnknownSignInAttempt,

    /// A protected page was requested without a session: answered with a redirect to sign-in,
    /// which brings the visitor back to `return_to`.
    #[error("sign-in required for {return_to}")]
    SignInRequired {
        /// The path and query to come back to.
        return_to: String,
    },

    /// `/sign-in` got an option it does not know, or one that is not enabled.
    #[error("invalid sign-in option: {0}")]
    InvalidSignInOption(String),

    /// Logto refused to refresh the tokens (revoked or expired grant): the session was ended.
    #[error("the session ended because Logto refused to refresh its tokens")]
    SessionEnded,

    /// Logto refused an organization token (`access_denied`: not a member;
    /// `insufficient_scope`: signed in without `urn:logto:scope:organizations`). The session
    /// stays as it was.
    #[error("Logto refused a token for organization {organization_id}: {reason}")]
    OrganizationDenied {
        /// The organization asked for.
        organization_id: String,
        /// Logto's error code.
        reason: String,
    },

    /// A form arrived without this session's CSRF token.
    #[error("the form's CSRF token does not match the session")]
    CsrfMismatch,

    /// A request that could change state came from another site (see
    /// [`cross_site`](crate::cross_site)).
    #[error("refused a cross-site request ({evidence})")]
    CrossSiteRequest {
        /// The header and value that gave it away.
        evidence: String,
    },

    /// A step of the sign-in protocol failed.
    #[error(transparent)]
    Logto(#[from] LogtoError),

    /// The session store (Redis) could not load or save the session.
    #[error("the session store is unavailable")]
    SessionStoreUnavailable,

    /// The session would not fit in a browser cookie.
    #[error("the session needs a {cookie_bytes}-byte cookie, over the {limit}-byte browser limit")]
    SessionTooLarge {
        /// The cookie the session would need.
        cookie_bytes: usize,
        /// What browsers keep.
        limit: usize,
    },

    /// A value could not be serialized into the session.
    #[error("the session could not be written: {0}")]
    SessionWrite(String),

    /// The request itself is malformed (for example a duplicated query parameter).
    #[error("bad request: {0}")]
    BadRequest(String),

    /// A logout token that was used before (its `jti` is remembered until it expires).
    #[error("the logout token was used before")]
    ReplayedLogoutToken,

    /// The address exists, but not for this method (a `HEAD` where `GET` changes state, a
    /// `PUT`): answered with `Allow`.
    #[error(
        "this address does not take this method (it takes {})",
        method_list(allowed)
    )]
    MethodNotAllowed {
        /// The methods it takes.
        allowed: Vec<Method>,
    },

    /// A [`SignedInUser`](crate::SignedInUser) or [`MaybeUser`](crate::MaybeUser) was taken by
    /// a route outside the auth middleware: a wiring bug, reported on every request rather
    /// than run without a session.
    #[error(
        "the auth middleware is not around this route: register it inside `LogtoAuth::scope()`"
    )]
    NotMounted,
}

fn method_list(methods: &[Method]) -> String {
    methods
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a failed request tells the visitor: the status, which words, any detail and where to
/// go next. Built by [`AuthError::view`] (or a product's own table, for its own errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorView {
    /// The response's status.
    pub status: StatusCode,
    /// What went wrong, for the page's words.
    pub kind: ErrorKind,
    /// Text from outside worth showing (an IdP's `error_description`, a refused option), at
    /// most [`MAX_DETAIL_CHARS`] characters. Untrusted: escape it.
    pub detail: Option<String>,
    /// The link that offers a way on.
    pub retry: Retry,
}

/// What went wrong, as a page tells it. The words are the product's (see
/// [`Pages::error_page`](crate::Pages::error_page)); [`PlainPages`] has English ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The sign-in attempt expired, was used already, or was started in another browser.
    SignInExpired,
    /// The visitor did not complete the sign-in at Logto (for example cancelled it).
    SignInNotCompleted,
    /// Logto cannot be reached, or said it is unavailable: try again later.
    ProviderUnavailable,
    /// Logto answered something unusable.
    ProviderFailed,
    /// Logto refused the authorization code.
    CodeRejected,
    /// The callback had no authorization code.
    MissingCode,
    /// The callback's `iss` is not Logto's issuer.
    IssuerMismatch,
    /// The ID token failed verification.
    InvalidIdToken,
    /// Logto's userinfo answer was about another user; the visitor stays signed in.
    UserInfoMismatch,
    /// The page needs a signed-in visitor.
    SignInRequired,
    /// `/sign-in` got an option that is not offered.
    InvalidSignInOption,
    /// A back-channel logout token was invalid or used before.
    InvalidLogoutToken,
    /// The session ended (Logto refused its tokens).
    SessionEnded,
    /// Logto refused a token for an organization.
    OrganizationDenied,
    /// A form was sent without this session's CSRF token (an old tab, for example).
    FormExpired,
    /// A form was sent from another site.
    CrossSite,
    /// The session store is unavailable.
    StoreUnavailable,
    /// The session would not fit in a cookie.
    SessionTooLarge {
        /// The cookie the session would need.
        cookie_bytes: usize,
        /// What browsers keep.
        limit: usize,
    },
    /// The request is malformed.
    BadRequest,
    /// No page at this address.
    NotFound,
    /// The address does not take this method.
    MethodNotAllowed,
    /// This server failed.
    Internal,
}

/// Where an error page sends the visitor next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Signing in again is the way on.
    SignIn,
    /// Back to the home page.
    Home,
}

impl Retry {
    /// The link's address.
    pub fn href(self) -> &'static str {
        match self {
            Self::SignIn => "/sign-in",
            Self::Home => "/",
        }
    }
}

impl ErrorView {
    /// A view without detail.
    pub fn new(status: StatusCode, kind: ErrorKind, retry: Retry) -> Self {
        Self {
            status,
            kind,
            detail: None,
            retry,
        }
    }

    /// The same view with `detail`, cut to [`MAX_DETAIL_CHARS`] characters.
    pub fn with_detail(self, detail: &str) -> Self {
        Self {
            detail: Some(truncated(detail).to_owned()),
            ..self
        }
    }

    /// Whether this view is answered with a page: redirects (`SignInRequired`) have none.
    pub fn has_page(&self) -> bool {
        self.status.is_client_error() || self.status.is_server_error()
    }

    /// Logs `error` as this view calls for: outages at debug (they are logged once where they
    /// are found, not once per request that meets them), this server's failures as errors,
    /// other refusals as warnings; a redirect (to sign in) and a missing page or method not
    /// at all (what scanners and link checkers try). Text from the request in the message is
    /// escaped.
    pub fn log(&self, error: &(dyn std::error::Error + 'static)) {
        let status = self.status;
        if !self.has_page() {
            return;
        }
        let chain = Escaped(&error_chain(error));
        if matches!(
            self.kind,
            ErrorKind::StoreUnavailable | ErrorKind::ProviderUnavailable
        ) {
            log::debug!("{status}: {chain}");
        } else if status.is_server_error() {
            log::error!("{status}: {chain}");
        } else if !matches!(
            status,
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
        ) {
            log::warn!("{status}: {chain}");
        }
    }

    /// The response for this view with the page `html`: its status, HTML, never cached.
    pub fn response(&self, html: String) -> HttpResponse {
        crate::pages::page_response(self.status, html)
    }
}

impl AuthError {
    /// The one table: the status, kind, detail and retry link of every failure.
    pub fn view(&self) -> ErrorView {
        use ErrorKind as K;
        use Retry::{Home, SignIn};
        let view = ErrorView::new;
        match self {
            Self::MissingState | Self::UnknownSignInAttempt => {
                view(StatusCode::BAD_REQUEST, K::SignInExpired, SignIn)
            }
            Self::SignInRequired { .. } => view(StatusCode::SEE_OTHER, K::SignInRequired, SignIn),
            Self::InvalidSignInOption(reason) => {
                view(StatusCode::BAD_REQUEST, K::InvalidSignInOption, Home).with_detail(reason)
            }
            Self::SessionEnded => view(StatusCode::UNAUTHORIZED, K::SessionEnded, SignIn),
            Self::OrganizationDenied { reason, .. } => {
                view(StatusCode::FORBIDDEN, K::OrganizationDenied, Home).with_detail(reason)
            }
            Self::CsrfMismatch => view(StatusCode::FORBIDDEN, K::FormExpired, Home),
            Self::CrossSiteRequest { .. } => view(StatusCode::FORBIDDEN, K::CrossSite, Home),
            Self::Logto(error) => logto_view(error),
            Self::SessionStoreUnavailable => {
                view(StatusCode::SERVICE_UNAVAILABLE, K::StoreUnavailable, Home)
            }
            Self::SessionTooLarge {
                cookie_bytes,
                limit,
            } => view(
                StatusCode::INTERNAL_SERVER_ERROR,
                K::SessionTooLarge {
                    cookie_bytes: *cookie_bytes,
                    limit: *limit,
                },
                Home,
            ),
            Self::SessionWrite(_) => view(StatusCode::INTERNAL_SERVER_ERROR, K::Internal, Home),
            Self::BadRequest(reason) => {
                view(StatusCode::BAD_REQUEST, K::BadRequest, Home).with_detail(reason)
            }
            Self::ReplayedLogoutToken => view(StatusCode::BAD_REQUEST, K::InvalidLogoutToken, Home),
            Self::MethodNotAllowed { .. } => {
                view(StatusCode::METHOD_NOT_ALLOWED, K::MethodNotAllowed, Home)
            }
            Self::NotMounted => view(StatusCode::INTERNAL_SERVER_ERROR, K::Internal, Home),
        }
    }
}

/// The rows of [`AuthError::view`] for Logto's failures; the status is
/// [`LogtoError::status_code`]'s. Public so that an app that still holds a `LogtoError` of
/// its own shows it alike.
pub fn logto_view(error: &LogtoError) -> ErrorView {
    use ErrorKind as K;
    use LogtoError as L;
    let status =
        StatusCode::from_u16(error.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let view = |kind, retry| ErrorView::new(status, kind, retry);
    let with_description = |kind, error: &str, description: &Option<String>| {
        let detail = match description {
            Some(description) => format!("{error}: {description}"),
            None => error.to_owned(),
        };
        view(kind, Retry::SignIn).with_detail(&detail)
    };
    match error {
        L::SignInExpired => view(K::SignInExpired, Retry::SignIn),
        L::AuthorizationDenied { error, description } => {
            with_description(K::SignInNotCompleted, error, description)
        }
        unavailable if unavailable.is_unavailable() => view(K::ProviderUnavailable, Retry::SignIn),
        rejected @ L::TokenRejected { error, description }
            if rejected.is_token_endpoint_failure() =>
        {
            with_description(K::ProviderFailed, error, description)
        }
        L::TokenRejected { error, description } => {
            with_description(K::CodeRejected, error, description)
        }
        L::MissingCode => view(K::MissingCode, Retry::SignIn),
        L::IssuerMismatch { .. } => view(K::IssuerMismatch, Retry::SignIn),
        L::InvalidIdToken(_) => view(K::InvalidIdToken, Retry::SignIn),
        L::ProviderUnreachable { .. }
        | L::ProviderStatus { .. }
        | L::ProviderBackingOff { .. }
        | L::InvalidProviderDocument { .. }
        | L::TokenEndpointUnreachable(_)
        | L::InvalidTokenResponse(_)
        | L::RefreshedIdTokenRejected { .. }
        | L::InvalidAccessToken(_)
        | L::Revocation(_)
        | L::Redirected { .. } => view(K::ProviderFailed, Retry::SignIn),
        // The visitor stays signed in: only this answer of Logto's is refused.
        L::UserInfoSubjectMismatch => view(K::UserInfoMismatch, Retry::Home),
        L::InvalidLogoutToken(_) => view(K::InvalidLogoutToken, Retry::Home),
        L::AccessTokenRejected => view(K::SessionEnded, Retry::SignIn),
        // `LogtoError` is `#[non_exhaustive]`: a kind added later reads as this server's
        // failure until it gets words of its own.
        _ => view(K::Internal, Retry::Home),
    }
}

/// The `303 See Other` to the sign-in page that brings the visitor back to `return_to`.
pub fn sign_in_redirect(return_to: &str) -> HttpResponse {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", return_to)
        .finish();
    HttpResponse::SeeOther()
        .insert_header((LOCATION, format!("/sign-in?{query}")))
        .finish()
}

fn truncated(text: &str) -> &str {
    text.char_indices()
        .nth(MAX_DETAIL_CHARS)
        .map_or(text, |(end, _)| &text[..end])
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        self.view().status
    }

    /// The plain page ([`PlainPages`]); the error-page middleware of a product with its own
    /// [`Pages`](crate::Pages) replaces the body and keeps the status and headers.
    fn error_response(&self) -> HttpResponse {
        let view = self.view();
        view.log(self);
        if let Self::SignInRequired { return_to } = self {
            return sign_in_redirect(return_to);
        }
        let mut response = view.response(PlainPages::page(&view));
        if let Self::MethodNotAllowed { allowed } = self
            && let Ok((name, value)) = Allow(allowed.clone()).try_into_pair()
        {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};

    use super::*;
    use logto_client::TokenError;

    fn rejected(error: &str) -> LogtoError {
        LogtoError::TokenRejected {
            error: error.into(),
            description: Some("why".into()),
        }
    }

    #[test]
    fn long_details_are_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_DETAIL_CHARS + 10);
        let view = AuthError::BadRequest(long).view();
        assert_eq!(
            view.detail.unwrap().chars().count(),
            MAX_DETAIL_CHARS,
            "cut to the limit"
        );
        assert_eq!(truncated("short"), "short");
    }

    #[test]
    fn every_failure_has_its_status_kind_and_way_on() {
        use ErrorKind as K;
        let table: [(AuthError, u16, ErrorKind, Retry); 19] = [
            (
                AuthError::MethodNotAllowed {
                    allowed: vec![Method::POST],
                },
                405,
                K::MethodNotAllowed,
                Retry::Home,
            ),
            (AuthError::NotMounted, 500, K::Internal, Retry::Home),
            (
                AuthError::MissingState,
                400,
                K::SignInExpired,
                Retry::SignIn,
            ),
            (
                AuthError::UnknownSignInAttempt,
                400,
                K::SignInExpired,
                Retry::SignIn,
            ),
            (
                AuthError::SignInRequired {
                    return_to: "/books".into(),
                },
                303,
                K::SignInRequired,
                Retry::SignIn,
            ),
            (
                AuthError::InvalidSignInOption("no".into()),
                400,
                K::InvalidSignInOption,
                Retry::Home,
            ),
            (AuthError::SessionEnded, 401, K::SessionEnded, Retry::SignIn),
            (
                AuthError::OrganizationDenied {
                    organization_id: "o".into(),
                    reason: "access_denied".into(),
                },
                403,
                K::OrganizationDenied,
                Retry::Home,
            ),
            (AuthError::CsrfMismatch, 403, K::FormExpired, Retry::Home),
            (
                AuthError::CrossSiteRequest {
                    evidence: "origin: null".into(),
                },
                403,
                K::CrossSite,
                Retry::Home,
            ),
            (
                AuthError::SessionStoreUnavailable,
                503,
                K::StoreUnavailable,
                Retry::Home,
            ),
            (
                AuthError::SessionTooLarge {
                    cookie_bytes: 5000,
                    limit: 4096,
                },
                500,
                K::SessionTooLarge {
                    cookie_bytes: 5000,
                    limit: 4096,
                },
                Retry::Home,
            ),
            (
                AuthError::SessionWrite("x".into()),
                500,
                K::Internal,
                Retry::Home,
            ),
            (
                AuthError::BadRequest("x".into()),
                400,
                K::BadRequest,
                Retry::Home,
            ),
            (
                AuthError::ReplayedLogoutToken,
                400,
                K::InvalidLogoutToken,
                Retry::Home,
            ),
            (
                AuthError::Logto(LogtoError::AccessTokenRejected),
                401,
                K::SessionEnded,
                Retry::SignIn,
            ),
            (
                AuthError::Logto(LogtoError::UserInfoSubjectMismatch),
                502,
                K::UserInfoMismatch,
                Retry::Home,
            ),
            (
                AuthError::Logto(LogtoError::InvalidLogoutToken(TokenError::Expired)),
                400,
                K::InvalidLogoutToken,
                Retry::Home,
            ),
            (
                AuthError::Logto(LogtoError::NoTlsBackend),
                500,
                K::Internal,
                Retry::Home,
            ),
        ];
        for (error, status, kind, retry) in table {
            let view = error.view();
            assert_eq!(view.status.as_u16(), status, "{error:?}");
            assert_eq!(view.kind, kind, "{error:?}");
            assert_eq!(view.retry, retry, "{error:?}");
            assert_eq!(error.status_code(), view.status, "{error:?}");
        }
    }

    #[test]
    fn logto_failures_take_logto_s_status_and_say_whose_fault() {
        use ErrorKind as K;
        let cases = [
            (
                rejected("temporarily_unavailable"),
                503,
                K::ProviderUnavailable,
            ),
            (rejected("server_error"), 502, K::ProviderFailed),
            (rejected("invalid_grant"), 400, K::CodeRejected),
            (
                LogtoError::TokenEndpointUnreachable("timed out".into()),
                503,
                K::ProviderUnavailable,
            ),
            (
                LogtoError::InvalidTokenResponse("not JSON".into()),
                502,
                K::ProviderFailed,
            ),
            (LogtoError::MissingCode, 400, K::MissingCode),
            (LogtoError::SignInExpired, 400, K::SignInExpired),
            (
                LogtoError::InvalidIdToken(TokenError::Expired),
                400,
                K::InvalidIdToken,
            ),
            (
                LogtoError::IssuerMismatch {
                    expected: "a".into(),
                    received: None,
                },
                400,
                K::IssuerMismatch,
            ),
        ];
        for (error, status, kind) in cases {
            let view = logto_view(&error);
            assert_eq!(
                (view.status.as_u16(), view.kind),
                (status, kind),
                "{error:?}"
            );
            assert_eq!(view.retry, Retry::SignIn, "{error:?}");
        }
    }

    #[test]
    fn the_idp_s_words_are_the_detail() {
        let denied = |error: &str, description: Option<&str>| {
            logto_view(&LogtoError::AuthorizationDenied {
                error: error.into(),
                description: description.map(Into::into),
            })
        };
        let cancelled = denied("access_denied", Some("the user cancelled"));
        assert_eq!(cancelled.status, StatusCode::FORBIDDEN);
        assert_eq!(cancelled.kind, ErrorKind::SignInNotCompleted);
        assert_eq!(
            cancelled.detail.as_deref(),
            Some("access_denied: the user cancelled")
        );
        let invalid = denied("invalid_scope", None);
        assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
        assert_eq!(invalid.detail.as_deref(), Some("invalid_scope"));
        assert_eq!(
            logto_view(&rejected("server_error")).detail.as_deref(),
            Some("server_error: why")
        );
        assert_eq!(logto_view(&LogtoError::MissingCode).detail, None);
    }

    #[test]
    fn a_sign_in_required_is_a_redirect_without_a_page() {
        let error = AuthError::SignInRequired {
            return_to: "/books?shelf=a b".into(),
        };
        assert!(!error.view().has_page());
        let response = error.error_response();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            response.headers().get(LOCATION).unwrap(),
            "/sign-in?return_to=%2Fbooks%3Fshelf%3Da+b"
        );
    }

    #[test]
    fn an_error_response_is_a_private_html_page_with_the_view_s_status() {
        let response = AuthError::CsrfMismatch.error_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            response.headers().get(CONTENT_TYPE).unwrap(),
            "text/html; charset=utf-8"
        );
        assert_eq!(response.headers().get(CACHE_CONTROL).unwrap(), "no-store");
    }

    /// Every log record of this test binary, with its level.
    static RECORDS: std::sync::Mutex<Vec<(log::Level, String)>> = std::sync::Mutex::new(Vec::new());

    struct Recorder;

    impl log::Log for Recorder {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, record: &log::Record<'_>) {
            if let Ok(mut records) = RECORDS.lock() {
                records.push((record.level(), record.args().to_string()));
            }
        }
        fn flush(&self) {}
    }

    /// The levels at which lines holding `marker` were logged.
    fn logged(marker: &str) -> Vec<log::Level> {
        RECORDS
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, line)| line.contains(marker))
            .map(|(level, _)| *level)
            .collect()
    }

    #[test]
    fn failures_are_logged_at_the_level_their_view_calls_for() {
        static RECORDER: Recorder = Recorder;
        let _ = log::set_logger(&RECORDER);
        log::set_max_level(log::LevelFilter::Trace);
        let log = |error: AuthError| error.view().log(&error);
        log(AuthError::BadRequest("marker-refused".into()));
        log(AuthError::SessionWrite("marker-ours".into()));
        log(AuthError::Logto(LogtoError::TokenEndpointUnreachable(
            "marker-outage".into(),
        )));
        log(AuthError::SignInRequired {
            return_to: "/marker-redirect".into(),
        });
        log(AuthError::InvalidSignInOption("marker\nforged line".into()));
        #[derive(Debug, thiserror::Error)]
        #[error("marker-scanner")]
        struct Scanner;
        ErrorView::new(StatusCode::NOT_FOUND, ErrorKind::NotFound, Retry::Home).log(&Scanner);

        assert_eq!(logged("marker-refused"), [log::Level::Warn]);
        assert_eq!(logged("marker-ours"), [log::Level::Error]);
        assert_eq!(
            logged("marker-outage"),
            [log::Level::Debug],
            "logged once where found"
        );
        assert_eq!(
            logged("marker-redirect"),
            Vec::<log::Level>::new(),
            "a redirect is no failure"
        );
        assert_eq!(
            logged("marker-scanner"),
            Vec::<log::Level>::new(),
            "what scanners try"
        );
        assert_eq!(
            logged("marker\\nforged line"),
            [log::Level::Warn],
            "request text is escaped"
        );
    }

    #[test]
    fn a_method_not_allowed_names_the_allowed_ones() {
        let response = AuthError::MethodNotAllowed {
            allowed: vec![Method::GET, Method::POST],
        }
        .error_response();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            response
                .headers()
                .get(actix_web::http::header::ALLOW)
                .unwrap(),
            "GET, POST"
        );
    }

    #[test]
    fn retry_links_lead_to_sign_in_or_home() {
        assert_eq!(Retry::SignIn.href(), "/sign-in");
        assert_eq!(Retry::Home.href(), "/");
    }
}
