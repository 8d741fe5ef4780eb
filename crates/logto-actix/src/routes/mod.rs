//! The auth routes: `/sign-in` (GET, and POST for the email form), `/callback`, `/sign-out`
//! (GET asks, POST signs out) and `/backchannel-logout`; and [`Endpoint`], which answers
//! `HEAD` like `GET` where that changes nothing and `405` with `Allow` for other methods.

mod backchannel;
mod callback;
mod endpoint;
mod sign_in;
mod sign_out;

pub use endpoint::Endpoint;

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::LogtoAuth;
use crate::error::AuthError;

/// Where the auth routes are.
pub const SIGN_IN_PATH: &str = "/sign-in";
pub use crate::builder::CALLBACK_PATH;
/// The sign-out route (GET asks, POST signs out).
pub const SIGN_OUT_PATH: &str = "/sign-out";
/// Where Logto posts logout tokens.
pub const BACKCHANNEL_LOGOUT_PATH: &str = "/backchannel-logout";

/// The largest query string or form the auth routes read.
const MAX_FORM_BYTES: usize = 4096;

/// `303 See Other` to `location`: the browser follows it with a GET.
pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((LOCATION, location))
        .finish()
}

/// The auth handle as [`LogtoAuth::scope`] stores it in its scope's data. A type of this
/// crate's own, so that a `LogtoAuth` a product registers as app data elsewhere never passes
/// for a mounted scope.
#[derive(Clone)]
pub(crate) struct MountedAuth(pub(crate) LogtoAuth);

/// The auth handle of a request inside the middleware.
pub(crate) fn auth_of(request: &HttpRequest) -> Result<LogtoAuth, AuthError> {
    request
        .app_data::<MountedAuth>()
        .map(|MountedAuth(auth)| auth.clone())
        .ok_or(AuthError::NotMounted)
}

/// The routes inside the middleware, each with its own query and form limits, whose errors
/// are [`AuthError::BadRequest`].
pub(crate) fn inside() -> [Endpoint; 3] {
    [
        Endpoint::at(SIGN_IN_PATH)
            .get_with_side_effects(sign_in::sign_in)
            .post(sign_in::sign_in_with_form),
        Endpoint::at(CALLBACK_PATH).get_with_side_effects(callback::callback),
        Endpoint::at(SIGN_OUT_PATH)
            .read(sign_out::confirm_sign_out)
            .post(sign_out::sign_out),
    ]
    .map(with_request_limits)
}

/// `/backchannel-logout`: Logto calls it server to server, from any origin, so it sits
/// outside the cross-site check and the session.
pub(crate) fn backchannel(auth: &LogtoAuth) -> Endpoint {
    let auth = auth.clone();
    with_request_limits(Endpoint::at(BACKCHANNEL_LOGOUT_PATH).post(
        move |form: web::Form<backchannel::LogoutRequest>| {
            let auth = auth.clone();
            async move { backchannel::backchannel_logout(auth, form).await }
        },
    ))
}

fn with_request_limits(endpoint: Endpoint) -> Endpoint {
    endpoint
        .app_data(
            web::QueryConfig::default()
                .error_handler(|error, _request| AuthError::BadRequest(error.to_string()).into()),
        )
        .app_data(
            web::FormConfig::default()
                .limit(MAX_FORM_BYTES)
                .error_handler(|error, _request| AuthError::BadRequest(error.to_string()).into()),
        )
}
