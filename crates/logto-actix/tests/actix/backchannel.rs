//! Back-channel logout: Logto tells the app that a Logto session ended.

use std::sync::Arc;
use std::time::Duration;

use logto_client::Backoff;
use reqwest::StatusCode;
use reqwest::cookie::Jar;
use tokio::task::JoinSet;

use crate::app::{Store, TestApp, location, spawn_app, spawn_app_with};
use test_support::for_both_stores;
use test_support::idp::{Endpoint, LogoutMisbehaviour, LogoutTokenSpec, Misbehaviour};
use test_support::poll::eventually;

for_both_stores!(
    a_logout_token_signs_out_that_browser_and_no_other,
    forged_logout_tokens_are_refused_and_change_nothing,
    a_logout_token_is_accepted_once,
    a_logout_token_for_a_user_ends_only_the_sessions_signed_in_before_it,
    an_older_logout_token_arriving_late_brings_no_session_back,
);

/// A second browser (its own cookie jar), signed in to `app`.
async fn sign_in_another_browser(app: &TestApp) -> reqwest::Client {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(Arc::new(Jar::default()))
        .build()
        .unwrap();
    let mut next = format!("{}/sign-in", app.address);
    for _ in 0..3 {
        let response = browser.get(&next).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        next = location(&response);
        if next == "/" {
            return browser;
        }
    }
    panic!("the second browser's sign-in did not finish");
}

async fn is_signed_in(browser: &reqwest::Client, app: &TestApp) -> bool {
    let page = browser
        .get(format!("{}/", app.address))
        .send()
        .await
        .unwrap();
    page.text().await.unwrap().contains("Signed in as")
}

async fn post_logout_token(app: &TestApp, token: &str) -> StatusCode {
    app.client
        .post(format!("{}/backchannel-logout", app.address))
        .form(&[("logout_token", token)])
        .send()
        .await
        .unwrap()
        .status()
}

async fn a_logout_token_signs_out_that_browser_and_no_other(store: Store) {
    let app = spawn_app(store).await;
    app.sign_in().await;
    let first_sid = app.idp().last_sid().expect("a Logto session id");
    let second = sign_in_another_browser(&app).await;
    assert!(is_signed_in(&app.client, &app).await && is_signed_in(&second, &app).await);

    let token = app.idp().logout_token(LogoutTokenSpec::session(&first_sid));

    assert_eq!(post_logout_token(&app, &token).await, StatusCode::OK);
    assert!(
        !is_signed_in(&app.client, &app).await,
        "the first browser is signed out"
    );
    assert!(
        is_signed_in(&second, &app).await,
        "the second browser is not"
    );
    if store == Store::Redis {
        assert_eq!(
            app.redis.as_ref().unwrap().session_keys().await,
            1,
            "the ended session was deleted from Redis"
        );
    }
}

async fn forged_logout_tokens_are_refused_and_change_nothing(store: Store) {
    let app = spawn_app(store).await;
    app.sign_in().await;
    let sid = app.idp().last_sid().expect("a Logto session id");

    for forgery in [
        LogoutMisbehaviour::WrongKey,
        LogoutMisbehaviour::Expired,
        LogoutMisbehaviour::WithNonce,
        LogoutMisbehaviour::MissingEvents,
        LogoutMisbehaviour::WrongAudience,
        LogoutMisbehaviour::WrongIssuer,
        LogoutMisbehaviour::MissingJti,
        LogoutMisbehaviour::AlgNone,
        LogoutMisbehaviour::MissingExp,
        LogoutMisbehaviour::IssuedLongAgo,
        LogoutMisbehaviour::EventNotAnObject,
    ] {
        let token = app
            .idp()
            .logout_token(LogoutTokenSpec::session(&sid).forged(forgery));
        assert_eq!(
            post_logout_token(&app, &token).await,
            StatusCode::BAD_REQUEST,
            "{forgery:?}"
        );
    }
    assert_eq!(
        post_logout_token(&app, "not-a-jwt").await,
        StatusCode::BAD_REQUEST
    );
    assert!(app.home_page().await.contains("Signed in as"));
}

#[tokio::test]
async fn a_refresh_in_flight_does_not_bring_back_a_session_that_logto_ended() {
    let app = spawn_app(Store::Redis).await;
    app.idp().set_access_token_ttl(0);
    app.sign_in().await;
    let sid = app.idp().last_sid().expect("a Logto session id");
    // The API token's refresh takes a while: the session is read before it, written after.
    app.idp()
        .set_token_delay(std::time::Duration::from_millis(800));
    let token_requests = app.idp().request_count(Endpoint::Token);
    let api_token = app.get_in_background("/api-token");
    eventually("the refresh to reach Logto", Duration::from_secs(5), || {
        app.idp().request_count(Endpoint::Token) > token_requests
    })
    .await;

    let token = app.idp().logout_token(LogoutTokenSpec::session(&sid));
    assert_eq!(post_logout_token(&app, &token).await, StatusCode::OK);
    assert_eq!(api_token.await.unwrap().expect("answered"), StatusCode::OK);
    assert_eq!(app.idp().refresh_grant_count(), 1, "the refresh did run");

    assert!(!is_signed_in(&app.client, &app).await, "still signed out");
    assert_eq!(app.redis.as_ref().unwrap().session_keys().await, 0);
}

async fn a_logout_token_is_accepted_once(store: Store) {
    let app = spawn_app(store).await;
    app.sign_in().await;
    let sid = app.idp().last_sid().expect("a Logto session id");
    let token = app.idp().logout_token(LogoutTokenSpec::session(&sid));

    assert_eq!(post_logout_token(&app, &token).await, StatusCode::OK);
    for _ in 0..3 {
        assert_eq!(
            post_logout_token(&app, &token).await,
            StatusCode::BAD_REQUEST,
            "a replay is refused"
        );
    }
    let fresh = app.idp().logout_token(LogoutTokenSpec::session(&sid));
    assert_eq!(post_logout_token(&app, &fresh).await, StatusCode::OK);
    if let Some(redis) = &app.redis {
        let ttls = redis.ttls_of("logto:logout-jti:*").await;
        assert_eq!(ttls.len(), 2, "one record per token");
        assert!(
            ttls.iter().all(|ttl| (1..=180).contains(ttl)),
            "kept until the token expires (2 minutes) plus the leeway: {ttls:?}"
        );
    }
}

/// A logout token that names only the user ends the sessions that existed when it was
/// issued; a sign-in after it stands, with either store.
async fn a_logout_token_for_a_user_ends_only_the_sessions_signed_in_before_it(store: Store) {
    let app = spawn_app(store).await;
    app.sign_in().await;
    next_second().await;
    let token = app.idp().logout_token(LogoutTokenSpec {
        sub: Some("user_alice".to_owned()),
        ..LogoutTokenSpec::default()
    });
    next_second().await;
    let later = sign_in_another_browser(&app).await;

    assert_eq!(post_logout_token(&app, &token).await, StatusCode::OK);

    assert!(
        !is_signed_in(&app.client, &app).await,
        "signed in before the logout"
    );
    assert!(
        is_signed_in(&later, &app).await,
        "signed in after the logout"
    );
    if store == Store::Redis {
        assert_eq!(app.redis.as_ref().unwrap().session_keys().await, 1);
    }
}

/// Logout tokens for a user can arrive out of order: the later logout still counts.
async fn an_older_logout_token_arriving_late_brings_no_session_back(store: Store) {
    let app = spawn_app(store).await;
    let for_alice = || LogoutTokenSpec {
        sub: Some("user_alice".to_owned()),
        ..LogoutTokenSpec::default()
    };
    let older = app.idp().logout_token(for_alice());
    next_second().await;
    app.sign_in().await;
    next_second().await;
    let newer = app.idp().logout_token(for_alice());

    assert_eq!(post_logout_token(&app, &newer).await, StatusCode::OK);
    assert_eq!(post_logout_token(&app, &older).await, StatusCode::OK);

    assert!(
        !is_signed_in(&app.client, &app).await,
        "the newer logout still ends the session"
    );
}

/// Waits until the clock's second has changed, so that Unix-second timestamps differ.
async fn next_second() {
    let now = logto_client::unix_now();
    while logto_client::unix_now() == now {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn while_the_jwks_fails_unknown_key_ids_cost_logto_one_request() {
    let app = spawn_app_with(Store::Cookie, |logto| {
        // Only the backoff holds the requests back, not the re-fetch interval.
        logto.jwks_min_refetch_interval = Duration::ZERO;
        logto.provider_backoff = Backoff {
            initial: Duration::from_secs(60),
            max: Duration::from_secs(60),
        };
    })
    .await;
    app.sign_in().await;
    let sid = app.idp().last_sid().expect("a Logto session id");
    let jwks_requests = app.idp().request_count(Endpoint::Jwks);
    app.idp().set_misbehaviour(Misbehaviour::JwksUnavailable);

    // Fifty at once, as Logto's own server would send them (no cookies, fresh connections):
    // they wait for one request, then all fail without another.
    let logto = reqwest::Client::new();
    let mut posts = JoinSet::new();
    for _ in 0..50 {
        let token = app
            .idp()
            .logout_token(LogoutTokenSpec::session(&sid).forged(LogoutMisbehaviour::UnknownKid));
        let request = logto
            .post(format!("{}/backchannel-logout", app.address))
            .form(&[("logout_token", token)]);
        posts.spawn(async move { request.send().await.map(|response| response.status()) });
    }
    while let Some(status) = posts.join_next().await {
        assert_eq!(
            status.unwrap().expect("answered"),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    assert_eq!(
        app.idp().request_count(Endpoint::Jwks) - jwks_requests,
        1,
        "one request, then Logto is left alone"
    );
    assert!(is_signed_in(&app.client, &app).await);
    // Keys already loaded still verify while Logto's JWKS is down.
    let genuine = app.idp().logout_token(LogoutTokenSpec::session(&sid));
    assert_eq!(post_logout_token(&app, &genuine).await, StatusCode::OK);
    assert!(!is_signed_in(&app.client, &app).await);
    assert_eq!(app.idp().request_count(Endpoint::Jwks) - jwks_requests, 1);
}
