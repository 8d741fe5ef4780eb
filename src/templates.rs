//! The askama pages. Templates live in `templates/`; these structs are what they render.

use actix_web::HttpResponse;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use askama::Template;

use crate::bookstore_api::ShelfBook;
use crate::claim_time::UtcTime;
use crate::i18n::{Locale, Texts};
use logto_client::UserProfile;

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

/// What every page's frame shows (`base.html`, `nav.html`): the language, its texts, the
/// page's address and, for a signed-in visitor, the token of the sign-out form.
pub struct Layout<'a> {
    /// The page's language: `<html lang>` and the switcher.
    pub locale: Locale,
    /// Every string, in [`locale`](Self::locale).
    pub t: &'static Texts,
    /// This page's address, where the language switcher brings the visitor back.
    pub path: &'a str,
    /// For the sign-out form: `Some` exactly when the visitor is signed in.
    pub csrf_token: Option<&'a str>,
}

impl<'a> Layout<'a> {
    /// The frame of a page for any visitor, signed in (with a `csrf_token`) or not.
    pub fn new(locale: Locale, path: &'a str, csrf_token: Option<&'a str>) -> Self {
        Self {
            locale,
            t: locale.texts(),
            path,
            csrf_token,
        }
    }

    /// The frame of a page that only a signed-in visitor sees.
    pub fn signed_in(locale: Locale, path: &'a str, csrf_token: &'a str) -> Self {
        Self::new(locale, path, Some(csrf_token))
    }
}

/// A "Continue with ..." button.
pub struct SocialButton {
    /// The connector target sent as `direct_sign_in=social:<target>`.
    pub target: String,
    pub label: String,
}

/// The "Email me a code" form.
pub struct EmailForm {
    pub value: String,
    /// Why the address was refused, in the visitor's language.
    pub error: Option<&'static str>,
}

/// `GET /`: signed in or not, with the sign-in methods on offer.
#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage<'a> {
    /// The frame: language, texts, address and sign-out token.
    pub layout: Layout<'a>,
    pub user: Option<&'a UserView>,
    pub social: &'a [SocialButton],
    pub email_form: Option<&'a EmailForm>,
}

impl HomePage<'_> {
    /// Whether the page shows the email form refusing an address: its title then says so.
    pub fn rejects_an_email_address(&self) -> bool {
        self.user.is_none() && self.email_form.is_some_and(|form| form.error.is_some())
    }
}

/// `GET /sign-out`: the confirmation form.
#[derive(Template)]
#[template(path = "sign_out.html")]
pub struct SignOutPage<'a> {
    /// The frame: language, texts, address and sign-out token.
    pub layout: Layout<'a>,
}

/// One claim as a table row; non-string values are shown as JSON.
pub struct Claim {
    pub name: String,
    pub value: String,
    /// For a timestamp claim: its date, shown beside the raw value.
    pub time: Option<UtcTime>,
}

/// The rows of a claims table, sorted by name.
pub fn claims_table(claims: &serde_json::Value) -> Vec<Claim> {
    let mut rows: Vec<Claim> = claims
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, value)| !value.is_null())
        .map(|(name, value)| Claim {
            name: name.clone(),
            value: value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned),
            time: UtcTime::of_claim(name, value),
        })
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    rows
}

/// `GET /profile`.
#[derive(Template)]
#[template(path = "profile.html")]
pub struct ProfilePage<'a> {
    /// The frame: language, texts, address and sign-out token.
    pub layout: Layout<'a>,
    pub user: &'a UserView,
    pub id_token_claims: &'a [Claim],
    pub userinfo: &'a [Claim],
    pub organizations: &'a [String],
}

/// `GET /books`.
#[derive(Template)]
#[template(path = "books.html")]
pub struct BooksPage<'a> {
    /// The frame: language, texts, address and sign-out token.
    pub layout: Layout<'a>,
    pub user: &'a UserView,
    pub shelf: &'a ShelfView,
}

/// What `/books` shows of the shelf, as the Bookstore's API answered.
pub enum ShelfView {
    /// The books, in the page's language.
    Books(Vec<ShelfBook>),
    /// The user's roles do not grant `read:books`.
    NotPermitted,
    /// `LOGTO_RESOURCES` names no API resource to ask a token for.
    NoApiResource,
}

/// What the token pages show of a verified JWT access token.
pub struct AccessTokenView {
    /// What the token was requested for: the resource indicator, or the organization id.
    pub target: String,
    pub audience: String,
    pub scope: String,
    pub expires_at: i64,
    /// `expires_at` as a date, when plausible.
    pub expires: Option<UtcTime>,
    /// Every verified claim, as a table.
    pub claims: Vec<Claim>,
}

impl AccessTokenView {
    /// The view of the verified `claims` of a token requested for `target`.
    pub fn new(target: &str, claims: &logto_client::AccessTokenClaims) -> Self {
        let audience = match &claims.aud {
            logto_client::Audience::One(aud) => aud.clone(),
            logto_client::Audience::Many(auds) => auds.join(" "),
        };
        Self {
            target: target.to_owned(),
            audience,
            scope: claims.scope.clone().unwrap_or_default(),
            expires_at: claims.exp,
            expires: UtcTime::from_unix_seconds(claims.exp),
            claims: claims_table(&serde_json::to_value(claims).unwrap_or_default()),
        }
    }
}

/// `GET /api-token`.
#[derive(Template)]
#[template(path = "api_token.html")]
pub struct ApiTokenPage<'a> {
    /// The frame: language, texts, address and sign-out token.
    pub layout: Layout<'a>,
    /// `None` when `LOGTO_RESOURCES` is empty.
    pub token: Option<&'a AccessTokenView>,
}

/// `GET /organizations/{id}/token`.
#[derive(Template)]
#[template(path = "organization_token.html")]
pub struct OrganizationTokenPage<'a> {
    /// The frame: language, texts, address and sign-out token.
    pub layout: Layout<'a>,
    pub organization_id: &'a str,
    pub token: &'a AccessTokenView,
    /// The club's shelf, as the API answered.
    pub shelf: &'a ShelfView,
}

/// Every error, with its status and a way back.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    /// The frame: language, texts, address and sign-out token.
    pub layout: Layout<'a>,
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
