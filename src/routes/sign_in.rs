use actix_web::{HttpResponse, web};

use crate::error::AppError;
use crate::logto::LogtoClient;
use crate::routes::see_other;
use crate::session::UserSession;

/// `GET /sign-in`: starts the authorization-code flow and sends the browser to Logto.
/// The attempt's `state`, PKCE verifier and `nonce` stay in the session until `/callback`.
pub async fn sign_in(
    logto: web::Data<LogtoClient>,
    session: UserSession,
) -> Result<HttpResponse, AppError> {
    let start = logto.start_sign_in().await?;
    session.begin_sign_in(start.pending)?;
    Ok(see_other(start.url.as_str()))
}
