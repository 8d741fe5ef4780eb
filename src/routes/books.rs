use actix_web::HttpResponse;

use crate::error::AppError;
use crate::i18n::Locale;
use crate::templates::{BooksPage, Layout, UserView, html_page};
use logto_actix::SignedInUser;

/// `GET /books` (signed-in only): the pattern for any protected page. Taking `SignedInUser`
/// is all it needs: anonymous visitors are sent to sign in and brought back here.
pub async fn books(user: SignedInUser, locale: Locale) -> Result<HttpResponse, AppError> {
    let t = locale.texts();
    Ok(html_page(&BooksPage {
        layout: Layout::signed_in(locale, "/books", &user.csrf_token),
        user: &UserView::from(&user.profile),
        // The shelf is in `Texts`: titles and authors read differently in each language.
        books: &t.shelf,
    })?)
}
