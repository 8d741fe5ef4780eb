//! What the client's test files share: the app as the in-process IdP knows it, and a sign-in
//! by hand (no app, no browser).

use reqwest::StatusCode;
use reqwest::header::LOCATION;
use secrecy::SecretString;
use url::Url;

use logto_client::{CallbackParams, LogtoClient, LogtoConfig, SignInOptions, SignedIn};
use test_support::browser::{query_pairs, query_value};
use test_support::idp::{RegisteredClient, TestIdp};

/// Where the (absent) app would live; only its redirect URIs matter.
pub const APP_ADDRESS: &str = "http://localhost:8000";
pub const APP_ID: &str = "bookstore-test";
pub const APP_SECRET: &str = "bookstore-test-secret";

/// The IdP, knowing the app by `secret`, and the client configuration that reaches it.
pub async fn idp_and_config(secret: &str) -> (TestIdp, LogtoConfig) {
    let idp = TestIdp::start(RegisteredClient {
        client_id: APP_ID.to_owned(),
        client_secret: secret.to_owned(),
        redirect_uri: format!("{APP_ADDRESS}/callback"),
        post_logout_redirect_uri: format!("{APP_ADDRESS}/"),
    })
    .await;
    let config = LogtoConfig::new(
        Url::parse(&idp.endpoint()).expect("the IdP's endpoint is a URL"),
        APP_ID.to_owned(),
        SecretString::from(secret),
        Url::parse(&format!("{APP_ADDRESS}/callback")).expect("a URL"),
        Url::parse(&format!("{APP_ADDRESS}/")).expect("a URL"),
    );
    (idp, config)
}

/// Signs in by hand: the authorization URL, the IdP's 303, then the callback's query.
pub async fn sign_in_by_hand(client: &LogtoClient, options: &SignInOptions) -> SignedIn {
    let start = client
        .start_sign_in(options)
        .await
        .expect("the sign-in starts");
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a browser-like client");
    let at_idp = browser
        .get(start.url.as_str())
        .send()
        .await
        .expect("the IdP answers");
    assert_eq!(at_idp.status(), StatusCode::SEE_OTHER);
    let callback = at_idp.headers()[LOCATION]
        .to_str()
        .expect("an ASCII Location")
        .to_owned();
    assert!(callback.starts_with(&format!("{APP_ADDRESS}/callback?")));
    let pairs = query_pairs(&callback);
    let value = |name| query_value(&pairs, name).map(str::to_owned);
    let params = CallbackParams {
        code: value("code"),
        state: value("state"),
        iss: value("iss"),
        error: value("error"),
        error_description: value("error_description"),
    };
    assert_eq!(params.state.as_deref(), Some(start.pending.state.as_str()));
    client
        .finish_sign_in(&start.pending, &params)
        .await
        .expect("the sign-in finishes")
}
