//! A bounded soak: two instances of the binary on one Redis behind nginx, under mixed traffic
//! for `BOOKSTORE_SOAK_SECS` (60 by default). Nothing fails, memory stays flat, and Redis holds
//! exactly the live sessions. It runs for a minute, so plain `cargo test` skips it and
//! `scripts/test` runs it as a step of its own: `cargo test --test api -- --ignored soak`.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::cookie::Jar;
use tokio::task::JoinSet;

use crate::helpers::{
    TestRedis, browser, csrf_token, free_port, location, registered_client, timing_sensitive,
};
use crate::operations::AppProcess;
use crate::scale_out::Nginx;
use test_support::idp::TestIdp;

/// Browsers that stay signed in for the whole soak.
const RESIDENT_USERS: usize = 8;
/// No worker sends more than this many requests, whatever the duration.
const MAX_REQUESTS_PER_WORKER: usize = 200_000;

fn soak_duration() -> Duration {
    let secs = std::env::var("BOOKSTORE_SOAK_SECS")
        .ok()
        .and_then(|secs| secs.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

/// A browser of its own, with its own cookies.
fn new_browser() -> reqwest::Client {
    browser(Arc::new(Jar::default()))
}

/// What went wrong during the soak, counted rather than panicking inside a worker.
#[derive(Default)]
struct Tally {
    requests: AtomicUsize,
    failures: AtomicUsize,
    server_errors: AtomicUsize,
    sign_ins: AtomicUsize,
}

impl Tally {
    /// Counts `response`, and whether it is what was expected.
    async fn check(
        &self,
        response: reqwest::Result<reqwest::Response>,
        expected: StatusCode,
        body_has: Option<&str>,
    ) -> Option<reqwest::Response> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let Ok(response) = response else {
            self.failures.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        if response.status().is_server_error() {
            self.server_errors.fetch_add(1, Ordering::Relaxed);
        }
        if response.status() != expected {
            self.failures.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        match body_has {
            None => Some(response),
            Some(text) => {
                let body = response.text().await.unwrap_or_default();
                if !body.contains(text) {
                    self.failures.fetch_add(1, Ordering::Relaxed);
                }
                None
            }
        }
    }

    /// A whole sign-in through the balancer; the browser is signed in when it returns true.
    async fn sign_in(&self, browser: &reqwest::Client, origin: &str) -> bool {
        let Some(sign_in) = self
            .check(
                browser.get(format!("{origin}/sign-in")).send().await,
                StatusCode::SEE_OTHER,
                None,
            )
            .await
        else {
            return false;
        };
        let Some(at_idp) = self
            .check(
                browser.get(location(&sign_in)).send().await,
                StatusCode::SEE_OTHER,
                None,
            )
            .await
        else {
            return false;
        };
        let ok = self
            .check(
                browser.get(location(&at_idp)).send().await,
                StatusCode::SEE_OTHER,
                None,
            )
            .await
            .is_some();
        if ok {
            self.sign_ins.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a 60 s soak: scripts/test runs it with `cargo test --test api -- --ignored soak`"]
async fn mixed_traffic_through_the_balancer_fails_nothing_and_leaks_nothing() {
    let _timing = timing_sensitive().await;
    let duration = soak_duration();
    let redis = TestRedis::start();
    let balancer_port = free_port();
    let origin = format!("http://127.0.0.1:{balancer_port}");
    let idp = TestIdp::start(registered_client(&origin)).await;
    let redis_url = redis.url();
    let settings = [
        ("SESSION_STORE", "redis"),
        ("REDIS_URL", redis_url.as_str()),
        ("BASE_URL", origin.as_str()),
    ];
    let (port_a, port_b) = (free_port(), free_port());
    let app_a = AppProcess::start_with(port_a, &idp.endpoint(), "warn", Stdio::null(), &settings);
    let app_b = AppProcess::start_with(port_b, &idp.endpoint(), "warn", Stdio::null(), &settings);
    let _nginx = Nginx::start(balancer_port, &[port_a, port_b]);

    let tally = Arc::new(Tally::default());
    let mut residents = Vec::new();
    for _ in 0..RESIDENT_USERS {
        let resident = new_browser();
        assert!(
            tally.sign_in(&resident, &origin).await,
            "a resident signs in"
        );
        residents.push(resident);
    }

    let deadline = Instant::now() + duration;
    let mut workers = JoinSet::new();
    for worker in 0..6 {
        let (tally, origin) = (Arc::clone(&tally), origin.clone());
        let residents = residents.clone();
        workers.spawn(async move {
            let anonymous = new_browser();
            for round in 0..MAX_REQUESTS_PER_WORKER {
                if Instant::now() >= deadline {
                    break;
                }
                match worker {
                    // Anonymous visitors.
                    0 | 1 => {
                        tally
                            .check(
                                anonymous.get(format!("{origin}/")).send().await,
                                StatusCode::OK,
                                Some("Not signed in"),
                            )
                            .await;
                    }
                    // Signed-in readers.
                    2 | 3 => {
                        let resident = &residents[round % residents.len()];
                        tally
                            .check(
                                resident.get(format!("{origin}/")).send().await,
                                StatusCode::OK,
                                Some("Signed in as"),
                            )
                            .await;
                    }
                    // Newcomers who sign in, look, and sign out.
                    _ => {
                        let newcomer = new_browser();
                        if !tally.sign_in(&newcomer, &origin).await {
                            continue;
                        }
                        let Ok(home) = newcomer.get(format!("{origin}/")).send().await else {
                            tally.failures.fetch_add(1, Ordering::Relaxed);
                            continue;
                        };
                        let page = home.text().await.unwrap_or_default();
                        let Some(csrf) = csrf_token(&page) else {
                            tally.failures.fetch_add(1, Ordering::Relaxed);
                            continue;
                        };
                        let sign_out = newcomer
                            .post(format!("{origin}/sign-out"))
                            .form(&[("csrf_token", csrf.as_str())])
                            .send()
                            .await;
                        tally.check(sign_out, StatusCode::SEE_OTHER, None).await;
                    }
                }
            }
        });
    }

    // Memory of both instances, once a second.
    let mut rss: Vec<(Duration, u64)> = Vec::new();
    let started = Instant::now();
    while Instant::now() < deadline {
        rss.push((
            started.elapsed(),
            rss_kib(app_a.child_pid) + rss_kib(app_b.child_pid),
        ));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    workers.join_all().await;

    let requests = tally.requests.load(Ordering::Relaxed);
    let sign_ins = tally.sign_ins.load(Ordering::Relaxed);
    eprintln!("soak: {requests} requests, {sign_ins} sign-ins in {duration:?}");
    assert!(
        requests > 1_000 && sign_ins > RESIDENT_USERS,
        "the soak did work: {requests} requests, {sign_ins} sign-ins"
    );
    assert_eq!(tally.server_errors.load(Ordering::Relaxed), 0, "no 5xx");
    assert_eq!(
        tally.failures.load(Ordering::Relaxed),
        0,
        "no error of any kind"
    );

    // Flat memory: the last third within 10 % of the first third.
    let third = duration / 3;
    let mean = |samples: Vec<u64>| samples.iter().sum::<u64>() / samples.len().max(1) as u64;
    let first = mean(
        rss.iter()
            .filter(|(at, _)| *at < third)
            .map(|(_, kib)| *kib)
            .collect(),
    );
    let last = mean(
        rss.iter()
            .filter(|(at, _)| *at >= duration - third)
            .map(|(_, kib)| *kib)
            .collect(),
    );
    eprintln!("soak: RSS of both instances {first} KiB in the first third, {last} KiB in the last");
    assert!(
        first > 0 && last * 10 <= first * 11,
        "RSS grew from {first} KiB to {last} KiB"
    );

    // Redis holds the residents' sessions and their index entries, nothing else.
    let sessions = redis.session_keys().await;
    assert_eq!(
        sessions, RESIDENT_USERS,
        "live sessions only: newcomers left nothing"
    );
    let index_keys = redis.key_count().await - sessions;
    assert!(
        index_keys <= RESIDENT_USERS + 1,
        "one sid set per resident and one sub set: {index_keys}"
    );
}
