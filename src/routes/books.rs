use actix_web::{HttpResponse, web};
use logto_actix::SignedInUser;
use logto_client::TokenTarget;

use crate::bookstore_api::{BookstoreApi, ShelfAnswer};
use crate::error::AppError;
use crate::i18n::Locale;
use crate::state::ApiResources;
use crate::templates::{BooksPage, Layout, ShelfView, UserView, html_page};

/// `GET /books` (signed-in only): the pattern for any protected page. Taking `SignedInUser`
/// is all it needs: anonymous visitors are sent to sign in and brought back here. The shelf
/// comes from the Bookstore's own API (`/api/books`), called with the user's access token for
/// the API resource, as a separate front end would; a user whose roles lack `read:books` gets
/// a message instead.
pub async fn books(
    mut user: SignedInUser,
    locale: Locale,
    resources: web::Data<ApiResources>,
    api: web::Data<BookstoreApi>,
) -> Result<HttpResponse, AppError> {
    let shelf = match resources.0.first() {
        None => ShelfView::NoApiResource,
        Some(resource) => {
            let token = user
                .access_token(&TokenTarget::Resource(resource.clone()))
                .await?;
            match api.shelf(&token, locale).await? {
                ShelfAnswer::Books(books) => ShelfView::Books(books),
                ShelfAnswer::NotPermitted => ShelfView::NotPermitted,
            }
        }
    };
    Ok(html_page(&BooksPage {
        layout: Layout::signed_in(locale, "/books", &user.csrf_token),
        user: &UserView::from(&user.profile),
        shelf: &shelf,
    })?)
}
