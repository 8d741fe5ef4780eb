use reqwest::StatusCode;

use crate::helpers::{Store, assert_cookies_fit_in_a_browser, set_cookies, spawn_app};
use crate::sign_in::signed_in_app;
use crate::test_idp::TestUser;

/// A user whose ID token carries about 3 KB of custom data, like Logto tokens with many
/// organizations or roles.
fn user_with_a_large_id_token() -> TestUser {
    let mut user = TestUser::alice();
    user.extra_claims.insert(
        "custom_data".to_owned(),
        serde_json::json!({ "notes": "x".repeat(3_000) }),
    );
    user
}

#[tokio::test]
async fn a_session_too_large_for_a_cookie_gets_a_clear_error_instead_of_a_loop() {
    let app = spawn_app(Store::Cookie).await;
    app.idp().set_user(user_with_a_large_id_token());

    let callback = app.sign_in().await;

    assert_eq!(callback.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_cookies_fit_in_a_browser(&callback);
    let page = callback.text().await.unwrap();
    assert!(page.contains("Session too large for a cookie"));
    assert!(page.contains("SESSION_STORE=redis"));
    assert!(app.home_page().await.contains("Not signed in"));
    assert_eq!(
        app.session_cookie(),
        None,
        "nothing half-written is left behind"
    );
}

#[tokio::test]
async fn the_redis_store_holds_a_session_too_large_for_a_cookie() {
    let app = spawn_app(Store::Redis).await;
    app.idp().set_user(user_with_a_large_id_token());

    let callback = app.sign_in().await;

    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    assert!(app.home_page().await.contains("Signed in as"));
}

#[tokio::test]
async fn a_normal_sign_in_fits_in_a_cookie_with_room_to_spare() {
    let app = spawn_app(Store::Cookie).await;

    let callback = app.sign_in().await;

    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    let cookie = app.session_cookie().expect("a session cookie");
    assert!(
        cookie.len() < 3_000,
        "the session cookie is {} bytes",
        cookie.len()
    );
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_lax() {
    let app = spawn_app(Store::Cookie).await;

    let sign_in = app.get("/sign-in").await;

    let cookie = set_cookies(&sign_in).pop().expect("a session cookie");
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    assert!(
        !cookie.contains("Secure"),
        "an http BASE_URL gets no Secure cookie"
    );
}

#[tokio::test]
async fn a_redis_outage_shows_the_session_store_page_and_recovers_by_itself() {
    let mut app = signed_in_app(Store::Redis).await;

    app.redis.as_mut().unwrap().stop();
    let during = app.get("/").await;
    assert_eq!(during.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        during
            .text()
            .await
            .unwrap()
            .contains("Session store unavailable")
    );
    assert_eq!(
        app.get("/sign-in").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    app.redis.as_mut().unwrap().restart();
    // The restarted Redis lost the session (no persistence here): the user is signed out,
    // and signing in works again without restarting the app.
    assert!(app.home_page().await.contains("Not signed in"));
    assert_eq!(app.sign_in().await.status(), StatusCode::SEE_OTHER);
    assert!(app.home_page().await.contains("Signed in as"));
}

#[tokio::test]
async fn a_tampered_session_cookie_counts_as_signed_out() {
    for store in [Store::Cookie, Store::Redis] {
        let app = signed_in_app(store).await;
        let cookie = app.session_cookie().unwrap();
        let (name, value) = cookie.split_once('=').unwrap();
        let middle = value.len() / 2;
        let flipped = if &value[middle..=middle] == "A" {
            "B"
        } else {
            "A"
        };
        let tampered = format!(
            "{name}={}{flipped}{}",
            &value[..middle],
            &value[middle + 1..]
        );

        let response = app.get_with_cookie("/", &tampered).await;

        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.text().await.unwrap().contains("Not signed in"));
    }
}

#[tokio::test]
async fn signing_out_leaves_nothing_behind_in_redis() {
    let app = signed_in_app(Store::Redis).await;
    let redis = app.redis.as_ref().unwrap();
    assert!(
        redis.key_count().await > 1,
        "the session and its back-channel logout index"
    );

    app.sign_out().await;

    assert_eq!(redis.key_count().await, 0, "no session, no index entry");
}

#[tokio::test]
async fn an_abandoned_sign_in_expires_in_minutes_and_a_signed_in_session_in_days() {
    let app = spawn_app(Store::Redis).await;
    let redis = app.redis.as_ref().unwrap();

    app.get("/sign-in").await;
    let abandoned = redis.session_ttls().await;
    assert_eq!(abandoned.len(), 1);
    assert!(
        (1..=15 * 60).contains(&abandoned[0]),
        "a sign-in attempt alone lives 15 minutes: {abandoned:?}"
    );

    app.sign_in().await;
    let signed_in = redis.session_ttls().await;
    assert_eq!(signed_in.len(), 1, "the attempt's session was replaced");
    assert!(signed_in[0] > 13 * 24 * 60 * 60, "14 days: {signed_in:?}");
}
