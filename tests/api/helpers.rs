//! `spawn_app`: the Bookstore on port 0, wired to the in-process IdP and, when asked, to a
//! real `redis-server` on a Unix socket. The generic helpers come from `test-support`.

use std::net::TcpListener;
use std::sync::Arc;

use logto_bookstore::configuration::Settings;
use logto_bookstore::startup::Application;
use logto_bookstore::state::{SESSION_COOKIE_NAME, SIGN_IN_COOKIE_NAME};
use logto_client::LogtoConfig;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::{Response, StatusCode};
use url::Url;

pub use test_support::browser::{
    assert_cookies_fit_in_a_browser, browser, csrf_token, location, query_pairs, query_value,
    set_cookies,
};
use test_support::idp::{Endpoint, RegisteredClient, TestIdp};
use test_support::init_logging;
pub use test_support::redis::TestRedis;
pub use test_support::{Store, timing_sensitive};

pub const APP_ID: &str = "bookstore-test";
pub const APP_SECRET: &str = "bookstore-test-secret";
pub const API_RESOURCE: &str = "https://api.bookstore.example";

/// The app under test, its IdP, its Redis (with the Redis store) and a browser-like client.
pub struct TestApp {
    pub address: String,
    /// `None` while the app runs against an IdP that is down.
    idp: Option<TestIdp>,
    pub redis: Option<TestRedis>,
    /// Keeps cookies like a browser and never follows redirects, so each hop can be checked.
    pub client: reqwest::Client,
    pub cookies: Arc<Jar>,
}

/// Starts the app with `store`, against a fresh IdP.
pub async fn spawn_app(store: Store) -> TestApp {
    spawn_app_with(store, |_| {}).await
}

/// Like [`spawn_app`], with the Logto client's configuration adjusted first.
pub async fn spawn_app_with(store: Store, adjust_logto: impl FnOnce(&mut LogtoConfig)) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port for the app");
    let port = listener.local_addr().expect("the app's address").port();
    let address = format!("http://127.0.0.1:{port}");
    let idp = TestIdp::start(registered_client(&address)).await;
    let endpoint = idp.endpoint();
    spawn_app_on(listener, store, &endpoint, Some(idp), adjust_logto).await
}

/// Like [`spawn_app`], with these settings added to the app's environment.
pub async fn spawn_app_with_env(store: Store, extra_env: &[(&'static str, &str)]) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port for the app");
    let port = listener.local_addr().expect("the app's address").port();
    let idp = TestIdp::start(registered_client(&format!("http://127.0.0.1:{port}"))).await;
    let endpoint = idp.endpoint();
    let redis = (store == Store::Redis).then(TestRedis::start);
    spawn_app_with_redis(listener, redis, &endpoint, Some(idp), extra_env, |_| {}).await
}

/// Starts the app on `listener` with `logto_endpoint`, where `idp` runs (or nothing does).
pub async fn spawn_app_on(
    listener: TcpListener,
    store: Store,
    logto_endpoint: &str,
    idp: Option<TestIdp>,
    adjust_logto: impl FnOnce(&mut LogtoConfig),
) -> TestApp {
    let redis = (store == Store::Redis).then(TestRedis::start);
    spawn_app_with_redis(listener, redis, logto_endpoint, idp, &[], adjust_logto).await
}

/// Starts the app with its own IdP on `redis` (for example a persistent one).
pub async fn spawn_app_on_redis(redis: TestRedis) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port for the app");
    let port = listener.local_addr().expect("the app's address").port();
    let idp = TestIdp::start(registered_client(&format!("http://127.0.0.1:{port}"))).await;
    let endpoint = idp.endpoint();
    spawn_app_with_redis(listener, Some(redis), &endpoint, Some(idp), &[], |_| {}).await
}

async fn spawn_app_with_redis(
    listener: TcpListener,
    redis: Option<TestRedis>,
    logto_endpoint: &str,
    idp: Option<TestIdp>,
    extra_env: &[(&'static str, &str)],
    adjust_logto: impl FnOnce(&mut LogtoConfig),
) -> TestApp {
    init_logging();
    let port = listener.local_addr().expect("the app's address").port();
    let address = format!("http://127.0.0.1:{port}");

    let mut env = vec![
        ("LOGTO_ENDPOINT", logto_endpoint.to_owned()),
        ("LOGTO_APP_ID", APP_ID.to_owned()),
        ("LOGTO_APP_SECRET", APP_SECRET.to_owned()),
        ("BASE_URL", address.clone()),
        (
            "LOGTO_SCOPES",
            "email urn:logto:scope:organizations read:books".to_owned(),
        ),
        ("LOGTO_SOCIAL_CONNECTORS", "github,xiaomi".to_owned()),
        ("LOGTO_EMAIL_SIGN_IN", "true".to_owned()),
        ("LOGTO_RESOURCES", API_RESOURCE.to_owned()),
    ];
    if let Some(redis) = &redis {
        env.push(("SESSION_STORE", "redis".to_owned()));
        env.push(("REDIS_URL", redis.url()));
    }
    env.extend(
        extra_env
            .iter()
            .map(|(name, value)| (*name, (*value).to_owned())),
    );
    serve_app(listener, &env, adjust_logto).await;

    let cookies = Arc::new(Jar::default());
    let client = browser(Arc::clone(&cookies));
    let app = TestApp {
        address,
        idp,
        redis,
        client,
        cookies,
    };
    app.wait_until_logto_is_loaded().await;
    app
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

/// The client registration the IdP needs for an app at `address`.
pub fn registered_client(address: &str) -> RegisteredClient {
    RegisteredClient {
        client_id: APP_ID.to_owned(),
        client_secret: APP_SECRET.to_owned(),
        redirect_uri: format!("{address}/callback"),
        post_logout_redirect_uri: format!("{address}/"),
    }
}

impl TestApp {
    /// The IdP the app signs in with.
    pub fn idp(&self) -> &TestIdp {
        self.idp
            .as_ref()
            .expect("this app was started without a running IdP")
    }

    /// `GET` a path of the app.
    pub async fn get(&self, path: &str) -> Response {
        self.get_url(&format!("{}{path}", self.address)).await
    }

    /// `GET` a path with the browser's cookies in a task of its own, to overlap it with others.
    pub fn get_in_background(
        &self,
        path: &str,
    ) -> tokio::task::JoinHandle<Result<StatusCode, reqwest::Error>> {
        let (client, url) = (self.client.clone(), format!("{}{path}", self.address));
        tokio::spawn(async move {
            client
                .get(url)
                .send()
                .await
                .map(|response| response.status())
        })
    }

    /// `GET` a path with exactly this `Cookie` header, bypassing the browser's cookie jar.
    pub async fn get_with_cookie(&self, path: &str, cookie: &str) -> Response {
        reqwest::Client::new()
            .get(format!("{}{path}", self.address))
            .header("cookie", cookie)
            .send()
            .await
            .expect("the request is answered")
    }

    /// `GET` any URL (the app's or the IdP's) with the browser's cookies.
    pub async fn get_url(&self, url: &str) -> Response {
        self.client
            .get(url)
            .send()
            .await
            .expect("the request is answered")
    }

    /// `GET /sign-in` and follow it to the IdP, which redirects back with a code: returns
    /// the callback URL the browser would open.
    pub async fn authorize(&self) -> String {
        let sign_in = self.get("/sign-in").await;
        assert_eq!(
            sign_in.status(),
            StatusCode::SEE_OTHER,
            "/sign-in redirects to Logto"
        );
        let at_idp = self.get_url(&location(&sign_in)).await;
        assert_eq!(
            at_idp.status(),
            StatusCode::SEE_OTHER,
            "the IdP redirects back"
        );
        let callback = location(&at_idp);
        assert!(callback.starts_with(&format!("{}/callback?", self.address)));
        callback
    }

    /// Signs in through the whole flow and returns the callback's response.
    pub async fn sign_in(&self) -> Response {
        let callback = self.authorize().await;
        self.get_url(&callback).await
    }

    /// Signs out as the page's form would: `POST /sign-out` with the session's CSRF token.
    pub async fn sign_out(&self) -> Response {
        let page = self.home_page().await;
        let token = csrf_token(&page).expect("a signed-in page carries the sign-out form");
        self.client
            .post(format!("{}/sign-out", self.address))
            .form(&[("csrf_token", token)])
            .send()
            .await
            .expect("the request is answered")
    }

    /// The home page's HTML.
    pub async fn home_page(&self) -> String {
        let response = self.get("/").await;
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.expect("a page body")
    }

    /// The session cookie the browser holds, as `name=value`.
    pub fn session_cookie(&self) -> Option<String> {
        self.cookie(SESSION_COOKIE_NAME)
    }

    /// The sign-in attempts cookie the browser holds, as `name=value`.
    pub fn sign_in_attempts_cookie(&self) -> Option<String> {
        self.cookie(SIGN_IN_COOKIE_NAME)
    }

    fn cookie(&self, name: &str) -> Option<String> {
        let url = Url::parse(&self.address).expect("the app's URL");
        let header = self.cookies.cookies(&url)?;
        let header = header.to_str().expect("ASCII cookies");
        header
            .split("; ")
            .find(|cookie| cookie.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// Sessions in Redis (0 with the cookie store).
    pub async fn stored_sessions(&self) -> usize {
        match &self.redis {
            Some(redis) => redis.session_keys().await,
            None => 0,
        }
    }

    /// Startup loads discovery and keys in the background; wait for that load so that request
    /// counts at the IdP are deterministic. `/readyz` waits for the load in flight (or makes
    /// it) and answers once the keys are cached.
    async fn wait_until_logto_is_loaded(&self) {
        let Some(idp) = &self.idp else { return };
        let readiness = self
            .get("/readyz")
            .await
            .text()
            .await
            .expect("a readiness body");
        assert!(
            idp.request_count(Endpoint::Jwks) > 0,
            "the app did not load Logto's discovery document and keys at start-up: {readiness}"
        );
    }
}

/// A free port on the loopback interface.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}
