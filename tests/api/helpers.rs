//! `spawn_app`: the Bookstore on port 0, wired to the in-process IdP and, when asked, to a
//! real `redis-server` on a Unix socket. The rest comes from `test-support`.

use std::net::TcpListener;

use logto_bookstore::configuration::Settings;
use logto_bookstore::startup::Application;
use logto_bookstore::state::{REDIS_KEY_PREFIX, SESSION_COOKIE_NAME, SIGN_IN_COOKIE_NAME};
use logto_client::LogtoConfig;
use test_support::app::AppShape;

pub use test_support::app::{
    API_RESOURCE, APP_ID, APP_SECRET, TestApp, free_port, registered_client,
};
pub use test_support::browser::{
    browser, csrf_token, location, query_pairs, query_value, set_cookies,
};
pub use test_support::redis::TestRedis;
pub use test_support::{Store, timing_sensitive};

/// The Bookstore's cookies and Redis keys; `/readyz` answers once Logto is loaded.
const BOOKSTORE: AppShape = AppShape {
    session_cookie: SESSION_COOKIE_NAME,
    sign_in_cookie: SIGN_IN_COOKIE_NAME,
    redis_key_prefix: REDIS_KEY_PREFIX,
    ready_path: "/readyz",
};

test_support::spawn_functions!(serve_bookstore, LogtoConfig, BOOKSTORE);

async fn serve_bookstore(
    listener: TcpListener,
    env: Vec<(&'static str, String)>,
    adjust_logto: impl FnOnce(&mut LogtoConfig),
) {
    serve_app(listener, &env, adjust_logto).await;
}

/// Starts one instance of the app on `listener`, with these settings as its environment.
pub async fn serve_app(
    listener: TcpListener,
    env: &[(&str, String)],
    adjust_logto: impl FnOnce(&mut LogtoConfig),
) {
    let settings = Settings::from_lookup(|name| {
        env.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
    })
    .expect("valid test settings");
    let application = Application::build_with_logto(settings, listener, adjust_logto)
        .await
        .expect("the app builds");
    tokio::spawn(application.run_until_stopped());
}
