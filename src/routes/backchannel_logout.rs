use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::error::AppError;
use crate::tokens::TokenService;

/// The body Logto posts (OIDC Back-Channel Logout 1.0 §2.5).
#[derive(Deserialize)]
pub struct LogoutRequest {
    logout_token: String,
}

/// `POST /backchannel-logout`: Logto tells the app that a user's Logto session ended. The
/// logout token is verified like an ID token, and each one is accepted once (§2.6 step 10);
/// then that session's app sessions are ended. A forged, expired or replayed token gets a 400
/// and changes nothing.
pub async fn backchannel_logout(
    tokens: web::Data<TokenService>,
    request: web::Form<LogoutRequest>,
) -> Result<HttpResponse, AppError> {
    let logout = tokens
        .guard()
        .backchannel_logout(&request.logout_token)
        .await?;
    log::info!(
        "back-channel logout for user {:?}: {} stored sessions deleted",
        logout.sub,
        logout.deleted
    );
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .finish())
}
