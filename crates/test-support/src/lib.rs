//! Test helpers shared by the Bookstore's tests (and, later, by the Logto crates' own tests).
//!
//! - [`idp`]: an in-process OpenID Connect provider shaped like Logto, with faults to inject;
//! - [`redis`]: a real `redis-server` on a Unix socket of its own, to pause, stop and restart;
//! - [`app`]: an app under test as a browser sees it, and the `spawn_app*` functions for it;
//! - [`browser`]: a browser-like HTTP client and the headers and pages it reads;
//! - [`process`]: a server in a process of its own, on a port that cannot race, ready when it
//!   says so, killed by its PID when dropped;
//! - [`poll`]: waiting for something to happen, until a deadline, instead of sleeping;
//! - [`for_both_stores!`]: one test per session store from one scenario.
//!
//! It depends on neither the app nor the Logto crates, so that any of their tests can use it.

pub mod app;
pub mod browser;
pub mod idp;
pub mod poll;
pub mod process;
pub mod redis;

use std::sync::Once;
use std::time::{SystemTime, UNIX_EPOCH};

/// Which session store the app under test uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// Sessions in an encrypted cookie.
    Cookie,
    /// Sessions in Redis, behind a signed cookie that holds the session key.
    Redis,
}

/// Generates one test per session store, `cookie` and `redis`, from an `async fn(Store)`.
///
/// ```ignore
/// for_both_stores!(signing_in_shows_the_name);
/// // On a multi-threaded runtime, for scenarios that block one worker:
/// for_both_stores!(multi_thread: fuzz_callback_queries);
/// ```
#[macro_export]
macro_rules! for_both_stores {
    (multi_thread: $($scenario:ident),* $(,)?) => {
        $crate::for_both_stores!(
            @with [tokio::test(flavor = "multi_thread", worker_threads = 2)] $($scenario),*
        );
    };
    (@with [$test:meta] $($scenario:ident),*) => {
        $(
            mod $scenario {
                #[$test]
                async fn cookie() {
                    super::$scenario($crate::Store::Cookie).await
                }

                #[$test]
                async fn redis() {
                    super::$scenario($crate::Store::Redis).await
                }
            }
        )*
    };
    ($($scenario:ident),* $(,)?) => {
        $crate::for_both_stores!(@with [tokio::test] $($scenario),*);
    };
}

/// Held by the soak, which loads both cores for a minute, and by the tests that assert how
/// fast something answers: they never run at the same time.
pub async fn timing_sensitive() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// The folder of the package whose tests are running, read when they run.
///
/// Not `env!("CARGO_MANIFEST_DIR")`: cargo reuses a test binary built in another checkout
/// that shares the target folder (a CI cache), and the path compiled in would be that one's.
pub fn package_root() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .expect("cargo test sets CARGO_MANIFEST_DIR")
        .into()
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since_epoch.as_secs()).expect("Unix time fits in i64")
}

/// Sends the `log` output of the code under test to the test's captured output, once.
pub fn init_logging() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let _ = env_logger::builder().is_test(true).try_init();
    });
}
