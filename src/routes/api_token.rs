use actix_web::{HttpResponse, web};
use logto_actix::SignedInUser;
use logto_client::TokenTarget;

use crate::error::AppError;
use crate::i18n::Locale;
use crate::state::ApiResources;
use crate::templates::{AccessTokenView, ApiTokenPage, Layout, html_page};

/// `GET /api-token` (signed-in only): the claims of the JWT access token for the first API
/// resource, as an API would see them after verifying it.
pub async fn api_token(
    resources: web::Data<ApiResources>,
    mut user: SignedInUser,
    locale: Locale,
) -> Result<HttpResponse, AppError> {
    let token = match resources.0.first() {
        Some(resource) => {
            let target = TokenTarget::Resource(resource.clone());
            let raw = user.access_token(&target).await?;
            let claims = user.client().verify_access_token(&raw, resource).await?;
            Some(AccessTokenView::new(resource, &claims))
        }
        None => None,
    };
    Ok(html_page(&ApiTokenPage {
        layout: Layout::signed_in(locale, "/api-token", user.csrf_token()),
        token: token.as_ref(),
    })?)
}
