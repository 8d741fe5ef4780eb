use reqwest::StatusCode;

use crate::helpers::{APP_ID, Store, location, query_pairs, query_value, spawn_app};
use crate::sign_in::signed_in_app;

#[tokio::test]
async fn sign_out_sends_logto_the_client_id_the_return_address_and_the_id_token() {
    let app = signed_in_app(Store::Cookie).await;

    let sign_out = app.get("/sign-out").await;

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

#[tokio::test]
async fn signing_out_without_a_session_still_ends_the_logto_session() {
    let app = spawn_app(Store::Cookie).await;

    let sign_out = app.get("/sign-out").await;

    assert_eq!(sign_out.status(), StatusCode::SEE_OTHER);
    let query = query_pairs(&location(&sign_out));
    assert_eq!(query_value(&query, "client_id"), Some(APP_ID));
    assert_eq!(query_value(&query, "id_token_hint"), None);
    assert!(sign_out.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn a_cookie_from_before_sign_out_no_longer_signs_in_with_redis() {
    let app = signed_in_app(Store::Redis).await;
    let stolen = app.session_cookie().expect("a session cookie");

    app.get("/sign-out").await;

    let replayed = app.get_with_cookie("/", &stolen).await;
    assert!(replayed.text().await.unwrap().contains("Not signed in"));
}
