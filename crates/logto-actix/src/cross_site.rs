//! Refuses cross-site requests that could change state.
//!
//! A page on another site can make the visitor's browser post a form here: without this
//! check, an auto-submitted `POST /sign-in` would replace the visitor's session cookie.
//! Browsers say where a request comes from, so every request with an unsafe method (anything
//! but GET, HEAD and OPTIONS) must pass:
//! - `Sec-Fetch-Site`, when present, must be `same-origin` or `none` (typed in, a bookmark).
//!   `same-site` is refused too: another port or subdomain is another application.
//! - Otherwise `Origin`, when present, must be this app's origin (from `BASE_URL`). `null`
//!   is refused: a sandboxed frame on another site sends it.
//! - A request with neither is not a browser's cross-site form (curl, server-to-server
//!   calls), and passes.
//!
//! GET stays open to every site: links from elsewhere to `/sign-in` or a page must work, and
//! GET changes nothing that a cross-site page could abuse (sign-out is a POST). The refusal
//! is a 403 with the error page, answered before the session middleware runs, so that it
//! carries no `Set-Cookie`.

use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{HeaderMap, HeaderName, ORIGIN};
use actix_web::middleware::Next;
use url::Url;

use crate::error::AuthError;

/// The header a browser sets on every request to a secure context (https, or localhost and
/// 127.0.0.1 on plain http): how the request's initiator relates to its target.
const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// `Sec-Fetch-Site` values that come from this app's own pages or from the visitor.
const ALLOWED_FETCH_SITES: [&str; 2] = ["same-origin", "none"];

/// `BASE_URL` has no origin a browser could send (it is not an http or https URL with a host).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("BASE_URL {0} has no origin to compare the Origin header with")]
pub struct OpaqueOrigin(String);

/// The check, for an app served at one origin. Cheap to clone, one per worker.
#[derive(Debug, Clone)]
pub struct CrossSiteGuard {
    /// `BASE_URL`'s origin as browsers send it: `scheme://host[:port]`, no default port.
    own_origin: Arc<str>,
}

/// Why a request was refused: the header and value that gave it away, for the log.
#[derive(Debug, PartialEq, Eq)]
pub struct CrossSiteEvidence(String);

impl std::fmt::Display for CrossSiteEvidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl CrossSiteGuard {
    /// The guard for an app served at `base_url`. Fails for a URL without a tuple origin,
    /// rather than let every `Origin` through.
    pub fn for_base_url(base_url: &Url) -> Result<Self, OpaqueOrigin> {
        let origin = base_url.origin();
        if !origin.is_tuple() {
            return Err(OpaqueOrigin(base_url.to_string()));
        }
        Ok(Self {
            own_origin: origin.ascii_serialization().into(),
        })
    }

    /// `Err` with the evidence when `method` and `headers` make a cross-site write.
    pub fn check(&self, method: &Method, headers: &HeaderMap) -> Result<(), CrossSiteEvidence> {
        if [Method::GET, Method::HEAD, Method::OPTIONS].contains(method) {
            return Ok(());
        }
        // Every copy of a header must pass: a second one cannot smuggle a request through.
        if headers.contains_key(SEC_FETCH_SITE) {
            return refuse_unless(headers, SEC_FETCH_SITE, |value| {
                ALLOWED_FETCH_SITES.contains(&value)
            });
        }
        if headers.contains_key(ORIGIN) {
            return refuse_unless(headers, ORIGIN, |value| value == &*self.own_origin);
        }
        Ok(())
    }
}

fn refuse_unless(
    headers: &HeaderMap,
    name: HeaderName,
    allowed: impl Fn(&str) -> bool,
) -> Result<(), CrossSiteEvidence> {
    for value in headers.get_all(&name) {
        if !value.to_str().is_ok_and(&allowed) {
            let shown = String::from_utf8_lossy(value.as_bytes());
            return Err(CrossSiteEvidence(format!("{name}: {shown}")));
        }
    }
    Ok(())
}

/// The middleware (for `actix_web::middleware::from_fn`): passes same-origin and safe
/// requests on, answers the others with [`AuthError::CrossSiteRequest`] without calling the
/// services inside it.
pub async fn refuse_cross_site_writes<B: MessageBody>(
    guard: CrossSiteGuard,
    request: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    match guard.check(request.method(), request.headers()) {
        Ok(()) => next
            .call(request)
            .await
            .map(ServiceResponse::map_into_left_body),
        // A response rather than an `Err`, so that the outer middleware (the security
        // headers, the visitor's language) still apply to it.
        Err(evidence) => Ok(request
            .error_response(AuthError::CrossSiteRequest {
                evidence: evidence.to_string(),
            })
            .map_into_right_body()),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;

    use super::*;

    fn guard() -> CrossSiteGuard {
        CrossSiteGuard::for_base_url(&Url::parse("https://books.example/").unwrap()).unwrap()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    fn allows(method: Method, pairs: &[(&'static str, &'static str)]) -> bool {
        guard().check(&method, &headers(pairs)).is_ok()
    }

    #[test]
    fn sec_fetch_site_allows_only_same_origin_and_none() {
        assert!(allows(Method::POST, &[("sec-fetch-site", "same-origin")]));
        assert!(allows(Method::POST, &[("sec-fetch-site", "none")]));
        for value in ["same-site", "cross-site", "SAME-ORIGIN", ""] {
            let mut map = HeaderMap::new();
            map.insert(SEC_FETCH_SITE, HeaderValue::from_str(value).unwrap());
            assert!(guard().check(&Method::POST, &map).is_err(), "{value:?}");
        }
    }

    #[test]
    fn sec_fetch_site_wins_over_origin() {
        assert!(!allows(
            Method::POST,
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://books.example")
            ]
        ));
        assert!(allows(
            Method::POST,
            &[("sec-fetch-site", "same-origin"), ("origin", "null")]
        ));
    }

    #[test]
    fn without_sec_fetch_site_the_origin_must_be_base_url_s() {
        assert!(allows(Method::POST, &[("origin", "https://books.example")]));
        for origin in [
            "null",
            "https://evil.example",
            "http://books.example",
            "https://books.example:8443",
            "https://books.example.evil.example",
            "https://books.example/",
        ] {
            let mut map = HeaderMap::new();
            map.insert(ORIGIN, HeaderValue::from_str(origin).unwrap());
            assert!(guard().check(&Method::POST, &map).is_err(), "{origin}");
        }
    }

    #[test]
    fn the_default_port_is_not_part_of_the_origin() {
        let guard =
            CrossSiteGuard::for_base_url(&Url::parse("http://127.0.0.1:8080/").unwrap()).unwrap();
        let mut map = HeaderMap::new();
        map.insert(ORIGIN, HeaderValue::from_static("http://127.0.0.1:8080"));
        assert!(guard.check(&Method::POST, &map).is_ok());
        let default_port =
            CrossSiteGuard::for_base_url(&Url::parse("https://books.example:443/").unwrap())
                .unwrap();
        map.insert(ORIGIN, HeaderValue::from_static("https://books.example"));
        assert!(default_port.check(&Method::POST, &map).is_ok());
    }

    #[test]
    fn a_second_header_cannot_smuggle_a_request_through() {
        assert!(!allows(
            Method::POST,
            &[
                ("sec-fetch-site", "same-origin"),
                ("sec-fetch-site", "cross-site")
            ]
        ));
        assert!(!allows(
            Method::POST,
            &[("origin", "https://books.example"), ("origin", "null")]
        ));
    }

    #[test]
    fn a_request_with_neither_header_is_not_a_browser_s_cross_site_form() {
        assert!(allows(Method::POST, &[]));
    }

    #[test]
    fn every_unsafe_method_is_checked_and_safe_ones_never_are() {
        let cross_site = [("sec-fetch-site", "cross-site")];
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(!allows(method.clone(), &cross_site), "{method}");
        }
        for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert!(allows(method.clone(), &cross_site), "{method}");
        }
    }

    #[test]
    fn the_evidence_names_the_header_and_its_value() {
        let evidence = guard()
            .check(
                &Method::POST,
                &headers(&[("origin", "https://evil.example")]),
            )
            .unwrap_err();
        // Escaped once, where it is logged (`log_safe::Escaped`).
        assert_eq!(evidence.to_string(), "origin: https://evil.example");
    }

    #[actix_web::test]
    async fn the_middleware_answers_a_cross_site_write_itself_with_a_403_page() {
        use actix_web::middleware::from_fn;
        use actix_web::test::{TestRequest, call_service, init_service, read_body};
        use actix_web::{App, HttpResponse, web};

        let app = init_service(
            App::new()
                .wrap(from_fn(|request, next| {
                    refuse_cross_site_writes(guard(), request, next)
                }))
                .route(
                    "/sign-in",
                    web::post().to(|| async { HttpResponse::Ok().body("signed in") }),
                ),
        )
        .await;
        let cross_site = TestRequest::post()
            .uri("/sign-in")
            .insert_header(("sec-fetch-site", "cross-site"))
            .to_request();
        let response = call_service(&app, cross_site).await;
        assert_eq!(response.status(), actix_web::http::StatusCode::FORBIDDEN);
        let page = read_body(response).await;
        assert!(
            String::from_utf8_lossy(&page).contains("Sent from another site"),
            "the error page, not the service"
        );
        let same_origin = TestRequest::post()
            .uri("/sign-in")
            .insert_header(("sec-fetch-site", "same-origin"))
            .to_request();
        assert_eq!(
            read_body(call_service(&app, same_origin).await).await,
            "signed in"
        );
    }

    #[test]
    fn a_base_url_without_an_origin_is_refused_at_startup() {
        assert!(CrossSiteGuard::for_base_url(&Url::parse("file:///srv/books").unwrap()).is_err());
    }
}
