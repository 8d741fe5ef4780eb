use actix_web::{HttpResponse, web};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::error::AppError;
use crate::i18n::Locale;
use crate::logto::{LogtoClient, error_chain};
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
/// (see [`LogtoClient::sign_out_url`]).
pub async fn sign_out(
    logto: web::Data<LogtoClient>,
    tokens: web::Data<TokenService>,
    session: UserSession,
    form: web::Form<SignOutForm>,
) -> Result<HttpResponse, AppError> {
    let Some(user) = session.user().await? else {
        return Ok(see_other("/"));
    };
    if !bool::from(user.csrf_token.as_bytes().ct_eq(form.csrf_token.as_bytes())) {
        return Err(AppError::CsrfMismatch);
    }
    if let Some(refresh_token) = &user.tokens.refresh_token
        && let Err(error) = logto.revoke_refresh_token(refresh_token).await
    {
        log::warn!(
            "could not revoke the refresh token of user {}: {}",
            user.profile.sub,
            error_chain(&error)
        );
    }
    session.sign_out();
    tokens.forget(&user.grant_id).await;
    log::info!("signed out user {}", user.profile.sub);

    match logto.sign_out_url(Some(&user.tokens.id_token)).await {
        Ok(url) => Ok(see_other(url.as_str())),
        // The local session is gone either way; Logto's own session ends at its next sign-in.
        Err(error) => {
            log::warn!(
                "signed out locally only, Logto's end-session URL is unknown: {}",
                error_chain(&error)
            );
            Ok(see_other("/"))
        }
    }
}
