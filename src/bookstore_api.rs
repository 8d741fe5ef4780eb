//! [`BookstoreApi`]: how the Bookstore's pages call its own JSON API, server to server, with
//! the signed-in user's access token, as a separate front end would.

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::http::header::ACCEPT_LANGUAGE;
use serde::Deserialize;
use url::Url;

use crate::i18n::Locale;

/// How long the API has to answer a page's request.
const API_TIMEOUT: Duration = Duration::from_secs(5);

/// A book as the API lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct ShelfBook {
    pub title: String,
    pub author: String,
    pub year: u16,
}

#[derive(Deserialize)]
struct Shelf {
    books: Vec<ShelfBook>,
}

/// What the API answered for the shelf.
#[derive(Debug)]
pub enum ShelfAnswer {
    /// The books.
    Books(Vec<ShelfBook>),
    /// The token lacks the scope (403): the user's roles do not grant it.
    NotPermitted,
}

/// Why the API could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ApiCallError {
    #[error("the Bookstore API could not be reached: {0}")]
    Unreachable(#[source] reqwest::Error),
    #[error("no Bookstore API address for this request: {0}")]
    Address(#[source] url::ParseError),
    #[error("the Bookstore API answered {0}")]
    Status(u16),
    #[error("the Bookstore API's answer could not be read: {0}")]
    Unreadable(#[source] reqwest::Error),
}

/// The API's address and the HTTP client the pages call it with.
#[derive(Debug, Clone)]
pub struct BookstoreApi {
    http: reqwest::Client,
    /// The server itself.
    base: Url,
    /// `/api/books` on the server itself.
    shelf_url: Url,
}

impl BookstoreApi {
    /// The API of the server listening on `listener`, reached over loopback (at start-up).
    pub fn on_listener(listener: SocketAddr) -> Result<Self, reqwest::Error> {
        let host = if listener.is_ipv4() {
            "127.0.0.1"
        } else {
            "[::1]"
        };
        let base = Url::parse(&format!("http://{host}:{}/", listener.port()))
            .expect("a loopback URL is valid");
        let shelf_url = base.join("api/books").expect("a relative path joins");
        let http = reqwest::Client::builder()
            .timeout(API_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            http,
            base,
            shelf_url,
        })
    }

    /// `GET /api/books` with `access_token`, in `locale`.
    pub async fn shelf(
        &self,
        access_token: &str,
        locale: Locale,
    ) -> Result<ShelfAnswer, ApiCallError> {
        self.books_at(self.shelf_url.clone(), access_token, locale)
            .await
    }

    /// `GET /api/organizations/{id}/shelf` with the organization's token, in `locale`.
    pub async fn club_shelf(
        &self,
        organization_id: &str,
        organization_token: &str,
        locale: Locale,
    ) -> Result<ShelfAnswer, ApiCallError> {
        // The id was checked to be URL-safe (letters, digits, `_` and `-`).
        let url = self
            .base
            .join(&format!("api/organizations/{organization_id}/shelf"))
            .map_err(ApiCallError::Address)?;
        self.books_at(url, organization_token, locale).await
    }

    async fn books_at(
        &self,
        url: Url,
        access_token: &str,
        locale: Locale,
    ) -> Result<ShelfAnswer, ApiCallError> {
        let response = self
            .http
            .get(url)
            .bearer_auth(access_token)
            .header(ACCEPT_LANGUAGE.as_str(), locale.code())
            .send()
            .await
            .map_err(ApiCallError::Unreachable)?;
        match response.status().as_u16() {
            200 => {
                let shelf: Shelf = response.json().await.map_err(ApiCallError::Unreadable)?;
                Ok(ShelfAnswer::Books(shelf.books))
            }
            403 => Ok(ShelfAnswer::NotPermitted),
            status => Err(ApiCallError::Status(status)),
        }
    }
}
