//! The Bookstore's own JSON API, behind Logto access tokens (`logto_actix::ApiUser`): no
//! session, no cookie, no CSRF check. What each route requires is stated where
//! [`super::configure`] mounts it.

use actix_web::http::header::CONTENT_LANGUAGE;
use actix_web::{HttpResponse, web};
use logto_actix::ApiUser;
use serde::Serialize;

use crate::i18n::{Book, Locale};

/// How many books of the shelf the book club is reading.
const CLUB_SHELF_SIZE: usize = 2;

#[derive(Serialize)]
struct Books<'a> {
    books: &'a [Book],
}

#[derive(Serialize)]
struct ClubShelf<'a> {
    organization_id: &'a str,
    books: &'a [Book],
}

/// `GET /api/books` (`read:books`): the shelf, in the language the caller asks for with
/// `Accept-Language`.
pub async fn list_books(_caller: ApiUser, locale: Locale) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_LANGUAGE, locale.code()))
        .json(Books {
            books: &locale.texts().shelf,
        })
}

/// `GET /api/organizations/{id}/shelf` (an organization token for `{id}` with
/// `read:club-shelf`): what that book club is reading.
pub async fn club_shelf(
    _caller: ApiUser,
    locale: Locale,
    organization_id: web::Path<String>,
) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_LANGUAGE, locale.code()))
        .json(ClubShelf {
            organization_id: &organization_id,
            books: &locale.texts().shelf[..CLUB_SHELF_SIZE],
        })
}
