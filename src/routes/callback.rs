use actix_web::{HttpResponse, web};

use crate::error::AppError;
use crate::logto::{CallbackParams, LogtoClient};
use crate::return_to::safe_return_to;
use crate::routes::see_other;
use crate::session::{SignedInUser, UserSession};

/// `GET /callback`: Logto's redirect back. Finds the attempt by `state` (consuming it, so a
/// replayed callback fails), exchanges the code, verifies the ID token, signs the user in
/// under a fresh session id, and returns to the page the sign-in started from.
pub async fn callback(
    logto: web::Data<LogtoClient>,
    session: UserSession,
    params: web::Query<CallbackParams>,
) -> Result<HttpResponse, AppError> {
    let state = params.state.as_deref().ok_or(AppError::MissingState)?;
    let attempt = session
        .take_sign_in(state)
        .ok_or(AppError::UnknownSignInAttempt)?;

    let signed_in = match logto.finish_sign_in(&attempt.pending, &params).await {
        Ok(signed_in) => signed_in,
        Err(error) => {
            session.discard_if_empty();
            return Err(error.into());
        }
    };
    let user = SignedInUser::new(signed_in);
    session.sign_in(&user)?;

    log::info!("signed in user {}", user.profile.sub);
    Ok(see_other(safe_return_to(&attempt.return_to).unwrap_or("/")))
}
