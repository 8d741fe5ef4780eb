//! Hostile input, for both session stores: one table of forged, broken and replayed callbacks,
//! one of forged session cookies, and property-based fuzzing of the query-string and cookie
//! parsing paths.
//!
//! Every hostile callback must end on the templated error page with a 4xx status (502 for a
//! broken token endpoint, see [`Case::status`]), never a 500 or a panic, and must write no
//! session: the attempt it names is spent and its emptied session deleted, or, when it names
//! none of this browser's attempts, the session is left byte for byte as it was.
//!
//! The `return_to` open-redirect table lives in `crates/logto-client/src/return_to.rs` (unit
//! tests, with a property test) and `tests/api/protected.rs` (`return_to_never_leaves_the_site`);
//! it is not repeated.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::SET_COOKIE;
use reqwest::{Response, StatusCode};
use url::Url;

use crate::app::PRODUCT;
use crate::app::{Store, TestApp, location, query_pairs, query_value, spawn_app};
use test_support::for_both_stores;
use test_support::idp::{Endpoint, Misbehaviour};

/// A value far longer than any genuine `state`, `code` or `iss` (16 KiB).
fn overlong() -> String {
    "x".repeat(16 * 1024)
}

// ---------------------------------------------------------------------------------------------
// A browser of its own: the app's, or another one with its own cookie jar.
// ---------------------------------------------------------------------------------------------

/// A browser-like client: keeps cookies, never follows redirects.
#[derive(Clone)]
struct Browser {
    client: reqwest::Client,
    jar: Arc<Jar>,
}

impl Browser {
    /// The browser `spawn_app` made for `app`.
    fn of(app: &TestApp) -> Self {
        Self {
            client: app.client.clone(),
            jar: Arc::clone(&app.cookies),
        }
    }

    /// Another browser, with an empty cookie jar.
    fn another() -> Self {
        let jar = Arc::new(Jar::default());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(Arc::clone(&jar))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a test HTTP client");
        Self { client, jar }
    }

    async fn get(&self, url: &str) -> Response {
        self.client
            .get(url)
            .send()
            .await
            .expect("the request is answered")
    }

    /// `/sign-in`, then the IdP: the callback URL this browser would open.
    async fn authorize(&self, app: &TestApp) -> String {
        let sign_in = self.get(&format!("{}/sign-in", app.address)).await;
        assert_eq!(sign_in.status(), StatusCode::SEE_OTHER);
        let at_idp = self.get(&location(&sign_in)).await;
        assert_eq!(at_idp.status(), StatusCode::SEE_OTHER);
        location(&at_idp)
    }

    /// Signs in through the whole flow; returns the (now spent) callback URL.
    async fn sign_in(&self, app: &TestApp) -> String {
        let callback = self.authorize(app).await;
        let response = self.get(&callback).await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "the sign-in works"
        );
        callback
    }

    /// The session cookie this browser holds, as `name=value`.
    fn session_cookie(&self, app: &TestApp) -> Option<String> {
        self.cookie(app, PRODUCT.session_cookie)
    }

    /// The sign-in attempts cookie this browser holds, as `name=value`.
    fn sign_in_attempts_cookie(&self, app: &TestApp) -> Option<String> {
        self.cookie(app, PRODUCT.sign_in_cookie)
    }

    fn cookie(&self, app: &TestApp, name: &str) -> Option<String> {
        let url = Url::parse(&app.address).unwrap();
        let header = self.jar.cookies(&url)?;
        header
            .to_str()
            .unwrap()
            .split("; ")
            .find(|cookie| cookie.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// Whether the home page greets a signed-in user.
    async fn is_signed_in(&self, app: &TestApp) -> bool {
        let response = self.get(&format!("{}/", app.address)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let page = response.text().await.unwrap();
        let signed_in = page.contains("Signed in as");
        assert_ne!(signed_in, page.contains("Not signed in"), "{page}");
        signed_in
    }
}

/// `GET` a path with exactly this `Cookie` header, no cookie jar, and no redirect followed
/// (`TestApp::get_with_cookie` follows them, which would take `/books` on to the IdP).
async fn get_with_cookie(app: &TestApp, path: &str, cookie: &str) -> Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}{path}", app.address))
        .header("cookie", cookie)
        .send()
        .await
        .expect("the request is answered")
}

/// The session cookies a response sets that carry a session, as opposed to removal cookies
/// (an empty value or `Max-Age=0`).
fn live_session_cookies(response: &Response) -> Vec<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .filter(|cookie| {
            let value = cookie
                .strip_prefix(&format!("{}=", PRODUCT.session_cookie))
                .map(|rest| rest.split(';').next().unwrap_or_default());
            value.is_some_and(|value| !value.is_empty())
                && !cookie.to_ascii_lowercase().contains("max-age=0")
        })
        .collect()
}

/// Every session in Redis, by key, and how many keys Redis holds in all; empty and 0 with the
/// cookie store.
async fn redis_snapshot(app: &TestApp) -> (BTreeMap<String, String>, usize) {
    let Some(redis) = &app.redis else {
        return (BTreeMap::new(), 0);
    };
    (redis.sessions().await, redis.key_count().await)
}

/// `callback` with its query rebuilt by `edit` from the decoded pairs.
fn edit_query(callback: &str, edit: impl FnOnce(&mut Vec<(String, String)>)) -> String {
    let mut pairs = query_pairs(callback);
    edit(&mut pairs);
    let mut url = Url::parse(callback).unwrap();
    url.query_pairs_mut().clear().extend_pairs(&pairs);
    url.to_string()
}

/// What a case does to the query parameter it names.
#[derive(Clone, Copy, Debug)]
enum Edit {
    Remove,
    /// A second copy, with another value.
    Duplicate,
    /// 16 KiB instead of the genuine value.
    Overlong,
    Replace(&'static str),
}

impl Edit {
    fn apply(self, callback: &str, name: &str) -> String {
        edit_query(callback, |pairs| match self {
            Self::Remove => pairs.retain(|(key, _)| key != name),
            Self::Duplicate => pairs.push((name.to_owned(), "second-value".to_owned())),
            Self::Overlong | Self::Replace(_) => {
                let value = match self {
                    Self::Replace(value) => value.to_owned(),
                    _ => overlong(),
                };
                for (key, old) in pairs.iter_mut() {
                    if key == name {
                        *old = value.clone();
                    }
                }
            }
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The callback table.
// ---------------------------------------------------------------------------------------------

/// How a hostile callback is produced.
#[derive(Clone, Copy, Debug)]
enum Attack {
    /// This browser's genuine callback, with one parameter edited.
    Param(&'static str, Edit),
    /// This browser's genuine callback, with the IdP misbehaving at the token endpoint.
    Idp(Misbehaviour),
    /// Logto's `error=` redirect for this browser's attempt, with markup in it.
    Refusal {
        error: &'static str,
        description: &'static str,
    },
    /// Another browser's complete callback (its `state` and `code`), opened in this browser,
    /// which has an attempt of its own: login CSRF.
    StateFromAnotherSession,
    /// This browser's `state` with a code that another browser already redeemed.
    ReplayedCode,
    /// The callback that just signed this browser in, opened again.
    ReplayedCallbackAfterSuccess,
    /// A callback that signed another browser in, opened in a browser without a session
    /// (a callback URL taken from history or a log).
    StolenCallbackAfterSuccess,
}

/// What is left of the browser's sign-in attempts after the hostile callback. The session is
/// never touched: same cookie, same Redis contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum After {
    /// The callback named this browser's attempt: the attempt is spent, and the attempts
    /// cookie, empty now, is cleared.
    Spent,
    /// The callback named no attempt of this browser (or never reached the handler): the
    /// attempts cookie is exactly as before.
    Untouched,
}

struct Case {
    name: &'static str,
    attack: Attack,
    /// 4xx for all but a broken token endpoint, which the app reports as 502 Bad Gateway (the
    /// upstream failed, not the visitor): still the templated page, never a 500.
    status: StatusCode,
    /// A phrase of the error page (English).
    page_text: &'static str,
    after: After,
}

const EXPIRED: &str = "Sign-in expired";
const BAD_REQUEST: &str = "The request could not be understood.";
const NO_CODE: &str = "sent no authorization code";
const WRONG_ISSUER: &str = "did not come from the expected identity provider";
const CODE_REJECTED: &str = "refused to complete the sign-in";
const NOT_COMPLETED: &str = "Sign-in not completed";
const UNVERIFIED: &str = "could not be verified";
const PROVIDER_ERROR: &str = "The identity provider failed";

fn cases() -> Vec<Case> {
    use After::{Spent, Untouched};
    use Attack::*;
    use Edit::*;
    let bad = StatusCode::BAD_REQUEST;
    let case = |name, attack, status, page_text, after| Case {
        name,
        attack,
        status,
        page_text,
        after,
    };
    let mut cases = vec![
        case(
            "missing state",
            Param("state", Remove),
            bad,
            EXPIRED,
            Untouched,
        ),
        case(
            "duplicated state",
            Param("state", Duplicate),
            bad,
            BAD_REQUEST,
            Untouched,
        ),
        case(
            "overlong state",
            Param("state", Overlong),
            bad,
            EXPIRED,
            Untouched,
        ),
        case("missing code", Param("code", Remove), bad, NO_CODE, Spent),
        case(
            "duplicated code",
            Param("code", Duplicate),
            bad,
            BAD_REQUEST,
            Untouched,
        ),
        case(
            "overlong code",
            Param("code", Overlong),
            bad,
            CODE_REJECTED,
            Spent,
        ),
        case(
            "missing iss",
            Param("iss", Remove),
            bad,
            WRONG_ISSUER,
            Spent,
        ),
        case(
            "duplicated iss",
            Param("iss", Duplicate),
            bad,
            BAD_REQUEST,
            Untouched,
        ),
        case(
            "overlong iss",
            Param("iss", Overlong),
            bad,
            WRONG_ISSUER,
            Spent,
        ),
        case(
            "foreign iss",
            Param("iss", Replace("https://evil.example/oidc")),
            bad,
            WRONG_ISSUER,
            Spent,
        ),
        case(
            "state from another session",
            StateFromAnotherSession,
            bad,
            EXPIRED,
            Untouched,
        ),
        case("replayed code", ReplayedCode, bad, CODE_REJECTED, Spent),
        case(
            "replayed callback after success",
            ReplayedCallbackAfterSuccess,
            bad,
            EXPIRED,
            Untouched,
        ),
        case(
            "stolen callback after success",
            StolenCallbackAfterSuccess,
            bad,
            EXPIRED,
            Untouched,
        ),
        case(
            "error= with a script in error_description",
            Refusal {
                error: "access_denied",
                description: "<script>alert('x')</script> user cancelled",
            },
            StatusCode::FORBIDDEN,
            NOT_COMPLETED,
            Spent,
        ),
        case(
            "error= with markup in error and error_description",
            Refusal {
                error: "<b>server_error</b>",
                description: "\"><img src=x onerror=alert(1)><script>alert(2)</script>",
            },
            bad,
            NOT_COMPLETED,
            Spent,
        ),
    ];
    for (name, misbehaviour) in [
        ("ID token with alg: none", Misbehaviour::AlgNone),
        (
            "ID token HS256-signed with the public key",
            Misbehaviour::Hs256SignedWithPublicKey,
        ),
        ("ID token with the wrong aud", Misbehaviour::WrongAudience),
        ("ID token with the wrong iss", Misbehaviour::WrongIssuer),
        ("ID token with exp in the past", Misbehaviour::Expired),
        (
            "ID token with iat far in the future",
            Misbehaviour::IssuedInTheFuture,
        ),
        ("ID token without nonce", Misbehaviour::MissingNonce),
        ("ID token with the wrong nonce", Misbehaviour::WrongNonce),
        ("ID token with an unknown kid", Misbehaviour::UnknownKid),
        (
            "ID token with a forged signature",
            Misbehaviour::WrongSignature,
        ),
        ("ID token with the wrong at_hash", Misbehaviour::WrongAtHash),
    ] {
        cases.push(case(name, Idp(misbehaviour), bad, UNVERIFIED, Spent));
    }
    for (name, misbehaviour) in [
        (
            "token endpoint answers 500",
            Misbehaviour::TokenEndpointError500,
        ),
        (
            "token endpoint answers invalid JSON",
            Misbehaviour::TokenEndpointInvalidJson,
        ),
    ] {
        cases.push(case(
            name,
            Idp(misbehaviour),
            StatusCode::BAD_GATEWAY,
            PROVIDER_ERROR,
            Spent,
        ));
    }
    cases
}

impl Attack {
    /// Sets the scene on `app`: the browser that opens the hostile callback, and its URL.
    async fn prepare(self, app: &TestApp) -> (Browser, String) {
        let browser = Browser::of(app);
        match self {
            Self::Param(name, edit) => {
                let callback = browser.authorize(app).await;
                (browser, edit.apply(&callback, name))
            }
            Self::Idp(misbehaviour) => {
                app.idp().set_misbehaviour(misbehaviour);
                let callback = browser.authorize(app).await;
                (browser, callback)
            }
            Self::Refusal { error, description } => {
                let callback = browser.authorize(app).await;
                let state = query_value(&query_pairs(&callback), "state")
                    .unwrap()
                    .to_owned();
                let mut refusal = Url::parse(&format!("{}/callback", app.address)).unwrap();
                refusal
                    .query_pairs_mut()
                    .append_pair("error", error)
                    .append_pair("error_description", description)
                    .append_pair("state", &state)
                    .append_pair("iss", &app.idp().issuer());
                (browser, refusal.into())
            }
            Self::StateFromAnotherSession => {
                let victims = browser.authorize(app).await;
                let attacker = Browser::another();
                attacker.authorize(app).await;
                (attacker, victims)
            }
            Self::ReplayedCode => {
                let spent = Browser::another().sign_in(app).await;
                let spent_code = query_value(&query_pairs(&spent), "code")
                    .unwrap()
                    .to_owned();
                let callback = browser.authorize(app).await;
                let replay = edit_query(&callback, |pairs| {
                    for (key, value) in pairs.iter_mut() {
                        if key == "code" {
                            value.clone_from(&spent_code);
                        }
                    }
                });
                (browser, replay)
            }
            Self::ReplayedCallbackAfterSuccess => {
                let spent = browser.sign_in(app).await;
                (browser, spent)
            }
            Self::StolenCallbackAfterSuccess => {
                let spent = browser.sign_in(app).await;
                (Browser::another(), spent)
            }
        }
    }
}

/// Runs one case on a fresh app; panics with what went wrong.
async fn run_case(store: Store, case: &Case) {
    let app = spawn_app(store).await;
    let (browser, url) = case.attack.prepare(&app).await;
    let signed_in_before = browser.is_signed_in(&app).await;
    let cookie_before = browser.session_cookie(&app);
    let attempts_before = browser.sign_in_attempts_cookie(&app);
    let (sessions_before, keys_before) = redis_snapshot(&app).await;

    let response = browser.get(&url).await;

    // The templated error page, with the case's status.
    let status = response.status();
    assert_eq!(status, case.status);
    assert!(status.is_client_error() || status == StatusCode::BAD_GATEWAY);
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    let live = live_session_cookies(&response);
    let page = response.text().await.unwrap();
    assert!(
        page.contains(&format!("<p>Error {}</p>", status.as_u16())),
        "{page}"
    );
    assert!(
        page.contains(case.page_text),
        "{:?} in {page}",
        case.page_text
    );
    assert!(!page.to_ascii_lowercase().contains("<script"), "{page}");
    if let Attack::Refusal { .. } = case.attack {
        // The plain pages escape with named references: `<` is `&lt;`.
        for markup in ["<script>alert(", "<img src=x", "<b>server_error"] {
            assert!(!page.contains(markup), "{markup} in {page}");
        }
        assert!(
            page.contains("&lt;script&gt;alert("),
            "shown escaped: {page}"
        );
    }

    // No session written: neither the cookie nor Redis changes, whatever the case.
    assert_eq!(live, Vec::<String>::new(), "no session cookie is set");
    let (sessions_after, keys_after) = redis_snapshot(&app).await;
    assert_eq!(
        browser.session_cookie(&app),
        cookie_before,
        "the cookie is as it was"
    );
    assert_eq!(sessions_after, sessions_before, "Redis is as it was");
    assert_eq!(keys_after, keys_before);
    let attempts_after = browser.sign_in_attempts_cookie(&app);
    match case.after {
        After::Untouched => {
            assert_eq!(
                attempts_after, attempts_before,
                "the attempts are as they were"
            );
        }
        After::Spent => {
            assert!(attempts_before.is_some());
            assert_eq!(attempts_after, None, "the spent attempt is cleared");
        }
    }
    // Nobody was signed in by it (a browser signed in before stays so).
    assert_eq!(browser.is_signed_in(&app).await, signed_in_before);
    assert!(
        !signed_in_before || matches!(case.attack, Attack::ReplayedCallbackAfterSuccess),
        "only the replay starts signed in"
    );
}

for_both_stores!(every_hostile_callback_ends_on_an_error_page_and_writes_no_session);

async fn every_hostile_callback_ends_on_an_error_page_and_writes_no_session(store: Store) {
    let cases = cases();
    assert!(cases.len() >= 15);
    let mut failures = Vec::new();
    for case in cases {
        let name = case.name;
        // Each case in its own task, so that one failure still lets the others run.
        let outcome = tokio::spawn(async move { run_case(store, &case).await }).await;
        if let Err(error) = outcome {
            let reason = error.try_into_panic().map_or_else(
                |error| error.to_string(),
                |panic| {
                    panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_default()
                },
            );
            failures.push(format!("{name}: {reason}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} hostile callback(s) failed with the {store:?} store:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Forged session cookies.
// ---------------------------------------------------------------------------------------------

/// A signed-in app and its session cookie, `name=value`.
async fn signed_in(store: Store) -> (TestApp, String) {
    let app = spawn_app(store).await;
    Browser::of(&app).sign_in(&app).await;
    let cookie = app.session_cookie().expect("a session cookie");
    (app, cookie)
}

/// Sends `cookie` as the whole `Cookie` header to `/` and to a protected page, and checks the
/// visitor is anonymous, nothing is written, and nothing is a 5xx.
async fn assert_anonymous_with(app: &TestApp, name: &str, cookie: &str) {
    let (sessions_before, keys_before) = redis_snapshot(app).await;

    let home = get_with_cookie(app, "/", cookie).await;
    assert_eq!(home.status(), StatusCode::OK, "{name}");
    assert_eq!(live_session_cookies(&home), Vec::<String>::new(), "{name}");
    let page = home.text().await.unwrap();
    assert!(page.contains("Not signed in"), "{name}: {page}");

    let books = get_with_cookie(app, "/books", cookie).await;
    assert_eq!(books.status(), StatusCode::SEE_OTHER, "{name}");
    assert!(location(&books).starts_with("/sign-in?"), "{name}");
    assert_eq!(live_session_cookies(&books), Vec::<String>::new(), "{name}");

    assert_eq!(
        redis_snapshot(app).await,
        (sessions_before, keys_before),
        "{name}: Redis is as it was"
    );
}

for_both_stores!(
    a_forged_session_cookie_is_an_anonymous_visitor,
    a_session_cookie_replayed_after_sign_out_is_an_anonymous_visitor,
    an_oversized_cookie_header_is_refused_or_ignored_never_a_500,
);

async fn a_forged_session_cookie_is_an_anonymous_visitor(store: Store) {
    let (app, genuine) = signed_in(store).await;
    let (name, value) = genuine.split_once('=').unwrap();
    let middle = value.len() / 2;
    let flip = |index: usize| {
        let original = &value[index..=index];
        let other = if original == "A" { "B" } else { "A" };
        format!("{name}={}{other}{}", &value[..index], &value[index + 1..])
    };
    let (_, other_apps_cookie) = signed_in(store).await;

    for (case, cookie) in [
        ("a character flipped in the middle", flip(middle)),
        ("the first character flipped", flip(0)),
        ("the last character flipped", flip(value.len() - 1)),
        ("truncated to half", format!("{name}={}", &value[..middle])),
        (
            "one character short",
            format!("{name}={}", &value[..value.len() - 1]),
        ),
        ("empty", format!("{name}=")),
        ("not base64", format!("{name}=%%%not-base64!!")),
        ("valid, but from another app's key", other_apps_cookie),
        ("doubled", format!("{name}={}", value.repeat(2))),
        (
            "a forged cookie before the genuine-looking one",
            format!("{name}=forged; {}", flip(middle)),
        ),
    ] {
        assert_anonymous_with(&app, case, &cookie).await;
    }

    // The genuine cookie still signs in: the forgeries changed nothing.
    let home = get_with_cookie(&app, "/", &genuine).await;
    assert!(home.text().await.unwrap().contains("Signed in as"));
}

/// A copy of the session cookie taken before sign-out no longer signs in.
///
/// Only with the Redis store: sign-out deletes the server-side session the cookie points to.
/// A cookie-store cookie is the session itself (encrypted, stored nowhere), so sign-out
/// remembers its Logto `sid` as ended; with Redis the key is gone.
async fn a_session_cookie_replayed_after_sign_out_is_an_anonymous_visitor(store: Store) {
    let (app, copied) = signed_in(store).await;
    let signed_out = app.sign_out().await;
    assert_eq!(signed_out.status(), StatusCode::SEE_OTHER);
    if store == Store::Redis {
        assert_eq!(redis_snapshot(&app).await, (BTreeMap::new(), 0));
    }

    assert_anonymous_with(&app, "replayed after sign-out", &copied).await;
}

async fn an_oversized_cookie_header_is_refused_or_ignored_never_a_500(store: Store) {
    let (app, genuine) = signed_in(store).await;
    let (name, value) = genuine.split_once('=').unwrap();
    let padded = format!("{name}={}", value.repeat(20 * 1024 / value.len() + 1));

    for (case, cookie, signed_in_if_read) in [
        // Refused, or read and found not to verify.
        ("a 20 KiB session cookie", padded, false),
        // Refused, or the genuine cookie next to the padding is read.
        (
            "a 20 KiB cookie next to the genuine one",
            format!("padding={}; {genuine}", "p".repeat(20 * 1024)),
            true,
        ),
    ] {
        let response = get_with_cookie(&app, "/", &cookie).await;
        let status = response.status();
        assert!(
            status == StatusCode::OK || status.is_client_error(),
            "{case}: {status}"
        );
        assert_eq!(live_session_cookies(&response), Vec::<String>::new());
        if status == StatusCode::OK {
            let page = response.text().await.unwrap();
            assert_eq!(page.contains("Signed in as"), signed_in_if_read, "{case}");
            assert_ne!(page.contains("Not signed in"), signed_in_if_read, "{case}");
        }
    }

    // Past what actix-web reads of a request head (128 KiB): refused with a bare 431 before
    // any of the app's code runs.
    let huge = format!("{name}={}", "A".repeat(200 * 1024));
    match reqwest::Client::new()
        .get(format!("{}/", app.address))
        .header("cookie", huge)
        .send()
        .await
    {
        Ok(response) => assert_eq!(
            response.status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        ),
        // The server may close the connection before the client finished sending.
        Err(error) => assert!(error.is_request() || error.is_connect(), "{error:?}"),
    }
    // And the app still serves the genuine session.
    let home = get_with_cookie(&app, "/", &genuine).await;
    assert!(home.text().await.unwrap().contains("Signed in as"));
}

// ---------------------------------------------------------------------------------------------
// Property-based fuzzing of the query-string and cookie parsing paths.
// ---------------------------------------------------------------------------------------------

// On a multi-threaded runtime: the proptest runner is synchronous and blocks one worker while
// the app answers on the others.
for_both_stores!(multi_thread: fuzz_callback_queries, fuzz_session_cookies);

/// Runs `test` on `cases` inputs from `strategy`, blocking this (multi-threaded) runtime's
/// worker while the app keeps running on the others.
fn fuzz<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = tokio::task::block_in_place(|| runner.run(&strategy, test));
    if let Err(error) = outcome {
        panic!("{error}");
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Handle::current().block_on(future)
}

/// A query value as sent: text form-encoded, arbitrary bytes (invalid UTF-8 included)
/// percent-encoded, or raw junk with broken escapes.
fn query_value_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,40}".prop_map(|text| {
            url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>()
        }),
        proptest::collection::vec(any::<u8>(), 0..40)
            .prop_map(|bytes| { bytes.iter().map(|byte| format!("%{byte:02X}")).collect() }),
        "[a-zA-Z0-9%+=;:/?@!$'()*,._~-]{0,40}",
    ]
}

/// One query parameter: a name the callback reads, or any other; a value as text, as
/// percent-encoded arbitrary bytes (invalid UTF-8 included) or as raw junk with broken
/// escapes.
fn query_pair() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        Just("code".to_owned()),
        Just("state".to_owned()),
        Just("iss".to_owned()),
        Just("error".to_owned()),
        Just("error_description".to_owned()),
        "[a-z_%0-9]{0,8}",
    ];
    (name, proptest::option::of(query_value_text())).prop_map(|(name, value)| match value {
        Some(value) => format!("{name}={value}"),
        None => name,
    })
}

/// A whole query: random pairs after `genuine` (0 to 3) genuine-looking leading pairs: this
/// browser's real `state`, the real `iss`, then a fuzzed `code`, so that a quarter of the
/// cases get past the state and issuer checks to the code exchange.
fn callback_query() -> impl Strategy<Value = (u8, String, Vec<String>)> {
    (
        0..=3_u8,
        query_value_text(),
        proptest::collection::vec(query_pair(), 0..6),
    )
}

async fn fuzz_callback_queries(store: Store) {
    let app = spawn_app(store).await;
    let started = Instant::now();
    let issuer =
        url::form_urlencoded::byte_serialize(app.idp().issuer().as_bytes()).collect::<String>();
    fuzz(200, callback_query(), |(genuine, code, pairs)| {
        block_on(async {
            // A browser per case: with several attempts in one session, spending one rewrites
            // the session with the others, a legitimate write this test would not tell apart.
            let browser = Browser::another();
            let mut query = pairs.join("&");
            if genuine >= 3 {
                query = format!("code={code}&{query}");
            }
            if genuine >= 2 {
                query = format!("iss={issuer}&{query}");
            }
            if genuine >= 1 {
                let sign_in = browser.get(&format!("{}/sign-in", app.address)).await;
                let pairs = query_pairs(&location(&sign_in));
                let state = query_value(&pairs, "state").unwrap();
                query = format!("state={state}&{query}");
            }
            let response = browser
                .get(&format!("{}/callback?{query}", app.address))
                .await;
            let status = response.status();
            prop_assert!(status.is_client_error(), "{status} for ?{query}");
            prop_assert_eq!(live_session_cookies(&response), Vec::<String>::new());
            let page = response.text().await.unwrap();
            prop_assert!(page.contains("<p>Error 4"), "?{query}: {page}");
            prop_assert!(!page.to_ascii_lowercase().contains("<script"));
            prop_assert!(!browser.is_signed_in(&app).await);
            Ok(())
        })
    });
    assert!(
        app.idp().request_count(Endpoint::Token) > 0,
        "some fuzzed codes reached the token endpoint"
    );
    let (sessions, _) = redis_snapshot(&app).await;
    assert!(
        sessions
            .values()
            .all(|session| !session.contains("\"user\"")),
        "no signed-in session in Redis"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// What a fuzzed cookie is made of.
#[derive(Debug, Clone)]
enum CookieInput {
    /// Any visible ASCII as the value.
    Random(String),
    /// The genuine value with one character changed to another base64 character.
    Flip(usize, char),
    /// The genuine value cut short.
    Truncate(usize),
    /// The genuine value with something appended.
    Extend(String),
    /// Any visible ASCII and spaces as the whole header.
    Header(String),
}

fn cookie_input() -> impl Strategy<Value = CookieInput> {
    let base64_char = proptest::sample::select(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_%"
            .chars()
            .collect::<Vec<_>>(),
    );
    prop_oneof![
        "[!-~]{0,400}".prop_map(CookieInput::Random),
        (any::<usize>(), base64_char).prop_map(|(index, c)| CookieInput::Flip(index, c)),
        any::<usize>().prop_map(CookieInput::Truncate),
        "[!-~]{1,40}".prop_map(CookieInput::Extend),
        "[ -~]{0,400}".prop_map(CookieInput::Header),
    ]
}

/// A cookie value's bytes with `%XX` escapes decoded, as the cookie crate reads it.
fn percent_decoded(value: &str) -> Vec<u8> {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escape = (bytes[index] == b'%')
            .then(|| value.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escape {
            Some(byte) => {
                decoded.push(byte);
                index += 3;
            }
            None => {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
    }
    decoded
}

async fn fuzz_session_cookies(store: Store) {
    let (app, genuine) = signed_in(store).await;
    let (name, value) = genuine.split_once('=').unwrap();
    let value = value.to_owned();
    let (sessions_before, keys_before) = redis_snapshot(&app).await;
    fuzz(200, cookie_input(), |input| {
        let header = match &input {
            CookieInput::Random(random) => format!("{name}={random}"),
            CookieInput::Flip(index, c) => {
                let index = index % value.len();
                let mut forged = value.clone();
                forged.replace_range(index..=index, &c.to_string());
                // `%2F` and `%2f` are the same cookie.
                if percent_decoded(&forged) == percent_decoded(&value) {
                    return Ok(());
                }
                format!("{name}={forged}")
            }
            CookieInput::Truncate(length) => format!("{name}={}", &value[..length % value.len()]),
            CookieInput::Extend(tail) => format!("{name}={value}{tail}"),
            CookieInput::Header(header) => header.clone(),
        };
        block_on(async {
            let response = get_with_cookie(&app, "/", &header).await;
            let status = response.status();
            prop_assert_eq!(status, StatusCode::OK, "{}", header);
            prop_assert_eq!(live_session_cookies(&response), Vec::<String>::new());
            let page = response.text().await.unwrap();
            // `Extend` may append `;…`, which leaves the genuine cookie whole.
            let genuine_kept = header.starts_with(&format!("{genuine};"));
            prop_assert!(
                page.contains("Not signed in") || genuine_kept,
                "signed in with {}",
                header
            );
            Ok(())
        })
    });
    assert_eq!(
        redis_snapshot(&app).await,
        (sessions_before, keys_before),
        "Redis is as it was"
    );
}
