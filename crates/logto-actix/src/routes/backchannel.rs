use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::auth::LogtoAuth;
use crate::error::AuthError;

/// The body Logto posts (OIDC Back-Channel Logout 1.0 §2.5).
#[derive(Deserialize)]
pub(crate) struct LogoutRequest {
    logout_token: String,
}

/// `POST /backchannel-logout`: Logto tells the app that a user's Logto session ended. The
/// logout token is verified like an ID token, and each one is accepted once (§2.6 step 10);
/// then that session's app sessions are ended. A forged, expired or replayed token gets a 400
/// and changes nothing.
pub(crate) async fn backchannel_logout(
    auth: LogtoAuth,
    request: web::Form<LogoutRequest>,
) -> Result<HttpResponse, AuthError> {
    let logout = auth
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
