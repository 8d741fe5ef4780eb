//! The page hook: how a product's pages look.
//!
//! The auth routes answer with a few pages of their own: the error pages, the sign-out
//! confirmation, and the email form shown again after an address that is not one. A product
//! renders them in its own look and language by implementing [`Pages`]; every method has a
//! plain English default ([`PlainPages`]).
//!
//! [`render_error_pages`] is the middleware that gives every error response inside it the
//! product's error page: an [`AuthError`]'s, and those of the product's own errors that
//! [`Pages::view_of`] recognises.

mod plain;

use std::borrow::Cow;
use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::cookie::Cookie;
use actix_web::dev::{RequestHead, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::COOKIE;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};

pub use plain::{PlainPages, escape};

use crate::error::{AuthError, ErrorView};
use logto_client::session::SessionData;

/// Why a page could not be rendered (a template error, for example).
pub type PageError = Box<dyn std::error::Error + Send + Sync>;

/// How a product's pages look. Every method has a plain default; bodies are HTML, and
/// logto-actix sets the status, `Content-Type`, `Cache-Control: no-store` and any
/// `Set-Cookie`. A hook that fails is logged and the plain page is used instead.
///
/// Sync and object-safe: it is kept as an `Arc<dyn Pages>`, and what a page shows is read
/// before it is called. The `request` is the head of the visitor's request (method, URI,
/// headers): what a page needs to speak the visitor's language, and all there is of a request
/// whose session store failed ([`request_cookie`] reads its cookies).
pub trait Pages: Send + Sync + 'static {
    /// The page for a failed request: `view` says its status, what went wrong and where to go
    /// next.
    fn error_page(&self, _request: &RequestHead, view: &ErrorView) -> Result<String, PageError> {
        Ok(PlainPages::page(view))
    }

    /// `GET /sign-out`: asks the signed-in visitor to confirm with a form that posts the CSRF
    /// token to [`SignOutForm::action`].
    fn sign_out_page(
        &self,
        _request: &RequestHead,
        form: &SignOutForm<'_>,
    ) -> Result<String, PageError> {
        Ok(PlainPages::sign_out(form))
    }

    /// `POST /sign-in` with an address that is not one: the email form again (answered 400).
    fn email_rejected_page(
        &self,
        _request: &RequestHead,
        rejected: &RejectedEmail<'_>,
    ) -> Result<String, PageError> {
        Ok(PlainPages::email_rejected(rejected))
    }

    /// `ui_locales` for Logto's sign-in page (for example `ja`), so that it speaks the
    /// visitor's language. Default: none, Logto decides.
    fn ui_locales(&self, _request: &RequestHead) -> Option<String> {
        None
    }

    /// Views of the product's own errors, so that their pages come from
    /// [`error_page`](Self::error_page) too. Default: none.
    fn view_of(&self, _error: &actix_web::Error) -> Option<ErrorView> {
        None
    }
}

/// What the sign-out confirmation needs.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SignOutForm<'a> {
    /// Where the form posts (`/sign-out`).
    pub action: &'a str,
    /// The session's CSRF token, for a hidden `csrf_token` field.
    pub csrf_token: &'a str,
    /// Who is signing out.
    pub user: &'a SessionData,
}

impl<'a> SignOutForm<'a> {
    /// The form posting `csrf_token` to `action`, for `user`.
    pub fn new(action: &'a str, csrf_token: &'a str, user: &'a SessionData) -> Self {
        Self {
            action,
            csrf_token,
            user,
        }
    }
}

/// An email address refused by the sign-in form.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RejectedEmail<'a> {
    /// Where the form posts (`/sign-in`).
    pub action: &'a str,
    /// What the visitor typed, to show again. Untrusted: escape it.
    pub address: &'a str,
    /// The visitor, when signed in (a page that shows who is signed in shows them again).
    pub visitor: Option<&'a SessionData>,
}

impl<'a> RejectedEmail<'a> {
    /// `address`, refused by the form posting to `action`, for `visitor`.
    pub fn new(action: &'a str, address: &'a str, visitor: Option<&'a SessionData>) -> Self {
        Self {
            action,
            address,
            visitor,
        }
    }
}

/// A page answered with `status`: HTML, never cached (it may show who is signed in).
pub(crate) fn page_response(status: StatusCode, html: String) -> HttpResponse {
    let mut response = HttpResponse::build(status).body(html);
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The view of `error`: an [`AuthError`]'s own, else what `pages` says of it.
pub fn view_of(pages: &dyn Pages, error: &actix_web::Error) -> Option<ErrorView> {
    error
        .as_error::<AuthError>()
        .map(AuthError::view)
        .or_else(|| pages.view_of(error))
}

/// `pages`' error page for `view`, or the plain one if the hook fails.
pub fn error_page_html(pages: &dyn Pages, request: &RequestHead, view: &ErrorView) -> String {
    pages.error_page(request, view).unwrap_or_else(|error| {
        log::error!("the error page failed to render, the plain one is used instead: {error}");
        PlainPages::page(view)
    })
}

/// The middleware (for `actix_web::middleware::from_fn`) that gives error responses the
/// product's pages: for a response whose error has a view ([`view_of`]) and a page (not a
/// redirect), the body is replaced by [`Pages::error_page`]; the status and the headers (a
/// cookie being cleared, for example) are kept. An inner middleware's `Err` (there is no
/// response yet) gets its page too, once actix renders it.
pub async fn render_error_pages(
    pages: Arc<dyn Pages>,
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // The request cannot be kept while the services inside route it (actix needs it unshared),
    // so a failing inner middleware's page is rendered for a copy of its head, taken first.
    let head = request.head().clone();
    match next.call(request).await {
        Ok(response) => {
            let page = response.response().error().and_then(|error| {
                let view = view_of(&*pages, error).filter(ErrorView::has_page)?;
                Some(error_page_html(&*pages, response.request().head(), &view))
            });
            Ok(match page {
                Some(page) => response.map_body(|_, _| BoxBody::new(page)),
                None => response.map_into_boxed_body(),
            })
        }
        Err(error) => match view_of(&*pages, &error).filter(ErrorView::has_page) {
            Some(view) => {
                let page = error_page_html(&*pages, &head, &view);
                Err(WithPage { error, page }.into())
            }
            None => Err(error),
        },
    }
}

/// The cookie `name` that the browser sent with `request`, if any.
///
/// Only that cookie's pair is copied and parsed: a signed-in visitor's header also carries a
/// session cookie of a kilobyte or two, which this runs beside on every page.
pub fn request_cookie(request: &RequestHead, name: &str) -> Option<Cookie<'static>> {
    request.headers().get_all(COOKIE).find_map(|value| {
        // Not `to_str`: a byte outside visible ASCII in another cookie must not hide this
        // one. `from_utf8` first: it checks ASCII a word at a time, the lossy path a byte.
        let header = std::str::from_utf8(value.as_bytes())
            .map_or_else(|_| String::from_utf8_lossy(value.as_bytes()), Cow::Borrowed);
        header
            .split(';')
            .find(|pair| pair.split('=').next().map(str::trim) == Some(name))
            .and_then(|pair| Cookie::parse(pair.trim().to_owned()).ok())
    })
}

/// An error whose response gets `page` as its body.
#[derive(Debug)]
struct WithPage {
    error: actix_web::Error,
    page: String,
}

impl std::fmt::Display for WithPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl ResponseError for WithPage {
    fn status_code(&self) -> StatusCode {
        self.error.as_response_error().status_code()
    }

    fn error_response(&self) -> HttpResponse {
        self.error
            .error_response()
            .set_body(BoxBody::new(self.page.clone()))
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::to_bytes;
    use actix_web::middleware::from_fn;
    use actix_web::test::{TestRequest, call_service, init_service, try_call_service};
    use actix_web::{App, web};

    use super::*;
    use crate::error::{ErrorKind, Retry};

    /// A product's pages: every page says which hook made it.
    struct Branded;

    #[derive(Debug, thiserror::Error)]
    #[error("the product's own failure")]
    struct ProductError;

    impl ResponseError for ProductError {
        fn status_code(&self) -> StatusCode {
            StatusCode::NOT_FOUND
        }
    }

    impl Pages for Branded {
        fn error_page(&self, request: &RequestHead, view: &ErrorView) -> Result<String, PageError> {
            let language = request
                .headers()
                .get("accept-language")
                .map_or("-", |value| value.to_str().unwrap_or("?"));
            Ok(format!(
                "branded {} {:?} at {} in {language}",
                view.status.as_u16(),
                view.kind,
                request.uri.path()
            ))
        }

        fn view_of(&self, error: &actix_web::Error) -> Option<ErrorView> {
            error
                .as_error::<ProductError>()
                .map(|_| ErrorView::new(StatusCode::NOT_FOUND, ErrorKind::NotFound, Retry::Home))
        }
    }

    /// Pages whose error page always fails.
    struct Broken;

    impl Pages for Broken {
        fn error_page(&self, _: &RequestHead, _: &ErrorView) -> Result<String, PageError> {
            Err("the template is missing".into())
        }
    }

    async fn body_at(pages: Arc<dyn Pages>, path: &str) -> (StatusCode, String, bool) {
        let app = init_service(
            App::new()
                .wrap(from_fn(move |request, next| {
                    render_error_pages(Arc::clone(&pages), request, next)
                }))
                .route(
                    "/csrf",
                    web::get().to(|| async { Err::<HttpResponse, _>(AuthError::CsrfMismatch) }),
                )
                .route(
                    "/product",
                    web::get().to(|| async { Err::<HttpResponse, _>(ProductError) }),
                )
                .route(
                    "/protected",
                    web::get().to(|| async {
                        Err::<HttpResponse, _>(AuthError::SignInRequired {
                            return_to: "/protected".into(),
                        })
                    }),
                )
                .route(
                    "/fine",
                    web::get().to(|| async { HttpResponse::Ok().body("fine") }),
                ),
        )
        .await;
        let request = TestRequest::get()
            .uri(path)
            .insert_header(("accept-language", "ja"))
            .to_request();
        let response = call_service(&app, request).await;
        let status = response.status();
        let has_cache_control = response.headers().contains_key("cache-control");
        let body = to_bytes(response.into_body()).await.unwrap();
        (
            status,
            String::from_utf8(body.to_vec()).unwrap(),
            has_cache_control,
        )
    }

    #[actix_web::test]
    async fn auth_errors_get_the_product_s_page_with_their_status_and_headers() {
        let (status, body, private) = body_at(Arc::new(Branded), "/csrf").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body, "branded 403 FormExpired at /csrf in ja");
        assert!(private, "the headers of the plain response are kept");
    }

    #[actix_web::test]
    async fn the_product_s_own_errors_get_its_page_through_view_of() {
        let (status, body, _) = body_at(Arc::new(Branded), "/product").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body, "branded 404 NotFound at /product in ja");
    }

    #[actix_web::test]
    async fn redirects_and_successes_are_left_alone() {
        let (status, body, _) = body_at(Arc::new(Branded), "/protected").await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(body, "");
        let (status, body, _) = body_at(Arc::new(Branded), "/fine").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "fine"));
    }

    #[actix_web::test]
    async fn a_failing_hook_falls_back_to_the_plain_page() {
        let (status, body, _) = body_at(Arc::new(Broken), "/csrf").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(
            body,
            PlainPages::page(&AuthError::CsrfMismatch.view()),
            "the plain page, not an empty body"
        );
    }

    #[test]
    fn the_visitor_s_cookies_are_read_from_the_head() {
        let request = TestRequest::default()
            .insert_header(("cookie", "a=1; lang=ja"))
            .to_http_request();
        assert_eq!(
            request_cookie(request.head(), "lang").map(|c| c.value().to_owned()),
            Some("ja".to_owned())
        );
        assert!(request_cookie(request.head(), "missing").is_none());
    }

    #[test]
    fn a_cookie_is_read_whatever_the_other_cookies_hold() {
        // Browsers send what a site stored, bytes a header string refuses included.
        let header =
            HeaderValue::from_bytes(b"other=caf\xc3\xa9; raw=\xff; lang=ja; langs=fr").unwrap();
        let request = TestRequest::default()
            .insert_header(("cookie", header))
            .to_http_request();
        assert_eq!(
            request_cookie(request.head(), "lang").map(|c| c.value().to_owned()),
            Some("ja".to_owned())
        );
        assert!(request_cookie(request.head(), "lan").is_none());
    }

    #[test]
    fn a_cookie_is_found_by_its_exact_name_whatever_else_the_header_holds() {
        let request = TestRequest::default()
            .insert_header(("cookie", "language=en;broken; lang =ja ;lang=en"))
            .append_header(("cookie", "session=a%3Db=c"))
            .to_http_request();
        let value = |name| request_cookie(request.head(), name).map(|c| c.value().to_owned());
        assert_eq!(value("lang"), Some("ja".to_owned()), "the first one sent");
        assert_eq!(value("language"), Some("en".to_owned()));
        assert_eq!(value("session"), Some("a%3Db=c".to_owned()), "not decoded");
        assert_eq!(value("broken"), None, "a pair without `=` is no cookie");
        assert_eq!(value("lan"), None);
    }

    #[actix_web::test]
    async fn an_inner_middleware_s_error_gets_the_page_too() {
        let pages: Arc<dyn Pages> = Arc::new(Branded);
        let app = init_service(
            App::new()
                .wrap(from_fn(
                    |_request: ServiceRequest, _next: Next<BoxBody>| async {
                        Err::<ServiceResponse<BoxBody>, _>(
                            AuthError::SessionStoreUnavailable.into(),
                        )
                    },
                ))
                .wrap(from_fn(move |request, next| {
                    render_error_pages(Arc::clone(&pages), request, next)
                }))
                .route("/", web::get().to(HttpResponse::Ok)),
        )
        .await;
        // actix renders the error later, as the server would.
        let request = TestRequest::get()
            .uri("/?q=1")
            .insert_header(("accept-language", "ja"))
            .to_request();
        let error = try_call_service(&app, request).await.unwrap_err();
        let response = error.error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = to_bytes(response.into_body()).await.unwrap();
        assert_eq!(body, "branded 503 StoreUnavailable at / in ja");
    }
}
