//! An app under test, as a browser sees it: its address, the IdP and Redis it uses, and a
//! client that keeps cookies. [`spawn_functions!`](crate::spawn_functions) gives a test crate
//! its `spawn_app*` functions for its own app.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;

use reqwest::cookie::{CookieStore, Jar};
use reqwest::{Response, StatusCode};
use url::Url;

use crate::browser::{browser, csrf_token, location};
use crate::idp::{Endpoint, RegisteredClient, TestIdp};
use crate::redis::TestRedis;
use crate::{Store, init_logging};

/// The client id the apps under test are registered with.
pub const APP_ID: &str = "bookstore-test";
/// Their client secret.
pub const APP_SECRET: &str = "bookstore-test-secret";
/// The scopes they ask for beyond the reserved ones (`LOGTO_SCOPES`).
pub const SCOPES: &str = "email urn:logto:scope:organizations read:books";
/// The API resource they ask tokens for (`LOGTO_RESOURCES`).
pub const API_RESOURCE: &str = "https://api.bookstore.example";

/// What differs between the apps under test: their cookies, their Redis keys, and the page
/// that answers once Logto's documents are loaded.
#[derive(Debug, Clone, Copy)]
pub struct AppShape {
    /// The session cookie's name.
    pub session_cookie: &'static str,
    /// The sign-in attempts cookie's name.
    pub sign_in_cookie: &'static str,
    /// What the app's Redis keys start with.
    pub redis_key_prefix: &'static str,
    /// A path that answers after loading Logto's discovery document and keys.
    pub ready_path: &'static str,
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

/// A free port on the loopback interface.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// How one app under test starts: where it listens, which Logto and Redis it uses, and
/// settings added to its environment.
pub struct Launch {
    listener: TcpListener,
    logto_endpoint: String,
    idp: Option<TestIdp>,
    redis: Option<TestRedis>,
    extra_env: Vec<(&'static str, String)>,
}

impl Launch {
    /// On a free port, with a fresh IdP, and a fresh Redis for the Redis store.
    pub async fn new(store: Store) -> Self {
        let redis = (store == Store::Redis).then(TestRedis::start);
        Self::with_redis(redis).await
    }

    /// On a free port, with a fresh IdP, on `redis` (a persistent one, for example).
    pub async fn on_redis(redis: TestRedis) -> Self {
        Self::with_redis(Some(redis)).await
    }

    async fn with_redis(redis: Option<TestRedis>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port for the app");
        let port = listener.local_addr().expect("the app's address").port();
        let idp = TestIdp::start(registered_client(&format!("http://127.0.0.1:{port}"))).await;
        Self {
            listener,
            logto_endpoint: idp.endpoint(),
            idp: Some(idp),
            redis,
            extra_env: Vec::new(),
        }
    }

    /// On `listener`, with Logto at `logto_endpoint`, where `idp` runs (or nothing does).
    pub fn on(
        listener: TcpListener,
        store: Store,
        logto_endpoint: &str,
        idp: Option<TestIdp>,
    ) -> Self {
        Self {
            listener,
            logto_endpoint: logto_endpoint.to_owned(),
            idp,
            redis: (store == Store::Redis).then(TestRedis::start),
            extra_env: Vec::new(),
        }
    }

    /// With these settings added to the environment (they win).
    pub fn with_env(mut self, extra_env: &[(&'static str, &str)]) -> Self {
        self.extra_env.extend(
            extra_env
                .iter()
                .map(|(name, value)| (*name, (*value).to_owned())),
        );
        self
    }

    /// Starts the app with `serve(listener, environment)` and waits until it has loaded
    /// Logto's documents.
    pub async fn start<F, Fut>(self, shape: AppShape, serve: F) -> TestApp
    where
        F: FnOnce(TcpListener, Vec<(&'static str, String)>) -> Fut,
        Fut: Future<Output = ()>,
    {
        init_logging();
        let port = self
            .listener
            .local_addr()
            .expect("the app's address")
            .port();
        let address = format!("http://127.0.0.1:{port}");
        let redis = self
            .redis
            .map(|redis| redis.with_key_prefix(shape.redis_key_prefix));
        let mut env = vec![
            ("LOGTO_ENDPOINT", self.logto_endpoint),
            ("LOGTO_APP_ID", APP_ID.to_owned()),
            ("LOGTO_APP_SECRET", APP_SECRET.to_owned()),
            ("BASE_URL", address.clone()),
            ("LOGTO_SCOPES", SCOPES.to_owned()),
            ("LOGTO_SOCIAL_CONNECTORS", "github,xiaomi".to_owned()),
            ("LOGTO_EMAIL_SIGN_IN", "true".to_owned()),
            ("LOGTO_RESOURCES", API_RESOURCE.to_owned()),
        ];
        if let Some(redis) = &redis {
            env.push(("SESSION_STORE", "redis".to_owned()));
            env.push(("REDIS_URL", redis.url()));
        }
        for (name, value) in self.extra_env {
            match env.iter_mut().find(|(known, _)| *known == name) {
                Some(setting) => setting.1 = value,
                None => env.push((name, value)),
            }
        }
        serve(self.listener, env).await;

        let cookies = Arc::new(Jar::default());
        let app = TestApp {
            address,
            idp: self.idp,
            redis,
            client: browser(Arc::clone(&cookies)),
            cookies,
            shape,
        };
        app.wait_until_logto_is_loaded().await;
        app
    }
}

/// Defines `spawn_app`, `signed_in_app`, `signed_in_book_club_member`, `spawn_app_with`, `spawn_app_with_env`, `spawn_app_on` and
/// `spawn_app_on_redis` in the calling module, for the app that
/// `$serve(listener, &environment, adjust_logto)` starts, whose configuration type is
/// `$config` and whose shape is `$shape`.
#[macro_export]
macro_rules! spawn_functions {
    ($serve:path, $config:ty, $shape:expr) => {
        /// Starts the app with `store`, against a fresh IdP.
        pub async fn spawn_app(store: $crate::Store) -> $crate::app::TestApp {
            spawn_app_with(store, |_| {}).await
        }

        /// Starts the app with `store` and signs in.
        pub async fn signed_in_app(store: $crate::Store) -> $crate::app::TestApp {
            let app = spawn_app(store).await;
            assert_eq!(app.sign_in().await.status(), reqwest::StatusCode::SEE_OTHER);
            assert!(app.home_page().await.contains("Signed in as"));
            app
        }

        /// Starts the app with `store`, asking also for the book club members' organization
        /// permissions, and signs in Alice, a member of the book club (`org_bookclub`).
        pub async fn signed_in_book_club_member(store: $crate::Store) -> $crate::app::TestApp {
            let scopes = format!(
                "{} {}",
                $crate::app::SCOPES,
                $crate::idp::ORGANIZATION_MEMBER_PERMISSIONS
            );
            let app = spawn_app_with_env(store, &[("LOGTO_SCOPES", &scopes)]).await;
            app.idp()
                .set_user($crate::idp::TestUser::alice().in_organizations(&["org_bookclub"]));
            assert_eq!(app.sign_in().await.status(), reqwest::StatusCode::SEE_OTHER);
            app
        }

        /// Like [`spawn_app`], with the Logto client's configuration adjusted first.
        pub async fn spawn_app_with(
            store: $crate::Store,
            adjust_logto: impl FnOnce(&mut $config),
        ) -> $crate::app::TestApp {
            let launch = $crate::app::Launch::new(store).await;
            launch
                .start($shape, |listener, env| $serve(listener, env, adjust_logto))
                .await
        }

        /// Like [`spawn_app`], with these settings added to the app's environment.
        pub async fn spawn_app_with_env(
            store: $crate::Store,
            extra_env: &[(&'static str, &str)],
        ) -> $crate::app::TestApp {
            let launch = $crate::app::Launch::new(store).await.with_env(extra_env);
            launch
                .start($shape, |listener, env| $serve(listener, env, |_| {}))
                .await
        }

        /// Starts the app on `listener` with `logto_endpoint`, where `idp` runs (or
        /// nothing does).
        pub async fn spawn_app_on(
            listener: std::net::TcpListener,
            store: $crate::Store,
            logto_endpoint: &str,
            idp: Option<$crate::idp::TestIdp>,
            adjust_logto: impl FnOnce(&mut $config),
        ) -> $crate::app::TestApp {
            $crate::app::Launch::on(listener, store, logto_endpoint, idp)
                .start($shape, |listener, env| $serve(listener, env, adjust_logto))
                .await
        }

        /// Starts the app with its own IdP on `redis` (for example a persistent one).
        pub async fn spawn_app_on_redis(redis: $crate::redis::TestRedis) -> $crate::app::TestApp {
            let launch = $crate::app::Launch::on_redis(redis).await;
            launch
                .start($shape, |listener, env| $serve(listener, env, |_| {}))
                .await
        }
    };
}

/// The app under test, its IdP, its Redis (with the Redis store) and a browser-like client.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// `None` while the app runs against an IdP that is down.
    idp: Option<TestIdp>,
    /// The app's Redis, with the Redis store.
    pub redis: Option<TestRedis>,
    /// Keeps cookies like a browser and never follows redirects, so each hop can be checked.
    pub client: reqwest::Client,
    /// The browser's cookies.
    pub cookies: Arc<Jar>,
    shape: AppShape,
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

    /// The body of `GET path`, whatever its status: for tests that read a page.
    pub async fn page_text(&self, path: &str) -> String {
        self.get(path).await.text().await.expect("the body is read")
    }

    /// `method` on a path with the browser's cookies and these headers.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("the request is answered")
    }

    /// `POST` this form to a path with the browser's cookies, as the app's own page would.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(format!("{}{path}", self.address))
            .form(form)
            .send()
            .await
            .expect("the request is answered")
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

    /// The session cookie's name.
    pub fn session_cookie_name(&self) -> &'static str {
        self.shape.session_cookie
    }

    /// The sign-in attempts cookie's name.
    pub fn sign_in_cookie_name(&self) -> &'static str {
        self.shape.sign_in_cookie
    }

    /// The session cookie the browser holds, as `name=value`.
    pub fn session_cookie(&self) -> Option<String> {
        self.cookie(self.shape.session_cookie)
    }

    /// The sign-in attempts cookie the browser holds, as `name=value`.
    pub fn sign_in_attempts_cookie(&self) -> Option<String> {
        self.cookie(self.shape.sign_in_cookie)
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
    /// counts at the IdP are deterministic. The ready page waits for the load in flight (or
    /// makes it) and answers once the keys are cached.
    async fn wait_until_logto_is_loaded(&self) {
        let Some(idp) = &self.idp else { return };
        let readiness = self
            .get(self.shape.ready_path)
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
