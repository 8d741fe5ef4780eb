//! HTTP itself: `HEAD` answered like `GET` where that changes nothing, `405` with `Allow` for
//! a method an address does not take, compressed assets but never compressed pages, and
//! `robots.txt`.

use std::io::Read as _;

use reqwest::header::{
    ACCEPT_ENCODING, ALLOW, CONTENT_ENCODING, CONTENT_LENGTH, DATE, SET_COOKIE, VARY,
};
use reqwest::{Method, Response, StatusCode};

use crate::helpers::{Store, TestApp, set_cookies, signed_in_book_club_member, spawn_app};
use test_support::for_both_stores;

const STYLESHEET: &[u8] = include_bytes!("../../static/style.css");
const LOGO: &[u8] = include_bytes!("../../static/logo.svg");

for_both_stores!(
    head_answers_like_get_without_the_body_and_creates_no_session,
    head_on_signed_in_pages_answers_like_get,
);

/// The fingerprinted address of `static/<name>.*`, as the home page links it.
async fn asset_url(app: &TestApp, name: &str) -> String {
    let home = app.home_page().await;
    let start = home
        .find(&format!("/static/{name}."))
        .unwrap_or_else(|| panic!("the page links a fingerprinted {name}"));
    home[start..].chars().take_while(|&c| c != '"').collect()
}

/// Every header but `Date` (which may tick between two requests) and `Set-Cookie`.
fn comparable_headers(response: &Response) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| *name != DATE && *name != SET_COOKIE)
        .map(|(name, value)| {
            (
                name.to_string(),
                value.to_str().expect("ASCII headers").to_owned(),
            )
        })
        .collect();
    headers.sort();
    headers
}

/// `HEAD path` answers with `GET path`'s status and headers and no body; returns the `HEAD`
/// answer's cookies.
async fn assert_head_is_get_without_body(app: &TestApp, path: &str) -> Vec<String> {
    let get = app.send(Method::GET, path, &[]).await;
    let head = app.send(Method::HEAD, path, &[]).await;

    assert_eq!(head.status(), get.status(), "{path}");
    assert_eq!(
        comparable_headers(&head),
        comparable_headers(&get),
        "{path}"
    );
    let has_body = get.status() != StatusCode::SEE_OTHER;
    if has_body {
        assert!(
            head.headers().contains_key(CONTENT_LENGTH),
            "{path}: HEAD says how long GET's body is"
        );
    }
    let cookies = set_cookies(&head);
    assert!(
        head.bytes().await.unwrap().is_empty(),
        "{path}: HEAD has no body"
    );
    assert_eq!(
        !get.bytes().await.unwrap().is_empty(),
        has_body,
        "{path}: GET has a body unless it redirects"
    );
    cookies
}

async fn head_answers_like_get_without_the_body_and_creates_no_session(store: Store) {
    let app = spawn_app(store).await;
    let stylesheet = asset_url(&app, "style").await;
    let logo = asset_url(&app, "logo").await;

    for path in [
        "/",
        // Anonymous visitors are redirected to the home page or to sign in, HEAD as GET.
        "/sign-out",
        "/books",
        "/profile",
        "/api-token",
        "/organizations/org_bookclub/token",
        "/healthz",
        "/readyz",
        &stylesheet,
        &logo,
        "/robots.txt",
        "/no-such-page",
        "/static/no-such-file.css",
    ] {
        let cookies = assert_head_is_get_without_body(&app, path).await;
        assert!(cookies.is_empty(), "{path}: HEAD set {cookies:?}");
    }
    assert_eq!(app.session_cookie(), None, "no session for anyone");
    if let Some(redis) = &app.redis {
        assert_eq!(redis.key_count().await, 0, "HEAD writes nothing to Redis");
    }
}

async fn head_on_signed_in_pages_answers_like_get(store: Store) {
    let app = signed_in_book_club_member(store).await;
    // Fetch and cache the organization token first: GET and HEAD then do the same work.
    assert_eq!(
        app.get("/organizations/org_bookclub/token").await.status(),
        StatusCode::OK
    );
    let sessions = app.stored_sessions().await;

    for path in [
        "/",
        "/sign-out",
        "/books",
        "/profile",
        "/api-token",
        "/organizations/org_bookclub/token",
    ] {
        let cookies = assert_head_is_get_without_body(&app, path).await;
        assert!(
            cookies.is_empty(),
            "{path}: nothing in the session changed, yet HEAD set {cookies:?}"
        );
    }
    assert_eq!(app.stored_sessions().await, sessions);
    let home = app.home_page().await;
    assert!(home.contains("Signed in as"), "still signed in");
}

#[tokio::test]
async fn gets_that_change_state_refuse_head_and_other_methods_with_allow() {
    let app = spawn_app(Store::Redis).await;

    for (path, allowed) in [
        ("/sign-in", "GET, POST"),
        ("/callback", "GET"),
        ("/lang/ja", "GET"),
        ("/lang/ja?return_to=/books", "GET"),
    ] {
        for method in [Method::HEAD, Method::PUT, Method::DELETE, Method::PATCH] {
            let response = app.send(method.clone(), path, &[]).await;

            assert_eq!(
                response.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            assert_eq!(response.headers()[ALLOW], allowed, "{method} {path}");
            assert!(set_cookies(&response).is_empty(), "{method} {path}");
            let page = response.text().await.unwrap();
            if method == Method::HEAD {
                assert!(page.is_empty(), "{method} {path}");
            } else {
                assert!(page.contains("Method not allowed"), "{method} {path}");
            }
        }
    }
    assert_eq!(app.sign_in_attempts_cookie(), None, "no sign-in started");
    assert_eq!(app.redis.as_ref().unwrap().key_count().await, 0);
}

#[tokio::test]
async fn every_address_answers_a_method_it_does_not_take_with_405_and_allow() {
    let app = spawn_app(Store::Cookie).await;
    let stylesheet = asset_url(&app, "style").await;

    for (method, path, allowed) in [
        (Method::PUT, "/", "GET, HEAD"),
        (Method::POST, "/profile", "GET, HEAD"),
        (Method::DELETE, "/sign-out", "GET, HEAD, POST"),
        (Method::POST, "/organizations/org_a/token", "GET, HEAD"),
        (Method::POST, "/healthz", "GET, HEAD"),
        (Method::PUT, "/readyz", "GET, HEAD"),
        (Method::POST, &stylesheet, "GET, HEAD"),
        (Method::DELETE, "/robots.txt", "GET, HEAD"),
        (Method::GET, "/backchannel-logout", "POST"),
        (Method::HEAD, "/backchannel-logout", "POST"),
    ] {
        let response = app.send(method.clone(), path, &[]).await;

        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(response.headers()[ALLOW], allowed, "{method} {path}");
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
    assert_eq!(
        app.send(Method::POST, "/no-such-page", &[]).await.status(),
        StatusCode::NOT_FOUND,
        "an unknown address is still not found, whatever the method"
    );
}

#[tokio::test]
async fn the_405_page_is_in_the_visitors_language() {
    let app = spawn_app(Store::Cookie).await;

    let response = app
        .send(Method::PUT, "/", &[("accept-language", "ja")])
        .await;

    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()[ALLOW], "GET, HEAD");
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"<html lang="ja">"#), "{page}");
    assert!(page.contains("許可されていないメソッドです"), "{page}");
}

fn decoded(coding: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut decoded = Vec::new();
    match coding {
        None => decoded.extend_from_slice(body),
        Some("gzip") => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut decoded)
                .expect("valid gzip");
        }
        Some("br") => {
            brotli::Decompressor::new(body, 4096)
                .read_to_end(&mut decoded)
                .expect("valid brotli");
        }
        Some(other) => panic!("unexpected Content-Encoding {other}"),
    }
    decoded
}

#[tokio::test]
async fn assets_are_sent_compressed_as_the_browser_accepts() {
    let app = spawn_app(Store::Cookie).await;

    for (name, original) in [("style", STYLESHEET), ("logo", LOGO)] {
        let url = asset_url(&app, name).await;
        for (accept_encoding, expected) in [
            (Some("br"), Some("br")),
            (Some("gzip"), Some("gzip")),
            (Some("gzip, deflate, br, zstd"), Some("br")),
            (Some("br;q=0.5, gzip"), Some("gzip")),
            (Some("gzip;q=0, br;q=0"), None),
            (Some("*"), Some("br")),
            (Some("identity"), None),
            (None, None),
        ] {
            let headers: Vec<(&str, &str)> = accept_encoding
                .map(|value| ("accept-encoding", value))
                .into_iter()
                .collect();
            let case = format!("{url} with Accept-Encoding {accept_encoding:?}");

            let response = app.send(Method::GET, &url, &headers).await;
            let head = app.send(Method::HEAD, &url, &headers).await;

            assert_eq!(response.status(), StatusCode::OK, "{case}");
            let coding = response
                .headers()
                .get(CONTENT_ENCODING)
                .map(|value| value.to_str().unwrap().to_owned());
            assert_eq!(coding.as_deref(), expected, "{case}");
            assert_eq!(response.headers()[VARY], "Accept-Encoding", "{case}");
            assert_eq!(
                comparable_headers(&head),
                comparable_headers(&response),
                "{case}: HEAD negotiates alike"
            );
            let length: usize = response.headers()[CONTENT_LENGTH]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            let body = response.bytes().await.unwrap();
            assert_eq!(length, body.len(), "{case}");
            if expected.is_some() {
                assert!(body.len() < original.len(), "{case}: smaller");
            }
            assert_eq!(decoded(expected, &body), original, "{case}");
        }
    }
}

/// BREACH: a compressed page that holds a secret (the CSRF token) and reflects the address
/// leaks the secret a byte at a time through its length.
#[tokio::test]
async fn pages_are_never_compressed() {
    let app = spawn_app(Store::Cookie).await;
    let accept = [(ACCEPT_ENCODING.as_str(), "gzip, deflate, br, zstd")];
    let anonymous = app.send(Method::GET, "/", &accept).await;
    assert_eq!(anonymous.headers().get(CONTENT_ENCODING), None);
    app.sign_in().await;

    for path in [
        "/",
        "/profile",
        "/books",
        "/api-token",
        "/sign-out",
        "/no-such-page?reflected=1",
        "/healthz",
        "/robots.txt",
    ] {
        let response = app.send(Method::GET, path, &accept).await;

        assert_eq!(response.headers().get(CONTENT_ENCODING), None, "{path}");
        let body = response.text().await.unwrap();
        assert!(!body.is_empty(), "{path}");
    }
    let page = app
        .send(Method::GET, "/sign-out", &accept)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("csrf_token"),
        "the signed-in page checked holds the CSRF token, in plain text"
    );
}

#[tokio::test]
async fn robots_txt_keeps_search_engines_to_the_home_page() {
    let app = spawn_app(Store::Redis).await;
    app.sign_in().await;
    let sessions = app.stored_sessions().await;

    let response = app.get("/robots.txt").await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    assert_eq!(response.headers()["cache-control"], "public, max-age=86400");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert!(
        set_cookies(&response).is_empty(),
        "outside the session: no cookie, even for a signed-in browser"
    );
    let robots = response.text().await.unwrap();
    let rules: Vec<&str> = robots
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .collect();
    assert_eq!(rules.first(), Some(&"User-agent: *"), "{robots}");
    for path in [
        "/sign-in",
        "/callback",
        "/sign-out",
        "/profile",
        "/books",
        "/api-token",
        "/organizations/",
        "/lang/",
    ] {
        assert!(
            rules.contains(&format!("Disallow: {path}").as_str()),
            "{path}: {robots}"
        );
    }
    assert!(rules.contains(&"Allow: /"), "{robots}");
    assert!(
        !rules.contains(&"Disallow: /"),
        "the home page stays indexable"
    );
    assert_eq!(app.stored_sessions().await, sessions);
}
