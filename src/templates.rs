//! The askama pages. Templates live in `templates/`; these structs are what they render.

use actix_web::HttpResponse;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use askama::Template;

use crate::logto::UserProfile;

/// What the pages show about the signed-in user.
pub struct UserView {
    /// Name, else username, else the subject id.
    pub display_name: String,
    pub username: Option<String>,
    pub email: Option<String>,
    /// Only http(s) URLs: the picture comes from the user's profile.
    pub picture: Option<String>,
    pub sub: String,
}

impl UserView {
    /// The letter shown in place of a missing picture.
    pub fn initial(&self) -> char {
        self.display_name.chars().next().unwrap_or('?')
    }
}

impl From<&UserProfile> for UserView {
    fn from(profile: &UserProfile) -> Self {
        let picture = profile
            .picture
            .as_ref()
            .filter(|url| url.starts_with("https://") || url.starts_with("http://"))
            .cloned();
        Self {
            display_name: profile.display_name().to_owned(),
            username: profile.username.clone(),
            email: profile.email.clone(),
            picture,
            sub: profile.sub.clone(),
        }
    }
}

/// `GET /`: signed in or not.
#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage<'a> {
    pub user: Option<&'a UserView>,
}

/// Every error, with its status and a way back.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub status: u16,
    pub title: &'a str,
    pub message: &'a str,
    /// Untrusted text (for example the IdP's `error_description`); the template escapes it.
    pub detail: Option<&'a str>,
    pub retry_href: &'a str,
    pub retry_label: &'a str,
}

/// Renders `page` as a `200 OK` HTML response.
pub fn html_page(page: &impl Template) -> Result<HttpResponse, askama::Error> {
    let body = page.render()?;
    let mut response = HttpResponse::Ok().body(body);
    mark_as_private_html(&mut response);
    Ok(response)
}

/// Pages may show who is signed in: no shared cache may keep them.
pub(crate) fn mark_as_private_html(response: &mut HttpResponse) {
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
}
