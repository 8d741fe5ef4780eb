//! The examples, each run as its own process (the binary `cargo test` builds next to this one)
//! against the in-process Logto-shaped IdP, driven like a browser.

use std::sync::Arc;
use std::time::Duration;

use reqwest::cookie::{CookieStore, Jar};
use reqwest::{Response, StatusCode};
use test_support::browser::{browser, csrf_token, location, query_pairs, query_value, set_cookies};
use test_support::idp::{
    AccessTokenSpec, Endpoint, LogoutTokenSpec, MachineClient, TestIdp, TestUser,
};
use test_support::process::{ServerProcess, Started, example_binary, spare_port};
use test_support::redis::TestRedis;
use test_support::{Store, for_both_stores, init_logging};
use url::Url;

use crate::helpers::{API_RESOURCE, APP_ID, APP_SECRET, TestApp, registered_client, spawn_app};

/// What the example's session secret is in these tests (64 bytes or more, like the app's).
const SESSION_SECRET: &str =
    "examples-session-secret-examples-session-secret-examples-session-secret";
const SESSION_COOKIE: &str = "logto_session";
const ATTEMPTS_COOKIE: &str = "logto_sign_in";

/// An example's process, its IdP and where it listens.
struct Example {
    process: ServerProcess,
    idp: TestIdp,
    address: String,
    /// The Redis server of an example that keeps its sessions there.
    redis: Option<TestRedis>,
}

/// Starts `examples/{name}.rs`'s binary on a spare port, with an IdP that knows it.
async fn start_example(name: &str) -> Example {
    start_example_with(name, |_| Vec::new()).await
}

/// Like [`start_example`], with settings of `extra_env(address)` added last (they win).
async fn start_example_with(
    name: &str,
    extra_env: impl Fn(&str) -> Vec<(&'static str, String)>,
) -> Example {
    init_logging();
    let root = test_support::package_root();
    let source = root.join("examples").join(format!("{name}.rs"));
    let client_crate = root.join("crates/logto-client/src");
    let actix_crate = root.join("crates/logto-actix/src");
    let binary = example_binary(name, &[&source, &client_crate, &actix_crate]);
    for _ in 0..5 {
        let port = spare_port();
        let address = format!("http://127.0.0.1:{port}");
        let idp = TestIdp::start(registered_client(&address)).await;
        let mut env = vec![
            ("LOGTO_ENDPOINT", idp.endpoint()),
            ("LOGTO_APP_ID", APP_ID.to_owned()),
            ("LOGTO_APP_SECRET", APP_SECRET.to_owned()),
            ("LOGTO_SCOPES", "email".to_owned()),
            ("BASE_URL", address.clone()),
            ("HOST", "127.0.0.1".to_owned()),
            ("PORT", port.to_string()),
            ("SESSION_SECRET", SESSION_SECRET.to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ];
        env.extend(extra_env(&address));
        let ready = format!("listening on {address}");
        match ServerProcess::start(&binary, &env, &ready).await {
            Ok(process) => {
                return Example {
                    process,
                    idp,
                    address,
                    redis: None,
                };
            }
            Err(Started::AddressInUse) => idp.stop().await,
        }
    }
    panic!("five spare ports in a row were taken");
}

/// Starts `examples/minimal.rs` with its sessions in `store`.
async fn start_minimal(store: Store) -> Example {
    let redis = (store == Store::Redis).then(TestRedis::start);
    let redis_url = redis.as_ref().map(TestRedis::url);
    let mut example = start_example_with("minimal", |_| match &redis_url {
        Some(url) => vec![
            ("SESSION_STORE", "redis".to_owned()),
            ("REDIS_URL", url.clone()),
        ],
        None => Vec::new(),
    })
    .await;
    example.redis = redis;
    example
}

/// How many sessions the minimal example keeps in Redis (under logto-actix's default prefix).
async fn minimal_redis_sessions(example: &Example) -> Option<usize> {
    let redis = example.redis.as_ref()?;
    Some(redis.keys("logto:session:*").await.len())
}

/// A browser of its own: cookies kept, redirects shown rather than followed.
struct Browser {
    client: reqwest::Client,
    cookies: Arc<Jar>,
    address: String,
}

impl Example {
    fn browser(&self) -> Browser {
        let cookies = Arc::new(Jar::default());
        Browser {
            client: browser(Arc::clone(&cookies)),
            cookies,
            address: self.address.clone(),
        }
    }
}

impl Browser {
    async fn get(&self, path_or_url: &str) -> Response {
        let url = if path_or_url.starts_with('/') {
            format!("{}{path_or_url}", self.address)
        } else {
            path_or_url.to_owned()
        };
        self.client.get(url).send().await.expect("an answer")
    }

    async fn page(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.text().await.expect("a page")
    }

    /// From `sign_in_path` through the IdP to the callback's answer.
    async fn sign_in_from(&self, sign_in_path: &str) -> Response {
        let sign_in = self.get(sign_in_path).await;
        assert_eq!(sign_in.status(), StatusCode::SEE_OTHER, "to Logto");
        let at_idp = self.get(&location(&sign_in)).await;
        assert_eq!(at_idp.status(), StatusCode::SEE_OTHER, "back from Logto");
        let callback = location(&at_idp);
        assert!(callback.starts_with(&format!("{}/callback?", self.address)));
        self.get(&callback).await
    }

    async fn sign_in(&self) {
        let callback = self.sign_in_from("/sign-in").await;
        assert_eq!(callback.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&callback), "/");
    }

    async fn post_sign_out(&self, csrf_token: Option<&str>) -> Response {
        let form: Vec<(&str, &str)> = csrf_token
            .map(|token| ("csrf_token", token))
            .into_iter()
            .collect();
        self.client
            .post(format!("{}/sign-out", self.address))
            .form(&form)
            .send()
            .await
            .expect("an answer")
    }

    /// The session cookie, as `name=value`.
    fn session_cookie(&self) -> Option<String> {
        let url = Url::parse(&self.address).expect("a URL");
        let header = self.cookies.cookies(&url)?;
        let header = header.to_str().expect("ASCII cookies").to_owned();
        header
            .split("; ")
            .find(|cookie| cookie.starts_with(&format!("{SESSION_COOKIE}=")))
            .map(str::to_owned)
    }

    /// Another browser holding a copy of this one's session cookie.
    fn with_copied_session(&self) -> Browser {
        let cookies = Arc::new(Jar::default());
        let cookie = self.session_cookie().expect("a session cookie to copy");
        cookies.add_cookie_str(&cookie, &Url::parse(&self.address).expect("a URL"));
        Browser {
            client: browser(Arc::clone(&cookies)),
            cookies,
            address: self.address.clone(),
        }
    }
}

/// The `Set-Cookie` header that sets `name`.
fn set_cookie(response: &Response, name: &str) -> Option<String> {
    set_cookies(response)
        .into_iter()
        .find(|cookie| cookie.starts_with(&format!("{name}=")))
}

#[tokio::test]
async fn axum_an_anonymous_visitor_is_not_signed_in_and_leaves_no_session() {
    let example = start_example("axum").await;
    let visitor = example.browser();

    let home = visitor.get("/").await;
    assert_eq!(home.status(), StatusCode::OK);
    assert!(set_cookies(&home).is_empty(), "no session for a visitor");
    assert!(home.text().await.unwrap().contains("Not signed in"));

    // Starting a sign-in puts the attempt in an encrypted cookie, not in a session.
    let sign_in = visitor.get("/sign-in").await;
    assert_eq!(sign_in.status(), StatusCode::SEE_OTHER);
    assert!(set_cookie(&sign_in, SESSION_COOKIE).is_none());
    let attempts = set_cookie(&sign_in, ATTEMPTS_COOKIE).expect("the attempts cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=600"] {
        assert!(attempts.contains(attribute), "{attribute} in {attempts}");
    }
    assert!(!attempts.contains("Secure"), "BASE_URL is http: {attempts}");
    assert!(!attempts.contains("code_verifier"), "encrypted: {attempts}");
}

#[tokio::test]
async fn axum_cookies_are_secure_when_base_url_is_https() {
    let example = start_example_with("axum", |address| {
        vec![("BASE_URL", address.replacen("http:", "https:", 1))]
    })
    .await;
    let visitor = example.browser();

    let sign_in = visitor.get("/sign-in").await;

    let to_logto = query_pairs(&location(&sign_in));
    let https_callback = format!(
        "{}/callback",
        example.address.replacen("http:", "https:", 1)
    );
    assert_eq!(
        query_value(&to_logto, "redirect_uri"),
        Some(https_callback.as_str())
    );
    let attempts = set_cookie(&sign_in, ATTEMPTS_COOKIE).expect("the attempts cookie");
    assert!(attempts.contains("; Secure"), "{attempts}");
}

/// The example reads Logto's settings through logto-client, as the Bookstore does: the
/// optional ones too.
#[tokio::test]
async fn axum_reads_the_optional_logto_settings_like_the_app() {
    let api = "https://api.bookstore.example";
    let example = start_example_with("axum", |_| {
        vec![
            ("LOGTO_PROMPT", "login".to_owned()),
            ("LOGTO_RESOURCES", api.to_owned()),
        ]
    })
    .await;

    let sign_in = example.browser().get("/sign-in").await;

    let to_logto = query_pairs(&location(&sign_in));
    assert_eq!(query_value(&to_logto, "prompt"), Some("login"));
    assert_eq!(query_value(&to_logto, "resource"), Some(api));
}

#[tokio::test]
async fn axum_the_private_page_sends_a_visitor_through_logto_and_back() {
    let example = start_example("axum").await;
    example.idp.set_user(TestUser {
        name: Some("Alice <b>& Co".to_owned()),
        ..TestUser::alice()
    });
    let visitor = example.browser();

    let private = visitor.get("/private").await;
    assert_eq!(private.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&private), "/sign-in?return_to=%2Fprivate");

    let callback = visitor.sign_in_from(&location(&private)).await;
    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&callback),
        "/private",
        "back where the sign-in started"
    );
    let session = set_cookie(&callback, SESSION_COOKIE).expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(attribute), "{attribute} in {session}");
    }
    let spent = set_cookie(&callback, ATTEMPTS_COOKIE).expect("the spent attempt is cleared");
    assert!(spent.contains("Max-Age=0"), "{spent}");

    let private = visitor.get("/private").await;
    assert_eq!(private.headers()["cache-control"], "no-store");
    let page = private.text().await.expect("a page");
    assert!(
        page.contains("Only Alice &#60;b&#62;&#38; Co can read this."),
        "{page}"
    );
    assert!(!page.contains("<b>"), "escaped: {page}");
    assert!(
        visitor
            .page("/")
            .await
            .contains("Signed in as Alice &#60;b&#62;&#38; Co.")
    );
}

#[tokio::test]
async fn axum_a_callback_without_its_sign_in_attempt_is_refused() {
    let example = start_example("axum").await;
    let visitor = example.browser();
    let started = visitor.get("/sign-in").await;
    assert_eq!(started.status(), StatusCode::SEE_OTHER);

    let forged = visitor
        .get("/callback?code=stolen&state=not-this-browsers")
        .await;

    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    assert!(
        set_cookie(&forged, SESSION_COOKIE).is_none(),
        "nobody signed in"
    );
    assert_eq!(
        example.idp.request_count(Endpoint::Token),
        0,
        "no code exchanged"
    );
}

#[tokio::test]
async fn axum_signing_in_gives_the_session_a_new_id() {
    let example = start_example("axum").await;
    let attacker = example.browser();
    attacker.sign_in().await;
    // The attacker plants their session cookie in the victim's browser.
    let victim = attacker.with_copied_session();
    example.idp.set_user(TestUser {
        sub: "user_bob".to_owned(),
        name: Some("Bob".to_owned()),
        ..TestUser::alice()
    });

    victim.sign_in().await;

    assert!(victim.page("/").await.contains("Signed in as Bob."));
    assert_ne!(victim.session_cookie(), attacker.session_cookie());
    let attackers_view = attacker.get("/private").await;
    assert_eq!(
        attackers_view.status(),
        StatusCode::SEE_OTHER,
        "the planted id is not the victim's session"
    );
}

#[tokio::test]
async fn axum_signing_out_asks_then_ends_the_session_here_and_at_logto() {
    let example = start_example("axum").await;
    let user = example.browser();
    user.sign_in().await;
    let copy = user.with_copied_session();

    let form = user.page("/sign-out").await;
    let token = csrf_token(&form).expect("the form carries the CSRF token");
    assert_eq!(
        example.idp.request_count(Endpoint::Revocation),
        0,
        "GET only asks"
    );
    let signed_out = user.post_sign_out(Some(&token)).await;

    let end_session = assert_sent_to_end_session(&example, &signed_out);
    let at_logto = user.get(&end_session).await;
    assert_eq!(
        location(&at_logto),
        format!("{}/", example.address),
        "Logto accepts the request"
    );
    assert_eq!(example.idp.request_count(Endpoint::Revocation), 1);
    assert_eq!(
        example.idp.revoked_grants(),
        (1, 1),
        "the refresh token is revoked"
    );

    let private = user.get("/private").await;
    assert_eq!(private.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&private), "/sign-in?return_to=%2Fprivate");
    let replayed = copy.get("/private").await;
    assert_eq!(
        replayed.status(),
        StatusCode::SEE_OTHER,
        "a copied cookie is refused"
    );

    let output = example.process.output();
    for token in example.idp.issued_token_values() {
        assert!(!output.contains(&token), "a token in the log:\n{output}");
    }
}

#[tokio::test]
async fn axum_a_sign_out_without_the_session_s_csrf_token_is_refused() {
    let example = start_example("axum").await;
    let user = example.browser();
    user.sign_in().await;

    for token in [None, Some("not-the-token")] {
        let refused = user.post_sign_out(token).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{token:?}");
    }

    assert_eq!(example.idp.request_count(Endpoint::Revocation), 0);
    assert_eq!(
        user.get("/private").await.status(),
        StatusCode::OK,
        "still signed in"
    );
}

#[tokio::test]
async fn axum_back_channel_logout_ends_one_browser_s_session_once() {
    back_channel_logout_ends_one_browser_s_session_once(start_example("axum").await).await;
}

for_both_stores!(minimal_back_channel_logout_ends_one_browser_s_session_once);

async fn minimal_back_channel_logout_ends_one_browser_s_session_once(store: Store) {
    back_channel_logout_ends_one_browser_s_session_once(start_minimal(store).await).await;
}

/// Logto's logout token for one of two signed-in browsers ends that browser's session only,
/// once: a replay of the token, or something that is not one, is refused.
async fn back_channel_logout_ends_one_browser_s_session_once(example: Example) {
    let (first, second) = (example.browser(), example.browser());
    first.sign_in().await;
    second.sign_in().await;
    let second_sid = example
        .idp
        .last_sid()
        .expect("the second sign-in's Logto session");

    let logout_token = example
        .idp
        .logout_token(LogoutTokenSpec::session(&second_sid));
    let post = |token: String| {
        let client = reqwest::Client::new();
        let url = format!("{}/backchannel-logout", example.address);
        async move {
            let response = client
                .post(url)
                .form(&[("logout_token", token)])
                .send()
                .await;
            response.expect("an answer").status()
        }
    };
    assert_eq!(post(logout_token.clone()).await, StatusCode::OK);

    assert_eq!(second.get("/private").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        first.get("/private").await.status(),
        StatusCode::OK,
        "another Logto session"
    );
    assert_eq!(
        post(logout_token).await,
        StatusCode::BAD_REQUEST,
        "a replayed logout token"
    );
    assert_eq!(post("not-a-jwt".to_owned()).await, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn axum_the_profile_page_refreshes_the_access_token_once_for_concurrent_requests() {
    let example = start_example("axum").await;
    // Signed in with an access token that is due at once; its refresh gets a fresh one.
    example.idp.set_access_token_ttl(0);
    let user = example.browser();
    user.sign_in().await;
    example.idp.set_access_token_ttl(3600);
    // Slow enough that the requests below all wait on the first one's refresh.
    example.idp.set_token_delay(Duration::from_millis(300));

    let user = Arc::new(user);
    let requests: Vec<_> = (0..4)
        .map(|_| {
            let user = Arc::clone(&user);
            tokio::spawn(async move { user.page("/profile").await })
        })
        .collect();
    for request in requests {
        let page = request.await.expect("the request task");
        assert!(
            page.contains("alice@example.com"),
            "the userinfo claims: {page}"
        );
    }

    assert_eq!(
        example.idp.refresh_grant_count(),
        1,
        "one refresh for all four"
    );
    assert_eq!(example.idp.request_count(Endpoint::UserInfo), 4);
    assert_eq!(
        example.idp.revoked_grants(),
        (0, 1),
        "no spent refresh token reused"
    );
    user.page("/profile").await;
    assert_eq!(
        example.idp.refresh_grant_count(),
        1,
        "the refreshed token is kept"
    );
}

/// The axum example with its API on: `LOGTO_RESOURCES` names the API resource.
async fn start_axum_api() -> Example {
    start_example_with("axum", |_| {
        vec![("LOGTO_RESOURCES", API_RESOURCE.to_owned())]
    })
    .await
}

/// `GET /api/books` of `example`, with `Authorization: Bearer <token>` when there is one.
async fn get_books(example: &Example, token: Option<&str>) -> Response {
    let mut request = reqwest::Client::new().get(format!("{}/api/books", example.address));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("the API answers")
}

/// The `WWW-Authenticate` header of an answer.
fn challenge(response: &Response) -> String {
    let header = response.headers().get(reqwest::header::WWW_AUTHENTICATE);
    let header = header.expect("a WWW-Authenticate header");
    header.to_str().expect("ASCII").to_owned()
}

#[tokio::test]
async fn axum_the_api_lists_the_books_for_a_user_s_or_an_app_s_token_with_read_books() {
    let example = start_axum_api().await;
    let tokens = [
        AccessTokenSpec::user("user_alice", API_RESOURCE).with_scope("read:books"),
        AccessTokenSpec::app("bookstore-m2m", API_RESOURCE).with_scope("read:books write:books"),
    ]
    .map(|spec| example.idp.access_token(&spec));

    for token in tokens {
        let response = get_books(&example, Some(&token)).await;

        assert_eq!(response.status(), StatusCode::OK);
        assert!(set_cookies(&response).is_empty(), "no session for the API");
        let shelf: serde_json::Value = response.json().await.expect("JSON");
        let titles = shelf["books"].as_array().expect("a list of books");
        assert!(
            titles.iter().any(|book| book["title"] == "Botchan"),
            "{shelf}"
        );
    }
}

#[tokio::test]
async fn axum_the_api_answers_401_without_a_token_and_invalid_token_for_a_bad_one() {
    let example = start_axum_api().await;

    let anonymous = get_books(&example, None).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&anonymous), "Bearer", "no error without a token");
    let body: serde_json::Value = anonymous.json().await.expect("JSON, never a page");
    assert_eq!(body["error"], "unauthorized");

    let for_another_api = example.idp.access_token(
        &AccessTokenSpec::user("user_alice", "https://other-api.example").with_scope("read:books"),
    );
    for bad_token in ["not-a-token", for_another_api.as_str()] {
        let response = get_books(&example, Some(bad_token)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(
            challenge(&response).starts_with(r#"Bearer error="invalid_token""#),
            "{}",
            challenge(&response)
        );
        let body: serde_json::Value = response.json().await.expect("JSON");
        assert_eq!(body["error"], "invalid_token");
    }
}

#[tokio::test]
async fn axum_the_api_answers_403_insufficient_scope_to_a_token_without_read_books() {
    let example = start_axum_api().await;
    let token = example
        .idp
        .access_token(&AccessTokenSpec::user("user_carol", API_RESOURCE).with_scope("write:books"));

    let response = get_books(&example, Some(&token)).await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let challenge = challenge(&response);
    assert!(
        challenge.starts_with(r#"Bearer error="insufficient_scope""#)
            && challenge.ends_with(r#"scope="read:books""#),
        "{challenge}"
    );
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], "insufficient_scope");
    assert_eq!(
        body["error_description"],
        "the access token lacks the scope read:books"
    );
}

for_both_stores!(minimal_signs_in_for_the_private_page_and_signs_out_here_and_at_logto);

async fn minimal_signs_in_for_the_private_page_and_signs_out_here_and_at_logto(store: Store) {
    let example = start_minimal(store).await;
    example.idp.set_user(TestUser {
        name: Some("Alice <b>& Co".to_owned()),
        ..TestUser::alice()
    });
    let user = example.browser();

    let home = user.get("/").await;
    assert_eq!(home.status(), StatusCode::OK);
    assert!(
        set_cookie(&home, SESSION_COOKIE).is_none(),
        "no session yet"
    );
    assert!(home.text().await.unwrap().contains("Not signed in"));
    let private = user.get("/private").await;
    assert_eq!(private.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&private), "/sign-in?return_to=%2Fprivate");

    let callback = user.sign_in_from(&location(&private)).await;
    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&callback), "/private", "back where it started");
    let private = user.get("/private").await;
    assert_eq!(private.status(), StatusCode::OK);
    assert_eq!(private.headers()["cache-control"], "no-store");
    let page = private.text().await.expect("a page");
    assert!(
        page.contains("Only Alice &lt;b&gt;&amp; Co can read this."),
        "{page}"
    );
    assert!(
        user.page("/")
            .await
            .contains("Signed in as Alice &lt;b&gt;&amp; Co.")
    );
    let copy = user.with_copied_session();
    assert_eq!(
        minimal_redis_sessions(&example).await,
        (store == Store::Redis).then_some(1)
    );

    let form = user.page("/sign-out").await;
    let token = csrf_token(&form).expect("the form carries the CSRF token");
    assert_eq!(
        example.idp.request_count(Endpoint::Revocation),
        0,
        "GET only asks"
    );
    let forged = user.post_sign_out(Some("not-the-token")).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let signed_out = user.post_sign_out(Some(&token)).await;

    assert_sent_to_end_session(&example, &signed_out);
    assert_eq!(
        example.idp.revoked_grants(),
        (1, 1),
        "the refresh token is revoked"
    );
    assert_eq!(
        minimal_redis_sessions(&example).await,
        (store == Store::Redis).then_some(0),
        "the stored session is deleted"
    );
    let private = user.get("/private").await;
    assert_eq!(private.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&private), "/sign-in?return_to=%2Fprivate");
    let replayed = copy.get("/private").await;
    assert_eq!(
        replayed.status(),
        StatusCode::SEE_OTHER,
        "a copied session cookie is refused"
    );
}

/// `signed_out` sends the browser to Logto's end-session endpoint with `client_id`, the
/// example's home as `post_logout_redirect_uri` and an `id_token_hint`; returns that URL.
fn assert_sent_to_end_session(example: &Example, signed_out: &reqwest::Response) -> String {
    assert_eq!(signed_out.status(), StatusCode::SEE_OTHER);
    let end_session = location(signed_out);
    assert!(
        end_session.starts_with(&format!("{}/oidc/session/end?", example.idp.endpoint())),
        "{end_session}"
    );
    let query = query_pairs(&end_session);
    assert_eq!(query_value(&query, "client_id"), Some(APP_ID));
    let post_logout = format!("{}/", example.address);
    assert_eq!(
        query_value(&query, "post_logout_redirect_uri"),
        Some(post_logout.as_str())
    );
    assert!(query_value(&query, "id_token_hint").is_some_and(|hint| !hint.is_empty()));
    end_session
}

/// What `examples/m2m.rs` printed and how it ended.
struct M2mRun {
    succeeded: bool,
    stdout: String,
    stderr: String,
}

/// Runs `examples/m2m.rs` against the Bookstore `app` as the M2M app `client` of its IdP.
async fn run_m2m_example(app: &TestApp, client: &MachineClient) -> M2mRun {
    let root = test_support::package_root();
    let source = root.join("examples/m2m.rs");
    let client_crate = root.join("crates/logto-client/src");
    let binary = example_binary("m2m", &[&source, &client_crate]);
    let output = tokio::process::Command::new(binary)
        .env_clear()
        .env("LOGTO_ENDPOINT", app.idp().endpoint())
        .env("LOGTO_RESOURCES", API_RESOURCE)
        .env("LOGTO_M2M_APP_ID", &client.client_id)
        .env("LOGTO_M2M_APP_SECRET", &client.client_secret)
        .env("BASE_URL", &app.address)
        .output()
        .await
        .expect("the example runs");
    M2mRun {
        succeeded: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[tokio::test]
async fn m2m_lists_the_books_with_a_client_credentials_token() {
    let app = spawn_app(Store::Cookie).await;
    let client = MachineClient::new("bookstore-m2m", "read:books write:books");
    app.idp().register_machine_client(client.clone());

    let run = run_m2m_example(&app, &client).await;

    assert!(run.succeeded, "{}", run.stderr);
    let titles: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(titles.len(), 4, "the whole shelf: {}", run.stdout);
    assert!(titles.contains(&"Botchan"), "{titles:?}");
    assert_eq!(
        run.stderr.trim(),
        "granted scopes: read:books",
        "only the scope asked for"
    );
    assert_eq!(app.idp().client_credentials_grant_count(), 1);
    let output = format!("{}{}", run.stdout, run.stderr);
    assert!(!output.contains("eyJ"), "no JWT printed: {output}");
}

#[tokio::test]
async fn m2m_explains_the_403_when_the_app_s_roles_lack_read_books() {
    let app = spawn_app(Store::Cookie).await;
    let client = MachineClient::new("bookstore-m2m", "write:books");
    app.idp().register_machine_client(client.clone());

    let run = run_m2m_example(&app, &client).await;

    assert!(!run.succeeded);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_eq!(
        run.stderr,
        "granted scopes: none\n\
         error: the Bookstore answered 403 Forbidden: insufficient_scope \
         (the access token lacks the scope read:books): give the M2M app a role that holds read:books\n",
        "Logto drops a scope the app's roles lack; the API refuses the token"
    );
}

#[tokio::test]
async fn m2m_names_the_credentials_when_logto_refuses_them() {
    let app = spawn_app(Store::Cookie).await;
    let client = MachineClient::new("bookstore-m2m", "read:books");
    app.idp().register_machine_client(client.clone());
    let wrong_secret = MachineClient {
        client_secret: "not-the-secret".to_owned(),
        ..client
    };

    let run = run_m2m_example(&app, &wrong_secret).await;

    assert!(!run.succeeded);
    let error = run.stderr.trim_end();
    assert!(
        error.starts_with("error: Logto gave no token: ")
            && error.ends_with("invalid_client (check LOGTO_M2M_APP_ID and LOGTO_M2M_APP_SECRET)"),
        "{error}"
    );
    assert!(!error.contains('\n'), "one line: {error}");
}

#[tokio::test]
async fn m2m_names_a_missing_setting_in_one_line() {
    let app = spawn_app(Store::Cookie).await;
    let unknown = MachineClient::new("", "read:books");

    let run = run_m2m_example(&app, &unknown).await;

    assert!(!run.succeeded);
    assert_eq!(
        run.stderr,
        "error: LOGTO_M2M_APP_ID is not set. Copy it from your machine-to-machine app in the Logto Console\n"
    );
    assert_eq!(app.idp().client_credentials_grant_count(), 0);
}
