//! Cross-site writes (issue 11 §3): a page on another site that makes the visitor's browser
//! post a form here is refused with 403, before the session is read or a cookie is set.
//! Links from other sites, the app's own forms, non-browser clients and Logto's back-channel
//! logout still work.

use reqwest::header::ORIGIN;
use reqwest::{RequestBuilder, Response, StatusCode};

use crate::app::{Store, TestApp, csrf_token, location, set_cookies, spawn_app};
use test_support::for_both_stores;
use test_support::idp::LogoutTokenSpec;

for_both_stores!(
    forms_posted_from_another_site_are_refused_and_the_session_is_unchanged,
    foreign_and_null_origins_are_refused,
    the_app_s_own_forms_and_clients_without_browser_headers_pass,
    links_from_other_sites_still_work,
    logto_s_back_channel_logout_is_accepted_from_any_origin,
);

const SEC_FETCH_SITE: &str = "sec-fetch-site";
const ATTACKER: &str = "https://evil.example";

/// The refusal page's heading.
const REFUSED_TITLE: &str = "Sent from another site";

/// The two forms an attacker would post: the email sign-in form (which would replace the
/// session) and the sign-out form, carrying the victim's real CSRF token to show that the
/// origin check alone refuses it.
fn forms(app: &TestApp, csrf: &str) -> [(String, Vec<(&'static str, String)>); 2] {
    [
        (
            format!("{}/sign-in", app.address),
            vec![("email", "mallory@evil.example".to_owned())],
        ),
        (
            format!("{}/sign-out", app.address),
            vec![("csrf_token", csrf.to_owned())],
        ),
    ]
}

async fn signed_in_victim(store: Store) -> (TestApp, String, String) {
    let app = spawn_app(store).await;
    app.sign_in().await;
    let cookie = app.session_cookie().expect("the victim's session cookie");
    let csrf = csrf_token(&app.home_page().await).expect("the sign-out form");
    (app, cookie, csrf)
}

async fn assert_refused(response: Response, what: &str) {
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "{what}");
    assert_eq!(
        set_cookies(&response),
        Vec::<String>::new(),
        "{what}: no Set-Cookie"
    );
    let page = response.text().await.unwrap();
    assert!(
        page.contains(REFUSED_TITLE) && page.contains(r#"<a href="/">Back to the home page</a>"#),
        "{what}: the product's error page:\n{page}"
    );
}

/// Still signed in, with the very same cookie (and, with Redis, the same single session).
async fn assert_victim_unchanged(app: &TestApp, cookie: &str) {
    assert_eq!(app.session_cookie().as_deref(), Some(cookie));
    assert!(app.home_page().await.contains("Signed in as"));
    if app.redis.is_some() {
        assert_eq!(app.stored_sessions().await, 1);
    }
}

fn post(app: &TestApp, url: &str, form: &[(&'static str, String)]) -> RequestBuilder {
    app.client.post(url).form(form)
}

async fn forms_posted_from_another_site_are_refused_and_the_session_is_unchanged(store: Store) {
    let (app, cookie, csrf) = signed_in_victim(store).await;

    // `same-site`: another port or subdomain of the same site is still another application.
    for fetch_site in ["cross-site", "same-site"] {
        for (url, form) in forms(&app, &csrf) {
            let response = post(&app, &url, &form)
                .header(SEC_FETCH_SITE, fetch_site)
                .header(ORIGIN, ATTACKER)
                .send()
                .await
                .unwrap();
            assert_refused(response, &format!("{fetch_site} POST {url}")).await;
        }
    }

    assert_victim_unchanged(&app, &cookie).await;
}

async fn foreign_and_null_origins_are_refused(store: Store) {
    let (app, cookie, csrf) = signed_in_victim(store).await;
    // `null`: a sandboxed frame on another site, or a page with `Referrer-Policy: no-referrer`.
    // Another port, or another name for the same host, is another origin.
    let other_name = app.address.replace("127.0.0.1", "localhost");

    for origin in [ATTACKER, "null", "http://127.0.0.1:9", other_name.as_str()] {
        for (url, form) in forms(&app, &csrf) {
            let response = post(&app, &url, &form)
                .header(ORIGIN, origin)
                .send()
                .await
                .unwrap();
            assert_refused(response, &format!("Origin {origin}: POST {url}")).await;
        }
    }

    assert_victim_unchanged(&app, &cookie).await;
}

async fn the_app_s_own_forms_and_clients_without_browser_headers_pass(store: Store) {
    let app = spawn_app(store).await;
    let own_origin = app.address.clone();
    let sign_in_form = [("email", "alice@example.com".to_owned())];
    let cases: [(&str, &[(&str, &str)]); 5] = [
        ("the app's own page", &[(SEC_FETCH_SITE, "same-origin")]),
        // `same-origin` wins over an `Origin: null` sent under a strict referrer policy.
        (
            "the app's own page, Origin null",
            &[(SEC_FETCH_SITE, "same-origin"), ("origin", "null")],
        ),
        ("the visitor, e.g. a reload", &[(SEC_FETCH_SITE, "none")]),
        (
            "a browser without Fetch Metadata",
            &[("origin", &own_origin)],
        ),
        ("curl, or a server", &[]),
    ];

    for (who, headers) in cases {
        let mut request = post(&app, &format!("{}/sign-in", app.address), &sign_in_form);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{who}");
        assert!(
            location(&response).starts_with(&app.idp().endpoint()),
            "{who}: on to Logto"
        );
    }

    app.sign_in().await;
    let csrf = csrf_token(&app.home_page().await).expect("the sign-out form");
    let sign_out = post(
        &app,
        &format!("{}/sign-out", app.address),
        &[("csrf_token", csrf)],
    )
    .header(SEC_FETCH_SITE, "same-origin")
    .header(ORIGIN, &own_origin)
    .send()
    .await
    .unwrap();
    assert_eq!(sign_out.status(), StatusCode::SEE_OTHER);
    assert!(!app.home_page().await.contains("Signed in as"));
}

async fn links_from_other_sites_still_work(store: Store) {
    let (app, cookie, _) = signed_in_victim(store).await;
    let cross_site_get = |path: &str| {
        app.client
            .get(format!("{}{path}", app.address))
            .header(SEC_FETCH_SITE, "cross-site")
            .send()
    };

    let home = cross_site_get("/").await.unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    assert!(home.text().await.unwrap().contains("Signed in as"));
    let confirm = cross_site_get("/sign-out").await.unwrap();
    assert_eq!(confirm.status(), StatusCode::OK, "the confirmation page");
    assert_victim_unchanged(&app, &cookie).await;

    // A fresh visitor following a link from another site to /sign-in goes on to Logto.
    let visitor = spawn_app(store).await;
    let sign_in = visitor
        .client
        .get(format!("{}/sign-in", visitor.address))
        .header(SEC_FETCH_SITE, "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(sign_in.status(), StatusCode::SEE_OTHER);
    assert!(location(&sign_in).starts_with(&visitor.idp().endpoint()));
}

async fn logto_s_back_channel_logout_is_accepted_from_any_origin(store: Store) {
    let (app, _, _) = signed_in_victim(store).await;
    let from_logto = |token: String| {
        app.client
            .post(format!("{}/backchannel-logout", app.address))
            .header(SEC_FETCH_SITE, "cross-site")
            .header(ORIGIN, app.idp().endpoint())
            .form(&[("logout_token", token)])
            .send()
    };

    let forged = from_logto("not-a-token".to_owned()).await.unwrap();
    assert_eq!(
        forged.status(),
        StatusCode::BAD_REQUEST,
        "verified and refused as ever, not refused as cross-site"
    );
    assert!(app.home_page().await.contains("Signed in as"));

    let sid = app.idp().last_sid().expect("a Logto session id");
    let token = app.idp().logout_token(LogoutTokenSpec::session(&sid));
    let accepted = from_logto(token).await.unwrap();
    assert_eq!(accepted.status(), StatusCode::OK);
    assert!(!app.home_page().await.contains("Signed in as"));
}

/// The check sits outside the session middleware: a refused form costs no Redis read, so it
/// is refused even while Redis is down (inside, it would be a 503).
#[tokio::test]
async fn a_cross_site_form_is_refused_before_the_session_is_read() {
    let (mut app, _, csrf) = signed_in_victim(Store::Redis).await;
    app.redis.as_mut().unwrap().stop();

    for (url, form) in forms(&app, &csrf) {
        let response = post(&app, &url, &form)
            .header(SEC_FETCH_SITE, "cross-site")
            .send()
            .await
            .unwrap();
        assert_refused(response, &format!("POST {url} with Redis down")).await;
    }
}
