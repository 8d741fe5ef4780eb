use actix_web::{HttpResponse, web};

use crate::logto::{LogtoClient, error_chain};
use crate::routes::see_other;
use crate::session::UserSession;

/// `GET /sign-out`: ends the local session, then sends the browser to Logto's end-session
/// endpoint (with `id_token_hint`), which returns it to the home page.
pub async fn sign_out(logto: web::Data<LogtoClient>, session: UserSession) -> HttpResponse {
    let user = session.user();
    session.sign_out();

    let id_token = user.as_ref().map(|user| user.tokens.id_token.as_str());
    match logto.sign_out_url(id_token).await {
        Ok(url) => {
            if let Some(user) = &user {
                log::info!("signed out user {}", user.profile.sub);
            }
            see_other(url.as_str())
        }
        // The local session is gone either way; Logto's own session ends at its next sign-in.
        Err(error) => {
            log::warn!(
                "signed out locally only, Logto's end-session URL is unknown: {}",
                error_chain(&error)
            );
            see_other("/")
        }
    }
}
