//! A browser-like HTTP client, and what tests read from responses and pages.

use std::sync::Arc;
use std::time::Duration;

use reqwest::cookie::Jar;
use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};
use url::Url;

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

/// The CSRF token in a page's sign-out form.
pub fn csrf_token(page: &str) -> Option<String> {
    const INPUT: &str = r#"name="csrf_token" value=""#;
    let start = page.find(INPUT)? + INPUT.len();
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

/// Browsers keep a cookie only when `name=value` is at most this many bytes.
pub const MAX_BROWSER_COOKIE_BYTES: usize = 4096;

/// Fails unless every cookie the response sets fits in a browser.
pub fn assert_cookies_fit_in_a_browser(response: &Response) {
    for cookie in set_cookies(response) {
        let name_value = cookie.split(';').next().unwrap_or_default();
        assert!(
            name_value.len() <= MAX_BROWSER_COOKIE_BYTES,
            "a {}-byte cookie would be dropped by the browser",
            name_value.len()
        );
    }
}

/// A browser of its own (own cookies), signed in to the app at `address` through the whole
/// flow.
pub async fn signed_in_browser(address: &str) -> reqwest::Client {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(Arc::new(Jar::default()))
        // A kept-alive connection would outlive a restarted app; browsers retry, tests would not.
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let sign_in = browser
        .get(format!("{address}/sign-in"))
        .send()
        .await
        .unwrap();
    let at_idp = browser.get(location(&sign_in)).send().await.unwrap();
    let callback = browser.get(location(&at_idp)).send().await.unwrap();
    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    browser
}

/// Whether the home page of the app at `address` greets `browser` as signed in.
pub async fn is_signed_in(browser: &reqwest::Client, address: &str) -> bool {
    let home = browser.get(format!("{address}/")).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    home.text().await.unwrap().contains("Signed in as")
}
