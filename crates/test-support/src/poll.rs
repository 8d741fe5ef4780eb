//! Waiting for something to happen: probe until it has, or fail at a deadline. This replaces
//! the fixed sleeps that stood for "long enough", which were slow when generous and flaky when
//! not.

use std::future::Future;
use std::time::{Duration, Instant};

/// How long to wait between two probes.
const PROBE_INTERVAL: Duration = Duration::from_millis(5);

/// Probes with `probe` until it returns `Some`, and returns that value; panics, saying what it
/// waited for, when `deadline` has passed first.
pub async fn until<T, F>(what: &str, deadline: Duration, mut probe: impl FnMut() -> F) -> T
where
    F: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            started.elapsed() < deadline,
            "waited {deadline:?} for {what}, in vain"
        );
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

/// Waits until `condition` holds; panics, saying what it waited for, when `deadline` has passed
/// first.
pub async fn eventually(what: &str, deadline: Duration, mut condition: impl FnMut() -> bool) {
    until(what, deadline, || {
        let holds = condition();
        async move { holds.then_some(()) }
    })
    .await
}

/// Like [`eventually`], from a synchronous test or thread.
pub fn eventually_blocking(what: &str, deadline: Duration, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < deadline,
            "waited {deadline:?} for {what}, in vain"
        );
        std::thread::sleep(PROBE_INTERVAL);
    }
}
