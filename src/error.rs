//! [`AppError`]: every way a request can fail, and what the visitor is told: one table
//! ([`AppError::view`]) from each failure to its status, its words ([`ErrorKind`], worded in
//! `i18n`) and its way on ([`Retry`]). The page itself is [`crate::pages`]'s.

use actix_web::http::Method;
use actix_web::http::StatusCode;
use actix_web::http::header::{Allow, TryIntoHeaderPair};
use actix_web::{HttpResponse, ResponseError};
use logto_actix::error::{logto_view, sign_in_redirect};
use logto_actix::{AuthError, ErrorKind, ErrorView, Retry};

use crate::i18n::Locale;
use crate::logto::LogtoError;
use crate::pages::error_page_in;

/// A failed request. Its `Display` is for the logs and never holds a token or a secret.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The callback came without `state`.
    #[error("the callback has no state parameter")]
    MissingState,

    /// No attempt in this session has the callback's `state`: replayed, expired, or started in
    /// another browser.
    #[error("no sign-in attempt in this session matches the callback's state")]
    UnknownSignInAttempt,

    /// A protected page was requested without a session: sign in, then come back.
    #[error("sign-in required for {return_to}")]
    SignInRequired { return_to: String },

    /// `/sign-in` got an option it does not know, or one that is not enabled.
    #[error("invalid sign-in option: {0}")]
    InvalidSignInOption(String),

    /// Logto refused to refresh the tokens (revoked or expired grant): the session was ended.
    #[error("the session ended because Logto refused to refresh its tokens")]
    SessionEnded,

    /// Logto refused an organization token (`access_denied`: not a member; `insufficient_scope`:
    /// signed in without `urn:logto:scope:organizations`). The session stays as it was.
    #[error("Logto refused a token for organization {organization_id}: {reason}")]
    OrganizationDenied {
        organization_id: String,
        reason: String,
    },

    /// A form arrived without this session's CSRF token.
    #[error("the form's CSRF token does not match the session")]
    CsrfMismatch,

    /// A step of the sign-in protocol failed.
    #[error(transparent)]
    Logto(#[from] LogtoError),

    /// A failure of logto-actix's (the cross-site guard, for example).
    #[error(transparent)]
    Auth(#[from] AuthError),

    /// The session store (Redis) could not load or save the session.
    #[error("the session store is unavailable")]
    SessionStoreUnavailable,

    /// The session would not fit in a browser cookie.
    #[error("the session needs a {cookie_bytes}-byte cookie, over the {limit}-byte browser limit")]
    SessionTooLarge { cookie_bytes: usize, limit: usize },

    /// A value could not be serialized into the session.
    #[error("the session could not be written: {0}")]
    SessionWrite(String),

    /// The request itself is malformed (for example a duplicated query parameter).
    #[error("bad request: {0}")]
    BadRequest(String),

    /// No route matches.
    #[error("no page at this address")]
    NotFound,

    /// The address exists, but not for this method (a `HEAD` where `GET` changes state, a
    /// `PUT`): answered with `Allow`.
    #[error(
        "this address does not take this method (it takes {})",
        method_list(allowed)
    )]
    MethodNotAllowed { allowed: Vec<Method> },

    /// A logout token that was used before (its `jti` is remembered until it expires).
    #[error("the logout token was used before")]
    ReplayedLogoutToken,

    /// The app was wired without something a request needs (a bug at start-up, not the
    /// visitor's): named so that the log says what to register.
    #[error("the app data {0} is not registered")]
    MissingAppData(&'static str),

    /// A template failed to render.
    #[error("a page failed to render")]
    Render(#[from] askama::Error),
}

impl AppError {
    /// The one table: the status, words and way on of every failure. Until the session code
    /// moves into logto-actix, the failures it shares with logto-actix are kept here too (their
    /// constructors are in `session` and `tokens`), and take their rows from [`AuthError`]'s
    /// table.
    pub fn view(&self) -> ErrorView {
        use AuthError as A;
        let auth = |error: AuthError| error.view();
        match self {
            Self::Auth(error) => error.view(),
            Self::Logto(error) => logto_view(error),
            Self::MissingState => auth(A::MissingState),
            Self::UnknownSignInAttempt => auth(A::UnknownSignInAttempt),
            Self::SignInRequired { return_to } => auth(A::SignInRequired {
                return_to: return_to.clone(),
            }),
            Self::InvalidSignInOption(reason) => auth(A::InvalidSignInOption(reason.clone())),
            Self::SessionEnded => auth(A::SessionEnded),
            Self::OrganizationDenied {
                organization_id,
                reason,
            } => auth(A::OrganizationDenied {
                organization_id: organization_id.clone(),
                reason: reason.clone(),
            }),
            Self::CsrfMismatch => auth(A::CsrfMismatch),
            Self::SessionStoreUnavailable => auth(A::SessionStoreUnavailable),
            Self::SessionTooLarge {
                cookie_bytes,
                limit,
            } => auth(A::SessionTooLarge {
                cookie_bytes: *cookie_bytes,
                limit: *limit,
            }),
            Self::SessionWrite(reason) => auth(A::SessionWrite(reason.clone())),
            Self::BadRequest(reason) => auth(A::BadRequest(reason.clone())),
            Self::ReplayedLogoutToken => auth(A::ReplayedLogoutToken),
            // The app's own.
            Self::NotFound => {
                ErrorView::new(StatusCode::NOT_FOUND, ErrorKind::NotFound, Retry::Home)
            }
            Self::MethodNotAllowed { .. } => ErrorView::new(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorKind::MethodNotAllowed,
                Retry::Home,
            ),
            Self::MissingAppData(_) | Self::Render(_) => ErrorView::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorKind::Internal,
                Retry::Home,
            ),
        }
    }
}

fn method_list(methods: &[Method]) -> String {
    methods
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        self.view().status
    }

    fn error_response(&self) -> HttpResponse {
        let view = self.view();
        view.log(self);
        if let Self::SignInRequired { return_to } = self {
            return sign_in_redirect(return_to);
        }
        // English here: this has no request. The error-page middleware
        // (`pages::render_errors_in_visitor_language`) renders it again in the visitor's
        // language.
        let mut response = view.response(error_page_in(Locale::default(), &view));
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
    use actix_web::http::header::{ALLOW, LOCATION};

    use super::*;

    #[test]
    fn access_denied_is_forbidden_and_other_idp_errors_are_bad_requests() {
        let denied = AppError::Logto(LogtoError::AuthorizationDenied {
            error: "access_denied".into(),
            description: None,
        });
        assert_eq!(denied.status_code(), StatusCode::FORBIDDEN);
        let invalid = AppError::Logto(LogtoError::AuthorizationDenied {
            error: "invalid_scope".into(),
            description: None,
        });
        assert_eq!(invalid.status_code(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn logto_unreachable_is_503_and_a_bad_answer_from_logto_is_502() {
        let status = |error: LogtoError| AppError::Logto(error).status_code();
        let rejected = |error: &str| LogtoError::TokenRejected {
            error: error.into(),
            description: None,
        };
        for unavailable in [
            LogtoError::TokenEndpointUnreachable("timed out".into()),
            LogtoError::ProviderStatus {
                document: "JWKS",
                status: 503,
            },
            rejected("temporarily_unavailable"),
        ] {
            assert_eq!(status(unavailable), StatusCode::SERVICE_UNAVAILABLE);
        }
        for bad_answer in [
            LogtoError::InvalidTokenResponse("not JSON".into()),
            LogtoError::ProviderStatus {
                document: "JWKS",
                status: 500,
            },
            rejected("server_error"),
        ] {
            assert_eq!(status(bad_answer), StatusCode::BAD_GATEWAY);
        }
        assert_eq!(status(rejected("invalid_grant")), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn the_app_s_own_failures_have_their_rows() {
        let rows = [
            (AppError::NotFound, 404, ErrorKind::NotFound),
            (
                AppError::MethodNotAllowed {
                    allowed: vec![Method::POST],
                },
                405,
                ErrorKind::MethodNotAllowed,
            ),
            (
                AppError::MissingAppData("LogtoClient"),
                500,
                ErrorKind::Internal,
            ),
            (AppError::SessionWrite("x".into()), 500, ErrorKind::Internal),
            (AppError::SessionEnded, 401, ErrorKind::SessionEnded),
            (
                AppError::Auth(AuthError::CrossSiteRequest {
                    evidence: "origin: null".into(),
                }),
                403,
                ErrorKind::CrossSite,
            ),
        ];
        for (error, status, kind) in rows {
            assert_eq!(
                (error.status_code().as_u16(), error.view().kind),
                (status, kind),
                "{error:?}"
            );
        }
    }

    #[test]
    fn a_method_not_allowed_names_the_allowed_ones() {
        let response = AppError::MethodNotAllowed {
            allowed: vec![Method::GET, Method::POST],
        }
        .error_response();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers().get(ALLOW).unwrap(), "GET, POST");
    }

    #[test]
    fn a_sign_in_required_is_a_redirect_without_a_page() {
        let error = AppError::SignInRequired {
            return_to: "/books".into(),
        };
        assert!(!error.view().has_page());
        let response = error.error_response();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            response.headers().get(LOCATION).unwrap(),
            "/sign-in?return_to=%2Fbooks"
        );
    }
}
