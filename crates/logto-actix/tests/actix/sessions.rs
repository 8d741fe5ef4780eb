use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::app::PRODUCT;
use crate::app::{
    Store, assert_cookies_fit_in_a_browser, set_cookies, signed_in_app, spawn_app,
    spawn_app_with_env,
};

use test_support::for_both_stores;
use test_support::idp::{Endpoint, Misbehaviour, TestUser};
use test_support::poll::eventually;

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
    assert!(page.contains("Session too large"));
    assert!(
        page.contains("over the 4096-byte limit of browsers"),
        "{page}"
    );
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

    let callback = app.sign_in().await;

    let cookie = cookie_named(&callback, PRODUCT.session_cookie);
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    assert!(
        !cookie.contains("Secure"),
        "an http BASE_URL gets no Secure cookie"
    );
    assert!(
        cookie.contains("Max-Age=86400"),
        "it lives as long as the idle timeout: {cookie}"
    );
}

#[tokio::test]
async fn the_sign_in_attempts_cookie_is_http_only_lax_and_short_lived() {
    let app = spawn_app(Store::Cookie).await;

    let sign_in = app.get("/sign-in").await;

    let cookie = cookie_named(&sign_in, PRODUCT.sign_in_cookie);
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=600"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Secure"));
    assert_eq!(
        set_cookies(&sign_in).len(),
        1,
        "no session cookie for a visitor who is not signed in yet"
    );
}

/// The one `Set-Cookie` of `response` for the cookie `name`.
fn cookie_named(response: &reqwest::Response, name: &str) -> String {
    let mut cookies = set_cookies(response)
        .into_iter()
        .filter(|cookie| cookie.starts_with(&format!("{name}=")));
    let cookie = cookies.next().unwrap_or_else(|| panic!("a {name} cookie"));
    assert!(cookies.next().is_none(), "one {name} cookie");
    cookie
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
            .contains("Sessions are unavailable")
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
async fn anonymous_visitors_and_abandoned_sign_ins_write_nothing_to_redis() {
    let app = spawn_app(Store::Redis).await;
    let redis = app.redis.as_ref().unwrap();

    for path in [
        "/",
        "/sign-in",
        "/sign-in?return_to=/books",
        "/books",
        "/sign-out",
    ] {
        app.get(path).await;
    }
    let form = app
        .post_form("/sign-in", &[("email", "reader@example.com")])
        .await;
    assert_eq!(form.status(), StatusCode::SEE_OTHER);
    // A callback that fails (its code is unknown) writes nothing either.
    let callback = app.authorize().await;
    let broken = callback.replace("code=", "code=x");
    assert_eq!(app.get_url(&broken).await.status(), StatusCode::BAD_REQUEST);

    assert_eq!(redis.key_count().await, 0, "not one key");
    assert_eq!(app.session_cookie(), None);
}

#[tokio::test]
async fn a_signed_in_redis_session_lives_as_long_as_the_idle_timeout() {
    let app = spawn_app(Store::Redis).await;

    app.sign_in().await;

    let ttls = app.redis.as_ref().unwrap().session_ttls().await;
    assert_eq!(ttls.len(), 1);
    assert!(
        (24 * 60 * 60 - 60..=24 * 60 * 60).contains(&ttls[0]),
        "24 hours: {ttls:?}"
    );
}

for_both_stores!(
    an_unused_session_ends_after_the_idle_timeout,
    a_session_in_use_ends_at_the_session_ttl,
    signed_in_pages_do_not_rewrite_the_session_on_every_request,
);

async fn an_unused_session_ends_after_the_idle_timeout(store: Store) {
    let app = spawn_app_with_env(store, &[("SESSION_IDLE_TIMEOUT", "2s")]).await;
    app.sign_in().await;
    // In use: every read within the timeout keeps it alive, well past the timeout in total.
    // (The stamp, in whole seconds, is renewed once it is a second old, half the timeout.)
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(app.home_page().await.contains("Signed in as"));
    }
    let cookie = app.session_cookie().expect("a session cookie");

    // Unused for longer than the timeout, counted in whole seconds: 2 s, and 1 s of rounding.
    tokio::time::sleep(Duration::from_millis(3_100)).await;

    // A copy of the cookie is refused too, whatever the browser does with its expiry.
    let replayed = app.get_with_cookie("/", &cookie).await;
    assert!(replayed.text().await.unwrap().contains("Not signed in"));
    assert!(app.home_page().await.contains("Not signed in"));
    assert_eq!(app.stored_sessions().await, 0);
}

async fn a_session_in_use_ends_at_the_session_ttl(store: Store) {
    let app = spawn_app_with_env(
        store,
        &[("SESSION_TTL", "3s"), ("SESSION_IDLE_TIMEOUT", "3s")],
    )
    .await;
    app.sign_in().await;
    let mut signed_in_for = Duration::ZERO;
    while app.home_page().await.contains("Signed in as") {
        assert!(
            signed_in_for < Duration::from_secs(6),
            "still signed in after {signed_in_for:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        signed_in_for += Duration::from_millis(500);
    }
    assert!(
        signed_in_for >= Duration::from_secs(2),
        "signed out early, after {signed_in_for:?}"
    );
    assert_eq!(app.stored_sessions().await, 0);
}

async fn signed_in_pages_do_not_rewrite_the_session_on_every_request(store: Store) {
    let app = spawn_app(store).await;
    app.sign_in().await;
    let stored = match &app.redis {
        Some(redis) => redis.session_pttls().await,
        None => Vec::new(),
    };
    let pages_started = Instant::now();

    for path in ["/", "/books", "/", "/sign-out"] {
        let response = app.get(path).await;
        assert_eq!(set_cookies(&response), Vec::<String>::new(), "{path}");
    }
    if let Some(redis) = &app.redis {
        // In milliseconds: a rewrite would have set the key's TTL back to the full timeout.
        let between_reads = i64::try_from(pages_started.elapsed().as_millis()).unwrap();
        let later = redis.session_pttls().await;
        assert!(
            later[0] <= stored[0] - between_reads + 1,
            "the key's TTL was renewed: {stored:?} ms, then {later:?} ms {between_reads} ms later"
        );
    }
}

/// With Redis, a request that read the session before another request (on any instance)
/// refreshed it must not write the old tokens back when it renews its idle stamp: the spent
/// refresh token, used again, would make Logto revoke the grant.
#[tokio::test]
async fn renewing_the_idle_stamp_never_writes_back_a_spent_refresh_token() {
    let app = spawn_app_with_env(Store::Redis, &[("SESSION_IDLE_TIMEOUT", "4s")]).await;
    let redis = app.redis.as_ref().unwrap();
    app.sign_in().await;
    // The stamp is renewed every 2 s with this timeout: the next page writes the session.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    app.idp().set_token_delay(Duration::from_millis(800));
    app.idp()
        .set_misbehaviour(Misbehaviour::TokenEndpointError500);
    let token_requests = app.idp().request_count(Endpoint::Token);
    let slow = app.get_in_background("/api-token");
    eventually("the refresh to reach Logto", Duration::from_secs(5), || {
        app.idp().request_count(Endpoint::Token) > token_requests
    })
    .await;

    redis
        .edit_session_user(|user| {
            user["revision"] = 7.into();
            user["tokens"]["refresh_token"] = "rotated-elsewhere".into();
        })
        .await;
    assert_eq!(
        slow.await.unwrap().expect("answered"),
        StatusCode::BAD_GATEWAY
    );

    let stored = redis.session_user().await;
    assert_eq!(stored["tokens"]["refresh_token"], "rotated-elsewhere");
    assert_eq!(stored["revision"], 7);
}
