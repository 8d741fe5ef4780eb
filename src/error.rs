//! [`AppError`]: every way a request can fail, and the page each one gets.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::Allow;
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::i18n::{Locale, Texts, fill};
use crate::log_safe::Escaped;
use crate::logto::{LogtoError, error_chain};
use crate::templates::{ErrorPage, Layout, mark_as_private_html};

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

    /// A request that could change state came from another site (see [`crate::cross_site`]).
    #[error("refused a cross-site request ({evidence})")]
    CrossSiteRequest { evidence: String },

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
    /// The error page's words, in the language of `t`: the one place that picks them.
    fn page_text(&self, t: &'static Texts) -> PageText {
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
                    t.error_expired_title,
                    t.error_expired_message,
                    Retry::SignIn,
                )
            }
            Self::Logto(L::AuthorizationDenied { error, description }) => PageText {
                detail: Some(with_description(error, description.as_deref())),
                ..text(
                    t.error_not_completed_title,
                    t.error_not_completed_message,
                    Retry::SignIn,
                )
            },
            Self::Logto(logto) if logto.is_unavailable() => text(
                t.error_provider_unavailable_title,
                t.error_provider_unavailable_message,
                Retry::SignIn,
            ),
            Self::Logto(rejected @ L::TokenRejected { error, description })
                if rejected.is_token_endpoint_failure() =>
            {
                PageText {
                    detail: Some(with_description(error, description.as_deref())),
                    ..text(
                        t.error_provider_failed_title,
                        t.error_provider_failed_message,
                        Retry::SignIn,
                    )
                }
            }
            Self::Logto(L::TokenRejected { error, description }) => PageText {
                detail: Some(with_description(error, description.as_deref())),
                ..text(
                    t.error_sign_in_failed_title,
                    t.error_code_rejected_message,
                    Retry::SignIn,
                )
            },
            Self::Logto(L::MissingCode) => text(
                t.error_sign_in_failed_title,
                t.error_missing_code_message,
                Retry::SignIn,
            ),
            Self::Logto(L::IssuerMismatch { .. }) => text(
                t.error_sign_in_failed_title,
                t.error_issuer_mismatch_message,
                Retry::SignIn,
            ),
            Self::Logto(L::InvalidIdToken(_)) => text(
                t.error_sign_in_failed_title,
                t.error_invalid_id_token_message,
                Retry::SignIn,
            ),
            Self::Logto(
                L::ProviderUnreachable { .. }
                | L::ProviderStatus { .. }
                | L::ProviderBackingOff { .. }
                | L::InvalidProviderDocument { .. }
                | L::TokenEndpointUnreachable(_)
                | L::InvalidTokenResponse(_)
                | L::RefreshedIdTokenRejected { .. }
                | L::InvalidAccessToken(_)
                | L::Revocation(_)
                | L::Redirected { .. },
            ) => text(
                t.error_provider_failed_title,
                t.error_provider_failed_message,
                Retry::SignIn,
            ),
            // The visitor stays signed in: only this answer of Logto's is refused.
            Self::Logto(L::UserInfoSubjectMismatch) => text(
                t.error_provider_failed_title,
                t.error_userinfo_mismatch_message,
                Retry::Home,
            ),
            Self::SignInRequired { .. } => text(
                t.error_sign_in_required_title,
                t.error_sign_in_required_message,
                Retry::SignIn,
            ),
            Self::InvalidSignInOption(reason) => PageText {
                detail: Some(reason.clone()),
                ..text(
                    t.error_unknown_option_title,
                    t.error_unknown_option_message,
                    Retry::Home,
                )
            },
            Self::Logto(L::InvalidLogoutToken(_)) | Self::ReplayedLogoutToken => text(
                t.error_invalid_logout_token_title,
                t.error_invalid_logout_token_message,
                Retry::Home,
            ),
            Self::SessionEnded | Self::Logto(L::AccessTokenRejected) => text(
                t.error_session_ended_title,
                t.error_session_ended_message,
                Retry::SignIn,
            ),
            Self::OrganizationDenied { reason, .. } => PageText {
                detail: Some(reason.clone()),
                ..text(
                    t.error_organization_denied_title,
                    t.error_organization_denied_message,
                    Retry::Home,
                )
            },
            Self::CsrfMismatch => text(
                t.error_form_expired_title,
                t.error_form_expired_message,
                Retry::Home,
            ),
            Self::CrossSiteRequest { .. } => text(
                t.error_cross_site_title,
                t.error_cross_site_message,
                Retry::Home,
            ),
            Self::SessionStoreUnavailable => text(
                t.error_store_unavailable_title,
                t.error_store_unavailable_message,
                Retry::Home,
            ),
            Self::SessionTooLarge {
                cookie_bytes,
                limit,
            } => text(
                t.error_session_too_large_title,
                &fill(
                    t.error_session_too_large_message,
                    &[("bytes", cookie_bytes), ("limit", limit)],
                ),
                Retry::Home,
            ),
            Self::BadRequest(reason) => PageText {
                detail: Some(reason.clone()),
                ..text(
                    t.error_bad_request_title,
                    t.error_bad_request_message,
                    Retry::Home,
                )
            },
            Self::NotFound => text(
                t.error_not_found_title,
                t.error_not_found_message,
                Retry::Home,
            ),
            Self::MethodNotAllowed { .. } => text(
                t.error_method_not_allowed_title,
                t.error_method_not_allowed_message,
                Retry::Home,
            ),
            // `LogtoError` is `#[non_exhaustive]`: a kind added later reads as this server's
            // failure until it gets words of its own.
            Self::Logto(_) | Self::SessionWrite(_) | Self::MissingAppData(_) | Self::Render(_) => {
                text(
                    t.error_internal_title,
                    t.error_internal_message,
                    Retry::Home,
                )
            }
        }
    }

    /// The error page's HTML in `locale`; `None` for [`AppError::SignInRequired`], which is
    /// answered with a redirect instead.
    pub fn page_html(&self, locale: Locale) -> Option<String> {
        if let Self::SignInRequired { .. } = self {
            return None;
        }
        let status = self.status_code();
        let t = locale.texts();
        let text = self.page_text(t);
        let (retry_href, retry_label) = match text.retry {
            Retry::SignIn => ("/sign-in", t.try_again),
            Retry::Home => ("/", t.back_to_store),
        };
        let page = ErrorPage {
            // The failed address may not be worth returning to (a spent callback, a POST).
            layout: Layout::new(locale, "/", None),
            status: status.as_u16(),
            title: text.title,
            message: &text.message,
            detail: text.detail.as_deref().map(truncated),
            retry_href,
            retry_label,
        };
        Some(page.render().unwrap_or_else(|error| {
            log::error!("the error page failed to render: {error}");
            format!("<!doctype html><title>Error {status}</title><h1>Error {status}</h1><p><a href=\"/\">Home</a></p>")
        }))
    }
}

fn method_list(methods: &[Method]) -> String {
    methods
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ")
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
        match self {
            Self::MissingState
            | Self::UnknownSignInAttempt
            | Self::BadRequest(_)
            | Self::InvalidSignInOption(_)
            | Self::ReplayedLogoutToken => StatusCode::BAD_REQUEST,
            Self::SignInRequired { .. } => StatusCode::SEE_OTHER,
            Self::SessionEnded => StatusCode::UNAUTHORIZED,
            Self::CsrfMismatch
            | Self::CrossSiteRequest { .. }
            | Self::OrganizationDenied { .. } => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::SessionStoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::SessionTooLarge { .. }
            | Self::SessionWrite(_)
            | Self::MissingAppData(_)
            | Self::Render(_) => StatusCode::INTERNAL_SERVER_ERROR,
            // Logto's own table (`LogtoError::status_code`): 503 while it is unavailable, 502
            // for its other bad answers, 400 for what the visitor's request caused.
            Self::Logto(error) => {
                StatusCode::from_u16(error.status_code()).unwrap_or(StatusCode::BAD_GATEWAY)
            }
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
        // The message may quote the request (a query field's name, a path segment, an IdP's
        // `error_description`): escaped, it cannot start a log line of its own.
        if matches!(self, Self::SessionStoreUnavailable)
            || matches!(self, Self::Logto(logto) if logto.is_unavailable())
        {
            // An outage is logged where it is found (`SharedRedis`, Logto's health), once,
            // not once per request that meets it.
            log::debug!("{status}: {}", Escaped(&error_chain(self)));
        } else if status.is_server_error() {
            log::error!("{status}: {}", Escaped(&error_chain(self)));
        } else if !matches!(
            status,
            // What scanners and link checkers try: not worth a warning each.
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
        ) {
            log::warn!("{status}: {}", Escaped(&error_chain(self)));
        }

        // English here: this has no request. `render_errors_in_visitor_language` re-renders
        // the page for visitors of another language.
        let body = self.page_html(Locale::default()).unwrap_or_default();
        let mut response = HttpResponse::build(status);
        if let Self::MethodNotAllowed { allowed } = self {
            response.insert_header(Allow(allowed.clone()));
        }
        let mut response = response.body(body);
        mark_as_private_html(&mut response);
        response
    }
}

/// Re-renders error pages in the visitor's language: [`AppError::error_response`] has no
/// request to learn it from, so it renders English. The status and the headers (a session
/// cookie being cleared, for example) are kept; only the page changes.
pub async fn render_errors_in_visitor_language(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let locale = Locale::of_request(request.request());
    if locale == Locale::default() {
        return next
            .call(request)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    match next.call(request).await {
        Ok(response) => {
            let page = response
                .response()
                .error()
                .and_then(|error| page_in(error, locale));
            Ok(match page {
                Some(page) => response.map_body(|_, _| BoxBody::new(page)),
                None => response.map_into_boxed_body(),
            })
        }
        // An inner middleware failed (the session store): there is no response yet, actix
        // renders one from the error later.
        Err(error) => Err(InLanguage { error, locale }.into()),
    }
}

/// The page of `error` in `locale`, when it is an [`AppError`] with a page.
fn page_in(error: &actix_web::Error, locale: Locale) -> Option<String> {
    error.as_error::<AppError>()?.page_html(locale)
}

/// An error whose page is to be rendered in `locale`.
#[derive(Debug)]
struct InLanguage {
    error: actix_web::Error,
    locale: Locale,
}

impl std::fmt::Display for InLanguage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl ResponseError for InLanguage {
    fn status_code(&self) -> StatusCode {
        self.error.as_response_error().status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let response = self.error.error_response();
        match page_in(&self.error, self.locale) {
            Some(page) => response.set_body(BoxBody::new(page)),
            None => response,
        }
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

    #[test]
    fn error_pages_are_rendered_in_the_language_asked_for() {
        let too_large = AppError::SessionTooLarge {
            cookie_bytes: 5120,
            limit: 4096,
        };
        let english = too_large.page_html(Locale::En).unwrap();
        assert!(english.contains(r#"<html lang="en">"#));
        assert!(english.contains("Session too large for a cookie"));
        assert!(english.contains("a 5120-byte session cookie"));
        let japanese = too_large.page_html(Locale::Ja).unwrap();
        assert!(japanese.contains(r#"<html lang="ja">"#));
        assert!(japanese.contains("セッションが大きすぎて Cookie に収まりません"));
        assert!(japanese.contains("5120 バイト"));
        assert!(japanese.contains("4096 バイト"));
        assert!(japanese.contains("Bookstore に戻る"));
        assert!(!japanese.contains('{'), "every placeholder is filled");
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
    fn a_sign_in_required_is_a_redirect_without_a_page() {
        let error = AppError::SignInRequired {
            return_to: "/books".into(),
        };
        assert_eq!(error.page_html(Locale::Ja), None);
    }
}
