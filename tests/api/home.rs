use reqwest::StatusCode;

use crate::for_both_stores;
use crate::helpers::{Store, set_cookies, spawn_app};

for_both_stores!(an_anonymous_visitor_sees_sign_in_and_gets_no_session);

async fn an_anonymous_visitor_sees_sign_in_and_gets_no_session(store: Store) {
    let app = spawn_app(store).await;

    let response = app.get("/").await;

    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        set_cookies(&response).is_empty(),
        "no Set-Cookie for a plain GET /"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let page = response.text().await.unwrap();
    assert!(page.contains("Not signed in"));
    assert!(page.contains(r#"href="/sign-in""#));
    if let Some(redis) = &app.redis {
        assert_eq!(
            redis.key_count().await,
            0,
            "no Redis key at all for a plain GET /"
        );
    }
}

#[tokio::test]
async fn an_unknown_address_gets_the_not_found_page() {
    let app = spawn_app(Store::Cookie).await;

    let response = app.get("/no-such-page").await;

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let page = response.text().await.unwrap();
    assert!(page.contains("Page not found"));
    assert!(page.contains(r#"href="/""#));
}
