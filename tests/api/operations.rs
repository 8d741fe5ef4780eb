//! Running it for real: health and readiness, security headers, cacheable assets, graceful
//! shutdown, the container's health probe, and Logto reached at an internal address.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use logto_client::Backoff;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    APP_ID, APP_SECRET, Store, free_port, location, registered_client, spawn_app, spawn_app_on,
    timing_sensitive,
};
use test_support::for_both_stores;
use test_support::idp::{Endpoint, TestIdp};
use test_support::poll::{eventually, until};

for_both_stores!(a_ready_app_says_so_with_each_check);

/// The fixed session key of the binaries these tests start.
pub const SESSION_SECRET: &str =
    "operations-test-session-secret-operations-test-session-secret-0123456789";

#[tokio::test]
async fn liveness_is_a_small_json_answer() {
    let app = spawn_app(Store::Cookie).await;

    let response = app.get("/healthz").await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "status": "ok" })
    );
    assert_eq!(app.session_cookie(), None, "probes create no session");
}

async fn a_ready_app_says_so_with_each_check(store: Store) {
    let app = spawn_app(store).await;

    let response = app.get("/readyz").await;

    assert_eq!(response.status(), StatusCode::OK);
    let session_store = if store == Store::Redis {
        "ok"
    } else {
        "not_used"
    };
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({
            "status": "ready",
            "checks": { "identity_provider": "ok", "session_store": session_store },
        })
    );
}

/// Logto being down never takes the app out of rotation: its pages, signed-in ones included,
/// work without Logto until a token is due. The report says so.
#[tokio::test]
async fn the_app_stays_ready_but_degraded_while_logto_is_down_and_recovers_by_itself() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let logto_port = free_port();
    let unreachable = format!("http://127.0.0.1:{logto_port}");
    let app = spawn_app_on(listener, Store::Cookie, &unreachable, None, |logto| {
        logto.provider_backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(400),
        };
    })
    .await;

    let response = app.get("/readyz").await;

    assert_eq!(response.status(), StatusCode::OK);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["status"], "ready");
    assert_eq!(report["checks"]["identity_provider"], "degraded");
    assert_eq!(
        app.get("/healthz").await.status(),
        StatusCode::OK,
        "yet alive"
    );

    let _logto = TestIdp::start_on_port(registered_client(&address), logto_port).await;
    until(
        "/readyz to find Logto back once the backoff allows",
        Duration::from_secs(5),
        || async {
            let report: Value = app.get("/readyz").await.json().await.unwrap();
            (report["checks"]["identity_provider"] == "ok").then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn the_app_is_not_ready_while_redis_is_down() {
    let mut app = spawn_app(Store::Redis).await;
    app.redis.as_mut().unwrap().stop();

    let response = app.get("/readyz").await;

    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["checks"]["session_store"], "unavailable");
    assert_eq!(report["checks"]["identity_provider"], "ok");

    app.redis.as_mut().unwrap().restart();
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn every_page_carries_the_security_headers_and_is_not_cached() {
    let app = spawn_app(Store::Cookie).await;

    for path in ["/", "/sign-out", "/no-such-page"] {
        let response = app.get(path).await;
        let header = |name: &str| {
            response.headers()[name]
                .to_str()
                .unwrap_or_else(|_| panic!("{path}: {name}"))
                .to_owned()
        };
        let policy = header("content-security-policy");
        assert!(
            policy.starts_with("default-src 'none';"),
            "{path}: {policy}"
        );
        assert!(
            policy.contains(&format!("form-action 'self' {}", app.idp().endpoint())),
            "{path}: sign-in and sign-out forms redirect to Logto: {policy}"
        );
        assert!(policy.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        assert_eq!(header("referrer-policy"), "same-origin", "{path}");
        assert_eq!(header("cache-control"), "no-store", "{path}");
        assert!(
            !response.headers().contains_key("strict-transport-security"),
            "{path}: no HSTS on http"
        );
    }
}

#[tokio::test]
async fn assets_have_fingerprinted_names_and_are_cached_for_a_year() {
    let app = spawn_app(Store::Cookie).await;
    let home = app.home_page().await;

    for (name, content_type) in [("style", "text/css"), ("logo", "image/svg+xml")] {
        let start = home
            .find(&format!("/static/{name}."))
            .unwrap_or_else(|| panic!("the page links a fingerprinted {name}"));
        let url: String = home[start..].chars().take_while(|&c| c != '"').collect();

        let response = app.get(&url).await;

        assert_eq!(response.status(), StatusCode::OK, "{url}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(content_type)
        );
        assert_eq!(
            response.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
    }
    assert_eq!(
        app.get("/static/style.css").await.status(),
        StatusCode::NOT_FOUND,
        "only names with the content's hash are served"
    );
}

#[tokio::test]
async fn behind_docker_compose_the_server_calls_logto_at_its_internal_address() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    // `.invalid` never resolves: anything the server sent to the public address would fail.
    let idp = TestIdp::start_behind(registered_client(&address), "logto.invalid").await;
    let public = idp.endpoint();
    let internal = format!("http://127.0.0.1:{}", idp.port());
    let internal_url = url::Url::parse(&format!("{internal}/")).unwrap();
    let app = spawn_app_on(listener, Store::Cookie, &public, Some(idp), |config| {
        config.internal_endpoint = Some(internal_url);
    })
    .await;

    let sign_in = app.get("/sign-in").await;
    let authorize = location(&sign_in);
    assert!(
        authorize.starts_with(&format!("{public}/oidc/auth?")),
        "browsers go to the public address: {authorize}"
    );
    // The browser reaches the public address through the published port.
    let at_idp = app
        .get_url(&authorize.replacen(&public, &internal, 1))
        .await;
    let callback = app.get_url(&location(&at_idp)).await;

    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    assert!(app.home_page().await.contains("Signed in as"));
    assert_eq!(app.get("/profile").await.status(), StatusCode::OK);
    let sign_out = app.sign_out().await;
    assert!(location(&sign_out).starts_with(&format!("{public}/oidc/session/end?")));
    assert_eq!(app.idp().request_count(Endpoint::Token), 1);
    assert_eq!(app.idp().request_count(Endpoint::UserInfo), 1);
    assert_eq!(app.idp().request_count(Endpoint::Revocation), 1);
}

/// The binary's own process, configured through its environment.
pub struct AppProcess {
    pub child_pid: u32,
    child: Child,
    pub address: String,
}

impl AppProcess {
    fn start(port: u16, logto_endpoint: &str) -> Self {
        Self::start_logging(port, logto_endpoint, "warn", Stdio::null())
    }

    /// Starts the binary with `RUST_LOG=rust_log`, its stdout and stderr going to `log`.
    pub fn start_logging(port: u16, logto_endpoint: &str, rust_log: &str, log: Stdio) -> Self {
        Self::start_with(port, logto_endpoint, rust_log, log, &[])
    }

    /// Starts the binary with these settings added (for example `SESSION_STORE`).
    pub fn start_with(
        port: u16,
        logto_endpoint: &str,
        rust_log: &str,
        log: Stdio,
        settings: &[(&str, &str)],
    ) -> Self {
        let address = format!("http://127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_logto-bookstore"))
            .env_clear()
            .current_dir(std::env::temp_dir())
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("BASE_URL", &address)
            .env("LOGTO_ENDPOINT", logto_endpoint)
            .env("LOGTO_APP_ID", APP_ID)
            .env("LOGTO_APP_SECRET", APP_SECRET)
            .env("RUST_LOG", rust_log)
            .env("SESSION_SECRET", SESSION_SECRET)
            // Last, so that a test may override the defaults above (e.g. `BASE_URL`).
            .envs(settings.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the binary starts");
        let process = Self {
            child_pid: child.id(),
            child,
            address,
        };
        process.wait_until_listening(port);
        process
    }

    fn wait_until_listening(&self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the binary never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits up to `limit` for the process to exit, and returns how long it took.
    pub fn exit_within(&mut self, limit: Duration) -> (std::process::ExitStatus, Duration) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("waitable") {
                return (status, started.elapsed());
            }
            assert!(started.elapsed() < limit, "still running after {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for AppProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[tokio::test]
async fn sigterm_lets_a_sign_in_in_flight_finish_and_then_exits() {
    let _timing = timing_sensitive().await;
    let port = free_port();
    let idp = TestIdp::start(registered_client(&format!("http://127.0.0.1:{port}"))).await;
    let mut app = AppProcess::start(port, &idp.endpoint());
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let sign_in = browser
        .get(format!("{}/sign-in", app.address))
        .send()
        .await
        .unwrap();
    let at_idp = browser.get(location(&sign_in)).send().await.unwrap();
    let callback_url = location(&at_idp);
    // Logto answers the code exchange slowly, so the callback is in flight at SIGTERM.
    idp.set_token_delay(Duration::from_millis(1500));

    let token_requests = idp.request_count(Endpoint::Token);
    let in_flight = tokio::spawn({
        let browser = browser.clone();
        async move { browser.get(callback_url).send().await }
    });
    eventually(
        "the code exchange to reach Logto",
        Duration::from_secs(5),
        || idp.request_count(Endpoint::Token) > token_requests,
    )
    .await;
    app.terminate();

    let callback = in_flight
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&callback), "/", "the sign-in completed");
    let grace = logto_bookstore::startup::SHUTDOWN_GRACE;
    let (status, took) = app.exit_within(grace + Duration::from_secs(2));
    assert!(status.success(), "{status}");
    assert!(
        took < grace,
        "exited {took:?} after the request, within {grace:?}"
    );
}

#[tokio::test]
async fn the_health_probe_exits_zero_only_for_a_healthy_server() {
    let port = free_port();
    let idp = TestIdp::start(registered_client(&format!("http://127.0.0.1:{port}"))).await;
    let _app = AppProcess::start(port, &idp.endpoint());
    let probe = |host: &str, port: u16| {
        Command::new(env!("CARGO_BIN_EXE_logto-bookstore"))
            .arg("healthcheck")
            .env_clear()
            .env("HOST", host)
            .env("PORT", port.to_string())
            .output()
            .expect("the probe runs")
    };

    assert!(probe("127.0.0.1", port).status.success());
    assert!(
        probe("0.0.0.0", port).status.success(),
        "a wildcard HOST is probed on loopback"
    );
    let down = probe("127.0.0.1", free_port());
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).starts_with("unhealthy: "));
}
