use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use logto_bookstore::logto::Backoff;
use reqwest::StatusCode;

use crate::helpers::{Store, TestApp, free_port, registered_client, spawn_app_on};
use crate::test_idp::{Endpoint, Misbehaviour, TestIdp};

/// Polls `/readyz` (which loads Logto's documents once the backoff allows) until it is 200.
async fn wait_until_ready(app: &TestApp) {
    for _ in 0..250 {
        if app.get("/readyz").await.status() == StatusCode::OK {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the app did not load Logto's documents once Logto was up");
}

#[tokio::test]
async fn the_app_starts_while_logto_is_down_and_signs_in_once_it_is_up() {
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
    let sign_in = app.get("/sign-in").await;
    assert_eq!(sign_in.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        sign_in
            .text()
            .await
            .unwrap()
            .contains("Identity provider unavailable")
    );
    assert_eq!(app.session_cookie(), None);

    let idp = TestIdp::start_on_port(registered_client(&address), idp_port).await;
    // Logto is asked again only once the backoff after the failures has passed.
    wait_until_ready(&app).await;
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
        let sign_in = app.get("/sign-in").await;
        assert_eq!(sign_in.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            sign_in
                .text()
                .await
                .unwrap()
                .contains("Identity provider unavailable")
        );
    }
    assert_eq!(
        app.get("/readyz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    assert_eq!(
        idp.request_count(Endpoint::Discovery),
        1,
        "asked once (at start-up or by the first sign-in), then left alone"
    );
    assert_eq!(idp.request_count(Endpoint::Jwks), 0);
    assert_eq!(app.session_cookie(), None);
}

#[test]
fn a_missing_setting_stops_the_binary_with_one_clear_line() {
    let output = Command::new(env!("CARGO_BIN_EXE_logto-bookstore"))
        .env_clear()
        .current_dir(std::env::temp_dir())
        .output()
        .expect("the binary runs");

    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: LOGTO_ENDPOINT is not set."),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
}

#[test]
fn a_short_session_secret_stops_the_binary() {
    let output = Command::new(env!("CARGO_BIN_EXE_logto-bookstore"))
        .env_clear()
        .current_dir(std::env::temp_dir())
        .env("LOGTO_ENDPOINT", "http://127.0.0.1:9")
        .env("LOGTO_APP_ID", "app")
        .env("LOGTO_APP_SECRET", "secret")
        .env("SESSION_SECRET", "short")
        .output()
        .expect("the binary runs");

    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with("error: SESSION_SECRET is 5 bytes long"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);
}
