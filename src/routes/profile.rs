use actix_web::HttpResponse;
use logto_actix::SignedInUser;

use crate::error::AppError;
use crate::i18n::Locale;
use crate::templates::{Claim, Layout, ProfilePage, UserView, claims_table, html_page};

/// `GET /profile` (signed-in only): the verified ID token claims, and fresh userinfo from
/// Logto's `/oidc/me`, fetched with an access token that is refreshed when needed. A token
/// that Logto refuses there (the grant was revoked) ends the session.
pub async fn profile(mut user: SignedInUser, locale: Locale) -> Result<HttpResponse, AppError> {
    // Verified at sign-in (or refresh) and kept in the session since.
    let id_token_claims = user.id_token_claims()?;
    // Only the ID token says who is signed in; a userinfo answer about anyone else is refused.
    let userinfo = user.userinfo().await?;

    let organizations: Vec<String> = id_token_claims
        .extra
        .get("organizations")
        .or_else(|| userinfo.get("organizations"))
        .and_then(|value| value.as_array())
        .map(|ids| {
            ids.iter()
                .filter_map(|id| id.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let id_token_table: Vec<Claim> =
        claims_table(&serde_json::to_value(&id_token_claims).unwrap_or_default());
    let userinfo_table: Vec<Claim> = claims_table(&serde_json::Value::Object(userinfo));

    Ok(html_page(&ProfilePage {
        layout: Layout::signed_in(locale, "/profile", user.csrf_token()),
        user: &UserView::from(&user.profile),
        id_token_claims: &id_token_table,
        userinfo: &userinfo_table,
        organizations: &organizations,
    })?)
}
