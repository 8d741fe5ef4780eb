//! The log of a whole sign-in, at debug level, holds no token, code, secret or cookie value.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::cookie::{CookieStore, Jar};

use crate::helpers::TestRedis;
use crate::helpers::{
    APP_SECRET, browser, csrf_token, free_port, location, query_pairs, query_value,
    registered_client,
};
use crate::operations::{AppProcess, SESSION_SECRET};
use test_support::idp::TestIdp;

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

/// Issue 11 §6: text from a request (a query or form field's name, the IdP's
/// `error_description`, the path) reaches the log escaped, so it cannot forge a log line.
#[tokio::test]
async fn request_text_cannot_start_a_log_line_of_its_own() {
    let port = free_port();
    let idp = TestIdp::start(registered_client(&format!("http://127.0.0.1:{port}"))).await;
    let log_path = std::env::temp_dir().join(format!("bookstore-log-injection-{port}.log"));
    let log_file = std::fs::File::create(&log_path).expect("a log file");
    let mut app = AppProcess::start_logging(port, &idp.endpoint(), "info", Stdio::from(log_file));
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let address = app.address.clone();
    let forged = "injected [ERROR] forged line";
    let encoded = "injected%20%5BERROR%5D%20forged%20line";

    // Unknown field names, which serde quotes in its error.
    for breaker in ["%0D%0A", "%0A", "%0D", "%C2%85", "%E2%80%A8"] {
        let response = browser
            .get(format!("{address}/sign-in?{breaker}{encoded}=1"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{breaker}");
        // The error page stays whole: the name shows as text in its details.
        let page = response.text().await.unwrap();
        assert!(
            page.contains("<h1 id=\"page-heading\">Bad request</h1>")
                && page.contains("injected [ERROR] forged line")
                && page.trim_end().ends_with("</html>"),
            "{page}"
        );
        let response = browser
            .post(format!("{address}/sign-in"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("{breaker}{encoded}=1"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{breaker}");
    }
    // The IdP's error description, on a callback that matches a real attempt.
    let sign_in = browser
        .get(format!("{address}/sign-in"))
        .send()
        .await
        .unwrap();
    let authorize = query_pairs(&location(&sign_in));
    let state = query_value(&authorize, "state").unwrap();
    let denied = browser
        .get(format!(
            "{address}/callback?state={state}&error=access_denied&error_description=%0D%0A{encoded}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    // The access log shows the path as sent, still percent-encoded.
    let not_found = browser
        .get(format!("{address}/%0D%0A{encoded}"))
        .send()
        .await
        .unwrap();
    assert_eq!(not_found.status(), StatusCode::NOT_FOUND);
    // Raw control bytes in the request line never reach the access log's `%U`: the HTTP
    // parser refuses them first.
    for raw_path in [&b"/\x1b[2Jinjected"[..], b"/\x7finjected", b"/\x85injected"] {
        let status_line = raw_request_status_line(port, raw_path);
        assert!(status_line.starts_with("HTTP/1.1 400"), "{status_line}");
    }
    app.terminate();
    app.exit_within(Duration::from_secs(10));

    let log = std::fs::read_to_string(&log_path).expect("the log");
    let _ = std::fs::remove_file(&log_path);
    assert!(
        log.contains(r"\r\ninjected [ERROR] forged line")
            && log.contains(r"\u{85}injected")
            && log.contains(r"\u{2028}injected"),
        "the requests were logged, escaped:\n{log}"
    );
    assert!(log.contains(&format!("/%0D%0A{encoded}")), "{log}");
    for line in log.split(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}']) {
        assert!(
            !line.trim_start().starts_with(forged),
            "a request started a log line: {line:?}\n{log}"
        );
    }
    assert!(
        !log.contains(['\r', '\u{85}', '\u{2028}', '\u{1b}', '\u{7f}']),
        "no raw line breaker or control character:\n{log:?}"
    );
}

/// Sends `GET <raw_path> HTTP/1.1` as bytes, past any client's validation, and returns the
/// answer's status line.
fn raw_request_status_line(port: u16, raw_path: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut request = b"GET ".to_vec();
    request.extend_from_slice(raw_path);
    request.extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(&request).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    answer.lines().next().unwrap_or_default().to_owned()
}

/// A Redis outage is logged once when it starts, with a count while it lasts, and once when
/// it ends: not two ERROR lines for every request that fails meanwhile.
#[tokio::test]
async fn a_redis_outage_is_logged_once_not_once_per_request() {
    let mut redis = TestRedis::start();
    let port = free_port();
    let idp = TestIdp::start(registered_client(&format!("http://127.0.0.1:{port}"))).await;
    let log_path = std::env::temp_dir().join(format!("bookstore-outage-log-{port}.log"));
    let log_file = std::fs::File::create(&log_path).expect("a log file");
    let redis_url = redis.url();
    let mut app = AppProcess::start_with(
        port,
        &idp.endpoint(),
        "info",
        Stdio::from(log_file),
        &[("SESSION_STORE", "redis"), ("REDIS_URL", &redis_url)],
    );
    let browser = browser(Arc::new(Jar::default()));
    let get = |url: String| {
        let browser = browser.clone();
        async move { browser.get(url).send().await.expect("answered") }
    };
    let sign_in = get(format!("{}/sign-in", app.address)).await;
    let callback = location(&get(location(&sign_in)).await);
    assert_eq!(get(callback).await.status(), StatusCode::SEE_OTHER);

    redis.stop();
    for _ in 0..30 {
        let page = get(format!("{}/", app.address)).await;
        assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    redis.restart();
    assert_eq!(
        get(format!("{}/", app.address)).await.status(),
        StatusCode::OK
    );
    app.terminate();
    app.exit_within(Duration::from_secs(10));

    let log = std::fs::read_to_string(&log_path).expect("the log");
    let _ = std::fs::remove_file(&log_path);
    let errors: Vec<&str> = log
        .lines()
        .filter(|line| line.contains(" ERROR "))
        .collect();
    assert_eq!(errors.len(), 1, "one ERROR line for the outage:\n{log}");
    assert!(errors[0].contains("Redis is unavailable"), "{log}");
    assert_eq!(
        log.matches("Redis answers again, after").count(),
        1,
        "and one line when it ends:\n{log}"
    );
    assert!(
        log.contains("30 failed calls") || log.contains("31 failed calls"),
        "{log}"
    );
}
