//! The product's JSON API behind `ApiUser`: a good token's claims, and RFC 6750 answers for a
//! missing, bad or insufficient one, as JSON, with no session or cookie. Every kind of bad
//! token is pinned by logto-client's own tests; these pin what reaches the HTTP answer.

use reqwest::header::{CACHE_CONTROL, SET_COOKIE, WWW_AUTHENTICATE};
use reqwest::{Response, StatusCode};
use serde_json::Value;

use crate::app::{API_RESOURCE, Store, TestApp, spawn_app};
use test_support::for_both_stores;
use test_support::idp::{AccessTokenSpec, Misbehaviour};

for_both_stores!(api_calls_neither_read_nor_write_a_session);

async fn call(app: &TestApp, path: &str, authorization: Option<&str>) -> Response {
    let mut request = reqwest::Client::new().get(format!("{}{path}", app.address));
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    request.send().await.expect("the API answers")
}

async fn call_with(app: &TestApp, path: &str, spec: &AccessTokenSpec) -> Response {
    let token = app.idp().access_token(spec);
    call(app, path, Some(&format!("Bearer {token}"))).await
}

/// The status, the challenge and the JSON body's `error`; also checks that a refusal is never
/// cached and sets no cookie.
async fn refusal(response: Response) -> (StatusCode, String, String) {
    let status = response.status();
    let challenge = response
        .headers()
        .get(WWW_AUTHENTICATE)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    assert!(response.headers().get(SET_COOKIE).is_none());
    let body: Value = response.json().await.expect("a JSON refusal");
    assert!(body["error_description"].is_string(), "{body}");
    (
        status,
        challenge,
        body["error"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_user_s_token_with_the_scope_reaches_the_route_with_its_claims() {
    let app = spawn_app(Store::Cookie).await;
    let spec = AccessTokenSpec::user("user_alice", API_RESOURCE).with_scope("read:books");

    let response = call_with(&app, "/api/books", &spec).await;

    assert_eq!(response.status(), StatusCode::OK);
    let claims: Value = response.json().await.unwrap();
    assert_eq!(claims["sub"], "user_alice");
    assert_eq!(claims["scopes"], serde_json::json!(["read:books"]));
}

#[tokio::test]
async fn a_machine_to_machine_token_reaches_the_route_as_an_app() {
    let app = spawn_app(Store::Cookie).await;
    let spec = AccessTokenSpec::app("bookstore-m2m", API_RESOURCE).with_scope("read:books");

    let response = call_with(&app, "/api/books", &spec).await;

    assert_eq!(response.status(), StatusCode::OK);
    let claims: Value = response.json().await.unwrap();
    assert_eq!(claims["sub"], "bookstore-m2m");
    assert_eq!(claims["client_id"], "bookstore-m2m");
}

#[tokio::test]
async fn without_a_bearer_token_the_answer_is_a_bare_bearer_challenge() {
    let app = spawn_app(Store::Cookie).await;
    for authorization in [None, Some("Basic YWxpY2U6c2VjcmV0")] {
        let (status, challenge, error) =
            refusal(call(&app, "/api/books", authorization).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization:?}");
        assert_eq!(
            challenge, "Bearer",
            "{authorization:?}: no error code (RFC 6750 §3.1)"
        );
        assert_eq!(error, "unauthorized");
    }
}

#[tokio::test]
async fn a_bad_token_is_401_invalid_token() {
    let app = spawn_app(Store::Cookie).await;
    let forged = AccessTokenSpec::user("user_alice", API_RESOURCE)
        .with_scope("read:books")
        .forged(Misbehaviour::WrongSignature);
    let other_audience =
        AccessTokenSpec::user("user_alice", "https://other.example").with_scope("read:books");
    for response in [
        call(&app, "/api/books", Some("Bearer not.a.jwt")).await,
        call(&app, "/api/books", Some("Bearer opaque-token-from-logto")).await,
        call_with(&app, "/api/books", &forged).await,
        call_with(&app, "/api/books", &other_audience).await,
    ] {
        let (status, challenge, error) = refusal(response).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(
            challenge.starts_with(r#"Bearer error="invalid_token", error_description=""#),
            "{challenge}"
        );
        assert_eq!(error, "invalid_token");
    }
}

#[tokio::test]
async fn a_token_without_the_route_s_scope_is_403_naming_it() {
    let app = spawn_app(Store::Cookie).await;
    let spec = AccessTokenSpec::user("user_carol", API_RESOURCE);

    let (status, challenge, error) = refusal(call_with(&app, "/api/books", &spec).await).await;

    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        challenge.starts_with(r#"Bearer error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(
        challenge.ends_with(r#", scope="read:books""#),
        "{challenge}"
    );
    assert_eq!(error, "insufficient_scope");
}

#[tokio::test]
async fn an_organization_route_takes_only_that_organization_s_token() {
    let app = spawn_app(Store::Cookie).await;
    let member =
        AccessTokenSpec::organization("user_alice", "org_bookclub").with_scope("read:club-shelf");
    let elsewhere =
        AccessTokenSpec::organization("user_alice", "org_elsewhere").with_scope("read:club-shelf");

    let ours = call_with(&app, "/api/organizations/org_bookclub/shelf", &member).await;
    assert_eq!(ours.status(), StatusCode::OK);
    let claims: Value = ours.json().await.unwrap();
    assert_eq!(claims["organization_id"], "org_bookclub");

    let theirs = call_with(&app, "/api/organizations/org_bookclub/shelf", &elsewhere).await;
    let (status, challenge, _) = refusal(theirs).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        challenge.contains(r#"scope="read:club-shelf""#),
        "{challenge}"
    );
}

#[tokio::test]
async fn an_api_address_without_a_route_is_a_json_404() {
    let app = spawn_app(Store::Cookie).await;

    let response = call(&app, "/api/no-such-route", None).await;

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
}

async fn api_calls_neither_read_nor_write_a_session(store: Store) {
    let app = spawn_app(store).await;
    let spec = AccessTokenSpec::user("user_alice", API_RESOURCE).with_scope("read:books");
    let token = app.idp().access_token(&spec);

    for authorization in [Some(format!("Bearer {token}")), None] {
        let response = reqwest::Client::new()
            .get(format!("{}/api/books", app.address))
            .header("cookie", "logto_session=forged")
            .header(
                "authorization",
                authorization
                    .clone()
                    .unwrap_or_else(|| "Basic eA==".to_owned()),
            )
            .send()
            .await
            .unwrap();
        assert!(
            response.headers().get(SET_COOKIE).is_none(),
            "{authorization:?}"
        );
    }
    assert_eq!(app.stored_sessions().await, 0);
    if let Some(redis) = &app.redis {
        assert_eq!(redis.key_count().await, 0, "the API touched no Redis key");
    }
}
