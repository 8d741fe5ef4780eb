use actix_web::{HttpRequest, HttpResponse, web};
use logto_client::CallbackParams;
use logto_client::return_to::safe_return_to;
use logto_client::session::SessionData;

use super::{auth_of, see_other};
use crate::attempts_cookie::SignInAttempts;
use crate::error::AuthError;
use crate::session::UserSession;

/// `GET /callback`: Logto's redirect back. Finds the attempt by `state` in the sign-in attempts
/// cookie (consuming it, so a replayed callback fails), exchanges the code, verifies the ID
/// token, signs the user in under a fresh session id (the first time anything of theirs is
/// stored), and returns to the page the sign-in started from.
pub(crate) async fn callback(
    request: HttpRequest,
    params: web::Query<CallbackParams>,
) -> Result<HttpResponse, AuthError> {
    let auth = auth_of(&request)?;
    let session = UserSession::of(&request)?;
    let mut attempts = SignInAttempts::of(&request, &auth);
    let state = params.state.as_deref().ok_or(AuthError::MissingState)?;
    let attempt = attempts
        .take(state)
        .ok_or(AuthError::UnknownSignInAttempt)?;

    let signed_in = auth
        .client()
        .finish_sign_in(&attempt.pending, &params)
        .await;
    let mut response = match signed_in {
        Ok(signed_in) => {
            let user = SessionData::new(signed_in);
            session.sign_in(&user)?;
            log::info!("signed in user {}", user.profile.sub);
            see_other(safe_return_to(&attempt.return_to).unwrap_or("/"))
        }
        // The error page also clears the spent attempt.
        Err(error) => HttpResponse::from_error(AuthError::from(error)),
    };
    attempts.write_to(&mut response)?;
    Ok(response)
}
