use actix_web::{HttpResponse, web};

use crate::error::AppError;
use crate::i18n::Locale;
use crate::logto::{LogtoClient, TokenTarget};
use crate::session::{SignedInUser, UserSession};
use crate::templates::{AccessTokenView, ApiTokenPage, Layout, html_page};
use crate::tokens::TokenService;

/// The API resources requested at sign-in (`LOGTO_RESOURCES`).
#[derive(Debug, Clone, Default)]
pub struct ApiResources(pub Vec<String>);

/// `GET /api-token` (signed-in only): the claims of the JWT access token for the first API
/// resource, as an API would see them after verifying it.
pub async fn api_token(
    logto: web::Data<LogtoClient>,
    tokens: web::Data<TokenService>,
    resources: web::Data<ApiResources>,
    session: UserSession,
    mut user: SignedInUser,
    locale: Locale,
) -> Result<HttpResponse, AppError> {
    let token = match resources.0.first() {
        Some(resource) => {
            let target = TokenTarget::Resource(resource.clone());
            let raw = tokens.access_token(&session, &mut user, &target).await?;
            let claims = logto.verify_access_token(&raw, resource).await?;
            Some(AccessTokenView::new(resource, &claims))
        }
        None => None,
    };
    Ok(html_page(&ApiTokenPage {
        layout: Layout::signed_in(locale, "/api-token", &user.csrf_token),
        token: token.as_ref(),
    })?)
}
