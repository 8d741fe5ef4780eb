use std::time::Duration;

use reqwest::StatusCode;

use crate::app::{
    APP_ID, Store, assert_cookies_fit_in_a_browser, location, query_pairs, query_value,
    signed_in_app, spawn_app, spawn_app_with,
};
use test_support::for_both_stores;
use test_support::idp::{Endpoint, Misbehaviour, ORGANIZATIONS_RESOURCE, TestUser};

for_both_stores!(
    a_user_signs_in_and_out_through_logto,
    the_session_id_changes_at_sign_in,
    sign_ins_started_in_two_tabs_both_finish,
    a_user_without_name_or_picture_is_greeted_by_username,
);

async fn a_user_signs_in_and_out_through_logto(store: Store) {
    let app = spawn_app(store).await;
    assert!(app.home_page().await.contains("Not signed in"));

    let callback = app.sign_in().await;
    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&callback), "/");
    assert_cookies_fit_in_a_browser(&callback);
    assert_eq!(
        app.sign_in_attempts_cookie(),
        None,
        "the spent attempt is cleared"
    );

    let home = app.home_page().await;
    assert!(
        home.contains("Signed in as <strong>Alice Liddell</strong>"),
        "{home}"
    );
    assert!(home.contains("alice@example.com"));
    assert!(home.contains(r#"src="https://example.com/alice.png""#));
    assert!(home.contains(r#"action="/sign-out""#));
    if store == Store::Redis {
        assert_eq!(app.stored_sessions().await, 1);
    }

    let sign_out = app.sign_out().await;
    assert_eq!(sign_out.status(), StatusCode::SEE_OTHER);
    let end_session = location(&sign_out);
    assert!(end_session.starts_with(&format!("{}/session/end?", app.idp().issuer())));
    let at_idp = app.get_url(&end_session).await;
    assert_eq!(
        at_idp.status(),
        StatusCode::SEE_OTHER,
        "the IdP accepts the end-session request"
    );
    assert_eq!(location(&at_idp), format!("{}/", app.address));

    assert!(app.home_page().await.contains("Not signed in"));
    assert_eq!(app.session_cookie(), None);
    assert_eq!(app.stored_sessions().await, 0);
}

#[tokio::test]
async fn the_authorization_request_carries_pkce_state_nonce_and_the_reserved_scopes() {
    let app = spawn_app(Store::Cookie).await;

    let sign_in = app.get("/sign-in").await;

    assert_eq!(sign_in.status(), StatusCode::SEE_OTHER);
    let url = location(&sign_in);
    assert!(url.starts_with(&format!("{}/auth?", app.idp().issuer())));
    let query = query_pairs(&url);
    let value = |name| query_value(&query, name);
    assert_eq!(value("client_id"), Some(APP_ID));
    assert_eq!(value("response_type"), Some("code"));
    assert_eq!(
        value("redirect_uri"),
        Some(format!("{}/callback", app.address).as_str())
    );
    assert_eq!(
        value("scope"),
        Some("openid offline_access profile email urn:logto:scope:organizations read:books")
    );
    let resources: Vec<&str> = query
        .iter()
        .filter(|(name, _)| name == "resource")
        .map(|(_, resource)| resource.as_str())
        .collect();
    assert_eq!(
        resources,
        [crate::app::API_RESOURCE, ORGANIZATIONS_RESOURCE],
        "the organizations scope brings Logto's organizations resource"
    );
    assert_eq!(value("prompt"), Some("consent"));
    assert_eq!(value("code_challenge_method"), Some("S256"));
    assert_eq!(value("code_challenge").map(str::len), Some(43));
    assert!(value("state").is_some_and(|state| state.len() >= 22));
    assert!(value("nonce").is_some_and(|nonce| nonce.len() >= 22));
    assert_eq!(
        app.session_cookie(),
        None,
        "the attempt is kept in a cookie of its own, not in a session"
    );
    assert!(app.sign_in_attempts_cookie().is_some());
}

#[tokio::test]
async fn a_sign_in_costs_logto_one_token_request_and_nothing_else() {
    let app = spawn_app(Store::Cookie).await;

    for _ in 0..3 {
        assert_eq!(app.sign_in().await.status(), StatusCode::SEE_OTHER);
        app.sign_out().await;
    }

    assert_eq!(app.idp().request_count(Endpoint::Token), 3);
    assert_eq!(
        app.idp().request_count(Endpoint::Discovery),
        1,
        "discovery is cached"
    );
    assert_eq!(
        app.idp().request_count(Endpoint::Jwks),
        1,
        "the JWKS is cached"
    );
}

async fn the_session_id_changes_at_sign_in(store: Store) {
    let app = signed_in_app(store).await;
    let before = app.session_cookie().expect("a session for the user");

    assert_eq!(app.sign_in().await.status(), StatusCode::SEE_OTHER);

    let after = app.session_cookie().expect("a session for the user");
    assert_ne!(
        before, after,
        "the session id is renewed (session fixation)"
    );
    if store == Store::Redis {
        assert_eq!(
            app.stored_sessions().await,
            1,
            "the earlier session is deleted"
        );
    }
}

async fn sign_ins_started_in_two_tabs_both_finish(store: Store) {
    let app = spawn_app(store).await;
    let first_tab = app.authorize().await;
    let second_tab = app.authorize().await;

    let first = app.get_url(&first_tab).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    assert!(app.home_page().await.contains("Signed in as"));

    // The second tab's attempt is still in the attempts cookie: it signs in afresh.
    let second = app.get_url(&second_tab).await;
    assert_eq!(second.status(), StatusCode::SEE_OTHER);
    assert!(app.home_page().await.contains("Signed in as"));
    if store == Store::Redis {
        assert_eq!(app.stored_sessions().await, 1, "one session, renewed");
    }
}

async fn a_user_without_name_or_picture_is_greeted_by_username(store: Store) {
    let app = spawn_app(store).await;
    app.idp().set_user(TestUser {
        name: None,
        picture: None,
        email: None,
        ..TestUser::alice()
    });

    app.sign_in().await;

    let home = app.home_page().await;
    assert!(
        home.contains("Signed in as <strong>alice</strong>"),
        "{home}"
    );
    assert!(!home.contains("<img class=\"avatar\""));
}

#[tokio::test]
async fn after_a_key_rotation_the_next_sign_in_fetches_the_new_keys_once() {
    let app = spawn_app_with(Store::Cookie, |logto| {
        logto.jwks_min_refetch_interval = Duration::ZERO;
    })
    .await;
    app.idp().rotate_signing_key();

    assert_eq!(app.sign_in().await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.sign_in().await.status(), StatusCode::SEE_OTHER);

    assert!(app.home_page().await.contains("Signed in as"));
    assert_eq!(
        app.idp().request_count(Endpoint::Jwks),
        2,
        "one fetch at start-up, one for the new kid"
    );
}

#[tokio::test]
async fn unknown_key_ids_cannot_make_the_app_fetch_the_jwks_in_a_loop() {
    let app = spawn_app(Store::Cookie).await;
    app.idp().set_misbehaviour(Misbehaviour::UnknownKid);

    for _ in 0..3 {
        assert_eq!(app.sign_in().await.status(), StatusCode::BAD_REQUEST);
    }

    // Within the 5 s minimum interval after start-up, no further fetch happens.
    assert_eq!(app.idp().request_count(Endpoint::Jwks), 1);
}
