//! Logto down: at start-up, or after the app had loaded its documents. Sign-in answers at
//! once with the "unavailable" page instead of sending browsers to a dead end, asks Logto again
//! at most once per backoff, and recovers by itself.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use logto_client::Backoff;
use reqwest::StatusCode;

use crate::app::{Store, TestApp, free_port, registered_client, spawn_app_on, spawn_app_with};
use test_support::idp::{Endpoint, Misbehaviour, TestIdp};
use test_support::poll::until;

/// `/sign-in` answers the "unavailable" page rather than send anyone to Logto.
async fn assert_sign_in_is_unavailable(app: &TestApp) {
    let sign_in = app.get("/sign-in").await;
    assert_eq!(sign_in.status(), StatusCode::SERVICE_UNAVAILABLE);
    let page = sign_in.text().await.unwrap();
    assert!(page.contains("Sign-in is unavailable"), "{page}");
}

/// Polls `/sign-in` (which loads Logto's documents once the backoff allows) until it sends
/// the browser to Logto again.
async fn wait_until_sign_in_works(app: &TestApp) {
    until(
        "sign-in to send browsers to Logto again",
        Duration::from_secs(5),
        || async { (app.get("/sign-in").await.status() == StatusCode::SEE_OTHER).then_some(()) },
    )
    .await
}

#[tokio::test]
async fn the_product_starts_while_logto_is_down_and_signs_in_once_it_is_up() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let idp_port = free_port();
    let app = spawn_app_on(
        listener,
        Store::Cookie,
        &format!("http://127.0.0.1:{idp_port}"),
        None,
        |logto| {
            logto.provider_backoff = Backoff {
                initial: Duration::from_millis(100),
                max: Duration::from_millis(400),
            };
        },
    )
    .await;

    assert!(app.home_page().await.contains("Not signed in"));
    assert_sign_in_is_unavailable(&app).await;
    assert_eq!(app.session_cookie(), None);

    let idp = TestIdp::start_on_port(registered_client(&address), idp_port).await;
    // Logto is asked again only once the backoff after the failures has passed.
    wait_until_sign_in_works(&app).await;
    let callback = app.sign_in().await;
    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    assert!(app.home_page().await.contains("Signed in as"));
    // Discovery and keys were loaded once, so the callback cost one token request.
    assert_eq!(idp.request_count(Endpoint::Discovery), 1);
    assert_eq!(idp.request_count(Endpoint::Jwks), 1);
    assert_eq!(idp.request_count(Endpoint::Token), 1);
}

#[tokio::test]
async fn while_logto_fails_sign_in_answers_at_once_without_asking_it_again() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let idp = TestIdp::start(registered_client(&address)).await;
    idp.set_misbehaviour(Misbehaviour::DiscoveryUnavailable);
    let app = spawn_app_on(listener, Store::Cookie, &idp.endpoint(), None, |logto| {
        logto.provider_backoff = Backoff {
            initial: Duration::from_secs(60),
            max: Duration::from_secs(60),
        };
    })
    .await;

    for _ in 0..20 {
        assert_sign_in_is_unavailable(&app).await;
    }
    assert!(
        app.home_page().await.contains("Not signed in"),
        "pages still work"
    );

    assert_eq!(
        idp.request_count(Endpoint::Discovery),
        1,
        "asked once (at start-up or by the first sign-in), then left alone"
    );
    assert_eq!(idp.request_count(Endpoint::Jwks), 0);
    assert_eq!(app.session_cookie(), None);
}

/// A warm app has Logto's documents cached, so nothing tells it that Logto went down until a
/// call to Logto fails. From then on, `/sign-in` asks discovery again (at most once per
/// backoff) instead of sending browsers into a dead end. Once Logto answers, it recovers.
#[tokio::test]
async fn a_warm_product_notices_that_logto_is_down_and_stops_sending_browsers_there() {
    let app = spawn_app_with(Store::Cookie, |logto| {
        logto.provider_backoff = Backoff {
            initial: Duration::from_millis(300),
            max: Duration::from_millis(300),
        };
    })
    .await;
    app.idp().set_access_token_ttl(0);
    app.sign_in().await;
    let discovery_requests = app.idp().request_count(Endpoint::Discovery);

    // Logto fails: a refresh is the call that finds out.
    app.idp()
        .set_misbehaviour(Misbehaviour::TokenEndpointError500);
    assert!(app.get("/api-token").await.status().is_server_error());
    app.idp()
        .set_misbehaviour(Misbehaviour::DiscoveryUnavailable);
    tokio::time::sleep(Duration::from_millis(350)).await;

    let probing = Instant::now();
    for _ in 0..10 {
        assert_sign_in_is_unavailable(&app).await;
    }
    // One probe, and one more per backoff should the ten pages take that long on a busy machine.
    let backoffs_passed = probing.elapsed().as_millis() / 300;
    let probes = app.idp().request_count(Endpoint::Discovery) - discovery_requests;
    assert!(
        probes >= 1 && probes as u128 <= 1 + backoffs_passed,
        "one probe per backoff: {probes} in {backoffs_passed} backoffs"
    );

    app.idp().set_misbehaviour(Misbehaviour::None);
    app.idp().set_access_token_ttl(3600);
    tokio::time::sleep(Duration::from_millis(350)).await;

    wait_until_sign_in_works(&app).await;
}
