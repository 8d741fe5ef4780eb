use actix_web::HttpResponse;

use crate::error::AppError;
use crate::session::SignedInUser;
use crate::templates::{Book, BooksPage, UserView, html_page};

/// The Bookstore's shelf.
const BOOKS: [Book; 4] = [
    Book {
        title: "Alice's Adventures in Wonderland",
        author: "Lewis Carroll",
        year: 1865,
    },
    Book {
        title: "Botchan",
        author: "Natsume Sōseki",
        year: 1906,
    },
    Book {
        title: "The Pillow Book",
        author: "Sei Shōnagon",
        year: 1002,
    },
    Book {
        title: "Through the Looking-Glass",
        author: "Lewis Carroll",
        year: 1871,
    },
];

/// `GET /books` (signed-in only): the pattern for any protected page. Taking `SignedInUser`
/// is all it needs: anonymous visitors are sent to sign in and brought back here.
pub async fn books(user: SignedInUser) -> Result<HttpResponse, AppError> {
    Ok(html_page(&BooksPage {
        user: &UserView::from(&user.profile),
        csrf_token: &user.csrf_token,
        books: &BOOKS,
    })?)
}
