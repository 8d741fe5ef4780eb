//! The Bookstore's own pages for a signed-in user: the profile and its organization links, and
//! the organization token page's address. What the tokens themselves do is pinned by
//! logto-actix's tests.

use reqwest::StatusCode;

use crate::helpers::{Store, TestApp, signed_in_app, signed_in_book_club_member, spawn_app};

use test_support::idp::{Endpoint, TestUser};

/// Alice, a member of the book club, signed in.
async fn alice_in_the_book_club() -> TestApp {
    let app = spawn_app(Store::Cookie).await;
    app.idp()
        .set_user(TestUser::alice().in_organizations(&["org_bookclub"]));
    app.sign_in().await;
    app
}

#[tokio::test]
async fn the_profile_shows_verified_claims_fresh_userinfo_and_organizations() {
    let app = alice_in_the_book_club().await;

    let page = app.page_text("/profile").await;

    for shown in ["ID token claims", "user_alice", "org_bookclub", "Userinfo"] {
        assert!(page.contains(shown), "{shown} in {page}");
    }
    assert_eq!(
        app.idp().request_count(Endpoint::UserInfo),
        1,
        "userinfo is fetched fresh"
    );
}

#[tokio::test]
async fn the_profile_links_each_organization_to_its_token_page() {
    let page = alice_in_the_book_club().await.page_text("/profile").await;

    assert!(page.contains(r#"href="/organizations/org_bookclub/token""#));
}

#[tokio::test]
async fn an_organization_id_that_is_not_an_id_is_not_found() {
    let app = signed_in_app(Store::Cookie).await;

    let response = app.get("/organizations/org%20one/token").await;

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.idp().refresh_grant_count(), 0, "Logto was not asked");
}

#[tokio::test]
async fn the_shelf_page_lists_the_books_it_gets_from_the_bookstore_api() {
    let app = signed_in_app(Store::Cookie).await;

    let page = app.page_text("/books").await;

    assert!(page.contains("Botchan"), "{page}");
    assert_eq!(
        app.idp().refresh_grant_count(),
        1,
        "the page asked Logto once for the API resource's token"
    );
    let again = app.page_text("/books").await;
    assert!(again.contains("Botchan"));
    assert_eq!(app.idp().refresh_grant_count(), 1, "and then reuses it");
}

#[tokio::test]
async fn a_reader_whose_roles_lack_read_books_is_told_why_instead_of_the_shelf() {
    let app = spawn_app(Store::Cookie).await;
    app.idp().set_user_api_permissions("");
    app.sign_in().await;

    let response = app.get("/books").await;

    assert_eq!(
        response.status(),
        StatusCode::OK,
        "still a page of the site"
    );
    let page = response.text().await.unwrap();
    assert!(page.contains("<code>read:books</code>"), "{page}");
    assert!(page.contains("none of your roles"), "{page}");
    assert!(!page.contains("Botchan"), "{page}");
}

#[tokio::test]
async fn a_book_club_s_token_page_shows_the_club_s_shelf_from_the_api() {
    let app = signed_in_book_club_member(Store::Cookie).await;

    let page = app.page_text("/organizations/org_bookclub/token").await;

    assert!(
        page.contains("The club&#39;s shelf") || page.contains("The club's shelf"),
        "{page}"
    );
    assert!(page.contains("Botchan"), "{page}");
}

#[tokio::test]
async fn without_read_club_shelf_the_token_page_says_why_the_shelf_is_missing() {
    let app = spawn_app(Store::Cookie).await;
    app.idp()
        .set_user(TestUser::alice().in_organizations(&["org_bookclub"]));
    app.sign_in().await;

    let page = app.page_text("/organizations/org_bookclub/token").await;

    assert!(page.contains("<code>read:club-shelf</code>"), "{page}");
    assert!(!page.contains("Botchan"), "{page}");
}
