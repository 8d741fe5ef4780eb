//! The log of a whole sign-in, at debug level, holds no token, code, secret or cookie value.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::cookie::{CookieStore, Jar};

use crate::helpers::{
    APP_SECRET, csrf_token, free_port, location, query_pairs, query_value, registered_client,
};
use crate::operations::{AppProcess, SESSION_SECRET};
use crate::test_idp::TestIdp;

#[tokio::test]
async fn a_full_sign_in_at_debug_level_logs_no_secret() {
    let port = free_port();
    let idp = TestIdp::start(registered_client(&format!("http://127.0.0.1:{port}"))).await;
    let log_path = std::env::temp_dir().join(format!("bookstore-log-test-{port}.log"));
    let log_file = std::fs::File::create(&log_path).expect("a log file");
    let mut app = AppProcess::start_logging(port, &idp.endpoint(), "debug", Stdio::from(log_file));
    let jar = Arc::new(Jar::default());
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(Arc::clone(&jar))
        .build()
        .unwrap();
    let get = |url: String| {
        let browser = browser.clone();
        async move { browser.get(url).send().await.expect("answered") }
    };

    // Sign in, use the tokens, replay the spent callback, sign out.
    let sign_in = get(format!("{}/sign-in", app.address)).await;
    let callback_url = location(&get(location(&sign_in)).await);
    let callback = get(callback_url.clone()).await;
    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    let session_cookies = jar
        .cookies(&app.address.parse().unwrap())
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        get(format!("{}/profile", app.address)).await.status(),
        StatusCode::OK
    );
    let replay = get(callback_url.clone()).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    let home = get(format!("{}/", app.address)).await.text().await.unwrap();
    let csrf = csrf_token(&home).expect("the sign-out form");
    let sign_out = browser
        .post(format!("{}/sign-out", app.address))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    let end_session = location(&sign_out);
    app.terminate();
    app.exit_within(Duration::from_secs(10));

    let log = std::fs::read_to_string(&log_path).expect("the log");
    let _ = std::fs::remove_file(&log_path);
    assert!(
        log.contains("signed in user user_alice"),
        "the log is captured:\n{log}"
    );
    let callback_query = query_pairs(&callback_url);
    let end_session_query = query_pairs(&end_session);
    let mut secrets = vec![
        (
            "authorization code",
            query_value(&callback_query, "code").unwrap().to_owned(),
        ),
        (
            "ID token",
            query_value(&end_session_query, "id_token_hint")
                .unwrap()
                .to_owned(),
        ),
        ("app secret", APP_SECRET.to_owned()),
        ("session secret", SESSION_SECRET.to_owned()),
    ];
    for cookie in session_cookies.split("; ") {
        let (_, value) = cookie.split_once('=').unwrap();
        secrets.push(("cookie value", value.to_owned()));
    }
    for token in idp.issued_token_values() {
        secrets.push(("access or refresh token", token));
    }
    assert!(secrets.len() >= 7, "{secrets:?}");
    for (what, secret) in secrets {
        // A fragment is enough to leak; 16 characters never appear by chance.
        let fragment = &secret[..secret.len().min(16)];
        assert!(!log.contains(fragment), "the log holds a {what}:\n{log}");
    }
}
