use actix_web::{HttpResponse, web};

use crate::error::AppError;
use crate::logto::session::SessionData;
use crate::logto::{CallbackParams, LogtoClient};
use crate::return_to::safe_return_to;
use crate::routes::see_other;
use crate::session::{SignInAttempts, UserSession};

/// `GET /callback`: Logto's redirect back. Finds the attempt by `state` in the sign-in attempts
/// cookie (consuming it, so a replayed callback fails), exchanges the code, verifies the ID
/// token, signs the user in under a fresh session id (the first time anything of theirs is
/// stored), and returns to the page the sign-in started from.
pub async fn callback(
    logto: web::Data<LogtoClient>,
    session: UserSession,
    mut attempts: SignInAttempts,
    params: web::Query<CallbackParams>,
) -> Result<HttpResponse, AppError> {
    let state = params.state.as_deref().ok_or(AppError::MissingState)?;
    let attempt = attempts.take(state).ok_or(AppError::UnknownSignInAttempt)?;

    let signed_in = logto.finish_sign_in(&attempt.pending, &params).await;
    let mut response = match signed_in {
        Ok(signed_in) => {
            let user = SessionData::new(signed_in);
            session.sign_in(&user)?;
            log::info!("signed in user {}", user.profile.sub);
            see_other(safe_return_to(&attempt.return_to).unwrap_or("/"))
        }
        // The error page also clears the spent attempt.
        Err(error) => HttpResponse::from_error(AppError::from(error)),
    };
    attempts.write_to(&mut response)?;
    Ok(response)
}
