//! Protected pages, sign-in options and `return_to`.

use reqwest::StatusCode;

use crate::app::{Store, location, query_pairs, query_value, spawn_app};
use test_support::for_both_stores;

for_both_stores!(an_anonymous_visitor_signs_in_and_lands_on_the_page_they_asked_for);

async fn an_anonymous_visitor_signs_in_and_lands_on_the_page_they_asked_for(store: Store) {
    let app = spawn_app(store).await;

    let books = app.get("/books?shelf=classics").await;
    assert_eq!(books.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&books),
        "/sign-in?return_to=%2Fbooks%3Fshelf%3Dclassics"
    );
    assert_eq!(
        app.stored_sessions().await,
        0,
        "the redirect creates no session"
    );

    let sign_in = app.get(&location(&books)).await;
    let at_idp = app.get_url(&location(&sign_in)).await;
    let callback = app.get_url(&location(&at_idp)).await;

    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&callback), "/books?shelf=classics");
    let page = app.get("/books").await.text().await.unwrap();
    assert_eq!(page, "Books for Alice Liddell");
}

#[tokio::test]
async fn return_to_never_leaves_the_site() {
    let app = spawn_app(Store::Cookie).await;
    for hostile in [
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "/%2F/evil.example",
        "%2F%2Fevil.example",
        "/%5Cevil.example",
        "javascript:alert(1)",
    ] {
        let mut url = url::Url::parse(&format!("{}/sign-in", app.address)).unwrap();
        url.query_pairs_mut().append_pair("return_to", hostile);
        let sign_in = app.get_url(url.as_str()).await;
        let at_idp = app.get_url(&location(&sign_in)).await;

        let callback = app.get_url(&location(&at_idp)).await;

        assert_eq!(location(&callback), "/", "{hostile}");
    }
}

#[tokio::test]
async fn every_protected_page_sends_anonymous_visitors_to_sign_in() {
    let app = spawn_app(Store::Cookie).await;
    for path in ["/books", "/profile", "/api-token"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert!(
            location(&response).starts_with("/sign-in?return_to=%2F"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn sign_in_options_become_logtos_authorization_parameters() {
    let app = spawn_app(Store::Cookie).await;
    for (path, expected) in [
        (
            "/sign-in?first_screen=register",
            vec![("first_screen", "register")],
        ),
        (
            "/sign-in?social=github",
            vec![("direct_sign_in", "social:github")],
        ),
        (
            "/sign-in?email=alice%40example.com",
            vec![
                ("first_screen", "identifier:sign_in"),
                ("identifier", "email"),
                ("login_hint", "alice@example.com"),
            ],
        ),
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        let query = query_pairs(&location(&response));
        for (name, value) in expected {
            assert_eq!(query_value(&query, name), Some(value), "{path}: {name}");
        }
    }
}

#[tokio::test]
async fn unknown_or_disabled_sign_in_options_are_refused() {
    let app = spawn_app(Store::Cookie).await;
    for path in [
        "/sign-in?prompt=none",
        "/sign-in?first_screen=reset_password",
        "/sign-in?social=facebook",
        "/sign-in?social=github&first_screen=register",
        "/sign-in?email=not-an-address",
        "/sign-in?redirect_uri=https://evil.example",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        assert!(
            app.session_cookie().is_none(),
            "{path}: no attempt was stored"
        );
    }
}

#[tokio::test]
async fn the_email_form_rejects_a_bad_address_with_a_message() {
    let app = spawn_app(Store::Cookie).await;

    let response = app
        .post_form("/sign-in", &[("email", "alice at example")])
        .await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let page = response.text().await.unwrap();
    assert!(page.contains("Enter a valid email address"));
    assert!(page.contains(r#"value="alice at example""#));
}
