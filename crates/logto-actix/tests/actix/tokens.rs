//! Access tokens, organization tokens and userinfo through `SignedInUser`, and refreshing
//! tokens exactly once at a time.

use std::time::{Duration, Instant};

use logto_client::Backoff;
use reqwest::StatusCode;
use tokio::task::JoinSet;

use crate::app::{
    API_RESOURCE, Store, TestApp, assert_cookies_fit_in_a_browser, signed_in_app,
    signed_in_book_club_member, spawn_app, spawn_app_with, timing_sensitive,
};

use test_support::for_both_stores;
use test_support::idp::{
    ANOTHER_USER_SUB, Endpoint, Misbehaviour, ORGANIZATION_MEMBER_PERMISSIONS, ORGANIZATIONS_SCOPE,
    TestUser,
};

for_both_stores!(
    twenty_concurrent_requests_with_an_expired_token_refresh_it_once,
    a_refused_refresh_ends_the_session_with_a_notice_instead_of_a_loop,
    a_revoked_access_token_at_userinfo_also_ends_the_session,
    a_userinfo_answer_about_another_user_is_refused_and_the_session_kept,
);

async fn a_userinfo_answer_about_another_user_is_refused_and_the_session_kept(store: Store) {
    let app = signed_in_app(store).await;
    app.idp()
        .set_misbehaviour(Misbehaviour::UserInfoForAnotherUser);

    let response = app.get("/profile").await;

    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let page = response.text().await.unwrap();
    assert!(page.contains("The identity provider failed"), "{page}");
    assert!(page.contains("about another user"), "{page}");
    assert!(
        !page.contains(ANOTHER_USER_SUB),
        "nothing of that answer is shown"
    );
    assert!(
        app.home_page().await.contains("Signed in as"),
        "the visitor stays signed in"
    );
    assert_eq!(app.idp().request_count(Endpoint::UserInfo), 1);

    app.idp().set_misbehaviour(Misbehaviour::None);
    assert_eq!(app.get("/profile").await.status(), StatusCode::OK);
}

async fn a_revoked_access_token_at_userinfo_also_ends_the_session(store: Store) {
    let app = signed_in_app(store).await;
    app.idp().revoke_all_grants();

    let response = app.get("/profile").await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(app.home_page().await.contains("Not signed in"));
}

async fn a_refused_refresh_ends_the_session_with_a_notice_instead_of_a_loop(store: Store) {
    let app = spawn_app(store).await;
    app.idp().set_access_token_ttl(0);
    app.sign_in().await;
    app.idp().revoke_all_grants();

    let response = app.get("/profile").await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let page = response.text().await.unwrap();
    assert!(page.contains("Your session has ended"));
    assert!(page.contains(r#"href="/sign-in""#));
    assert!(app.home_page().await.contains("Not signed in"));
    assert_eq!(app.stored_sessions().await, 0);
    // Signing in again works at once.
    app.idp().set_access_token_ttl(3600);
    assert_eq!(app.sign_in().await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get("/profile").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_profile_shows_verified_claims_fresh_userinfo_and_organizations() {
    let app = spawn_app(Store::Cookie).await;
    app.idp()
        .set_user(TestUser::alice().in_organizations(&["org_bookclub"]));
    app.sign_in().await;

    let response = app.get("/profile").await;

    assert_eq!(response.status(), StatusCode::OK);
    let profile: serde_json::Value = response.json().await.unwrap();
    assert_eq!(profile["id_token"]["sub"], "user_alice");
    assert_eq!(profile["userinfo"]["sub"], "user_alice");
    assert_eq!(
        profile["id_token"]["organizations"],
        serde_json::json!(["org_bookclub"])
    );
    assert_eq!(
        app.idp().request_count(Endpoint::UserInfo),
        1,
        "userinfo is fetched fresh"
    );
}

#[tokio::test]
async fn the_api_token_page_shows_a_verified_jwt_for_the_first_resource() {
    let app = signed_in_app(Store::Cookie).await;

    let response = app.get("/api-token").await;

    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(page.contains(API_RESOURCE));
    assert!(page.contains("read:books"));
    assert_eq!(
        app.idp().refresh_grant_count(),
        1,
        "the resource token comes from a refresh grant"
    );

    // Cached in the session: a second visit costs Logto nothing.
    assert_eq!(app.get("/api-token").await.status(), StatusCode::OK);
    assert_eq!(app.idp().refresh_grant_count(), 1);
}

async fn twenty_concurrent_requests_with_an_expired_token_refresh_it_once(store: Store) {
    let app = spawn_app(store).await;
    app.idp().set_access_token_ttl(0);
    app.sign_in().await;
    app.idp().set_access_token_ttl(3600);
    // Slow refreshes, so that racing requests would overlap if nothing serialized them.
    app.idp().set_token_delay(Duration::from_millis(200));

    let mut requests = JoinSet::new();
    for _ in 0..20 {
        let client = app.client.clone();
        let url = format!("{}/profile", app.address);
        requests.spawn(async move {
            client
                .get(url)
                .send()
                .await
                .map(|response| response.status())
        });
    }
    let statuses: Vec<StatusCode> = requests
        .join_all()
        .await
        .into_iter()
        .map(|status| status.expect("answered"))
        .collect();

    assert_eq!(statuses, vec![StatusCode::OK; 20]);
    assert_eq!(
        app.idp().refresh_grant_count(),
        1,
        "exactly one refresh grant"
    );
    assert_eq!(
        app.get("/profile").await.status(),
        StatusCode::OK,
        "still signed in"
    );
}

#[tokio::test]
async fn an_organization_token_page_shows_a_verified_token_for_that_organization() {
    // LOGTO_SCOPES as the README says: the organizations scope and the permissions wanted.
    let app = signed_in_book_club_member(Store::Cookie).await;

    let response = app.get("/organizations/org_bookclub/token").await;

    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(page.contains("urn:logto:organization:org_bookclub"));
    assert!(
        page.contains(ORGANIZATION_MEMBER_PERMISSIONS),
        "the token carries the member's organization permissions: {page}"
    );
    assert_eq!(app.idp().refresh_grant_count(), 1);

    // Cached in the session like any other access token.
    assert_eq!(
        app.get("/organizations/org_bookclub/token").await.status(),
        StatusCode::OK
    );
    assert_eq!(app.idp().refresh_grant_count(), 1);
}

#[tokio::test]
async fn an_organization_the_user_is_not_in_is_refused_without_ending_the_session() {
    let app = spawn_app(Store::Cookie).await;
    app.idp()
        .set_user(TestUser::alice().in_organizations(&["org_bookclub"]));
    app.sign_in().await;

    let response = app.get("/organizations/org_elsewhere/token").await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let page = response.text().await.unwrap();
    assert!(page.contains("Organization access refused"), "{page}");
    assert!(page.contains("access_denied"));
    assert_eq!(
        app.get("/organizations/org_bookclub/token").await.status(),
        StatusCode::OK,
        "the refresh token was not spent, and the session goes on"
    );
}

#[tokio::test]
async fn an_organization_token_needs_the_organizations_scope() {
    let app = spawn_app_with(Store::Cookie, |config| {
        config.scopes.retain(|scope| scope != ORGANIZATIONS_SCOPE);
    })
    .await;
    app.idp()
        .set_user(TestUser::alice().in_organizations(&["org_bookclub"]));
    app.sign_in().await;

    let response = app.get("/organizations/org_bookclub/token").await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("insufficient_scope")
    );
    assert_eq!(app.get("/profile").await.status(), StatusCode::OK);
}

/// Logto rotates the refresh token on every refresh here, and a spent one used again revokes
/// the grant. When the cookie store fills up with cached access tokens, those give way; the
/// rotated refresh token is always stored.
#[tokio::test]
async fn a_full_cookie_drops_cached_access_tokens_and_never_the_rotated_refresh_token() {
    let organizations = ["org_a", "org_b", "org_c", "org_d", "org_e", "org_f"];
    let app = spawn_app(Store::Cookie).await;
    app.idp()
        .set_user(TestUser::alice().in_organizations(&organizations));
    // Due 3.75 s after they are issued: the app refreshes when a quarter of their life is left.
    app.idp().set_access_token_ttl(5);
    app.sign_in().await;

    assert_eq!(app.get("/api-token").await.status(), StatusCode::OK);
    let mut last_issued = Instant::now();
    for organization in organizations {
        let response = app
            .get(&format!("/organizations/{organization}/token"))
            .await;
        last_issued = Instant::now();
        assert_eq!(response.status(), StatusCode::OK, "{organization}");
        assert_cookies_fit_in_a_browser(&response);
    }
    // Every token is due (the time a token needs to fall due, not a wait for the app).
    tokio::time::sleep_until((last_issued + Duration::from_millis(3_950)).into()).await;

    let profile = app.get("/profile").await;

    assert_eq!(profile.status(), StatusCode::OK, "the refresh token works");
    assert_cookies_fit_in_a_browser(&profile);
    assert_eq!(
        app.get("/organizations/org_a/token").await.status(),
        StatusCode::OK,
        "a dropped token is fetched again"
    );
    // Had a spent refresh token been used again, Logto would have revoked the grant, and
    // these pages would have ended the session instead.
    assert!(app.home_page().await.contains("Signed in as"));
}

/// With the cookie store a due session is checked with Logto on the next page. While Logto's
/// token endpoint fails, the visitor stays signed in, and Logto is asked once per backoff,
/// not on every page.
#[tokio::test]
async fn while_logto_fails_a_due_session_is_kept_and_logto_is_asked_once() {
    let app = spawn_app_with(Store::Cookie, |logto| {
        logto.provider_backoff = Backoff {
            initial: Duration::from_secs(60),
            max: Duration::from_secs(60),
        };
    })
    .await;
    // Due 3 s after it is issued.
    app.idp().set_access_token_ttl(4);
    app.sign_in().await;
    tokio::time::sleep(Duration::from_millis(3_200)).await;
    app.idp()
        .set_misbehaviour(Misbehaviour::TokenEndpointError500);
    let token_requests = app.idp().request_count(Endpoint::Token);

    for _ in 0..5 {
        assert!(app.home_page().await.contains("Signed in as"));
    }

    assert_eq!(app.idp().request_count(Endpoint::Token) - token_requests, 1);
}

for_both_stores!(a_refresh_whose_id_token_cannot_be_verified_keeps_the_rotated_refresh_token);

/// Logto rotated its signing key and its JWKS cannot be fetched: the refreshed ID token cannot
/// be verified, and the page fails. The refresh token Logto rotated in that grant is kept all
/// the same, so once the JWKS is back the next refresh works instead of reusing a spent token
/// (which would revoke the grant).
async fn a_refresh_whose_id_token_cannot_be_verified_keeps_the_rotated_refresh_token(store: Store) {
    let app = spawn_app_with(store, |logto| {
        logto.jwks_min_refetch_interval = Duration::ZERO;
        logto.provider_backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(100),
        };
    })
    .await;
    app.idp().set_access_token_ttl(0);
    app.sign_in().await;
    app.idp().rotate_signing_key();
    app.idp().set_misbehaviour(Misbehaviour::JwksUnavailable);

    let failed = app.get("/api-token").await;
    assert!(failed.status().is_server_error(), "{}", failed.status());
    assert!(
        app.idp().refresh_grant_count() >= 1,
        "Logto rotated the token"
    );

    app.idp().set_misbehaviour(Misbehaviour::None);
    app.idp().set_access_token_ttl(3600);
    tokio::time::sleep(Duration::from_millis(150)).await;

    let response = app.get("/api-token").await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the grant is alive: no spent refresh token was used again"
    );
    assert!(app.home_page().await.contains("Signed in as"));
}

/// A session whose cookie has no room left for another access token, even with every cached
/// one dropped: Logto is not asked at all, so the refresh token is not spent for a token that
/// could not be kept, and the user stays signed in.
#[tokio::test]
async fn a_token_that_cannot_fit_in_the_cookie_is_not_asked_for() {
    let app = spawn_app(Store::Cookie).await;
    let mut user = TestUser::alice();
    user.extra_claims.insert(
        "custom_data".to_owned(),
        serde_json::json!({ "notes": "x".repeat(800) }),
    );
    app.idp().set_user(user);
    assert_eq!(app.sign_in().await.status(), StatusCode::SEE_OTHER);

    let response = app.get("/api-token").await;

    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(response.text().await.unwrap().contains("Session too large"));
    assert_eq!(app.idp().refresh_grant_count(), 0, "Logto was not asked");
    assert!(app.home_page().await.contains("Signed in as"));
    assert_eq!(app.get("/profile").await.status(), StatusCode::OK);
}

for_both_stores!(short_lived_access_tokens_are_used_until_their_margin_and_refreshed_once);

/// Logto lets an API resource's tokens live as little as a second. Such a token is used until a
/// quarter of its life is left (a minute for long-lived ones), so a burst of requests costs one
/// refresh grant, whatever the lifetime.
async fn short_lived_access_tokens_are_used_until_their_margin_and_refreshed_once(store: Store) {
    // A 1 s token's margin is a quarter of a second: the burst must not wait behind other tests.
    let _timing = timing_sensitive().await;
    for lifetime in [1, 30, 66] {
        let app = spawn_app(store).await;
        app.sign_in().await;
        app.idp().set_access_token_ttl(lifetime);

        assert_eq!(app.get("/api-token").await.status(), StatusCode::OK);
        assert_all_ok(burst(&app, "/api-token", 10).await);

        assert_eq!(
            app.idp().refresh_grant_count(),
            1,
            "a {lifetime} s token is used again"
        );
    }

    let app = spawn_app(store).await;
    app.sign_in().await;
    app.idp().set_access_token_ttl(1);
    assert_eq!(app.get("/api-token").await.status(), StatusCode::OK);
    // Past the margin of a 1 s token (a quarter of a second before it expires).
    tokio::time::sleep(Duration::from_millis(800)).await;

    assert_all_ok(burst(&app, "/api-token", 10).await);

    assert_eq!(
        app.idp().refresh_grant_count(),
        2,
        "one refresh grant for the whole burst"
    );
}

/// `count` concurrent GETs of `path` with the browser's cookies.
async fn burst(app: &TestApp, path: &str, count: usize) -> Vec<StatusCode> {
    let requests: Vec<_> = (0..count).map(|_| app.get_in_background(path)).collect();
    let mut statuses = Vec::new();
    for request in requests {
        statuses.push(request.await.unwrap().expect("answered"));
    }
    statuses
}

fn assert_all_ok(statuses: Vec<StatusCode>) {
    assert!(
        statuses.iter().all(|status| *status == StatusCode::OK),
        "{statuses:?}"
    );
}
