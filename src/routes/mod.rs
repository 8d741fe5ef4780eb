//! One file per route. Each handler reads like the step of the sign-in flow it implements.

mod callback;
mod home;
mod sign_in;
mod sign_out;

pub use callback::callback;
pub use home::home;
pub use sign_in::sign_in;
pub use sign_out::sign_out;

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
