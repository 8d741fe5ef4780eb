//! `spawn_app`: the Bookstore on port 0, wired to the in-process IdP and, when asked, to a
//! real `redis-server` started on a free port.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Once};
use std::time::Duration;

use logto_bookstore::configuration::Settings;
use logto_bookstore::logto::LogtoConfig;
use logto_bookstore::session::{MAX_COOKIE_BYTES, SESSION_COOKIE_NAME, SIGN_IN_COOKIE_NAME};
use logto_bookstore::startup::Application;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};
use url::Url;

use crate::test_idp::{RegisteredClient, TestIdp};

pub const APP_ID: &str = "bookstore-test";
pub const APP_SECRET: &str = "bookstore-test-secret";
pub const API_RESOURCE: &str = "https://api.bookstore.example";

/// Which session store the app under test uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Cookie,
    Redis,
}

/// Generates one test per session store from an `async fn(Store)`.
#[macro_export]
macro_rules! for_both_stores {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test]
                async fn cookie() {
                    super::$scenario($crate::helpers::Store::Cookie).await
                }

                #[tokio::test]
                async fn redis() {
                    super::$scenario($crate::helpers::Store::Redis).await
                }
            }
        )*
    };
}

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

/// A client that behaves like a browser for these tests: it keeps cookies in `cookies` (by
/// host, so across ports) and shows redirects instead of following them.
pub fn browser(cookies: Arc<Jar>) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(cookies)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a test HTTP client")
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

    /// Startup loads discovery and keys in the background; wait so that request counts at
    /// the IdP are deterministic.
    async fn wait_until_logto_is_loaded(&self) {
        use crate::test_idp::Endpoint;
        let Some(idp) = &self.idp else { return };
        for _ in 0..200 {
            if idp.request_count(Endpoint::Jwks) > 0 {
                // The JWKS response may still be in flight to the app.
                tokio::time::sleep(Duration::from_millis(20)).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the app did not load Logto's discovery document and keys at start-up");
    }
}

/// The CSRF token in a page's sign-out form.
pub fn csrf_token(page: &str) -> Option<String> {
    let start = page.find(r#"name="csrf_token" value=""#)? + r#"name="csrf_token" value=""#.len();
    let end = page[start..].find('"')?;
    Some(page[start..start + end].to_owned())
}

/// The `Location` header of a redirect.
pub fn location(response: &Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .expect("a redirect has a Location")
        .to_str()
        .expect("an ASCII Location")
        .to_owned()
}

/// The `Set-Cookie` headers of a response.
pub fn set_cookies(response: &Response) -> Vec<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|value| value.to_str().expect("an ASCII cookie").to_owned())
        .collect()
}

/// The query pairs of a URL.
pub fn query_pairs(url: &str) -> Vec<(String, String)> {
    Url::parse(url)
        .expect("a URL")
        .query_pairs()
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect()
}

/// The single value of `name` in `pairs`.
pub fn query_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let mut values = pairs.iter().filter(|(key, _)| key == name);
    let value = values.next().map(|(_, value)| value.as_str());
    assert!(values.next().is_none(), "{name} appears once");
    value
}

/// Browsers keep a cookie only when `name=value` is at most 4096 bytes.
pub fn assert_cookies_fit_in_a_browser(response: &Response) {
    for cookie in set_cookies(response) {
        let name_value = cookie.split(';').next().unwrap_or_default();
        assert!(
            name_value.len() <= MAX_COOKIE_BYTES,
            "a {}-byte cookie would be dropped by the browser",
            name_value.len()
        );
    }
}

/// Held by the soak, which loads both cores for a minute, and by the tests that assert how
/// fast something answers: they never run at the same time.
pub async fn timing_sensitive() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// A free port on the loopback interface.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

fn init_logging() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let _ = env_logger::builder().is_test(true).try_init();
    });
}

/// A real `redis-server` (Debian's `redis-server` package) on a free loopback port, without
/// persistence. It is killed, by its PID, when dropped.
pub struct TestRedis {
    port: u16,
    process: Option<Child>,
    /// With persistence: the append-only file's folder, removed on drop.
    data_dir: Option<PathBuf>,
}

impl TestRedis {
    /// Starts Redis on a free port. Fails the test, with instructions, when Redis is missing.
    pub fn start() -> Self {
        let mut redis = Self {
            port: free_port(),
            process: None,
            data_dir: None,
        };
        redis.restart();
        redis
    }

    /// Starts Redis with an append-only file (`appendfsync everysec`) in a folder of its own,
    /// which survives [`restart`](Self::restart).
    pub fn start_persistent() -> Self {
        let port = free_port();
        let data_dir = std::env::temp_dir().join(format!("bookstore-redis-{port}"));
        std::fs::create_dir_all(&data_dir).expect("a Redis data folder");
        let mut redis = Self {
            port,
            process: None,
            data_dir: Some(data_dir),
        };
        redis.restart();
        redis
    }

    /// Freezes the server (SIGSTOP): connections stay open but nothing answers, as with a
    /// Redis behind a dead network path.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let process = self.process.as_ref().expect("redis-server runs");
        let status = Command::new("kill")
            .args([signal, &process.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal}");
    }

    /// Stops the server as an operator would (SIGTERM: it flushes its append-only file),
    /// then starts it again on the same port and data.
    pub fn restart_gracefully(&mut self) {
        if let Some(mut process) = self.process.take() {
            let terminated = Command::new("kill")
                .args(["-TERM", &process.id().to_string()])
                .status()
                .expect("kill runs");
            assert!(terminated.success());
            process.wait().expect("redis-server exits");
        }
        self.restart();
    }

    /// `redis://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops the server (a Redis outage). Its data is gone.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Starts the server again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let mut command = Command::new("redis-server");
        command.args(["--port", &self.port.to_string()]).args([
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ]);
        match &self.data_dir {
            Some(dir) => command
                .args(["--appendonly", "yes", "--appendfsync", "everysec", "--dir"])
                .arg(dir),
            None => command.args(["--appendonly", "no"]),
        };
        let process = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start redis-server ({error}). The Redis tests need Debian's \
                     redis-server package: run scripts/test, which installs it, or \
                     `apt-get install redis-server`"
                )
            });
        self.process = Some(process);
        for _ in 0..500 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server did not start listening on port {}", self.port);
    }

    async fn connect(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("a Redis URL")
            .get_multiplexed_async_connection()
            .await
            .expect("Redis answers")
    }

    /// How many sessions Redis holds (indexes, locks and token hand-offs not counted).
    pub async fn session_keys(&self) -> usize {
        self.keys("bookstore:session:*").await.len()
    }

    /// The keys matching `pattern`.
    pub async fn keys(&self, pattern: &str) -> Vec<String> {
        let mut connection = self.connect().await;
        redis::cmd("KEYS")
            .arg(pattern)
            .query_async(&mut connection)
            .await
            .expect("KEYS answers")
    }

    /// The remaining lifetime, in seconds, of every stored session.
    pub async fn session_ttls(&self) -> Vec<i64> {
        self.ttls_of("bookstore:session:*").await
    }

    /// The remaining lifetime, in seconds, of every key matching `pattern`.
    pub async fn ttls_of(&self, pattern: &str) -> Vec<i64> {
        let mut connection = self.connect().await;
        let mut ttls = Vec::new();
        for key in self.keys(pattern).await {
            let ttl: i64 = redis::cmd("TTL")
                .arg(&key)
                .query_async(&mut connection)
                .await
                .expect("TTL answers");
            ttls.push(ttl);
        }
        ttls
    }

    /// The signed-in user of the one stored session, as JSON.
    pub async fn session_user(&self) -> serde_json::Value {
        let (_, state) = self.only_session().await;
        let user = state["user"].as_str().expect("a signed-in session");
        serde_json::from_str(user).expect("the user is JSON")
    }

    /// Changes the user of the one stored session, keeping its TTL: what another instance's
    /// request would have written.
    pub async fn edit_session_user(&self, edit: impl FnOnce(&mut serde_json::Value)) {
        let (key, mut state) = self.only_session().await;
        let mut user = self.session_user().await;
        edit(&mut user);
        state["user"] = serde_json::Value::String(user.to_string());
        let mut connection = self.connect().await;
        let () = redis::cmd("SET")
            .arg(&key)
            .arg(state.to_string())
            .arg("KEEPTTL")
            .query_async(&mut connection)
            .await
            .expect("SET answers");
    }

    async fn only_session(&self) -> (String, serde_json::Value) {
        let keys = self.keys("bookstore:session:*").await;
        assert_eq!(keys.len(), 1, "one stored session");
        let mut connection = self.connect().await;
        let json: String = redis::cmd("GET")
            .arg(&keys[0])
            .query_async(&mut connection)
            .await
            .expect("GET answers");
        let state = serde_json::from_str(&json).expect("a session is JSON");
        (keys[0].clone(), state)
    }

    /// How many keys Redis holds.
    pub async fn key_count(&self) -> usize {
        let mut connection = self.connect().await;
        redis::cmd("DBSIZE")
            .query_async(&mut connection)
            .await
            .expect("DBSIZE answers")
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        // A paused server would ignore nothing but SIGKILL; thaw it anyway for a clean exit.
        if self.process.is_some() {
            let _ = Command::new("kill")
                .args([
                    "-CONT",
                    &self.process.as_ref().map_or(0, Child::id).to_string(),
                ])
                .status();
        }
        self.stop();
        if let Some(dir) = &self.data_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
