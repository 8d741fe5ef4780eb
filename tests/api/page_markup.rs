//! What every page says about itself in its HTML: its title, its description and whether
//! search engines may index it, the skip link, the navigation's current page, and how a
//! refused email address is reported. The browser tests check how the pages look.

use reqwest::StatusCode;

use crate::helpers::{Store, TestApp, spawn_app};
use test_support::idp::TestUser;

/// Every page a signed-in user can open, with the nav link that stands for it (if any).
const SIGNED_IN_PAGES: [(&str, Option<&str>); 6] = [
    ("/", Some("/")),
    ("/books", Some("/books")),
    ("/profile", Some("/profile")),
    ("/api-token", Some("/api-token")),
    ("/organizations/org_bookclub/token", None),
    ("/sign-out", None),
];

const NOINDEX: &str = r#"<meta name="robots" content="noindex">"#;

/// The app, with Alice a member of `org_bookclub` so that its token page opens.
async fn app_for_a_member() -> TestApp {
    let app = spawn_app(Store::Cookie).await;
    app.idp()
        .set_user(TestUser::alice().in_organizations(&["org_bookclub"]));
    app
}

/// `GET` a page and its HTML, checking its status.
async fn page(app: &TestApp, path: &str, status: StatusCode) -> String {
    let response = app.get(path).await;
    assert_eq!(response.status(), status, "{path}");
    response.text().await.expect("a page body")
}

/// Picks the language as the switcher does, for the rest of this browser's requests.
async fn switch_to(app: &TestApp, code: &str) {
    let response = app.get(&format!("/lang/{code}?return_to=%2F")).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

/// Every page in `language`, by path: the home and a 404 page signed out, then each signed-in
/// page; the browser ends signed out.
async fn every_page_in(app: &TestApp, language: &str) -> Vec<(&'static str, String)> {
    switch_to(app, language).await;
    let mut pages = vec![
        ("/", page(app, "/", StatusCode::OK).await),
        (
            "/no-such-page",
            page(app, "/no-such-page", StatusCode::NOT_FOUND).await,
        ),
    ];
    app.sign_in().await;
    for (path, _) in SIGNED_IN_PAGES {
        pages.push((path, page(app, path, StatusCode::OK).await));
    }
    app.sign_out().await;
    pages
}

/// `POST /sign-in` with an address the email form refuses.
async fn refused_email_page(app: &TestApp) -> (StatusCode, String) {
    let response = app
        .post_form("/sign-in", &[("email", "alice at example")])
        .await;
    (
        response.status(),
        response.text().await.expect("a page body"),
    )
}

fn title(page: &str) -> &str {
    let start = page.find("<title>").expect("a <title>") + "<title>".len();
    let end = page[start..].find("</title>").expect("a </title>");
    &page[start..start + end]
}

/// The `content` of `<meta name="...">`, if the page has one.
fn meta<'a>(page: &'a str, name: &str) -> Option<&'a str> {
    let tag = format!(r#"<meta name="{name}" content=""#);
    let start = page.find(&tag)? + tag.len();
    let end = page[start..].find('"')?;
    Some(&page[start..start + end])
}

/// The opening tag of the input with this `id`.
fn input_tag<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!(r#"<input id="{id}""#))
        .unwrap_or_else(|| panic!("an input #{id} in {page}"));
    let end = page[start..].find('>').expect("the tag ends");
    &page[start..=start + end]
}

/// The opening tag of the first element in `<body>` that takes keyboard focus.
fn first_focusable(page: &str) -> &str {
    let body = &page[page.find("<body>").expect("a <body>")..];
    let start = ["<a ", "<button", "<input", "<select", "<textarea"]
        .iter()
        .filter_map(|tag| body.find(tag))
        .min()
        .expect("a focusable element");
    let end = body[start..].find('>').expect("the tag ends");
    &body[start..=start + end]
}

/// The links of the signed-in pages' navigation.
fn nav_links(page: &str) -> Vec<&str> {
    let start = page
        .find(r#"<nav class="app-nav""#)
        .unwrap_or_else(|| panic!("the app's navigation in {page}"));
    let end = start + page[start..].find("</nav>").expect("the nav ends");
    page[start..end]
        .split("<a ")
        .skip(1)
        .map(|link| &link[..link.find('>').expect("the tag ends")])
        .collect()
}

#[tokio::test]
async fn the_navigation_marks_the_current_page_and_the_home_page_has_it_too() {
    let app = app_for_a_member().await;
    app.sign_in().await;

    for (path, current) in SIGNED_IN_PAGES {
        let Some(current) = current else { continue };
        let page = page(&app, path, StatusCode::OK).await;
        let links = nav_links(&page);
        assert_eq!(links.len(), 4, "{path}: {links:?}");
        let marked: Vec<_> = links
            .iter()
            .filter(|link| link.contains(r#"aria-current="page""#))
            .collect();
        assert_eq!(
            marked,
            [&format!(r#"href="{current}" aria-current="page""#)],
            "{path}"
        );
    }
    let home = app.home_page().await;
    assert!(nav_links(&home).contains(&r#"href="/api-token""#));
    assert_eq!(
        home.matches(r#"action="/sign-out""#).count(),
        1,
        "one Sign out button on the home page"
    );
}

#[tokio::test]
async fn the_first_tab_stop_of_every_page_skips_to_the_main_content() {
    let app = app_for_a_member().await;
    let skip_link = r##"<a class="skip-link" href="#main-content">"##;
    let main = r#"<main class="site-main" id="main-content">"#;

    for (language, text) in [
        ("en", "Skip to main content"),
        ("ja", "メインコンテンツへスキップ"),
    ] {
        let pages = every_page_in(&app, language).await;

        for (path, page) in pages {
            assert_eq!(first_focusable(&page), skip_link, "{language} {path}");
            assert!(
                page.contains(&format!("{skip_link}{text}</a>")),
                "{language} {path}"
            );
            assert_eq!(page.matches(main).count(), 1, "{language} {path}");
        }
    }
}

#[tokio::test]
async fn every_page_describes_the_site_in_the_visitors_language() {
    let app = app_for_a_member().await;

    for (language, description) in [
        (
            "en",
            "A demo bookstore that signs readers in with Logto over OpenID Connect, built in Rust with actix-web.",
        ),
        (
            "ja",
            "Logto と OpenID Connect で読者をサインインさせるデモ書店です。Rust（actix-web）で作られています。",
        ),
    ] {
        let pages = every_page_in(&app, language).await;

        for (path, page) in pages {
            assert_eq!(
                meta(&page, "description"),
                Some(description),
                "{language} {path}"
            );
        }
    }
}

#[tokio::test]
async fn only_the_signed_out_home_page_may_be_indexed() {
    let app = app_for_a_member().await;

    let public = page(&app, "/", StatusCode::OK).await;
    assert_eq!(meta(&public, "robots"), None, "{public}");
    let not_found = page(&app, "/no-such-page", StatusCode::NOT_FOUND).await;
    assert!(not_found.contains(NOINDEX), "an error page: {not_found}");
    let (_, refused) = refused_email_page(&app).await;
    assert!(refused.contains(NOINDEX), "a refused form: {refused}");

    app.sign_in().await;
    for (path, _) in SIGNED_IN_PAGES {
        let page = page(&app, path, StatusCode::OK).await;
        assert!(page.contains(NOINDEX), "{path}: {page}");
        assert_eq!(page.matches(r#"<meta name="robots""#).count(), 1, "{path}");
    }
}

#[tokio::test]
async fn every_title_names_the_page_before_the_bookstore() {
    let app = app_for_a_member().await;

    for (language, home, books, not_found) in [
        (
            "en",
            "Logto sign-in demo · Bookstore",
            "Books · Bookstore",
            "Error: Page not found · Bookstore",
        ),
        (
            "ja",
            "Logto サインインのデモ · Bookstore",
            "書籍 · Bookstore",
            "エラー：ページが見つかりません · Bookstore",
        ),
    ] {
        switch_to(&app, language).await;
        assert_eq!(title(&page(&app, "/", StatusCode::OK).await), home);
        let missing = page(&app, "/no-such-page", StatusCode::NOT_FOUND).await;
        assert_eq!(title(&missing), not_found);

        app.sign_in().await;
        assert_eq!(title(&page(&app, "/", StatusCode::OK).await), home);
        assert_eq!(title(&page(&app, "/books", StatusCode::OK).await), books);
        for (path, _) in SIGNED_IN_PAGES {
            let page = page(&app, path, StatusCode::OK).await;
            assert!(title(&page).ends_with(" · Bookstore"), "{language} {path}");
            assert!(!title(&page).starts_with("Bookstore"), "{language} {path}");
        }
        app.sign_out().await;
    }
}

#[tokio::test]
async fn a_refused_email_address_is_marked_focused_and_named_in_the_title() {
    let app = app_for_a_member().await;

    for (language, error_title) in [
        ("en", "Error: Logto sign-in demo · Bookstore"),
        ("ja", "エラー：Logto サインインのデモ · Bookstore"),
    ] {
        switch_to(&app, language).await;
        let form = page(&app, "/", StatusCode::OK).await;
        let field = input_tag(&form, "email");
        assert!(!field.contains("autofocus"), "{language}: {field}");
        assert!(!field.contains("aria-invalid"), "{language}: {field}");

        let (status, refused) = refused_email_page(&app).await;

        assert_eq!(status, StatusCode::BAD_REQUEST, "{language}");
        let field = input_tag(&refused, "email");
        for attribute in [
            r#"aria-invalid="true""#,
            r#"aria-describedby="email-error""#,
            " autofocus",
        ] {
            assert!(
                field.contains(attribute),
                "{language}: {attribute} in {field}"
            );
        }
        assert_eq!(title(&refused), error_title, "{language}");
    }
}
