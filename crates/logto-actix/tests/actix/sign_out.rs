use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::app::PRODUCT;
use crate::app::{
    APP_ID, APP_SECRET, Store, TestApp, location, query_pairs, query_value, serve_product,
    set_cookies, signed_in_app, spawn_app, spawn_app_with, spawn_app_with_env,
};

use test_support::for_both_stores;
use test_support::idp::{Endpoint, TestUser};

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

/// Logto refuses an `id_token_hint` it cannot validate with a bare 400 (`invalid_request`,
/// "could not validate id_token_hint"), which would strand the user on Logto's error. After
/// Logto has rotated its signing key and deleted the old one, the hint from sign-in is such a
/// token: the app then signs out with `client_id` alone, which Logto accepts.
#[tokio::test]
async fn after_logto_deletes_the_signing_key_sign_out_goes_without_the_id_token_hint() {
    let app = spawn_app_with(Store::Cookie, |logto| {
        logto.jwks_min_refetch_interval = Duration::ZERO;
    })
    .await;
    app.sign_in().await;
    app.idp().rotate_signing_key();
    app.idp().delete_previous_signing_keys();

    let sign_out = app.sign_out().await;

    assert_eq!(sign_out.status(), StatusCode::SEE_OTHER);
    let end_session = location(&sign_out);
    let query = query_pairs(&end_session);
    assert_eq!(query_value(&query, "client_id"), Some(APP_ID));
    assert_eq!(query_value(&query, "id_token_hint"), None);
    assert_logto_ends_the_session(&app, &end_session).await;
    assert!(app.home_page().await.contains("Not signed in"));
}

/// While the old key is still published (a rotation without deletion), the hint still goes
/// along, and Logto still accepts it.
#[tokio::test]
async fn after_a_key_rotation_alone_sign_out_still_sends_the_id_token_hint() {
    let app = spawn_app_with(Store::Cookie, |logto| {
        logto.jwks_min_refetch_interval = Duration::ZERO;
    })
    .await;
    app.sign_in().await;
    app.idp().rotate_signing_key();

    let sign_out = app.sign_out().await;

    let end_session = location(&sign_out);
    assert!(query_value(&query_pairs(&end_session), "id_token_hint").is_some());
    assert_logto_ends_the_session(&app, &end_session).await;
}

/// Checking the hint's key costs Logto at most one JWKS request per minimum re-fetch interval
/// (5 s by default): the keys fetched at start-up are fresh enough for a sign-out right after.
#[tokio::test]
async fn checking_the_hint_fetches_the_keys_at_most_once_per_interval() {
    let app = spawn_app(Store::Cookie).await;
    app.sign_in().await;

    let sign_out = app.sign_out().await;

    assert!(query_value(&query_pairs(&location(&sign_out)), "id_token_hint").is_some());
    assert_eq!(
        app.idp().request_count(Endpoint::Jwks),
        1,
        "only at start-up"
    );
}

/// Follows the app's redirect to Logto's end-session endpoint, which must accept it and send
/// the browser back to the app's home page.
async fn assert_logto_ends_the_session(app: &TestApp, end_session: &str) {
    let at_logto = no_redirects().get(end_session).send().await.unwrap();
    assert_eq!(at_logto.status(), StatusCode::SEE_OTHER, "Logto accepts it");
    assert_eq!(location(&at_logto), format!("{}/", app.address));
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

for_both_stores!(a_cookie_copied_before_sign_out_is_refused_even_without_a_logto_session_id);

/// Logto puts `sid` in ID tokens only for apps with a back-channel logout URI; by default
/// there is none, and the sign-out must not depend on it.
async fn a_cookie_copied_before_sign_out_is_refused_even_without_a_logto_session_id(store: Store) {
    let app = spawn_app(store).await;
    let mut user = TestUser::alice();
    user.extra_claims.insert("sid".to_owned(), Value::Null);
    app.idp().set_user(user);
    app.sign_in().await;
    let copied = app.session_cookie().expect("a session cookie");

    app.sign_out().await;

    let home = app.get_with_cookie("/", &copied).await;
    assert!(home.text().await.unwrap().contains("Not signed in"));
    for path in ["/books", "/sign-out"] {
        let response = no_redirects()
            .get(format!("{}{path}", app.address))
            .header("cookie", &copied)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_ne!(location(&response), "/books", "{path}");
        if path == "/books" {
            assert!(location(&response).starts_with("/sign-in"), "{path}");
        }
    }
}

/// The refresh hand-off record (what concurrent requests adopt after a refresh) goes with the
/// session: nothing of the grant is left in Redis.
#[tokio::test]
async fn sign_out_forgets_the_refreshed_tokens_handed_between_requests() {
    let app = spawn_app(Store::Redis).await;
    let redis = app.redis.as_ref().unwrap();
    app.sign_in().await;
    assert_eq!(app.get("/api-token").await.status(), StatusCode::OK);
    let handoffs = redis.ttls_of("logto:grant-tokens:*").await;
    assert_eq!(handoffs.len(), 1, "the refresh left a hand-off record");
    assert!(
        (1..=30).contains(&handoffs[0]),
        "it lives about as long as a request waits for the refresh lock: {handoffs:?}"
    );

    app.sign_out().await;

    assert_eq!(redis.key_count().await, 0, "nothing of the grant is left");
}

/// With the cookie store, a copy of the cookie taken before sign-out is refused at once by the
/// process that signed out. Another process (or the same one after a restart) has no record
/// of it, so there the copy lasts until its access token is due, at most one access-token
/// lifetime: it is then checked with Logto, which revoked the grant at sign-out.
#[tokio::test]
async fn elsewhere_a_copied_cookie_store_cookie_ends_at_its_next_check_with_logto() {
    const SECRET: &str = "a-fixed-session-secret-shared-by-both-instances-of-the-bookstore-app";
    let app = spawn_app_with_env(Store::Cookie, &[("SESSION_SECRET", SECRET)]).await;
    // Due 4.5 s after it is issued: the app refreshes when a quarter of its life is left.
    app.idp().set_access_token_ttl(6);
    app.sign_in().await;
    let issued = Instant::now();
    let copied = app.session_cookie().expect("a session cookie");
    let other_instance = another_instance(&app, SECRET).await;

    app.sign_out().await;

    let here = app.get_with_cookie("/", &copied).await;
    assert!(here.text().await.unwrap().contains("Not signed in"));
    let there = get_with_cookie(&format!("{other_instance}/"), &copied).await;
    assert!(
        there.text().await.unwrap().contains("Signed in as"),
        "the documented bound: until the access token is due"
    );

    // The token falls due (time passing, not a wait for the app).
    tokio::time::sleep_until((issued + Duration::from_millis(4_700)).into()).await;

    let there = get_with_cookie(&format!("{other_instance}/"), &copied).await;
    assert_eq!(there.status(), StatusCode::UNAUTHORIZED);
    assert!(
        set_cookies(&there)
            .iter()
            .any(|cookie| cookie.starts_with(&format!("{}=;", PRODUCT.session_cookie))),
        "the copy is cleared"
    );
    let page = there.text().await.unwrap();
    assert!(page.contains("Your session has ended"), "{page}");
}

/// A second instance of the app with the same IdP and session secret.
async fn another_instance(app: &TestApp, secret: &str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let env = [
        ("LOGTO_ENDPOINT", app.idp().endpoint()),
        ("LOGTO_APP_ID", APP_ID.to_owned()),
        ("LOGTO_APP_SECRET", APP_SECRET.to_owned()),
        ("BASE_URL", address.clone()),
        ("SESSION_SECRET", secret.to_owned()),
    ];
    serve_product(listener, env.to_vec(), |_| {}).await;
    address
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get_with_cookie(url: &str, cookie: &str) -> reqwest::Response {
    no_redirects()
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}
