use actix_web::http::header::{CACHE_CONTROL, LOCATION};
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::error::AppError;
use crate::i18n::{LanguageCookie, Locale};
use logto_client::return_to::safe_return_to;

/// The switcher link's query string.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchLanguage {
    /// The page to show again, in the new language: a path on this site, else `/`.
    return_to: Option<String>,
}

/// `GET /lang/{code}?return_to=<path>`: the language switcher. Remembers the choice in the
/// `lang` cookie and goes back to the page. The session is not touched, so switching creates
/// none. An unsupported code is a 400.
pub async fn switch_language(
    code: web::Path<String>,
    request: web::Query<SwitchLanguage>,
    cookie: web::Data<LanguageCookie>,
) -> Result<HttpResponse, AppError> {
    let locale = code
        .parse::<Locale>()
        .map_err(|error| AppError::from(logto_actix::AuthError::BadRequest(error.to_string())))?;
    let return_to = request
        .return_to
        .as_deref()
        .and_then(safe_return_to)
        .unwrap_or("/");
    Ok(HttpResponse::SeeOther()
        .cookie(cookie.remembering(locale))
        .insert_header((LOCATION, return_to))
        // It sets a cookie: no cache may replay it to someone else.
        .insert_header((CACHE_CONTROL, "no-store"))
        .finish())
}
