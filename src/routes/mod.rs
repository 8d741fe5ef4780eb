//! One file per route, and [`configure`], which mounts them with logto-actix's auth routes.

mod api;
mod api_token;
mod books;
mod health;
mod home;
mod language;
mod organization_token;
mod profile;
mod static_asset;

pub use api_token::api_token;
pub use books::books;
pub use health::{healthz, readyz};
pub use home::{AnonymousHomePages, home, home_page};
pub use language::switch_language;
pub use logto_actix::routes::Endpoint;
pub use organization_token::organization_token;
pub use profile::profile;
pub use static_asset::{robots_txt, static_asset};

use actix_web::{HttpResponse, web};
use logto_actix::AuthError;

use crate::error::AppError;
use crate::state::AppState;

/// Every route of the app. Every GET without side effects answers HEAD alike
/// (`Endpoint::read`); an address asked with a method it does not take answers 405 with
/// `Allow`. Probes and assets sit outside the auth scope and never touch the session: a
/// session cookie on them must not cost a Redis read, nor make liveness depend on Redis.
pub fn configure(config: &mut web::ServiceConfig, state: &AppState) {
    config
        .app_data(web::Data::new(state.auth.clone()))
        .app_data(web::Data::new(state.resources.clone()))
        .app_data(web::Data::new(state.api.clone()))
        .app_data(web::Data::new(state.language_cookie))
        .app_data(web::Data::new(AnonymousHomePages::new(
            state.auth.sign_in_methods().clone(),
        )))
        .app_data(
            web::QueryConfig::default().error_handler(|error, _request| {
                AppError::from(AuthError::BadRequest(error.to_string())).into()
            }),
        )
        .service(Endpoint::at("/healthz").read(healthz))
        .service(Endpoint::at("/readyz").read(readyz))
        .service(Endpoint::at("/static/{file}").read(static_asset))
        .service(Endpoint::at("/robots.txt").read(robots_txt))
        .service(api_scope(state))
        .service(
            state
                .auth
                .scope()
                .service(Endpoint::at("/").read(home))
                .service(Endpoint::at("/profile").read(profile))
                .service(Endpoint::at("/books").read(books))
                .service(Endpoint::at("/api-token").read(api_token))
                .service(Endpoint::at("/organizations/{id}/token").read(organization_token))
                .service(Endpoint::at("/lang/{code}").get_with_side_effects(switch_language))
                .default_service(web::to(not_found)),
        );
}

/// The JSON API under `/api/`, for Logto access tokens: the shelf for a token of the API
/// resource (the first of `LOGTO_RESOURCES`) with `read:books`, and a book club's shelf for
/// an organization token of that club with `read:club-shelf`.
fn api_scope(state: &AppState) -> logto_actix::ApiScope {
    let resource = state.resources.0.first().cloned().unwrap_or_default();
    let scope = state.auth.api_scope("/api", resource).organization_route(
        "/organizations/{id}/shelf",
        "id",
        &["read:club-shelf"],
        web::get().to(api::club_shelf),
    );
    if state.resources.0.is_empty() {
        // No API resource is configured: no token can be for it, so the route is not offered.
        return scope;
    }
    scope.route("/books", &["read:books"], web::get().to(api::list_books))
}

/// Any address without a route.
pub async fn not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound)
}
