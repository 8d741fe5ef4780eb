//! Self-test of the test IdP: it speaks OIDC like Logto, and each misbehaviour breaks what it
//! claims to break. If these fail, the app's tests cannot be trusted.

use std::collections::HashMap;
use std::net::TcpListener;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use p384::pkcs8::{EncodePublicKey, LineEnding};
use rand_core::{OsRng, RngCore};
use reqwest::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha384};
use url::Url;

use test_support::idp::*;

const STATE: &str = "state-from-the-app";

fn registered_client() -> RegisteredClient {
    RegisteredClient {
        client_id: "bookstore-app".to_owned(),
        // Characters that RFC 6749 §2.3.1 form-encoding changes, to check the IdP decodes them.
        client_secret: "s3cr3t +/=:&%".to_owned(),
        redirect_uri: "http://localhost:8000/callback".to_owned(),
        post_logout_redirect_uri: "http://localhost:8000/".to_owned(),
    }
}

/// Like the app's client: redirects are inspected, not followed.
fn http_client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client builds")
}

fn random_string() -> String {
    let mut bytes = [0_u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `client_secret_basic` done right: form-encode id and secret, then base64 (RFC 6749 §2.3.1).
fn basic_authorization(client_id: &str, client_secret: &str) -> String {
    let encode = |value: &str| -> String {
        url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
    };
    let credentials = format!("{}:{}", encode(client_id), encode(client_secret));
    format!("Basic {}", STANDARD.encode(credentials))
}

/// The PKCE verifier and nonce the app would keep in its session during sign-in.
struct PendingSignIn {
    code: String,
    code_verifier: String,
    nonce: String,
}

/// What a successful sign-in yields.
struct Tokens {
    access_token: String,
    id_token: String,
    nonce: String,
}

fn authorize_query<'a>(
    client: &'a RegisteredClient,
    code_challenge: &'a str,
    nonce: &'a str,
    scope: &'a str,
) -> Vec<(&'static str, &'a str)> {
    vec![
        ("client_id", client.client_id.as_str()),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("response_type", "code"),
        ("scope", scope),
        ("state", STATE),
        ("nonce", nonce),
        ("code_challenge", code_challenge),
        ("code_challenge_method", "S256"),
    ]
}

fn query_of(location: &Url) -> HashMap<String, String> {
    location.query_pairs().into_owned().collect()
}

fn location_of(response: &Response) -> Url {
    let location = response.headers()[LOCATION]
        .to_str()
        .expect("Location is ASCII");
    Url::parse(location).expect("Location is an absolute URL")
}

/// Runs `/oidc/auth` as the app's browser would and returns the code it was redirected with.
async fn authorize(idp: &TestIdp, http: &Client, scope: &str) -> PendingSignIn {
    authorize_with(idp, http, scope, &[]).await
}

/// Like [`authorize`], with `extra` parameters (such as `resource`) added to the request.
async fn authorize_with(
    idp: &TestIdp,
    http: &Client,
    scope: &str,
    extra: &[(&'static str, &str)],
) -> PendingSignIn {
    let client = registered_client();
    let code_verifier = random_string();
    let code_challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()));
    let nonce = random_string();
    let mut query = authorize_query(&client, &code_challenge, &nonce, scope);
    query.extend_from_slice(extra);
    let response = http
        .get(format!("{}/auth", idp.issuer()))
        .query(&query)
        .send()
        .await
        .expect("authorize request succeeds");

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = location_of(&response);
    assert_eq!(
        &location[..url::Position::AfterPath],
        client.redirect_uri,
        "redirects to the registered URI"
    );
    let query = query_of(&location);
    assert_eq!(query["state"], STATE);
    assert_eq!(query["iss"], idp.issuer(), "RFC 9207 iss parameter");
    assert!(
        location
            .query()
            .unwrap()
            .contains("iss=http%3A%2F%2F127.0.0.1%3A"),
        "iss is url-encoded: {location}"
    );
    PendingSignIn {
        code: query["code"].clone(),
        code_verifier,
        nonce,
    }
}

async fn redeem(idp: &TestIdp, http: &Client, code: &str, code_verifier: &str) -> Response {
    let client = registered_client();
    http.post(format!("{}/token", idp.issuer()))
        .header(
            AUTHORIZATION,
            basic_authorization(&client.client_id, &client.client_secret),
        )
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &client.redirect_uri),
            ("code_verifier", code_verifier),
        ])
        .send()
        .await
        .expect("token request succeeds")
}

async fn sign_in(idp: &TestIdp, http: &Client) -> Tokens {
    let pending = authorize(idp, http, "openid profile email").await;
    let response = redeem(idp, http, &pending.code, &pending.code_verifier).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("token response is JSON");
    Tokens {
        access_token: body["access_token"].as_str().unwrap().to_owned(),
        id_token: body["id_token"].as_str().unwrap().to_owned(),
        nonce: pending.nonce,
    }
}

async fn fetch_jwks(idp: &TestIdp, http: &Client) -> JwkSet {
    http.get(format!("{}/jwks", idp.issuer()))
        .send()
        .await
        .expect("JWKS request succeeds")
        .json()
        .await
        .expect("JWKS is a JWK set")
}

fn kid_of(jwk: &Jwk) -> &str {
    jwk.common.key_id.as_deref().expect("JWKS keys have a kid")
}

/// Verifies an ID token the way a relying party must: ES384, key from the JWKS, aud and iss.
fn verify(id_token: &str, jwk: &Jwk, idp: &TestIdp) -> jsonwebtoken::errors::Result<Value> {
    verify_for(id_token, jwk, idp, &registered_client().client_id)
}

/// Verifies any JWT of the IdP (ES384, `iss`, `exp`) for `audience`.
fn verify_for(
    token: &str,
    jwk: &Jwk,
    idp: &TestIdp,
    audience: &str,
) -> jsonwebtoken::errors::Result<Value> {
    let mut validation = Validation::new(Algorithm::ES384);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[idp.issuer()]);
    let key = DecodingKey::from_jwk(jwk)?;
    jsonwebtoken::decode(token, &key, &validation).map(|data| data.claims)
}

/// A refresh-token grant; `extra` adds `resource` or `organization_id`.
async fn refresh(
    idp: &TestIdp,
    http: &Client,
    refresh_token: &str,
    extra: &[(&str, &str)],
) -> Response {
    let client = registered_client();
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    form.extend_from_slice(extra);
    http.post(format!("{}/token", idp.issuer()))
        .header(
            AUTHORIZATION,
            basic_authorization(&client.client_id, &client.client_secret),
        )
        .form(&form)
        .send()
        .await
        .expect("token request succeeds")
}

/// The JSON body of a token response that must have succeeded.
async fn token_body(response: Response) -> Value {
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("token response is JSON")
}

/// The `error` of an OAuth error response with `status`.
async fn oauth_error_of(response: Response, status: StatusCode) -> String {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.expect("error response is JSON");
    body["error"].as_str().expect("an error code").to_owned()
}

/// `GET /oidc/me` with `access_token` as a Bearer token.
async fn userinfo(idp: &TestIdp, http: &Client, access_token: &str) -> Response {
    http.get(format!("{}/me", idp.issuer()))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("userinfo request succeeds")
}

/// Signs in with `scope` and redeems the code: the token response's body.
async fn sign_in_with_scope(idp: &TestIdp, http: &Client, scope: &str) -> Value {
    let pending = authorize(idp, http, scope).await;
    token_body(redeem(idp, http, &pending.code, &pending.code_verifier).await).await
}

/// Decodes one part (0 = header, 1 = claims) of a compact JWT without verifying anything.
fn jwt_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("JWT has this part");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("part is base64url"))
        .expect("part is JSON")
}

fn expected_at_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(&Sha384::digest(access_token.as_bytes())[..24])
}

fn assert_fails(result: jsonwebtoken::errors::Result<Value>, expected: &ErrorKind) {
    let error = result.expect_err("verification must fail");
    assert_eq!(
        std::mem::discriminant(error.kind()),
        std::mem::discriminant(expected),
        "unexpected error {error:?}"
    );
}

fn unix_now() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since_epoch.as_secs()).unwrap()
}

#[tokio::test]
async fn discovery_and_jwks_describe_a_logto_like_provider() {
    let idp = TestIdp::start(registered_client()).await;
    let http = http_client();
    assert_eq!(idp.endpoint(), format!("http://127.0.0.1:{}", idp.port()));
    assert_eq!(idp.issuer(), format!("{}/oidc", idp.endpoint()));

    let discovery: Value = http
        .get(format!("{}/.well-known/openid-configuration", idp.issuer()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let issuer = idp.issuer();
    assert_eq!(discovery["issuer"], issuer);
    assert_eq!(
        discovery["authorization_endpoint"],
        format!("{issuer}/auth")
    );
    assert_eq!(discovery["token_endpoint"], format!("{issuer}/token"));
    assert_eq!(discovery["userinfo_endpoint"], format!("{issuer}/me"));
    assert_eq!(discovery["jwks_uri"], format!("{issuer}/jwks"));
    assert_eq!(
        discovery["end_session_endpoint"],
        format!("{issuer}/session/end")
    );
    assert_eq!(
        discovery["revocation_endpoint"],
        format!("{issuer}/token/revocation")
    );
    assert_eq!(discovery["response_types_supported"], json!(["code"]));
    assert_eq!(discovery["subject_types_supported"], json!(["public"]));
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        json!(["ES384"])
    );
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(
        discovery["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
    assert_eq!(
        discovery["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(
        discovery["grant_types_supported"],
        json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    assert_eq!(discovery["backchannel_logout_supported"], true);
    assert!(discovery["scopes_supported"].is_array());
    assert!(discovery["claims_supported"].is_array());

    let response = http.get(format!("{issuer}/jwks")).send().await.unwrap();
    assert_eq!(response.headers()[CACHE_CONTROL], "no-cache");
    let jwks: Value = response.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(key["kty"], "EC");
    assert_eq!(key["crv"], "P-384");
    assert_eq!(key["alg"], "ES384");
    assert_eq!(key["use"], "sig");
    assert!(key["kid"].is_string());
    // 48-byte coordinates, base64url without padding.
    assert_eq!(key["x"].as_str().unwrap().len(), 64);
    assert_eq!(key["y"].as_str().unwrap().len(), 64);

    assert_eq!(idp.request_count(Endpoint::Discovery), 1);
    assert_eq!(idp.request_count(Endpoint::Jwks), 1);
    assert_eq!(idp.request_count(Endpoint::Authorize), 0);
}

#[tokio::test]
async fn code_flow_issues_a_verifiable_id_token_once() {
    let idp = TestIdp::start(registered_client()).await;
    let http = http_client();
    let pending = authorize(&idp, &http, "openid profile email offline_access").await;
    let recorded: HashMap<_, _> = idp
        .last_authorize_query()
        .expect("authorize request recorded")
        .into_iter()
        .collect();
    assert_eq!(recorded["nonce"], pending.nonce);
    assert_eq!(recorded["code_challenge_method"], "S256");

    let response = redeem(&idp, &http, &pending.code, &pending.code_verifier).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    let body: Value = response.json().await.unwrap();
    let access_token = body["access_token"].as_str().unwrap();
    assert_eq!(access_token.len(), 43);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "openid profile email offline_access");
    assert!(
        body["refresh_token"].is_string(),
        "offline_access was granted"
    );

    let id_token = body["id_token"].as_str().unwrap();
    let jwks = fetch_jwks(&idp, &http).await;
    let header = jwt_part(id_token, 0);
    assert_eq!(header["alg"], "ES384");
    assert_eq!(header["typ"], "JWT");
    let jwk = jwks
        .find(header["kid"].as_str().unwrap())
        .expect("kid is published");
    let claims = verify(id_token, jwk, &idp).expect("ID token verifies");

    let now = unix_now();
    assert_eq!(claims["iss"], idp.issuer());
    assert_eq!(claims["aud"], "bookstore-app");
    assert_eq!(claims["sub"], "user_alice");
    assert_eq!(claims["nonce"], pending.nonce);
    assert_eq!(claims["at_hash"], expected_at_hash(access_token));
    assert!((claims["iat"].as_i64().unwrap() - now).abs() <= 5);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    assert!(claims["auth_time"].as_i64().unwrap() <= claims["iat"].as_i64().unwrap());
    assert!(claims["sid"].is_string());
    assert_eq!(claims["name"], "Alice Liddell");
    assert_eq!(claims["username"], "alice");
    assert_eq!(claims["picture"], "https://example.com/alice.png");
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["email_verified"], true);
    // Logto's timestamps are in milliseconds.
    assert!(claims["created_at"].as_i64().unwrap() > 1_000_000_000_000);
    assert!(claims["updated_at"].as_i64().unwrap() / 1000 >= now - 5);

    let replay = redeem(&idp, &http, &pending.code, &pending.code_verifier).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        replay.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    assert_eq!(idp.request_count(Endpoint::Authorize), 1);
    assert_eq!(idp.request_count(Endpoint::Token), 2);

    let without_offline_access = authorize(&idp, &http, "openid").await;
    let body: Value = redeem(
        &idp,
        &http,
        &without_offline_access.code,
        &without_offline_access.code_verifier,
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(body.get("refresh_token").is_none());
}

#[tokio::test]
async fn token_endpoint_rejects_bad_clients_and_bad_grants() {
    let idp = TestIdp::start(registered_client()).await;
    let http = http_client();
    let client = registered_client();
    let token_endpoint = format!("{}/token", idp.issuer());
    let pending = authorize(&idp, &http, "openid").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", pending.code.as_str()),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("code_verifier", pending.code_verifier.as_str()),
    ];

    let unauthenticated = http.post(&token_endpoint).form(&form).send().await.unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    assert!(unauthenticated.headers().contains_key(WWW_AUTHENTICATE));
    assert_eq!(
        unauthenticated.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );

    let wrong_secret = http
        .post(&token_endpoint)
        .header(
            AUTHORIZATION,
            basic_authorization(&client.client_id, "nope"),
        )
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_secret.status(), StatusCode::UNAUTHORIZED);

    // reqwest's basic_auth skips the form-encoding, so this secret's `+` and `%` break it.
    let not_form_encoded = http
        .post(&token_endpoint)
        .basic_auth(&client.client_id, Some(&client.client_secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(not_form_encoded.status(), StatusCode::UNAUTHORIZED);

    let authorization = basic_authorization(&client.client_id, &client.client_secret);
    let wrong_grant_type = http
        .post(&token_endpoint)
        .header(AUTHORIZATION, &authorization)
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_grant_type.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        wrong_grant_type.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );

    // A failed PKCE check still consumes the code.
    let wrong_verifier = redeem(&idp, &http, &pending.code, "not-the-verifier").await;
    assert_eq!(wrong_verifier.status(), StatusCode::BAD_REQUEST);
    let error: Value = wrong_verifier.json().await.unwrap();
    assert_eq!(error["error"], "invalid_grant");
    assert!(error["error_description"].is_string());
    let right_verifier_too_late = redeem(&idp, &http, &pending.code, &pending.code_verifier).await;
    assert_eq!(right_verifier_too_late.status(), StatusCode::BAD_REQUEST);

    let pending = authorize(&idp, &http, "openid").await;
    let wrong_redirect_uri = http
        .post(&token_endpoint)
        .header(AUTHORIZATION, &authorization)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", pending.code.as_str()),
            ("redirect_uri", "http://localhost:8000/elsewhere"),
            ("code_verifier", pending.code_verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_redirect_uri.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        wrong_redirect_uri.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn authorize_never_redirects_to_an_unregistered_uri() {
    let idp = TestIdp::start(registered_client()).await;
    let http = http_client();
    let client = registered_client();
    let auth_endpoint = format!("{}/auth", idp.issuer());
    let valid = authorize_query(&client, "challenge", "nonce", "openid");
    let with = |name: &'static str, value: &'static str| {
        let mut query = valid.clone();
        query.retain(|(key, _)| *key != name);
        query.push((name, value));
        query
    };

    for query in [
        with("client_id", "unknown-app"),
        with("redirect_uri", "https://evil.example/callback"),
    ] {
        let response = http.get(&auth_endpoint).query(&query).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.headers().get(LOCATION).is_none());
        assert!(
            response.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
    }

    for (query, expected_error) in [
        (with("code_challenge_method", "plain"), "invalid_request"),
        (with("response_type", "token"), "unsupported_response_type"),
        (with("scope", "profile email"), "invalid_scope"),
    ] {
        let response = http.get(&auth_endpoint).query(&query).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let error = query_of(&location_of(&response));
        assert_eq!(error["error"], expected_error);
        assert_eq!(error["state"], STATE);
        assert_eq!(error["iss"], idp.issuer());
        assert!(!error.contains_key("code"));
    }

    let recorded = idp.last_authorize_query().unwrap();
    assert!(recorded.contains(&("scope".to_owned(), "profile email".to_owned())));
    assert_eq!(idp.request_count(Endpoint::Authorize), 5);
}

#[tokio::test]
async fn set_user_changes_the_claims_of_later_sign_ins() {
    let idp = TestIdp::start(registered_client()).await;
    let http = http_client();
    let pending_as_alice = authorize(&idp, &http, "openid").await;

    let mut bob = TestUser {
        sub: "user_bob".to_owned(),
        name: None,
        username: Some("bob".to_owned()),
        picture: None,
        email: None,
        extra_claims: serde_json::Map::new(),
    };
    bob.extra_claims
        .insert("roles".to_owned(), json!(["admin"]));
    bob.extra_claims
        .insert("bio".to_owned(), json!("x".repeat(8192)));
    idp.set_user(bob);

    let jwks = fetch_jwks(&idp, &http).await;
    let body: Value = redeem(
        &idp,
        &http,
        &pending_as_alice.code,
        &pending_as_alice.code_verifier,
    )
    .await
    .json()
    .await
    .unwrap();
    let claims = verify(body["id_token"].as_str().unwrap(), &jwks.keys[0], &idp).unwrap();
    assert_eq!(
        claims["sub"], "user_alice",
        "a grant keeps the user who signed in"
    );

    let tokens = sign_in(&idp, &http).await;
    let claims = verify(&tokens.id_token, &jwks.keys[0], &idp).unwrap();
    assert_eq!(claims["sub"], "user_bob");
    assert_eq!(claims["username"], "bob");
    assert_eq!(claims["picture"], Value::Null, "Logto sends a null picture");
    for absent in ["name", "email", "email_verified"] {
        assert!(claims.get(absent).is_none(), "{absent} is omitted");
    }
    assert_eq!(claims["roles"], json!(["admin"]));
    assert_eq!(claims["bio"].as_str().unwrap().len(), 8192);
}

#[tokio::test]
async fn misbehaviours_break_exactly_what_they_name() {
    let idp = TestIdp::start(registered_client()).await;
    let http = http_client();
    let jwks = fetch_jwks(&idp, &http).await;
    let published = &jwks.keys[0];
    let kid = kid_of(published);

    idp.set_misbehaviour(Misbehaviour::WrongSignature);
    let token = sign_in(&idp, &http).await.id_token;
    assert_eq!(jwt_part(&token, 0)["kid"], kid);
    assert_fails(
        verify(&token, published, &idp),
        &ErrorKind::InvalidSignature,
    );

    idp.set_misbehaviour(Misbehaviour::WrongAudience);
    let token = sign_in(&idp, &http).await.id_token;
    assert_fails(verify(&token, published, &idp), &ErrorKind::InvalidAudience);
    assert_eq!(jwt_part(&token, 1)["aud"], "someone-else");

    idp.set_misbehaviour(Misbehaviour::WrongIssuer);
    let token = sign_in(&idp, &http).await.id_token;
    assert_fails(verify(&token, published, &idp), &ErrorKind::InvalidIssuer);
    assert_eq!(jwt_part(&token, 1)["iss"], "https://evil.example/oidc");

    idp.set_misbehaviour(Misbehaviour::Expired);
    let token = sign_in(&idp, &http).await.id_token;
    assert_fails(
        verify(&token, published, &idp),
        &ErrorKind::ExpiredSignature,
    );

    idp.set_misbehaviour(Misbehaviour::IssuedInTheFuture);
    let token = sign_in(&idp, &http).await.id_token;
    let claims = verify(&token, published, &idp).expect("only iat is off");
    assert!(claims["iat"].as_i64().unwrap() >= unix_now() + 3500);

    idp.set_misbehaviour(Misbehaviour::WrongNonce);
    let token = sign_in(&idp, &http).await.id_token;
    assert_eq!(
        verify(&token, published, &idp).unwrap()["nonce"],
        "not-the-nonce"
    );

    idp.set_misbehaviour(Misbehaviour::MissingNonce);
    let token = sign_in(&idp, &http).await.id_token;
    assert!(
        verify(&token, published, &idp)
            .unwrap()
            .get("nonce")
            .is_none()
    );

    idp.set_misbehaviour(Misbehaviour::UnknownKid);
    let token = sign_in(&idp, &http).await.id_token;
    assert_eq!(jwt_part(&token, 0)["kid"], "unknown-kid");
    assert!(fetch_jwks(&idp, &http).await.find("unknown-kid").is_none());
    assert_fails(
        verify(&token, published, &idp),
        &ErrorKind::InvalidSignature,
    );

    idp.set_misbehaviour(Misbehaviour::AlgNone);
    let token = sign_in(&idp, &http).await.id_token;
    assert_eq!(jwt_part(&token, 0), json!({ "alg": "none", "typ": "JWT" }));
    assert!(token.ends_with('.'), "empty signature part");
    assert_eq!(jwt_part(&token, 1)["aud"], "bookstore-app");

    idp.set_misbehaviour(Misbehaviour::Hs256SignedWithPublicKey);
    let token = sign_in(&idp, &http).await.id_token;
    assert_eq!(jwt_part(&token, 0)["alg"], "HS256");
    assert_eq!(jwt_part(&token, 0)["kid"], kid);
    // The attack works against a verifier that lets the header pick the algorithm.
    let AlgorithmParameters::EllipticCurve(point) = &published.algorithm else {
        panic!("JWKS key is an EC key");
    };
    let sec1 = [
        &[0x04][..],
        &URL_SAFE_NO_PAD.decode(&point.x).unwrap(),
        &URL_SAFE_NO_PAD.decode(&point.y).unwrap(),
    ]
    .concat();
    let public_key_pem = p384::PublicKey::from_sec1_bytes(&sec1)
        .unwrap()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let mut hs256 = Validation::new(Algorithm::HS256);
    hs256.set_audience(&["bookstore-app"]);
    let secret = DecodingKey::from_secret(public_key_pem.as_bytes());
    jsonwebtoken::decode::<Value>(&token, &secret, &hs256).expect("HMAC keyed with the PEM");
    assert_fails(
        verify(&token, published, &idp),
        &ErrorKind::InvalidAlgorithm,
    );

    idp.set_misbehaviour(Misbehaviour::WrongAtHash);
    let tokens = sign_in(&idp, &http).await;
    let claims = verify(&tokens.id_token, published, &idp).expect("only at_hash is off");
    assert_ne!(claims["at_hash"], expected_at_hash(&tokens.access_token));
    assert_eq!(claims["nonce"], tokens.nonce);

    idp.set_misbehaviour(Misbehaviour::TokenEndpointError500);
    let pending = authorize(&idp, &http, "openid").await;
    let response = redeem(&idp, &http, &pending.code, &pending.code_verifier).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    idp.set_misbehaviour(Misbehaviour::TokenEndpointInvalidJson);
    let response = redeem(&idp, &http, &pending.code, &pending.code_verifier).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    assert!(response.json::<Value>().await.is_err());

    idp.set_misbehaviour(Misbehaviour::None);
    let tokens = sign_in(&idp, &http).await;
    let claims = verify(&tokens.id_token, published, &idp).expect("back to normal");
    assert_eq!(claims["nonce"], tokens.nonce);
    assert_eq!(claims["at_hash"], expected_at_hash(&tokens.access_token));
}

#[tokio::test]
async fn end_session_checks_the_client_and_the_id_token_hint() {
    let idp = TestIdp::start(registered_client()).await;
    let http = http_client();
    let client = registered_client();
    let end_session = format!("{}/session/end", idp.issuer());
    let id_token = sign_in(&idp, &http).await.id_token;
    let sign_out = |id_token_hint: &str, post_logout_redirect_uri: &str| {
        http.get(&end_session)
            .query(&[
                ("id_token_hint", id_token_hint),
                ("client_id", client.client_id.as_str()),
                ("post_logout_redirect_uri", post_logout_redirect_uri),
                ("state", "bye"),
            ])
            .send()
    };

    let response = sign_out(&id_token, &client.post_logout_redirect_uri)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[LOCATION],
        "http://localhost:8000/?state=bye"
    );
    let recorded = idp.last_end_session_query().expect("request recorded");
    assert_eq!(recorded[0], ("id_token_hint".to_owned(), id_token.clone()));
    assert_eq!(recorded.len(), 4);

    let unregistered = sign_out(&id_token, "https://evil.example/").await.unwrap();
    assert_eq!(unregistered.status(), StatusCode::BAD_REQUEST);
    assert!(unregistered.headers().get(LOCATION).is_none());

    let without_hint = http
        .get(&end_session)
        .query(&[
            ("client_id", client.client_id.as_str()),
            (
                "post_logout_redirect_uri",
                client.post_logout_redirect_uri.as_str(),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(without_hint.status(), StatusCode::SEE_OTHER);
    assert_eq!(without_hint.headers()[LOCATION], "http://localhost:8000/");

    for (misbehaviour, expected_status) in [
        (Misbehaviour::WrongSignature, StatusCode::BAD_REQUEST),
        (
            Misbehaviour::Hs256SignedWithPublicKey,
            StatusCode::BAD_REQUEST,
        ),
        (Misbehaviour::AlgNone, StatusCode::BAD_REQUEST),
        (Misbehaviour::WrongAudience, StatusCode::BAD_REQUEST),
        // Logto accepts expired hints.
        (Misbehaviour::Expired, StatusCode::SEE_OTHER),
    ] {
        idp.set_misbehaviour(misbehaviour);
        let hint = sign_in(&idp, &http).await.id_token;
        let response = sign_out(&hint, &client.post_logout_redirect_uri)
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            expected_status,
            "hint from {misbehaviour:?}"
        );
    }
    assert_eq!(idp.request_count(Endpoint::EndSession), 8);
}

#[tokio::test]
async fn rotated_keys_sign_new_tokens_and_old_keys_stay_published() {
    let idp = TestIdp::start(registered_client()).await;
    let http = http_client();
    let old_token = sign_in(&idp, &http).await.id_token;
    let old_kid = fetch_jwks(&idp, &http).await.keys[0]
        .common
        .key_id
        .clone()
        .unwrap();

    idp.rotate_signing_key();
    let jwks = fetch_jwks(&idp, &http).await;
    assert_eq!(jwks.keys.len(), 2);
    let new_token = sign_in(&idp, &http).await.id_token;
    let new_kid = jwt_part(&new_token, 0)["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid);
    verify(&new_token, jwks.find(&new_kid).unwrap(), &idp).expect("new key verifies");
    verify(&old_token, jwks.find(&old_kid).unwrap(), &idp).expect("old key still published");

    let client = registered_client();
    let response = http
        .get(format!("{}/session/end", idp.issuer()))
        .query(&[
            ("id_token_hint", old_token.as_str()),
            ("client_id", client.client_id.as_str()),
            (
                "post_logout_redirect_uri",
                client.post_logout_redirect_uri.as_str(),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "old hints are accepted"
    );
}

#[tokio::test]
async fn stop_frees_the_port_so_the_idp_can_come_back() {
    let idp = TestIdp::start(registered_client()).await;
    let http = http_client();
    let port = idp.port();
    let discovery_url = format!("{}/.well-known/openid-configuration", idp.issuer());
    assert!(
        http.get(&discovery_url)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );

    idp.stop().await;
    let error = http
        .get(&discovery_url)
        .send()
        .await
        .expect_err("IdP is down");
    assert!(error.is_connect(), "{error:?}");
    drop(TcpListener::bind(("127.0.0.1", port)).expect("port is free again"));

    let idp = TestIdp::start_on_port(registered_client(), port).await;
    assert_eq!(idp.port(), port);
    assert!(
        http.get(&discovery_url)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    assert_eq!(
        idp.request_count(Endpoint::Discovery),
        1,
        "a fresh IdP counts from zero"
    );
    idp.stop().await;
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_revokes_the_grant() {
    let idp = TestIdp::start(registered_client()).await;
    let http = http_client();
    let jwks = fetch_jwks(&idp, &http).await;
    let body = sign_in_with_scope(&idp, &http, "openid offline_access profile").await;
    let first = body["refresh_token"].as_str().unwrap().to_owned();
    let sid = jwt_part(body["id_token"].as_str().unwrap(), 1)["sid"].clone();
    assert_eq!(idp.last_sid().map(Value::from), Some(sid.clone()));

    let refreshed = token_body(refresh(&idp, &http, &first, &[]).await).await;
    let second = refreshed["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first, "rotated");
    assert_eq!(refreshed["expires_in"], 3600);
    assert_eq!(refreshed["scope"], "openid offline_access profile");
    let access_token = refreshed["access_token"].as_str().unwrap();
    assert_eq!(access_token.split('.').count(), 1, "opaque");
    let claims = verify(refreshed["id_token"].as_str().unwrap(), &jwks.keys[0], &idp)
        .expect("a signed ID token");
    assert_eq!(claims["sub"], "user_alice");
    assert_eq!(claims["sid"], sid);
    assert!(claims.get("nonce").is_none() && claims.get("at_hash").is_none());
    assert_eq!(
        userinfo(&idp, &http, access_token).await.status(),
        StatusCode::OK
    );

    let reused = refresh(&idp, &http, &first, &[]).await;
    assert_eq!(
        oauth_error_of(reused, StatusCode::BAD_REQUEST).await,
        "invalid_grant"
    );
    let newest = refresh(&idp, &http, &second, &[]).await;
    assert_eq!(
        oauth_error_of(newest, StatusCode::BAD_REQUEST).await,
        "invalid_grant",
        "the reuse revoked the whole grant"
    );
    assert_eq!(
        userinfo(&idp, &http, access_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(idp.refresh_grant_count(), 3);
    assert_eq!(idp.request_count(Endpoint::Token), 4);
}

#[tokio::test]
async fn resources_give_jwt_access_tokens_and_organizations_need_scope_and_membership() {
    let idp = TestIdp::start(registered_client()).await;
    let http = http_client();
    let jwks = fetch_jwks(&idp, &http).await;
    idp.set_user(TestUser::alice().in_organizations(&["org_1"]));
    let scope = format!("openid offline_access read:books {ORGANIZATIONS_SCOPE}");
    let pending = authorize_with(&idp, &http, &scope, &[("resource", BOOKSTORE_API)]).await;
    let recorded = idp.last_authorize_query().unwrap();
    assert!(recorded.contains(&("resource".to_owned(), BOOKSTORE_API.to_owned())));
    let body = token_body(redeem(&idp, &http, &pending.code, &pending.code_verifier).await).await;
    assert_eq!(
        body["access_token"].as_str().unwrap().split('.').count(),
        1,
        "no resource at the token endpoint: opaque, as in Logto"
    );
    let mut refresh_token = body["refresh_token"].as_str().unwrap().to_owned();

    let for_api =
        token_body(refresh(&idp, &http, &refresh_token, &[("resource", BOOKSTORE_API)]).await)
            .await;
    refresh_token = for_api["refresh_token"].as_str().unwrap().to_owned();
    let jwt = for_api["access_token"].as_str().unwrap();
    assert_eq!(jwt_part(jwt, 0)["typ"], "at+jwt");
    let claims = verify_for(jwt, &jwks.keys[0], &idp, BOOKSTORE_API).expect("a signed JWT");
    assert_eq!(claims["scope"], "read:books");
    assert_eq!(claims["sub"], "user_alice");
    assert_eq!(claims["client_id"], "bookstore-app");
    assert!(claims["jti"].is_string());
    assert_eq!(for_api["scope"], "read:books");
    assert_eq!(
        userinfo(&idp, &http, jwt).await.status(),
        StatusCode::UNAUTHORIZED,
        "JWT access tokens are not for /oidc/me"
    );

    let unknown = refresh(
        &idp,
        &http,
        &refresh_token,
        &[("resource", "https://unknown.example")],
    )
    .await;
    assert_eq!(
        oauth_error_of(unknown, StatusCode::BAD_REQUEST).await,
        "invalid_target"
    );

    let for_org =
        token_body(refresh(&idp, &http, &refresh_token, &[("organization_id", "org_1")]).await)
            .await;
    refresh_token = for_org["refresh_token"].as_str().unwrap().to_owned();
    let org_token = for_org["access_token"].as_str().unwrap();
    verify_for(
        org_token,
        &jwks.keys[0],
        &idp,
        "urn:logto:organization:org_1",
    )
    .expect("an organization token");
    let not_a_member = refresh(&idp, &http, &refresh_token, &[("organization_id", "org_2")]).await;
    assert_eq!(
        oauth_error_of(not_a_member, StatusCode::BAD_REQUEST).await,
        "access_denied"
    );

    let body = sign_in_with_scope(&idp, &http, "openid offline_access").await;
    let without_scope = refresh(
        &idp,
        &http,
        body["refresh_token"].as_str().unwrap(),
        &[("organization_id", "org_1")],
    )
    .await;
    assert_eq!(
        oauth_error_of(without_scope, StatusCode::FORBIDDEN).await,
        "insufficient_scope"
    );

    let unknown_at_sign_in = http
        .get(format!("{}/auth", idp.issuer()))
        .query(&authorize_query(
            &registered_client(),
            "challenge",
            "nonce",
            "openid",
        ))
        .query(&[("resource", "https://unknown.example")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        query_of(&location_of(&unknown_at_sign_in))["error"],
        "invalid_target"
    );
}

#[tokio::test]
async fn organization_tokens_carry_permissions_only_when_the_organizations_resource_was_requested()
{
    let idp = TestIdp::start(registered_client()).await;
    let http = http_client();
    idp.set_user(TestUser::alice().in_organizations(&["org_1"]));
    let organization_token = async |scope: &str, resources: &[(&'static str, &str)]| {
        let pending = authorize_with(&idp, &http, scope, resources).await;
        let body =
            token_body(redeem(&idp, &http, &pending.code, &pending.code_verifier).await).await;
        let refresh_token = body["refresh_token"].as_str().unwrap().to_owned();
        token_body(refresh(&idp, &http, &refresh_token, &[("organization_id", "org_1")]).await)
            .await
    };
    let with_permission = format!("openid offline_access {ORGANIZATIONS_SCOPE} read:club-shelf");
    let organizations_resource = [("resource", ORGANIZATIONS_RESOURCE)];

    let granted = organization_token(&with_permission, &organizations_resource).await;
    assert_eq!(granted["scope"], "read:club-shelf");
    let claims = jwt_part(granted["access_token"].as_str().unwrap(), 1);
    assert_eq!(claims["aud"], "urn:logto:organization:org_1");
    assert_eq!(claims["scope"], "read:club-shelf");

    for (scope, resources) in [
        (with_permission.as_str(), &[][..]),
        (with_permission.as_str(), &[("resource", BOOKSTORE_API)][..]),
        (
            &format!("openid offline_access {ORGANIZATIONS_SCOPE}"),
            &organizations_resource[..],
        ),
    ] {
        let empty = organization_token(scope, resources).await;
        assert_eq!(empty["scope"], "", "{scope} {resources:?}");
        let claims = jwt_part(empty["access_token"].as_str().unwrap(), 1);
        assert_eq!(claims["aud"], "urn:logto:organization:org_1");
        assert_eq!(claims["scope"], Value::Null, "{scope} {resources:?}");
    }
}

#[tokio::test]
async fn userinfo_and_revocation_behave_like_logto() {
    let idp = TestIdp::start(registered_client()).await;
    let http = http_client();
    let body = sign_in_with_scope(&idp, &http, "openid offline_access profile email").await;
    let access_token = body["access_token"].as_str().unwrap();
    let refresh_token = body["refresh_token"].as_str().unwrap();

    let response = userinfo(&idp, &http, access_token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let claims: Value = response.json().await.unwrap();
    assert_eq!(claims["sub"], "user_alice");
    assert_eq!(claims["username"], "alice");
    assert_eq!(claims["email"], "alice@example.com");

    let bogus = userinfo(&idp, &http, "bogus").await;
    assert_eq!(bogus.status(), StatusCode::UNAUTHORIZED);
    let challenge = bogus.headers()[WWW_AUTHENTICATE].to_str().unwrap();
    assert!(challenge.starts_with("Bearer ") && challenge.contains(r#"error="invalid_token""#));
    let missing = http
        .get(format!("{}/me", idp.issuer()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    assert!(missing.headers().contains_key(WWW_AUTHENTICATE));

    idp.set_access_token_ttl(0);
    let short_lived = sign_in_with_scope(&idp, &http, "openid").await;
    assert_eq!(short_lived["expires_in"], 0);
    let expired = userinfo(&idp, &http, short_lived["access_token"].as_str().unwrap()).await;
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);

    let revocation = format!("{}/token/revocation", idp.issuer());
    let unauthenticated = http
        .post(&revocation)
        .form(&[("token", refresh_token)])
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    let client = registered_client();
    let authorization = basic_authorization(&client.client_id, &client.client_secret);
    for token in [refresh_token, "unknown"] {
        let revoked = http
            .post(&revocation)
            .header(AUTHORIZATION, &authorization)
            .form(&[("token", token), ("token_type_hint", "refresh_token")])
            .send()
            .await
            .unwrap();
        assert_eq!(revoked.status(), StatusCode::OK, "unknown tokens are fine");
    }
    let after = refresh(&idp, &http, refresh_token, &[]).await;
    assert_eq!(
        oauth_error_of(after, StatusCode::BAD_REQUEST).await,
        "invalid_grant"
    );
    assert_eq!(
        userinfo(&idp, &http, access_token).await.status(),
        StatusCode::UNAUTHORIZED,
        "revoking the refresh token revoked its grant"
    );
    assert_eq!(idp.request_count(Endpoint::UserInfo), 5);
    assert_eq!(idp.request_count(Endpoint::Revocation), 3);
}

#[tokio::test]
async fn logout_tokens_are_signed_like_id_tokens_and_forged_on_demand() {
    let idp = TestIdp::start(registered_client()).await;
    let http = http_client();
    let jwks = fetch_jwks(&idp, &http).await;
    let published = &jwks.keys[0];
    let spec = LogoutTokenSpec {
        sid: Some("the-sid".to_owned()),
        sub: Some("user_alice".to_owned()),
        ..LogoutTokenSpec::default()
    };

    let token = idp.logout_token(spec.clone());
    let header = jwt_part(&token, 0);
    assert_eq!(header["typ"], "logout+jwt");
    assert_eq!(header["kid"], kid_of(published));
    let claims = verify(&token, published, &idp).expect("a genuine logout token");
    assert_eq!(claims["sid"], "the-sid");
    assert_eq!(claims["sub"], "user_alice");
    assert_eq!(
        claims["events"],
        json!({ "http://schemas.openid.net/event/backchannel-logout": {} })
    );
    assert!(claims["jti"].is_string() && claims.get("nonce").is_none());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        120
    );

    let forged = |misbehaviour| idp.logout_token(spec.clone().forged(misbehaviour));
    assert_fails(
        verify(&forged(LogoutMisbehaviour::WrongKey), published, &idp),
        &ErrorKind::InvalidSignature,
    );
    assert_fails(
        verify(&forged(LogoutMisbehaviour::Expired), published, &idp),
        &ErrorKind::ExpiredSignature,
    );
    assert_fails(
        verify(&forged(LogoutMisbehaviour::WrongAudience), published, &idp),
        &ErrorKind::InvalidAudience,
    );
    assert_fails(
        verify(&forged(LogoutMisbehaviour::WrongIssuer), published, &idp),
        &ErrorKind::InvalidIssuer,
    );
    let with_nonce = verify(&forged(LogoutMisbehaviour::WithNonce), published, &idp).unwrap();
    assert!(with_nonce["nonce"].is_string());
    let without_events =
        verify(&forged(LogoutMisbehaviour::MissingEvents), published, &idp).unwrap();
    assert!(without_events.get("events").is_none());
    let without_jti = verify(&forged(LogoutMisbehaviour::MissingJti), published, &idp).unwrap();
    assert!(without_jti.get("jti").is_none());
    let unsigned = forged(LogoutMisbehaviour::AlgNone);
    assert_eq!(jwt_part(&unsigned, 0)["alg"], "none");
    assert!(unsigned.ends_with('.'));

    let without_exp = forged(LogoutMisbehaviour::MissingExp);
    assert!(jwt_part(&without_exp, 1).get("exp").is_none());
    let old = verify(&forged(LogoutMisbehaviour::IssuedLongAgo), published, &idp).unwrap();
    assert!(old["iat"].as_i64().unwrap() <= unix_now() - 7 * 60);
    assert!(old["exp"].as_i64().unwrap() > unix_now(), "not expired");
    let not_an_object = verify(
        &forged(LogoutMisbehaviour::EventNotAnObject),
        published,
        &idp,
    )
    .unwrap();
    assert_eq!(
        not_an_object["events"],
        json!({ "http://schemas.openid.net/event/backchannel-logout": true })
    );
    let unknown_kid = forged(LogoutMisbehaviour::UnknownKid);
    assert_eq!(jwt_part(&unknown_kid, 0)["kid"], "unknown-kid");
    assert_eq!(jwt_part(&unknown_kid, 1)["sid"], "the-sid");
}

#[tokio::test]
async fn endpoint_faults_make_discovery_jwks_or_userinfo_fail() {
    let idp = TestIdp::start(registered_client()).await;
    let http = http_client();
    let tokens = sign_in(&idp, &http).await;
    let get = |path: &str| http.get(format!("{}{path}", idp.issuer())).send();

    idp.set_misbehaviour(Misbehaviour::DiscoveryUnavailable);
    let discovery = get("/.well-known/openid-configuration").await.unwrap();
    assert_eq!(discovery.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(get("/jwks").await.unwrap().status(), StatusCode::OK);

    idp.set_misbehaviour(Misbehaviour::JwksUnavailable);
    assert_eq!(
        get("/jwks").await.unwrap().status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    let discovery = get("/.well-known/openid-configuration").await.unwrap();
    assert_eq!(discovery.status(), StatusCode::OK);

    idp.set_misbehaviour(Misbehaviour::UserInfoForAnotherUser);
    let response = userinfo(&idp, &http, &tokens.access_token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let claims: Value = response.json().await.unwrap();
    assert_eq!(claims["sub"], ANOTHER_USER_SUB);
    assert_eq!(claims["name"], "Alice Liddell", "only the sub is changed");

    idp.set_misbehaviour(Misbehaviour::None);
    let claims: Value = userinfo(&idp, &http, &tokens.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(claims["sub"], "user_alice");
    assert_eq!(idp.request_count(Endpoint::Discovery), 2);
    assert_eq!(idp.request_count(Endpoint::Jwks), 2);
}

#[tokio::test]
async fn the_token_delay_slows_every_token_response() {
    let idp = TestIdp::start(registered_client()).await;
    let http = http_client();
    idp.set_token_delay(std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    sign_in_with_scope(&idp, &http, "openid").await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
}

/// A client-credentials request of the app `client`, with `form` after the grant type.
async fn client_credentials(
    idp: &TestIdp,
    http: &Client,
    client_id: &str,
    client_secret: &str,
    form: &[(&str, &str)],
) -> Response {
    let mut body = vec![("grant_type", "client_credentials")];
    body.extend_from_slice(form);
    http.post(format!("{}/token", idp.issuer()))
        .header(AUTHORIZATION, basic_authorization(client_id, client_secret))
        .form(&body)
        .send()
        .await
        .expect("token request succeeds")
}

#[tokio::test]
async fn client_credentials_give_an_m2m_app_the_scopes_of_its_role_like_logto() {
    let idp = TestIdp::start(registered_client()).await;
    let http = http_client();
    let reader = MachineClient::new("m2m-reader", "read:books");
    idp.register_machine_client(reader.clone());
    let (id, secret) = (reader.client_id.as_str(), reader.client_secret.as_str());

    let body = token_body(
        client_credentials(
            &idp,
            &http,
            id,
            secret,
            &[
                ("resource", BOOKSTORE_API),
                ("scope", "read:books write:books nope"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "read:books", "the rest is dropped silently");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let token = body["access_token"].as_str().unwrap();
    let header = jwt_part(token, 0);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES384");
    let jwks = fetch_jwks(&idp, &http).await;
    let claims = verify_for(token, &jwks.keys[0], &idp, BOOKSTORE_API).expect("a valid JWT");
    assert_eq!(claims["sub"], id);
    assert_eq!(claims["client_id"], id);
    assert_eq!(claims["scope"], "read:books");
    assert!(claims["jti"].is_string());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );

    // No scope asked, or none held: no scope at all.
    for form in [
        vec![("resource", BOOKSTORE_API)],
        vec![("resource", BOOKSTORE_API), ("scope", "write:books")],
    ] {
        let body = token_body(client_credentials(&idp, &http, id, secret, &form).await).await;
        assert!(body.get("scope").is_none(), "{form:?}");
        assert!(
            jwt_part(body["access_token"].as_str().unwrap(), 1)
                .get("scope")
                .is_none()
        );
    }

    idp.set_access_token_ttl(30);
    let short = token_body(
        client_credentials(&idp, &http, id, secret, &[("resource", BOOKSTORE_API)]).await,
    )
    .await;
    assert_eq!(short["expires_in"], 30);

    for form in [
        vec![("scope", "read:books")],
        vec![("resource", "https://unknown.example")],
        vec![("resource", BOOKSTORE_API), ("resource", BOOKSTORE_API)],
    ] {
        let refused = client_credentials(&idp, &http, id, secret, &form).await;
        assert_eq!(
            oauth_error_of(refused, StatusCode::BAD_REQUEST).await,
            "invalid_target",
            "{form:?}"
        );
    }
    let wrong_secret =
        client_credentials(&idp, &http, id, "nope", &[("resource", BOOKSTORE_API)]).await;
    assert_eq!(
        oauth_error_of(wrong_secret, StatusCode::UNAUTHORIZED).await,
        "invalid_client"
    );
    let web_app = registered_client();
    let not_allowed = client_credentials(
        &idp,
        &http,
        &web_app.client_id,
        &web_app.client_secret,
        &[("resource", BOOKSTORE_API)],
    )
    .await;
    assert_eq!(
        oauth_error_of(not_allowed, StatusCode::BAD_REQUEST).await,
        "unauthorized_client"
    );
    assert_eq!(
        idp.client_credentials_grant_count(),
        7,
        "the authenticated requests of the M2M app"
    );
}

#[tokio::test]
async fn minted_access_tokens_are_genuine_unless_forged() {
    let idp = TestIdp::start(registered_client()).await;
    let http = http_client();
    let jwks = fetch_jwks(&idp, &http).await;
    let key = &jwks.keys[0];

    let user =
        idp.access_token(&AccessTokenSpec::user("user_1", BOOKSTORE_API).with_scope("read:books"));
    assert_eq!(jwt_part(&user, 0)["typ"], "at+jwt");
    let claims = verify_for(&user, key, &idp, BOOKSTORE_API).expect("genuine");
    assert_eq!(claims["sub"], "user_1");
    assert_eq!(claims["client_id"], registered_client().client_id);
    assert_eq!(claims["scope"], "read:books");

    let organization = idp.access_token(&AccessTokenSpec::organization("user_1", "org_1"));
    let claims =
        verify_for(&organization, key, &idp, "urn:logto:organization:org_1").expect("genuine");
    assert!(claims.get("scope").is_none());

    let app = idp.access_token(&AccessTokenSpec::app("m2m", BOOKSTORE_API));
    let claims = verify_for(&app, key, &idp, BOOKSTORE_API).expect("genuine");
    assert_eq!(
        (&claims["sub"], &claims["client_id"]),
        (&json!("m2m"), &json!("m2m"))
    );

    let forged = |misbehaviour| {
        idp.access_token(&AccessTokenSpec::user("user_1", BOOKSTORE_API).forged(misbehaviour))
    };
    assert_fails(
        verify_for(&forged(Misbehaviour::Expired), key, &idp, BOOKSTORE_API),
        &ErrorKind::ExpiredSignature,
    );
    assert_fails(
        verify_for(
            &forged(Misbehaviour::WrongAudience),
            key,
            &idp,
            BOOKSTORE_API,
        ),
        &ErrorKind::InvalidAudience,
    );
    assert_fails(
        verify_for(
            &forged(Misbehaviour::WrongSignature),
            key,
            &idp,
            BOOKSTORE_API,
        ),
        &ErrorKind::InvalidSignature,
    );
    assert_eq!(jwt_part(&forged(Misbehaviour::AlgNone), 0)["alg"], "none");
    assert_eq!(
        jwt_part(&forged(Misbehaviour::UnknownKid), 0)["kid"],
        "unknown-kid"
    );
    assert_eq!(
        jwt_part(&forged(Misbehaviour::Hs256SignedWithPublicKey), 0)["alg"],
        "HS256"
    );
}
