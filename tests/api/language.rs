//! English and Japanese: `Accept-Language`, the language switcher, error pages in the
//! visitor's language, and `ui_locales` for Logto's sign-in page.

use reqwest::{Response, StatusCode};

use crate::helpers::{Store, TestApp, location, query_pairs, query_value, set_cookies, spawn_app};
use test_support::for_both_stores;

for_both_stores!(
    a_japanese_browser_gets_japanese_pages_and_no_cookie,
    the_switcher_sets_only_the_language_cookie,
    a_signed_in_user_reads_every_page_in_the_language_picked,
);

/// `GET` a path with the browser's cookies and this `Accept-Language`.
async fn get_in(app: &TestApp, path: &str, accept_language: &str) -> Response {
    app.client
        .get(format!("{}{path}", app.address))
        .header("accept-language", accept_language)
        .send()
        .await
        .expect("the request is answered")
}

async fn a_japanese_browser_gets_japanese_pages_and_no_cookie(store: Store) {
    let app = spawn_app(store).await;

    let response = get_in(&app, "/", "ja-JP,ja;q=0.9,en;q=0.8").await;

    assert_eq!(response.status(), StatusCode::OK);
    assert!(set_cookies(&response).is_empty(), "no Set-Cookie");
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"<html lang="ja">"#), "{page}");
    assert!(page.contains("サインインしていません"));
    assert!(page.contains(">サインイン</a>"));
    assert!(page.contains("GitHub で続ける"));
    assert!(!page.contains("Not signed in"));
    assert!(
        page.contains(r#"href="/lang/en?return_to=%2F""#),
        "the switcher offers English"
    );
    if let Some(redis) = &app.redis {
        assert_eq!(redis.key_count().await, 0, "no Redis key either");
    }
}

async fn the_switcher_sets_only_the_language_cookie(store: Store) {
    let app = spawn_app(store).await;

    let response = app.get("/lang/ja?return_to=%2Fbooks%3Fshelf%3D1").await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/books?shelf=1");
    let cookies = set_cookies(&response);
    assert_eq!(cookies.len(), 1, "the language cookie only: {cookies:?}");
    let cookie = &cookies[0];
    assert!(cookie.starts_with("lang=ja;"), "{cookie}");
    for attribute in ["Path=/", "SameSite=Lax", "HttpOnly", "Max-Age=31536000"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "an http BASE_URL gets no Secure"
    );
    assert_eq!(app.session_cookie(), None, "switching starts no session");
    if let Some(redis) = &app.redis {
        assert_eq!(redis.key_count().await, 0);
    }
}

#[tokio::test]
async fn the_switcher_returns_only_to_pages_on_this_site() {
    let app = spawn_app(Store::Cookie).await;
    for return_to in [
        "%2F%2Fevil.example",
        "https%3A%2F%2Fevil.example",
        "%2F%5Cevil.example",
        "",
    ] {
        let response = app.get(&format!("/lang/en?return_to={return_to}")).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{return_to}");
        assert_eq!(location(&response), "/", "{return_to}");
    }
    let response = app.get("/lang/ja").await;
    assert_eq!(location(&response), "/", "no return_to: the home page");
}

#[tokio::test]
async fn an_unsupported_language_is_a_bad_request() {
    let app = spawn_app(Store::Cookie).await;
    for path in ["/lang/fr?return_to=%2F", "/lang/JA", "/lang/ja?next=%2F"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        assert!(set_cookies(&response).is_empty(), "{path}");
        assert!(response.text().await.unwrap().contains("Bad request"));
    }
}

#[tokio::test]
async fn the_switchers_choice_wins_over_accept_language() {
    let app = spawn_app(Store::Cookie).await;

    app.get("/lang/ja?return_to=%2F").await;
    let page = app.home_page().await;
    assert!(page.contains(r#"<html lang="ja">"#));
    assert!(page.contains("サインインしていません"));

    app.get("/lang/en?return_to=%2F").await;
    let response = get_in(&app, "/", "ja").await;
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"<html lang="en">"#));
    assert!(page.contains("Not signed in"));
}

#[tokio::test]
async fn error_pages_speak_the_visitors_language() {
    let app = spawn_app(Store::Cookie).await;

    let response = get_in(&app, "/no-such-page", "ja").await;

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"<html lang="ja">"#));
    assert!(page.contains("ページが見つかりません"));
    assert!(page.contains("エラー 404"));
    assert!(page.contains(r#"href="/""#));
    assert!(!page.contains("Page not found"));

    let english = get_in(&app, "/no-such-page", "en-US").await;
    assert_eq!(english.status(), StatusCode::NOT_FOUND);
    assert!(english.text().await.unwrap().contains("Page not found"));
}

#[tokio::test]
async fn a_redis_outage_is_explained_in_japanese_too() {
    let mut app = spawn_app(Store::Redis).await;
    app.sign_in().await;

    app.redis.as_mut().unwrap().stop();
    let response = get_in(&app, "/", "ja").await;

    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"<html lang="ja">"#));
    assert!(page.contains("セッションストアを利用できません"));
}

#[tokio::test]
async fn logtos_sign_in_page_is_asked_for_the_visitors_language() {
    let app = spawn_app(Store::Cookie).await;
    for (accept_language, expected) in [("ja", "ja"), ("ja-JP,en;q=0.5", "ja"), ("fr", "en")] {
        let response = get_in(&app, "/sign-in?first_screen=register", accept_language).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let query = query_pairs(&location(&response));
        assert_eq!(
            query_value(&query, "ui_locales"),
            Some(expected),
            "{accept_language}"
        );
        assert_eq!(query_value(&query, "first_screen"), Some("register"));
    }

    app.get("/lang/ja?return_to=%2F").await;
    let query = query_pairs(&location(&app.get("/sign-in").await));
    assert_eq!(query_value(&query, "ui_locales"), Some("ja"), "the cookie");
}

async fn a_signed_in_user_reads_every_page_in_the_language_picked(store: Store) {
    let app = spawn_app(store).await;
    app.get("/lang/ja?return_to=%2F").await;
    assert_eq!(app.sign_in().await.status(), StatusCode::SEE_OTHER);

    let home = app.home_page().await;
    assert!(
        home.contains("<strong>Alice Liddell</strong> としてサインインしています"),
        "{home}"
    );
    for (path, expected) in [
        ("/books", "坊っちゃん"),
        ("/profile", "IDトークンのクレーム"),
        ("/api-token", "API アクセストークン"),
        ("/sign-out", "サインアウトしますか？"),
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let page = response.text().await.unwrap();
        assert!(page.contains(r#"<html lang="ja">"#), "{path}");
        assert!(page.contains(expected), "{expected} on {path}");
        assert!(
            page.contains(&format!(
                r#"href="/lang/en?return_to={}""#,
                path.replace('/', "%2F")
            )),
            "the switcher on {path} comes back to it"
        );
    }
}

#[tokio::test]
async fn an_error_page_keeps_its_headers_in_japanese() {
    let app = spawn_app(Store::Cookie).await;
    app.idp().set_access_token_ttl(0);
    app.get("/lang/ja?return_to=%2F").await;
    app.sign_in().await;
    app.idp().revoke_all_grants();

    let response = app.get("/profile").await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        set_cookies(&response)
            .iter()
            .any(|cookie| cookie.starts_with("bookstore_session=;")),
        "the ended session's cookie is still cleared"
    );
    let page = response.text().await.unwrap();
    assert!(page.contains("セッションが終了しました"));
    assert!(page.contains(r#"href="/sign-in""#));
    assert!(app.home_page().await.contains("サインインしていません"));
}

#[tokio::test]
async fn the_refusal_page_speaks_the_visitor_s_language() {
    let app = spawn_app(Store::Cookie).await;

    let response = app
        .client
        .post(format!("{}/sign-in", app.address))
        .header("sec-fetch-site", "cross-site")
        .header("accept-language", "ja")
        .form(&[("email", "mallory@evil.example")])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(set_cookies(&response), Vec::<String>::new());
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"<html lang="ja">"#), "{page}");
    assert!(page.contains("別のサイトから送信されました"), "{page}");
}
