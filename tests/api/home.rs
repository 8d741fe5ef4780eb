use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Store, set_cookies, spawn_app};
use test_support::for_both_stores;
use test_support::idp::TestUser;

for_both_stores!(an_anonymous_visitor_sees_sign_in_and_gets_no_session);

async fn an_anonymous_visitor_sees_sign_in_and_gets_no_session(store: Store) {
    let app = spawn_app(store).await;

    let response = app.get("/").await;

    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        set_cookies(&response).is_empty(),
        "no Set-Cookie for a plain GET /"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let page = response.text().await.unwrap();
    assert!(page.contains("Not signed in"));
    assert!(page.contains(r#"href="/sign-in""#));
    if let Some(redis) = &app.redis {
        assert_eq!(
            redis.key_count().await,
            0,
            "no Redis key at all for a plain GET /"
        );
    }
}

#[tokio::test]
async fn the_anonymous_home_page_keeps_exactly_its_headers_in_each_language() {
    let app = spawn_app(Store::Cookie).await;

    for accept_language in ["en", "ja"] {
        let first = app
            .send(
                reqwest::Method::GET,
                "/",
                &[("accept-language", accept_language)],
            )
            .await;
        let mut names: Vec<&str> = first.headers().keys().map(|name| name.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "cache-control",
                "content-length",
                "content-security-policy",
                "content-type",
                "date",
                "referrer-policy",
                "x-content-type-options",
                "x-frame-options",
            ],
            "{accept_language}: no Set-Cookie, no Vary, nothing added or lost"
        );
        assert_eq!(first.headers()["content-type"], "text/html; charset=utf-8");
        assert_eq!(first.headers()["cache-control"], "no-store");
        let first = first.text().await.unwrap();
        assert!(first.contains(&format!(r#"<html lang="{accept_language}">"#)));
        let again = app
            .send(
                reqwest::Method::GET,
                "/",
                &[("accept-language", accept_language)],
            )
            .await;
        assert_eq!(again.text().await.unwrap(), first, "{accept_language}");
    }
}

#[tokio::test]
async fn an_unknown_address_gets_the_not_found_page() {
    let app = spawn_app(Store::Cookie).await;

    let response = app.get("/no-such-page").await;

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let page = response.text().await.unwrap();
    assert!(page.contains("Page not found"));
    assert!(page.contains(r#"href="/""#));
}

#[tokio::test]
async fn a_user_whose_profile_claims_are_null_still_gets_every_page() {
    let app = spawn_app(Store::Cookie).await;
    let mut user = TestUser::alice();
    user.name = None;
    user.picture = None;
    user.email = None;
    // Logto sends unset profile claims as JSON null.
    for claim in ["name", "email", "username", "phone_number"] {
        user.extra_claims.insert(claim.to_owned(), Value::Null);
    }
    app.idp().set_user(user);
    app.sign_in().await;

    let home = app.home_page().await;
    assert!(home.contains("Signed in as"), "{home}");
    assert!(
        home.contains("user_alice"),
        "the subject stands in for the missing names"
    );
    for path in ["/profile", "/books", "/api-token"] {
        assert_eq!(app.get(path).await.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn the_home_page_offers_the_configured_sign_in_methods() {
    let app = spawn_app(Store::Cookie).await;

    let page = app.home_page().await;

    assert!(page.contains(r#"href="/sign-in?first_screen=register""#));
    assert!(page.contains("Continue with GitHub"));
    assert!(page.contains("Continue with Xiaomi"));
    assert!(page.contains("Email me a code"));
}

#[tokio::test]
async fn a_refused_email_comes_back_on_the_home_page_in_the_visitor_s_language() {
    let app = spawn_app(Store::Cookie).await;

    let response = app
        .client
        .post(format!("{}/sign-in", app.address))
        .header("accept-language", "ja")
        .form(&[("email", "alice at example")])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"<html lang="ja">"#), "{page}");
    assert!(
        page.contains("有効なメールアドレスを入力してください"),
        "{page}"
    );
    assert!(page.contains(r#"value="alice at example""#), "{page}");
    assert!(
        page.contains("GitHub"),
        "the other sign-in methods stay offered: {page}"
    );
}
