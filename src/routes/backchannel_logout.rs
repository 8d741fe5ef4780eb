use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::error::AppError;
use crate::logto::{LogtoClient, unix_now};
use crate::session::SessionDirectory;

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
    logto: web::Data<LogtoClient>,
    directory: web::Data<SessionDirectory>,
    request: web::Form<LogoutRequest>,
) -> Result<HttpResponse, AppError> {
    let claims = logto.verify_logout_token(&request.logout_token).await?;
    // Past `exp` plus the leeway the token is refused anyway, so remembering it ends there.
    let leeway = i64::try_from(logto.clock_leeway().as_secs()).unwrap_or(i64::MAX);
    let now = unix_now();
    if !directory
        .first_use_of_logout_token(&claims.jti, claims.exp.saturating_add(leeway), now)
        .await?
    {
        return Err(AppError::ReplayedLogoutToken);
    }
    let ended = directory
        .end(claims.sid.as_deref(), claims.sub.as_deref(), claims.iat)
        .await;
    let deleted = match ended {
        Ok(deleted) => deleted,
        Err(error) => {
            // Nothing was ended: Logto's retry must not be refused as a replay.
            directory.forget_logout_token(&claims.jti).await;
            return Err(error);
        }
    };
    log::info!(
        "back-channel logout for user {:?}: {deleted} stored sessions deleted",
        claims.sub
    );
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .finish())
}
