use reqwest::StatusCode;

use crate::for_both_stores;
use crate::helpers::{APP_ID, Store, location, query_pairs, query_value, spawn_app};
use crate::sign_in::signed_in_app;
use crate::test_idp::Endpoint;

for_both_stores!(sign_out_revokes_the_refresh_token_and_ends_both_sessions);

#[tokio::test]
async fn sign_out_sends_logto_the_client_id_the_return_address_and_the_id_token() {
    let app = signed_in_app(Store::Cookie).await;

    let sign_out = app.sign_out().await;

    assert_eq!(sign_out.status(), StatusCode::SEE_OTHER);
    let query = query_pairs(&location(&sign_out));
    assert_eq!(query_value(&query, "client_id"), Some(APP_ID));
    assert_eq!(
        query_value(&query, "post_logout_redirect_uri"),
        Some(format!("{}/", app.address).as_str())
    );
    let hint = query_value(&query, "id_token_hint").expect("an id_token_hint");
    assert_eq!(hint.split('.').count(), 3, "the ID token is a JWT");
}

async fn sign_out_revokes_the_refresh_token_and_ends_both_sessions(store: Store) {
    let app = signed_in_app(store).await;

    app.sign_out().await;

    assert_eq!(app.idp().request_count(Endpoint::Revocation), 1);
    assert!(app.home_page().await.contains("Not signed in"));
    assert_eq!(app.stored_sessions().await, 0);
}

#[tokio::test]
async fn get_sign_out_only_asks_for_confirmation() {
    let app = signed_in_app(Store::Cookie).await;

    let confirm = app.get("/sign-out").await;

    assert_eq!(confirm.status(), StatusCode::OK);
    let page = confirm.text().await.unwrap();
    assert!(page.contains(r#"<form method="post" action="/sign-out""#));
    assert!(
        app.home_page().await.contains("Signed in as"),
        "a GET signs nobody out"
    );
}

#[tokio::test]
async fn a_sign_out_form_without_the_session_token_is_refused() {
    let app = signed_in_app(Store::Cookie).await;

    for token in ["", "forged-token"] {
        let response = app
            .client
            .post(format!("{}/sign-out", app.address))
            .form(&[("csrf_token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
    assert!(app.home_page().await.contains("Signed in as"));
}

#[tokio::test]
async fn signing_out_without_a_session_just_goes_home() {
    let app = spawn_app(Store::Cookie).await;

    let confirm = app.get("/sign-out").await;

    assert_eq!(confirm.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&confirm), "/");
    assert!(confirm.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn a_cookie_from_before_sign_out_no_longer_signs_in_with_redis() {
    let app = signed_in_app(Store::Redis).await;
    let stolen = app.session_cookie().expect("a session cookie");

    app.sign_out().await;

    let replayed = app.get_with_cookie("/", &stolen).await;
    assert!(replayed.text().await.unwrap().contains("Not signed in"));
}
