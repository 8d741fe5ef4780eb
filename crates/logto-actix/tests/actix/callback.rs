//! Every way a callback can go wrong ends on a templated error page, with no user signed in,
//! no session left behind, and no panic.

use std::time::Duration;

use logto_client::Backoff;
use reqwest::StatusCode;

use crate::app::{Store, TestApp, query_pairs, query_value, spawn_app, spawn_app_with};
use test_support::for_both_stores;
use test_support::idp::{Endpoint, Misbehaviour};

/// Opens `callback` and checks the error page and that nobody is signed in afterwards.
async fn assert_rejected(
    app: &TestApp,
    callback: &str,
    status: StatusCode,
    page_text: &str,
) -> String {
    let response = app.get_url(callback).await;
    assert_eq!(response.status(), status, "{callback}");
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    let page = response.text().await.unwrap();
    assert!(page.contains(page_text), "expected {page_text:?} in {page}");
    assert!(
        page.contains(r#"href="/sign-in""#) || page.contains(r#"href="/""#),
        "a way back"
    );

    assert!(app.home_page().await.contains("Not signed in"));
    assert_eq!(
        app.session_cookie(),
        None,
        "no session is left in the browser"
    );
    assert_eq!(
        app.stored_sessions().await,
        0,
        "no session is left in Redis"
    );
    page
}

/// The callback URL with `name` replaced by `value` (or removed when `None`).
fn with_param(callback: &str, name: &str, value: Option<&str>) -> String {
    let mut url = url::Url::parse(callback).unwrap();
    let pairs: Vec<(String, String)> = query_pairs(callback)
        .into_iter()
        .filter(|(key, _)| key != name)
        .collect();
    {
        let mut query = url.query_pairs_mut();
        query.clear();
        for (key, val) in &pairs {
            query.append_pair(key, val);
        }
        if let Some(value) = value {
            query.append_pair(name, value);
        }
    }
    url.to_string()
}

for_both_stores!(
    every_forged_or_broken_id_token_is_rejected,
    a_token_endpoint_failure_is_a_bad_gateway,
    while_the_token_endpoint_fails_callbacks_do_not_ask_it_again,
    a_refused_code_does_not_count_as_an_outage,
    a_refusal_by_logto_shows_its_description_escaped,
    a_callback_without_code_is_rejected,
    a_callback_with_another_state_is_rejected,
    a_callback_from_another_issuer_is_rejected,
    a_replayed_callback_is_rejected_and_keeps_the_user_signed_in,
);

async fn every_forged_or_broken_id_token_is_rejected(store: Store) {
    let app = spawn_app(store).await;
    for misbehaviour in [
        Misbehaviour::WrongSignature,
        Misbehaviour::WrongAudience,
        Misbehaviour::WrongIssuer,
        Misbehaviour::Expired,
        Misbehaviour::IssuedInTheFuture,
        Misbehaviour::WrongNonce,
        Misbehaviour::MissingNonce,
        Misbehaviour::UnknownKid,
        Misbehaviour::AlgNone,
        Misbehaviour::Hs256SignedWithPublicKey,
        Misbehaviour::WrongAtHash,
    ] {
        app.idp().set_misbehaviour(misbehaviour);
        let callback = app.authorize().await;
        assert_rejected(
            &app,
            &callback,
            StatusCode::BAD_REQUEST,
            "could not be verified",
        )
        .await;
    }
}

async fn a_token_endpoint_failure_is_a_bad_gateway(store: Store) {
    for misbehaviour in [
        Misbehaviour::TokenEndpointError500,
        Misbehaviour::TokenEndpointInvalidJson,
    ] {
        let app = spawn_app(store).await;
        app.idp().set_misbehaviour(misbehaviour);
        let callback = app.authorize().await;
        assert_rejected(
            &app,
            &callback,
            StatusCode::BAD_GATEWAY,
            "The identity provider failed",
        )
        .await;
    }
}

/// A failing token endpoint is asked once, then left alone for the backoff: callbacks (which
/// anyone can send, with an attempt of their own) answer the 503 page at once meanwhile.
async fn while_the_token_endpoint_fails_callbacks_do_not_ask_it_again(store: Store) {
    for failure in [
        Misbehaviour::TokenEndpointError500,
        Misbehaviour::TokenEndpointServerError,
    ] {
        let app = spawn_app_with(store, |logto| {
            logto.provider_backoff = Backoff {
                initial: Duration::from_secs(60),
                max: Duration::from_secs(60),
            };
        })
        .await;
        // Three attempts (the most a browser keeps), all back from Logto with a code.
        let mut callbacks = Vec::new();
        for _ in 0..3 {
            callbacks.push(app.authorize().await);
        }
        app.idp().set_misbehaviour(failure);

        let first = callbacks.remove(0);
        assert_rejected(
            &app,
            &first,
            StatusCode::BAD_GATEWAY,
            "The identity provider failed",
        )
        .await;
        for callback in callbacks {
            assert_rejected(
                &app,
                &callback,
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is unavailable",
            )
            .await;
        }
        let sign_in = app.get("/sign-in").await;
        assert_eq!(
            sign_in.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "nor is a browser sent there"
        );

        assert_eq!(app.idp().request_count(Endpoint::Token), 1, "{failure:?}");
    }
}

/// Logto saying no (`invalid_grant` for a code it does not know), or something in front of it
/// refusing a hostile code, is not an outage: it does not hold back the next sign-in.
async fn a_refused_code_does_not_count_as_an_outage(store: Store) {
    let app = spawn_app(store).await;
    let callback = app.authorize().await;
    let forged = callback.replace("code=", "code=forged");
    assert_rejected(&app, &forged, StatusCode::BAD_REQUEST, "Sign-in failed").await;
    app.idp()
        .set_misbehaviour(Misbehaviour::TokenEndpointRefusedInFront);
    let refused = app.authorize().await;
    assert_rejected(
        &app,
        &refused,
        StatusCode::BAD_GATEWAY,
        "The identity provider failed",
    )
    .await;
    app.idp().set_misbehaviour(Misbehaviour::None);

    assert_eq!(app.sign_in().await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.idp().request_count(Endpoint::Token), 3);
}

async fn a_refusal_by_logto_shows_its_description_escaped(store: Store) {
    let app = spawn_app(store).await;
    let callback = app.authorize().await;
    let state = query_value(&query_pairs(&callback), "state")
        .unwrap()
        .to_owned();
    let mut refusal = url::Url::parse(&format!("{}/callback", app.address)).unwrap();
    refusal
        .query_pairs_mut()
        .append_pair("error", "access_denied")
        .append_pair(
            "error_description",
            "<script>alert('x')</script> user cancelled",
        )
        .append_pair("state", &state)
        .append_pair("iss", &app.idp().issuer());

    let page = assert_rejected(
        &app,
        refusal.as_str(),
        StatusCode::FORBIDDEN,
        "Sign-in not completed",
    )
    .await;

    assert!(page.contains("access_denied"));
    assert!(page.contains("user cancelled"));
    assert!(!page.contains("<script>"), "the description is escaped");
}

async fn a_callback_without_code_is_rejected(store: Store) {
    let app = spawn_app(store).await;
    let callback = app.authorize().await;

    assert_rejected(
        &app,
        &with_param(&callback, "code", None),
        StatusCode::BAD_REQUEST,
        "no authorization code",
    )
    .await;
}

async fn a_callback_with_another_state_is_rejected(store: Store) {
    let app = spawn_app(store).await;
    let callback = app.authorize().await;

    for state in [None, Some("forged-state")] {
        let forged = with_param(&callback, "state", state);
        let response = app.get_url(&forged).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.text().await.unwrap().contains("Sign-in expired"));
    }
    // The genuine attempt is untouched by the forged ones and still completes.
    assert_eq!(app.get_url(&callback).await.status(), StatusCode::SEE_OTHER);
    assert!(app.home_page().await.contains("Signed in as"));
}

async fn a_callback_from_another_issuer_is_rejected(store: Store) {
    let app = spawn_app(store).await;
    for iss in [Some("https://evil.example/oidc"), None] {
        let callback = app.authorize().await;
        let forged = with_param(&callback, "iss", iss);
        assert_rejected(
            &app,
            &forged,
            StatusCode::BAD_REQUEST,
            "expected identity provider",
        )
        .await;
    }
}

async fn a_replayed_callback_is_rejected_and_keeps_the_user_signed_in(store: Store) {
    let app = spawn_app(store).await;
    let callback = app.authorize().await;
    assert_eq!(app.get_url(&callback).await.status(), StatusCode::SEE_OTHER);

    let replay = app.get_url(&callback).await;

    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert!(app.home_page().await.contains("Signed in as"));
}

#[tokio::test]
async fn a_callback_in_a_browser_that_never_signed_in_writes_no_session() {
    let app = spawn_app(Store::Redis).await;
    let callback = app.authorize().await;
    let stranger = spawn_app(Store::Redis).await;

    let address = callback.replacen(&app.address, &stranger.address, 1);
    assert_rejected(
        &stranger,
        &address,
        StatusCode::BAD_REQUEST,
        "Sign-in expired",
    )
    .await;
}

#[tokio::test]
async fn a_duplicated_parameter_is_a_bad_request() {
    let app = spawn_app(Store::Cookie).await;
    let callback = app.authorize().await;

    let response = app.get_url(&format!("{callback}&state=again")).await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("Bad request"));
}
