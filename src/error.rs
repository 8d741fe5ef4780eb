//! [`AppError`]: every way a request can fail, and what the visitor is told: one table
//! ([`AppError::view`]) from each failure to its status, its words ([`ErrorKind`], worded in
//! `i18n`) and its way on ([`Retry`]). The page itself is [`crate::pages`]'s.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use logto_actix::{AuthError, ErrorKind, ErrorView, Retry};
use logto_client::LogtoError;

use crate::bookstore_api::ApiCallError;
use crate::i18n::Locale;
use crate::pages::error_page_in;

/// A failed request. Its `Display` is for the logs and never holds a token or a secret.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A failure of sign-in, the session or the auth routes (logto-actix's).
    #[error(transparent)]
    Auth(#[from] AuthError),

    /// No route matches.
    #[error("no page at this address")]
    NotFound,

    /// A template failed to render.
    #[error("a page failed to render")]
    Render(#[from] askama::Error),

    /// The Bookstore's own API, which a page calls, failed.
    #[error(transparent)]
    Api(#[from] ApiCallError),
}

impl From<LogtoError> for AppError {
    fn from(error: LogtoError) -> Self {
        Self::Auth(AuthError::Logto(error))
    }
}

impl AppError {
    /// The one table: the status, words and way on of every failure; logto-actix's rows are
    /// [`AuthError::view`]'s.
    pub fn view(&self) -> ErrorView {
        match self {
            Self::Auth(error) => error.view(),
            Self::NotFound => {
                ErrorView::new(StatusCode::NOT_FOUND, ErrorKind::NotFound, Retry::Home)
            }
            Self::Render(_) => ErrorView::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorKind::Internal,
                Retry::Home,
            ),
            Self::Api(_) => {
                ErrorView::new(StatusCode::BAD_GATEWAY, ErrorKind::Internal, Retry::Home)
            }
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        self.view().status
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Auth(error) = self {
            return error.error_response();
        }
        let view = self.view();
        view.log(self);
        // English here: this has no request. Inside the auth scope, logto-actix's error-page
        // middleware renders it again in the visitor's language (`BookstorePages`).
        view.response(error_page_in(Locale::default(), &view))
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::LOCATION;

    use super::*;

    #[test]
    fn access_denied_is_forbidden_and_other_idp_errors_are_bad_requests() {
        let denied = AppError::from(LogtoError::AuthorizationDenied {
            error: "access_denied".into(),
            description: None,
        });
        assert_eq!(denied.status_code(), StatusCode::FORBIDDEN);
        let invalid = AppError::from(LogtoError::AuthorizationDenied {
            error: "invalid_scope".into(),
            description: None,
        });
        assert_eq!(invalid.status_code(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn logto_unreachable_is_503_and_a_bad_answer_from_logto_is_502() {
        let status = |error: LogtoError| AppError::from(error).status_code();
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
                AppError::Auth(AuthError::SessionWrite("x".into())),
                500,
                ErrorKind::Internal,
            ),
            (
                AppError::Auth(AuthError::SessionEnded),
                401,
                ErrorKind::SessionEnded,
            ),
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
    fn an_auth_error_answers_as_logto_actix_does() {
        let sign_in_required = || AuthError::SignInRequired {
            return_to: "/books".into(),
        };
        let ours = AppError::Auth(sign_in_required()).error_response();
        let theirs = sign_in_required().error_response();
        assert_eq!(ours.status(), theirs.status());
        assert_eq!(ours.headers().get(LOCATION), theirs.headers().get(LOCATION));
    }
}
