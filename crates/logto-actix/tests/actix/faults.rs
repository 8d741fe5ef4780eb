//! Faults of the parts around the product, with real processes: a stopped or restarted
//! Redis, a slow identity provider, and a Logto that closes idle connections.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::app::{
    Store, TestApp, TestRedis, location, registered_client, signed_in_app, spawn_app_on,
    spawn_app_on_redis, spawn_app_with, timing_sensitive,
};
use test_support::browser::{is_signed_in, signed_in_browser};
use test_support::idp::TestIdp;
use test_support::poll::until;

#[tokio::test]
async fn sessions_survive_a_redis_restart_with_its_append_only_file() {
    let mut app: TestApp = spawn_app_on_redis(TestRedis::start_persistent()).await;
    let mut browsers = Vec::new();
    for _ in 0..5 {
        browsers.push(signed_in_browser(&app.address).await);
    }

    app.redis.as_mut().unwrap().restart_gracefully();
    // The app reconnects on its own; until then its pages are 503s, which lose nothing.
    until(
        "the app to reach the restarted Redis",
        Duration::from_secs(10),
        || async { (app.get("/readyz").await.status() == StatusCode::OK).then_some(()) },
    )
    .await;

    for browser in &browsers {
        assert!(is_signed_in(browser, &app.address).await, "0 sessions lost");
    }
}

#[tokio::test]
async fn a_slow_identity_provider_gets_a_clean_error_and_no_hung_worker() {
    let _timing = timing_sensitive().await;
    let app = spawn_app_with(Store::Cookie, |logto| {
        logto.http_timeout = Duration::from_millis(700);
        logto.provider_backoff.initial = Duration::from_millis(100);
    })
    .await;
    let callback_url = app.authorize().await;
    app.idp().set_token_delay(Duration::from_secs(3));

    let slow = tokio::spawn({
        let client = app.client.clone();
        async move {
            let started = Instant::now();
            let response = client.get(callback_url).send().await.unwrap();
            (
                response.status(),
                response.text().await.unwrap(),
                started.elapsed(),
            )
        }
    });
    // Meanwhile the app keeps answering.
    for _ in 0..5 {
        let started = Instant::now();
        assert_eq!(app.get("/").await.status(), StatusCode::OK);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "a worker is stuck"
        );
    }
    let (status, page, took) = slow.await.unwrap();

    // Timed out is unavailable (503); a bad answer would be a 502.
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.contains("Sign-in is unavailable"), "{page}");
    assert!(took < Duration::from_secs(2), "gave up after {took:?}");
    app.idp().set_token_delay(Duration::ZERO);
    // Logto is left alone for the backoff after the failure, then asked again.
    let sign_in = until(
        "sign-in to send browsers to Logto again",
        Duration::from_secs(5),
        || async {
            let response = app.get("/sign-in").await;
            (response.status() == StatusCode::SEE_OTHER).then_some(response)
        },
    )
    .await;
    let at_idp = app.get_url(&location(&sign_in)).await;
    let callback = app.get_url(&location(&at_idp)).await;
    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    assert!(app.home_page().await.contains("Signed in as"));
}

#[tokio::test]
async fn a_stopped_redis_fails_pages_quickly_too() {
    let _timing = timing_sensitive().await;
    let mut app = signed_in_app(Store::Redis).await;
    app.redis.as_mut().unwrap().stop();

    let started = Instant::now();
    assert_eq!(app.get("/").await.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < Duration::from_secs(1));
    let visitor = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let sign_in = visitor
        .get(format!("{}/sign-in", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(
        sign_in.status(),
        StatusCode::SEE_OTHER,
        "a visitor without a session starts a sign-in without Redis"
    );
}

/// A TCP relay to a server on `127.0.0.1:upstream_port` that stands for a server closing idle
/// keep-alive connections after `server_idle_limit`, as Logto's Node.js server does after 5 s:
/// a request that arrives on a connection idle for longer is reset instead of relayed, as when
/// a client reuses a connection just as the server closes it.
struct IdleResettingRelay {
    port: u16,
    resets: Arc<std::sync::atomic::AtomicUsize>,
}

impl IdleResettingRelay {
    async fn start(upstream_port: u16, server_idle_limit: Duration) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let resets = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&resets);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let upstream = tokio::net::TcpStream::connect(("127.0.0.1", upstream_port))
                    .await
                    .unwrap();
                let counter = Arc::clone(&counter);
                tokio::spawn(relay(client, upstream, server_idle_limit, counter));
            }
        });
        Self { port, resets }
    }

    fn resets(&self) -> usize {
        self.resets.load(std::sync::atomic::Ordering::SeqCst)
    }
}

async fn relay(
    client: tokio::net::TcpStream,
    upstream: tokio::net::TcpStream,
    server_idle_limit: Duration,
    resets: Arc<std::sync::atomic::AtomicUsize>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut client_reader, mut client_writer) = client.into_split();
    let (mut upstream_reader, mut upstream_writer) = upstream.into_split();
    let mut last_traffic = Instant::now();
    let (mut from_client, mut from_upstream) = ([0u8; 8192], [0u8; 8192]);
    loop {
        tokio::select! {
            read = client_reader.read(&mut from_client) => {
                let Ok(n @ 1..) = read else { return };
                if last_traffic.elapsed() > server_idle_limit {
                    resets.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let client = client_reader.reunite(client_writer).unwrap();
                    client.set_zero_linger().unwrap();
                    return;
                }
                if upstream_writer.write_all(&from_client[..n]).await.is_err() { return }
            }
            read = upstream_reader.read(&mut from_upstream) => {
                let Ok(n @ 1..) = read else { return };
                if client_writer.write_all(&from_upstream[..n]).await.is_err() { return }
            }
        }
        last_traffic = Instant::now();
    }
}

#[tokio::test]
async fn a_connection_to_logto_is_not_reused_once_logto_may_be_closing_it() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let idp = TestIdp::start(registered_client(&address)).await;
    let logto = IdleResettingRelay::start(idp.port(), Duration::from_millis(600)).await;
    let internal = url::Url::parse(&format!("http://127.0.0.1:{}/", logto.port)).unwrap();
    let endpoint = idp.endpoint();
    let app = spawn_app_on(listener, Store::Cookie, &endpoint, Some(idp), |config| {
        config.internal_endpoint = Some(internal);
        // Below the server's limit, as the 4 s default is below Node's 5 s.
        config.idle_connection_timeout = Duration::from_millis(300);
    })
    .await;
    assert_eq!(app.sign_in().await.status(), StatusCode::SEE_OTHER);

    // The app's connections to Logto sit unused past Logto's limit.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let callback = app.get_url(&app.authorize().await).await;

    assert_eq!(
        callback.status(),
        StatusCode::SEE_OTHER,
        "the code exchange went out on a connection Logto was closing"
    );
    assert_eq!(logto.resets(), 0);
}
