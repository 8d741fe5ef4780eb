//! [`AppError`]: every way a request can fail, and the page each one gets.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::logto::{LogtoError, error_chain};
use crate::templates::{ErrorPage, mark_as_private_html};

/// Longest text from outside (for example an IdP's `error_description`) shown on a page.
const MAX_DETAIL_CHARS: usize = 300;

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

    /// A form arrived without this session's CSRF token.
    #[error("the form's CSRF token does not match the session")]
    CsrfMismatch,

    /// A step of the sign-in protocol failed.
    #[error(transparent)]
    Logto(#[from] LogtoError),

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

    /// A template failed to render.
    #[error("a page failed to render")]
    Render(#[from] askama::Error),
}

/// What the error page says.
struct PageText {
    title: &'static str,
    message: String,
    detail: Option<String>,
    retry: Retry,
}

enum Retry {
    SignIn,
    Home,
}

impl AppError {
    fn page_text(&self) -> PageText {
        use LogtoError as L;
        let text = |title, message: &str, retry| PageText {
            title,
            message: message.to_owned(),
            detail: None,
            retry,
        };
        match self {
            Self::MissingState | Self::UnknownSignInAttempt | Self::Logto(L::SignInExpired) => {
                text(
                    "This sign-in has expired",
                    "The sign-in link was already used, is too old, or was started in another browser. Start again from the Sign in button.",
                    Retry::SignIn,
                )
            }
            Self::Logto(L::AuthorizationDenied { error, description }) => PageText {
                detail: Some(with_description(error, description.as_deref())),
                ..text(
                    "Sign-in was not completed",
                    "Logto did not complete the sign-in.",
                    Retry::SignIn,
                )
            },
            Self::Logto(L::TokenRejected { error, description }) => PageText {
                detail: Some(with_description(error, description.as_deref())),
                ..text(
                    "Sign-in failed",
                    "Logto did not accept the sign-in code. It may have been used already.",
                    Retry::SignIn,
                )
            },
            Self::Logto(L::MissingCode) => text(
                "Sign-in failed",
                "The answer from Logto carried no authorization code.",
                Retry::SignIn,
            ),
            Self::Logto(L::IssuerMismatch { .. }) => text(
                "Sign-in failed",
                "The answer did not come from the expected identity provider, so you were not signed in.",
                Retry::SignIn,
            ),
            Self::Logto(L::InvalidIdToken(_)) => text(
                "Sign-in failed",
                "The identity token from Logto could not be verified, so you were not signed in.",
                Retry::SignIn,
            ),
            Self::Logto(
                L::ProviderUnreachable { .. }
                | L::ProviderStatus { .. }
                | L::InvalidProviderDocument { .. },
            ) => text(
                "Identity provider unavailable",
                "Logto cannot be reached right now. Please try again in a moment.",
                Retry::SignIn,
            ),
            Self::Logto(
                L::TokenEndpointUnreachable(_)
                | L::InvalidTokenResponse(_)
                | L::InvalidAccessToken(_)
                | L::Revocation(_),
            ) => text(
                "Identity provider error",
                "Logto did not finish the sign-in properly. Please try again in a moment.",
                Retry::SignIn,
            ),
            Self::SignInRequired { .. } => text(
                "Sign-in required",
                "Sign in to see this page.",
                Retry::SignIn,
            ),
            Self::InvalidSignInOption(reason) => PageText {
                detail: Some(reason.clone()),
                ..text(
                    "Unknown sign-in option",
                    "This sign-in link asks for an option the Bookstore does not offer.",
                    Retry::Home,
                )
            },
            Self::Logto(L::InvalidLogoutToken(_)) => text(
                "Invalid logout token",
                "The back-channel logout token did not verify; nothing was changed.",
                Retry::Home,
            ),
            Self::SessionEnded | Self::Logto(L::AccessTokenRejected) => text(
                "Your session has ended",
                "Logto no longer accepts this session (it was signed out or has expired). Sign in again to continue.",
                Retry::SignIn,
            ),
            Self::CsrfMismatch => text(
                "This form has expired",
                "The form was not sent from this session's page. Go back, reload the page and try again.",
                Retry::Home,
            ),
            Self::SessionStoreUnavailable => text(
                "Session store unavailable",
                "Your session cannot be read or saved right now. Please try again in a moment.",
                Retry::Home,
            ),
            Self::SessionTooLarge {
                cookie_bytes,
                limit,
            } => PageText {
                message: format!(
                    "Your sign-in needs a {cookie_bytes}-byte session cookie, and browsers keep at most {limit} bytes. \
                     The site's operator can fix this by setting SESSION_STORE=redis."
                ),
                ..text("Session too large for a cookie", "", Retry::Home)
            },
            Self::BadRequest(reason) => PageText {
                detail: Some(reason.clone()),
                ..text(
                    "Bad request",
                    "The address of this request is not valid.",
                    Retry::Home,
                )
            },
            Self::NotFound => text(
                "Page not found",
                "There is no page at this address.",
                Retry::Home,
            ),
            Self::Logto(L::HttpClient(_)) | Self::SessionWrite(_) | Self::Render(_) => text(
                "Something went wrong",
                "The page could not be produced. The error has been logged.",
                Retry::Home,
            ),
        }
    }
}

fn with_description(error: &str, description: Option<&str>) -> String {
    match description {
        Some(description) => format!("{error}: {description}"),
        None => error.to_owned(),
    }
}

fn truncated(text: &str) -> &str {
    text.char_indices()
        .nth(MAX_DETAIL_CHARS)
        .map_or(text, |(end, _)| &text[..end])
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        use LogtoError as L;
        match self {
            Self::MissingState
            | Self::UnknownSignInAttempt
            | Self::BadRequest(_)
            | Self::InvalidSignInOption(_) => StatusCode::BAD_REQUEST,
            Self::SignInRequired { .. } => StatusCode::SEE_OTHER,
            Self::SessionEnded => StatusCode::UNAUTHORIZED,
            Self::CsrfMismatch => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::SessionStoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::SessionTooLarge { .. } | Self::SessionWrite(_) | Self::Render(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Self::Logto(error) => match error {
                L::AuthorizationDenied { error, .. } if error == "access_denied" => {
                    StatusCode::FORBIDDEN
                }
                L::AuthorizationDenied { .. }
                | L::MissingCode
                | L::SignInExpired
                | L::IssuerMismatch { .. }
                | L::TokenRejected { .. }
                | L::InvalidIdToken(_)
                | L::InvalidLogoutToken(_) => StatusCode::BAD_REQUEST,
                L::AccessTokenRejected => StatusCode::UNAUTHORIZED,
                L::ProviderUnreachable { .. }
                | L::ProviderStatus { .. }
                | L::InvalidProviderDocument { .. } => StatusCode::SERVICE_UNAVAILABLE,
                L::TokenEndpointUnreachable(_)
                | L::InvalidTokenResponse(_)
                | L::InvalidAccessToken(_)
                | L::Revocation(_) => StatusCode::BAD_GATEWAY,
                L::HttpClient(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::SignInRequired { return_to } = self {
            let query = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("return_to", return_to)
                .finish();
            return HttpResponse::SeeOther()
                .insert_header((
                    actix_web::http::header::LOCATION,
                    format!("/sign-in?{query}"),
                ))
                .finish();
        }
        let status = self.status_code();
        if status.is_server_error() {
            log::error!("{status}: {}", error_chain(self));
        } else if status != StatusCode::NOT_FOUND {
            log::warn!("{status}: {}", error_chain(self));
        }

        let text = self.page_text();
        let (retry_href, retry_label) = match text.retry {
            Retry::SignIn => ("/sign-in", "Try again"),
            Retry::Home => ("/", "Back to the Bookstore"),
        };
        let page = ErrorPage {
            status: status.as_u16(),
            title: text.title,
            message: &text.message,
            detail: text.detail.as_deref().map(truncated),
            retry_href,
            retry_label,
        };
        let body = page.render().unwrap_or_else(|error| {
            log::error!("the error page failed to render: {error}");
            format!("<!doctype html><title>Error {status}</title><h1>Error {status}</h1><p><a href=\"/\">Home</a></p>")
        });
        let mut response = HttpResponse::build(status).body(body);
        mark_as_private_html(&mut response);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_details_are_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_DETAIL_CHARS + 10);
        assert_eq!(truncated(&long).chars().count(), MAX_DETAIL_CHARS);
        assert_eq!(truncated("short"), "short");
    }

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
}
