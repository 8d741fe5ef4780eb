use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{SIGN_OUT_PATH, see_other};
use crate::error::AuthError;
use crate::pages::{SignOutForm, page_response};
use crate::session::{MaybeUser, UserSession};

/// The sign-out form.
#[derive(Debug, Deserialize)]
pub(crate) struct SignOutRequest {
    csrf_token: String,
}

/// `GET /sign-out`: a confirmation page ([`Pages::sign_out_page`](crate::Pages::sign_out_page))
/// whose form posts to `/sign-out`. Signing out by a plain link would let any site sign users
/// out.
pub(crate) async fn confirm_sign_out(
    request: HttpRequest,
    visitor: MaybeUser,
) -> Result<HttpResponse, AuthError> {
    let Some(user) = visitor.user() else {
        return Ok(see_other("/"));
    };
    let pages = super::auth_of(&request)?.pages().clone();
    let form = SignOutForm::new(SIGN_OUT_PATH, user.csrf_token(), user.data());
    let page = pages
        .sign_out_page(request.head(), &form)
        .unwrap_or_else(|error| {
            log::error!(
                "the sign-out page failed to render, the plain one is used instead: {error}"
            );
            crate::PlainPages::sign_out(&form)
        });
    Ok(page_response(actix_web::http::StatusCode::OK, page))
}

/// `POST /sign-out`: checks the CSRF token, revokes the refresh token, ends the local session
/// and sends the browser to Logto's end-session endpoint, which returns it to the home page.
/// The ID token goes along as `id_token_hint` only while Logto still publishes its signing key.
pub(crate) async fn sign_out(
    request: HttpRequest,
    form: web::Form<SignOutRequest>,
) -> Result<HttpResponse, AuthError> {
    let session = UserSession::of(&request)?;
    let Some(user) = session.user().await? else {
        return Ok(see_other("/"));
    };
    if !user.csrf_matches(&form.csrf_token) {
        return Err(AuthError::CsrfMismatch);
    }
    let signed_out = session.auth.guard().sign_out(&user).await?;
    session.purge();
    log::info!("signed out user {}", user.profile.sub);
    // Without Logto's URL, the local session is gone either way; Logto's own session ends at
    // its next sign-in.
    Ok(see_other(
        signed_out
            .end_session_url
            .as_ref()
            .map_or("/", |url| url.as_str()),
    ))
}
