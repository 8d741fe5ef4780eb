//! The product under test: logto-actix's routes with [`PlainPages`], plus a few pages of its
//! own, configured from the same environment as the Bookstore (with the crate's default
//! cookie names and Redis prefix), on port 0.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use logto_actix::logto_client::{LogtoConfig, TokenTarget};
use logto_actix::pages::escape;
use logto_actix::settings::{LogtoSettings, ServerSettings, SessionSettings};
use logto_actix::{ApiUser, AuthError, LogtoAuth, MaybeUser, SignedInUser, StoreStatus};
use serde_json::json;
use test_support::app::AppShape;

pub use test_support::app::{
    API_RESOURCE, APP_ID, APP_SECRET, TestApp, free_port, registered_client,
};
pub use test_support::browser::{
    assert_cookies_fit_in_a_browser, csrf_token, location, query_pairs, query_value, set_cookies,
};
pub use test_support::redis::TestRedis;
pub use test_support::{Store, timing_sensitive};

/// The crate's default cookie names and Redis prefix; `/readyz` answers once Logto is loaded.
pub const PRODUCT: AppShape = AppShape {
    session_cookie: "logto_session",
    sign_in_cookie: "logto_sign_in",
    redis_key_prefix: logto_actix::DEFAULT_REDIS_KEY_PREFIX,
    ready_path: "/readyz",
};

test_support::spawn_functions!(serve_product, LogtoConfig, PRODUCT);

/// Starts the product on `listener`, configured from `env`, after `adjust_logto` had its say.
pub async fn serve_product(
    listener: TcpListener,
    env: Vec<(&'static str, String)>,
    adjust_logto: impl FnOnce(&mut LogtoConfig),
) {
    let lookup = |name: &str| {
        env.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
    };
    let server = ServerSettings::from_lookup(lookup).expect("valid server settings");
    let session = SessionSettings::from_lookup(lookup).expect("valid session settings");
    let logto = LogtoSettings::from_lookup(lookup, &server).expect("valid Logto settings");
    let mut config = logto.config;
    adjust_logto(&mut config);
    let auth = LogtoAuth::from_settings(config, &session)
        .sign_in_methods(logto.sign_in_methods)
        .build()
        .expect("the product's auth builds");
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(auth.clone()))
            .service(
                auth.api_scope("/api", API_RESOURCE)
                    .route("/books", &["read:books"], web::get().to(api_caller))
                    .organization_route(
                        "/organizations/{id}/shelf",
                        "id",
                        &["read:club-shelf"],
                        web::get().to(api_caller),
                    ),
            )
            .service(
                auth.scope()
                    .route("/", web::get().to(home))
                    .route("/books", web::get().to(books))
                    .route("/profile", web::get().to(profile))
                    .route("/api-token", web::get().to(api_token))
                    .route(
                        "/organizations/{id}/token",
                        web::get().to(organization_token),
                    )
                    .route("/readyz", web::get().to(readyz)),
            )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("the product listens")
    .run();
    tokio::spawn(server);
}

/// Who is signed in (name, email, picture), with the sign-out form; or an invitation to sign
/// in.
async fn home(visitor: MaybeUser) -> HttpResponse {
    let body = match visitor.user() {
        Some(user) => {
            let profile = user.profile();
            let picture = profile
                .picture
                .as_deref()
                .map(|src| format!("<img src=\"{}\" alt=\"\">", escape(src)))
                .unwrap_or_default();
            format!(
                "<p>Signed in as <strong>{}</strong> {} {picture}</p>\n\
                 <form method=\"post\" action=\"/sign-out\">\
                 <input type=\"hidden\" name=\"csrf_token\" value=\"{}\">\
                 <button type=\"submit\">Sign out</button></form>\n",
                escape(user.display_name()),
                escape(profile.email.as_deref().unwrap_or_default()),
                escape(user.csrf_token())
            )
        }
        None => "<p>Not signed in</p>\n<p><a href=\"/sign-in\">Sign in</a></p>\n".to_owned(),
    };
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body)
}

/// A page only a signed-in user sees.
async fn books(user: SignedInUser) -> HttpResponse {
    HttpResponse::Ok().body(format!("Books for {}", escape(user.display_name())))
}

/// The ID token's claims and what `/oidc/me` says, as JSON.
async fn profile(mut user: SignedInUser) -> Result<HttpResponse, AuthError> {
    let id_token = user.id_token_claims()?;
    let userinfo = user.userinfo().await?;
    Ok(HttpResponse::Ok().json(json!({ "id_token": id_token, "userinfo": userinfo })))
}

/// An access token for the first configured API resource, verified, its claims as JSON.
async fn api_token(
    auth: web::Data<LogtoAuth>,
    mut user: SignedInUser,
) -> Result<HttpResponse, AuthError> {
    let resource = auth
        .config()
        .resources
        .first()
        .cloned()
        .expect("LOGTO_RESOURCES names the API");
    let raw = user
        .access_token(&TokenTarget::Resource(resource.clone()))
        .await?;
    let claims = user.client().verify_access_token(&raw, &resource).await?;
    Ok(HttpResponse::Ok().json(claims))
}

/// An organization token, verified, its claims as JSON.
async fn organization_token(
    mut user: SignedInUser,
    organization_id: web::Path<String>,
) -> Result<HttpResponse, AuthError> {
    let organization_id = organization_id.into_inner();
    let raw = user.organization_token(&organization_id).await?;
    let audience = TokenTarget::Organization(organization_id)
        .audience()
        .unwrap_or_default();
    let claims = user.client().verify_access_token(&raw, &audience).await?;
    Ok(HttpResponse::Ok().json(claims))
}

/// An API route: the caller's verified claims, as JSON.
async fn api_caller(caller: ApiUser) -> HttpResponse {
    HttpResponse::Ok().json(caller.claims())
}

/// 200 once Logto's documents are loaded and the session store answers.
async fn readyz(auth: web::Data<LogtoAuth>) -> HttpResponse {
    let logto = auth.client().prefetch().await;
    let store = auth.session_store_status(Duration::from_secs(2)).await;
    if logto.is_ok() && store != StoreStatus::Unavailable {
        HttpResponse::Ok().body("ready")
    } else {
        HttpResponse::ServiceUnavailable().body("not ready")
    }
}
