//! Faults around the whole Bookstore, with real processes: a frozen Redis (its probes stay
//! alive) and a restarted app. The faults that sign-in itself handles (a stopped or restarted
//! Redis, a slow or closing Logto, Logto down) are pinned by logto-actix's tests.

use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{
    Store, TestRedis, free_port, registered_client, signed_in_app, timing_sensitive,
};
use crate::operations::AppProcess;

use test_support::browser::{is_signed_in, signed_in_browser};
use test_support::for_both_stores;
use test_support::idp::TestIdp;

for_both_stores!(users_stay_signed_in_when_the_app_restarts_with_a_fixed_secret);

#[tokio::test]
async fn a_frozen_redis_fails_pages_in_under_a_second_and_they_recover() {
    let _timing = timing_sensitive().await;
    let app = signed_in_app(Store::Redis).await;
    let redis = app.redis.as_ref().unwrap();

    redis.pause();
    let started = Instant::now();
    let during = app.get("/").await;
    let took = started.elapsed();
    assert_eq!(during.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(took < Duration::from_secs(1), "answered after {took:?}");
    assert!(
        during
            .text()
            .await
            .unwrap()
            .contains("Session store unavailable")
    );
    assert_eq!(
        app.get("/healthz").await.status(),
        StatusCode::OK,
        "still alive"
    );
    assert_eq!(
        app.get("/readyz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    redis.resume();
    assert!(
        app.home_page().await.contains("Signed in as"),
        "nothing was lost"
    );
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
}

async fn users_stay_signed_in_when_the_app_restarts_with_a_fixed_secret(store: Store) {
    let port = free_port();
    let address = format!("http://127.0.0.1:{port}");
    let idp = TestIdp::start(registered_client(&address)).await;
    let redis = (store == Store::Redis).then(TestRedis::start);
    let redis_url = redis.as_ref().map(TestRedis::url).unwrap_or_default();
    let settings: Vec<(&str, &str)> = match store {
        Store::Cookie => vec![("SESSION_STORE", "cookie")],
        Store::Redis => vec![("SESSION_STORE", "redis"), ("REDIS_URL", &redis_url)],
    };
    let start = || AppProcess::start_with(port, &idp.endpoint(), "warn", Stdio::null(), &settings);
    let mut first = start();
    let browser = signed_in_browser(&address).await;

    first.terminate();
    first.exit_within(Duration::from_secs(10));
    let _second = start();

    assert!(is_signed_in(&browser, &address).await);
}
