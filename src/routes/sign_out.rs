use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::error::AppError;
use crate::i18n::Locale;
use crate::routes::see_other;
use crate::session::UserSession;
use crate::templates::{Layout, SignOutPage, html_page};
use crate::tokens::TokenService;

/// The sign-out form.
#[derive(Debug, Deserialize)]
pub struct SignOutForm {
    csrf_token: String,
}

/// `GET /sign-out`: a confirmation page whose form posts to `/sign-out`. Signing out by a
/// plain link would let any site sign users out.
pub async fn confirm_sign_out(
    session: UserSession,
    locale: Locale,
) -> Result<HttpResponse, AppError> {
    let Some(user) = session.user().await? else {
        return Ok(see_other("/"));
    };
    Ok(html_page(&SignOutPage {
        layout: Layout::signed_in(locale, "/sign-out", &user.csrf_token),
    })?)
}

/// `POST /sign-out`: checks the CSRF token, revokes the refresh token, ends the local session
/// and sends the browser to Logto's end-session endpoint, which returns it to the home page.
/// The ID token goes along as `id_token_hint` only while Logto still publishes its signing key
/// (see [`LogtoClient::sign_out_url`](crate::logto::LogtoClient::sign_out_url)).
pub async fn sign_out(
    tokens: web::Data<TokenService>,
    session: UserSession,
    form: web::Form<SignOutForm>,
) -> Result<HttpResponse, AppError> {
    let Some(user) = session.user().await? else {
        return Ok(see_other("/"));
    };
    if !user.csrf_matches(&form.csrf_token) {
        return Err(AppError::CsrfMismatch);
    }
    let signed_out = tokens.guard().sign_out(&user).await?;
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
