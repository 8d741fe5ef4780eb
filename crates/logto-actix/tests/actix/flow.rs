//! A product built on logto-actix alone, with its plain pages, signs in and out against the
//! in-process Logto-shaped provider.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::cookie::Key;
use actix_web::{App, HttpResponse, HttpServer, web};
use logto_actix::logto_client::LogtoConfig;
use logto_actix::{LogtoAuth, MaybeUser, SignedInUser};
use reqwest::StatusCode;
use reqwest::cookie::Jar;
use test_support::browser::{browser, csrf_token, location};
use test_support::idp::{RegisteredClient, TestIdp};
use url::Url;

async fn home(visitor: MaybeUser) -> HttpResponse {
    HttpResponse::Ok().body(match visitor.user() {
        Some(user) => format!("Signed in as {}", user.display_name()),
        None => "Not signed in".to_owned(),
    })
}

async fn private(user: SignedInUser) -> HttpResponse {
    HttpResponse::Ok().body(format!("Only {} can read this", user.display_name()))
}

/// The product on port 0, its IdP, and a browser.
struct Product {
    address: String,
    idp: TestIdp,
    client: reqwest::Client,
}

impl Product {
    async fn start() -> Self {
        test_support::init_logging();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let idp = TestIdp::start(RegisteredClient {
            client_id: "app".to_owned(),
            client_secret: "secret".to_owned(),
            redirect_uri: format!("{address}/callback"),
            post_logout_redirect_uri: format!("{address}/"),
        })
        .await;
        let config = LogtoConfig::new(
            Url::parse(&idp.endpoint()).unwrap(),
            "app".to_owned(),
            "secret".to_owned().into(),
            Url::parse(&format!("{address}/callback")).unwrap(),
            Url::parse(&format!("{address}/")).unwrap(),
        );
        let auth = LogtoAuth::builder(config)
            .cookie_store(Key::generate())
            .build()
            .unwrap();
        let server = HttpServer::new(move || {
            App::new().service(
                auth.scope()
                    .route("/", web::get().to(home))
                    .route("/private", web::get().to(private)),
            )
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self {
            address,
            idp,
            client: browser(Arc::new(Jar::default())),
        }
    }

    async fn get(&self, url: &str) -> reqwest::Response {
        let url = if url.starts_with("http") {
            url.to_owned()
        } else {
            format!("{}{url}", self.address)
        };
        self.client.get(url).send().await.unwrap()
    }
}

#[actix_web::test]
async fn a_product_signs_in_reads_a_protected_page_and_signs_out() {
    let product = Product::start().await;
    assert_eq!(
        product.get("/").await.text().await.unwrap(),
        "Not signed in"
    );

    let protected = product.get("/private").await;
    assert_eq!(protected.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&protected), "/sign-in?return_to=%2Fprivate");

    let sign_in = product.get(&location(&protected)).await;
    assert_eq!(sign_in.status(), StatusCode::SEE_OTHER);
    let at_idp = product.get(&location(&sign_in)).await;
    let callback = product.get(&location(&at_idp)).await;
    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&callback),
        "/private",
        "back where the visitor started"
    );
    let page = product.get("/private").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(
        page.text().await.unwrap(),
        "Only Alice Liddell can read this"
    );

    // The plain confirmation page carries the CSRF token; the POST without it is refused.
    let confirm = product.get("/sign-out").await.text().await.unwrap();
    let token = csrf_token(&confirm).expect("the sign-out form");
    let refused = product
        .client
        .post(format!("{}/sign-out", product.address))
        .form(&[("csrf_token", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let signed_out = product
        .client
        .post(format!("{}/sign-out", product.address))
        .form(&[("csrf_token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&signed_out).starts_with(&format!(
            "{}/oidc/session/end?",
            product.idp.endpoint().trim_end_matches('/')
        )),
        "{}",
        location(&signed_out)
    );
    assert_eq!(
        product.get("/private").await.status(),
        StatusCode::SEE_OTHER
    );
}
