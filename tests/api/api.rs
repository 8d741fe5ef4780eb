//! The Bookstore's JSON API under `/api/`: what each route requires of a Logto access token,
//! and that it answers in the language asked, with no session. (Every kind of bad token is
//! pinned by logto-client's and logto-actix's tests.)

use reqwest::StatusCode;
use reqwest::header::{CONTENT_LANGUAGE, SET_COOKIE, WWW_AUTHENTICATE};
use serde_json::Value;

use crate::helpers::{API_RESOURCE, Store, TestApp, spawn_app};
use test_support::idp::AccessTokenSpec;

async fn get(app: &TestApp, path: &str, token: Option<&str>, language: &str) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .get(format!("{}{path}", app.address))
        .header("accept-language", language);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("the API answers")
}

#[tokio::test]
async fn the_shelf_answers_a_reader_s_token_in_the_language_asked() {
    let app = spawn_app(Store::Cookie).await;
    let token = app
        .idp()
        .access_token(&AccessTokenSpec::user("user_alice", API_RESOURCE).with_scope("read:books"));

    let response = get(&app, "/api/books", Some(&token), "ja").await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_LANGUAGE], "ja");
    assert!(response.headers().get(SET_COOKIE).is_none());
    let shelf: Value = response.json().await.unwrap();
    let titles: Vec<&str> = shelf["books"]
        .as_array()
        .unwrap()
        .iter()
        .map(|book| book["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 4);
    assert!(titles.contains(&"坊っちゃん"), "{titles:?}");
}

#[tokio::test]
async fn the_shelf_refuses_a_token_without_read_books_and_a_request_without_one() {
    let app = spawn_app(Store::Cookie).await;
    let carol = app
        .idp()
        .access_token(&AccessTokenSpec::user("user_carol", API_RESOURCE));

    let no_scope = get(&app, "/api/books", Some(&carol), "en").await;
    assert_eq!(no_scope.status(), StatusCode::FORBIDDEN);
    assert!(
        no_scope.headers()[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains(r#"scope="read:books""#)
    );

    let anonymous = get(&app, "/api/books", None, "en").await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.headers()[WWW_AUTHENTICATE], "Bearer");
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(
        body["error"], "unauthorized",
        "JSON, never the HTML error page"
    );
}

#[tokio::test]
async fn the_club_shelf_wants_that_club_s_organization_token() {
    let app = spawn_app(Store::Cookie).await;
    let club_token = app.idp().access_token(
        &AccessTokenSpec::organization("user_alice", "org_bookclub").with_scope("read:club-shelf"),
    );

    let ours = get(
        &app,
        "/api/organizations/org_bookclub/shelf",
        Some(&club_token),
        "en",
    )
    .await;
    assert_eq!(ours.status(), StatusCode::OK);
    let shelf: Value = ours.json().await.unwrap();
    assert_eq!(shelf["organization_id"], "org_bookclub");
    assert_eq!(shelf["books"].as_array().unwrap().len(), 2);

    let theirs = get(
        &app,
        "/api/organizations/org_other/shelf",
        Some(&club_token),
        "en",
    )
    .await;
    assert_eq!(theirs.status(), StatusCode::FORBIDDEN);
}
