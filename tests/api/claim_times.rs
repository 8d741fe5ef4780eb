//! Timestamp claims on the profile and token pages: a readable UTC date beside the raw value.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Store, TestApp, spawn_app};
use test_support::idp::TestUser;

/// Signs in a user whose ID token and userinfo carry `claims` on top of the usual ones.
async fn signed_in_with_claims(claims: Value) -> TestApp {
    let app = spawn_app(Store::Cookie).await;
    let mut user = TestUser::alice();
    user.extra_claims = claims.as_object().cloned().unwrap_or_default();
    app.idp().set_user(user);
    assert_eq!(app.sign_in().await.status(), StatusCode::SEE_OTHER);
    app
}

/// The value cell of a claims table row.
fn claim_cell(page: &str, name: &str) -> String {
    let row = format!(r#"<tr><th scope="row"><code>{name}</code></th><td>"#);
    let start = page
        .find(&row)
        .unwrap_or_else(|| panic!("no {name} row in {page}"))
        + row.len();
    let end = start + page[start..].find("</td>").unwrap();
    page[start..end].to_owned()
}

#[tokio::test]
async fn the_profile_shows_seconds_and_millisecond_timestamps_as_utc_dates() {
    let app = signed_in_with_claims(json!({
        "auth_time": 1_764_442_800,
        // Logto's profile timestamps are milliseconds.
        "created_at": 1_700_000_000_000_i64,
        "updated_at": 1_764_442_800_123_i64,
    }))
    .await;

    let response = app.get("/profile").await;

    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert_eq!(
        claim_cell(&page, "auth_time"),
        r#"1764442800 (<time datetime="2025-11-29T19:00:00Z">2025-11-29 19:00:00 UTC</time>)"#
    );
    assert_eq!(
        claim_cell(&page, "created_at"),
        r#"1700000000000 (<time datetime="2023-11-14T22:13:20Z">2023-11-14 22:13:20 UTC</time>)"#
    );
    assert_eq!(
        claim_cell(&page, "updated_at"),
        r#"1764442800123 (<time datetime="2025-11-29T19:00:00Z">2025-11-29 19:00:00 UTC</time>)"#
    );
    // Userinfo's table too (its first row of these comes after the ID token's).
    let userinfo = &page[page.find("/oidc/me").unwrap()..];
    assert!(
        claim_cell(userinfo, "created_at").contains("2023-11-14 22:13:20 UTC"),
        "{userinfo}"
    );
    // A claim that is no timestamp gets no date, number or not.
    assert_eq!(claim_cell(&page, "sub"), "user_alice");
}

#[tokio::test]
async fn a_timestamp_that_is_no_plausible_date_is_shown_raw() {
    let app = signed_in_with_claims(json!({
        "auth_time": "yesterday",
        "created_at": -5,
        "updated_at": 9_000_000_000_000_000_i64,
        "nbf_hint": 1_764_442_800,
    }))
    .await;

    let response = app.get("/profile").await;

    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert_eq!(claim_cell(&page, "auth_time"), "yesterday");
    assert_eq!(claim_cell(&page, "created_at"), "-5");
    // Past the year 9999.
    assert_eq!(claim_cell(&page, "updated_at"), "9000000000000000");
    assert_eq!(claim_cell(&page, "nbf_hint"), "1764442800");
}

#[tokio::test]
async fn the_api_token_page_dates_the_tokens_expiry_and_issue() {
    let app = signed_in_with_claims(json!({})).await;

    let response = app.get("/api-token").await;

    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    for name in ["exp", "iat"] {
        let cell = claim_cell(&page, name);
        let (raw, date) = cell.split_once(" (<time datetime=\"").unwrap_or_else(|| {
            panic!("{name} has no date: {cell}");
        });
        assert!(raw.parse::<i64>().is_ok(), "{name}: {cell}");
        assert!(date.ends_with(" UTC</time>)"), "{name}: {cell}");
    }
    assert!(
        page.contains(r#"<dt>Expires at</dt><dd><code>"#) && page.contains(" UTC</time>)</dd>"),
        "the expiry fact is dated too: {page}"
    );
}
