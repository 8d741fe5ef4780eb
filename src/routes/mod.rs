//! One file per route. Each handler reads like the step of the sign-in flow it implements.

mod api_token;
mod backchannel_logout;
mod books;
mod callback;
mod health;
mod home;
mod language;
mod methods;
mod organization_token;
mod profile;
mod sign_in;
mod sign_out;
mod static_asset;

pub use api_token::{ApiResources, api_token};
pub use backchannel_logout::backchannel_logout;
pub use books::books;
pub use callback::callback;
pub use health::{Readiness, healthz, readyz};
pub use home::home;
pub use language::switch_language;
pub use methods::Endpoint;
pub use organization_token::organization_token;
pub use profile::profile;
pub use sign_in::{sign_in, sign_in_with_form};
pub use sign_out::{confirm_sign_out, sign_out};
pub use static_asset::{robots_txt, static_asset};

use actix_web::HttpResponse;
use actix_web::http::header::LOCATION;

use crate::error::AppError;

/// `303 See Other` to `location`: the browser follows it with a GET.
pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((LOCATION, location))
        .finish()
}

/// Any address without a route.
pub async fn not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound)
}
