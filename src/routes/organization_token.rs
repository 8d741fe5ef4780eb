use actix_web::{HttpResponse, web};
use logto_actix::SignedInUser;
use logto_client::TokenTarget;

use crate::bookstore_api::{BookstoreApi, ShelfAnswer};
use crate::error::AppError;
use crate::i18n::Locale;
use crate::templates::{AccessTokenView, Layout, OrganizationTokenPage, ShelfView, html_page};

/// `GET /organizations/{id}/token` (signed-in only): the claims of the user's organization
/// token, which Logto issues from the refresh grant with `organization_id`, and the club's
/// shelf, read from the Bookstore's API with that token (`read:club-shelf`).
pub async fn organization_token(
    mut user: SignedInUser,
    locale: Locale,
    organization_id: web::Path<String>,
    api: web::Data<BookstoreApi>,
) -> Result<HttpResponse, AppError> {
    let organization_id = organization_id.into_inner();
    if !is_organization_id(&organization_id) {
        return Err(AppError::NotFound);
    }
    // Logto decides membership: the ID token's `organizations` claim may be older than it.
    let raw = user.organization_token(&organization_id).await?;
    let target = TokenTarget::Organization(organization_id.clone());
    let audience = target.audience().unwrap_or_default();
    let claims = user.client().verify_access_token(&raw, &audience).await?;
    // What the club reads, from the Bookstore's API, with the same organization token.
    let shelf = match api.club_shelf(&organization_id, &raw, locale).await? {
        ShelfAnswer::Books(books) => ShelfView::Books(books),
        ShelfAnswer::NotPermitted => ShelfView::NotPermitted,
    };

    let path = format!("/organizations/{organization_id}/token");
    Ok(html_page(&OrganizationTokenPage {
        layout: Layout::signed_in(locale, &path, user.csrf_token()),
        organization_id: &organization_id,
        token: &AccessTokenView::new(&audience, &claims),
        shelf: &shelf,
    })?)
}

/// Logto's organization ids are short and URL-safe; anything else is not worth a request.
fn is_organization_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
}

#[cfg(test)]
mod tests {
    use super::is_organization_id;

    #[test]
    fn organization_ids_are_short_and_url_safe() {
        assert!(is_organization_id("org_bookclub"));
        assert!(is_organization_id("6u5k3hyw0x2b"));
        for bad in ["", "a b", "../token", "org%2F1", "組織", &"a".repeat(129)] {
            assert!(!is_organization_id(bad), "{bad:?}");
        }
    }
}
