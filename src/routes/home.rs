use actix_web::HttpResponse;

use crate::error::AppError;
use crate::session::UserSession;
use crate::templates::{HomePage, UserView, html_page};

/// `GET /`: shows whether the visitor is signed in. Reading an absent session creates
/// nothing, so anonymous visitors get no cookie and no Redis key.
pub async fn home(session: UserSession) -> Result<HttpResponse, AppError> {
    let user = session.user().map(|user| UserView::from(&user.profile));
    Ok(html_page(&HomePage {
        user: user.as_ref(),
    })?)
}
