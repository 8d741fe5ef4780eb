//! The languages the pages are served in: English and Japanese.
//!
//! Every user-visible string lives in one [`Texts`] value per language (`en.rs`, `ja.rs`).
//! A visitor's [`Locale`] comes from the `lang` cookie that the language switcher sets, else
//! from `Accept-Language`, else English. The choice is a plain cookie, not a session entry, so
//! anonymous visitors still get no session.

mod en;
mod error_text;
mod ja;

use std::convert::Infallible;
use std::fmt;
use std::future::{Ready, ready};
use std::str::FromStr;

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::dev::{Payload, RequestHead};
use actix_web::http::header::{
    ACCEPT_LANGUAGE, AcceptLanguage, HeaderValue, LanguageTag, Preference, Quality, QualityItem,
    from_comma_delimited,
};
use actix_web::{FromRequest, HttpRequest};
use logto_actix::pages::request_cookie;
use serde::Serialize;

pub use error_text::ErrorText;

/// The cookie that remembers the language picked with the switcher.
pub const LANG_COOKIE: &str = "lang";

/// How long the switcher's choice is remembered.
const LANG_COOKIE_MAX_AGE: time::Duration = time::Duration::days(365);

/// A language the pages are served in.
///
/// As a handler argument it is the visitor's language; it never fails to extract.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Locale {
    /// English, for anyone who asks for no supported language.
    #[default]
    En,
    /// Japanese.
    Ja,
}

impl Locale {
    /// Every supported language, in the switcher's order.
    pub const ALL: [Self; 2] = [Self::En, Self::Ja];

    /// The language code, as used in `<html lang>`, the `lang` cookie, `/lang/{code}` and
    /// Logto's `ui_locales`.
    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Ja => "ja",
        }
    }

    /// The language's name in that language, as the switcher shows it to those who read it.
    pub fn name(self) -> &'static str {
        match self {
            Self::En => "English",
            Self::Ja => "日本語",
        }
    }

    /// Every string of every page, in this language.
    pub fn texts(self) -> &'static Texts {
        match self {
            Self::En => &en::TEXTS,
            Self::Ja => &ja::TEXTS,
        }
    }

    /// The visitor's language: the switcher's cookie, else `Accept-Language`, else English.
    pub fn of_request(request: &HttpRequest) -> Self {
        Self::of_head(request.head())
    }

    /// [`of_request`](Self::of_request) from the request's head: all there is of a request
    /// whose page logto-actix renders after its session store failed.
    pub fn of_head(request: &RequestHead) -> Self {
        let picked =
            request_cookie(request, LANG_COOKIE).and_then(|cookie| cookie.value().parse().ok());
        picked
            .or_else(|| {
                request
                    .headers()
                    .get(ACCEPT_LANGUAGE)
                    .and_then(|value| value.to_str().ok())
                    .and_then(Self::negotiate)
            })
            .unwrap_or_default()
    }

    /// The supported language the browser prefers, from one `Accept-Language` value, read by
    /// actix-web's parser (RFC 9110's grammar): the highest `q` wins, the earlier range on a
    /// tie. `ja-JP` counts as `ja`; ranges with `q=0`, and ranges that break the grammar (a
    /// malformed tag, `q` or parameter), are skipped. `None` when no supported language is listed.
    pub fn negotiate(accept_language: &str) -> Option<Self> {
        let value = HeaderValue::from_str(accept_language).ok()?;
        let ranges: Vec<QualityItem<Preference<LanguageTag>>> =
            from_comma_delimited(std::iter::once(&value)).ok()?;
        let acceptable = ranges
            .into_iter()
            .filter(|range| range.quality > Quality::ZERO)
            .collect();
        AcceptLanguage(acceptable)
            .ranked()
            .into_iter()
            .find_map(|preference| match preference {
                Preference::Specific(tag) => Self::for_primary_subtag(tag.primary_language()),
                Preference::Any => None,
            })
    }

    /// The language of a tag's primary subtag (`ja` of `ja-JP`).
    fn for_primary_subtag(primary: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|locale| primary.eq_ignore_ascii_case(locale.code()))
    }
}

/// A language code that is not one of [`Locale::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported language code: use en or ja")]
pub struct UnsupportedLocale;

impl FromStr for Locale {
    type Err = UnsupportedLocale;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|locale| locale.code() == code)
            .ok_or(UnsupportedLocale)
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromRequest for Locale {
    type Error = Infallible;
    type Future = Ready<Result<Self, Infallible>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Ok(Self::of_request(request)))
    }
}

/// Writes the `lang` cookie. Registered as app data, because `Secure` depends on `BASE_URL`.
#[derive(Debug, Clone, Copy)]
pub struct LanguageCookie {
    secure: bool,
}

impl LanguageCookie {
    /// `secure`: whether the site is served over https (the cookie then gets `Secure`).
    pub fn new(secure: bool) -> Self {
        Self { secure }
    }

    /// The cookie that remembers `locale` for a year. `HttpOnly`: no script reads it.
    pub fn remembering(self, locale: Locale) -> Cookie<'static> {
        Cookie::build(LANG_COOKIE, locale.code())
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .max_age(LANG_COOKIE_MAX_AGE)
            .finish()
    }
}

/// `text` with each `{name}` placeholder replaced by its value from `values`.
///
/// The result is plain text: templates escape it like any other value.
pub fn fill(text: &str, values: &[(&str, &dyn fmt::Display)]) -> String {
    values
        .iter()
        .fold(text.to_owned(), |filled, (name, value)| {
            filled.replace(&format!("{{{name}}}"), &value.to_string())
        })
}

/// `text` split around its one placeholder, for templates that put markup there:
/// `"Signed in as {name}"` gives `("Signed in as ", "")`. Without a placeholder, `(text, "")`.
pub fn around(text: &str) -> (&str, &str) {
    split_at_placeholder(text).map_or((text, ""), |(before, _, after)| (before, after))
}

/// The text before the first `{name}` placeholder, the name, and the text after it.
fn split_at_placeholder(text: &str) -> Option<(&str, &str, &str)> {
    let start = text.find('{')?;
    let end = start + text[start..].find('}')?;
    Some((&text[..start], &text[start + 1..end], &text[end + 1..]))
}

/// A book on the Bookstore's shelf, with its title and author as readers of a language know
/// them.
#[derive(Debug, Serialize)]
pub struct Book {
    pub title: &'static str,
    pub author: &'static str,
    pub year: u16,
}

/// Every user-visible string of every page, in one language.
///
/// `{name}` marks a placeholder: filled with [`fill`], or split with [`around`] where the
/// template puts markup (a `<strong>`, a `<code>`, a link) in its place. Both languages must
/// use the same placeholders, which the tests check.
#[derive(Debug, Serialize)]
pub struct Texts {
    // Every page.
    /// The site's name.
    pub brand: &'static str,
    /// The language switcher's label, for screen readers.
    pub language: &'static str,
    /// `{logto}`: a link to logto.io.
    pub footer: &'static str,
    /// The `<meta name="description">` of every page, for search engines and link previews.
    pub description: &'static str,
    /// The first link on every page, for keyboard users: it jumps past the header.
    pub skip_to_content: &'static str,
    /// The signed-in pages' navigation, for screen readers.
    pub site_navigation: &'static str,

    // Navigation and buttons used on several pages.
    pub home: &'static str,
    pub books: &'static str,
    pub profile: &'static str,
    pub api_token: &'static str,
    pub sign_in: &'static str,
    pub sign_out: &'static str,

    // `GET /`.
    /// The home page's title, before the brand.
    pub home_title: &'static str,
    pub welcome: &'static str,
    pub welcome_back: &'static str,
    pub not_signed_in: &'static str,
    /// `{name}`: the user's name, in bold.
    pub signed_in_as: &'static str,
    /// `{name}`: the user's name.
    pub picture_alt: &'static str,
    pub username: &'static str,
    pub email: &'static str,
    pub user_id: &'static str,
    pub browse_books: &'static str,
    pub sign_in_lead: &'static str,
    pub create_account: &'static str,
    /// `{provider}`: a social connector's name, for example GitHub.
    pub continue_with: &'static str,
    pub email_me_a_code: &'static str,
    pub send_code: &'static str,
    pub invalid_email: &'static str,
    pub home_note: &'static str,

    // `GET /sign-out`.
    pub sign_out_question: &'static str,
    pub sign_out_lead: &'static str,
    pub stay_signed_in: &'static str,

    // `GET /books`.
    /// `{name}`: the user's name.
    pub books_lead: &'static str,
    /// The heading of a book club's shelf on its organization token page.
    pub club_shelf: &'static str,
    /// There, when the organization token does not grant `{scope}`.
    pub club_shelf_not_permitted: &'static str,
    /// On `/books`, for a user whose roles do not grant `{scope}` on the API.
    pub books_not_permitted: &'static str,
    /// The Bookstore's shelf, with titles and authors as readers of this language know them.
    pub shelf: [Book; 4],

    // `GET /profile`.
    /// `{name}`: the user's name.
    pub profile_of: &'static str,
    pub organizations: &'static str,
    pub organizations_note: &'static str,
    pub id_token_claims: &'static str,
    pub id_token_note: &'static str,
    pub userinfo: &'static str,
    /// `{endpoint}`: `/oidc/me`, as code.
    pub userinfo_note: &'static str,
    pub claim: &'static str,
    pub value: &'static str,

    // `GET /api-token`.
    pub api_token_heading: &'static str,
    /// `{resource}`: the API resource indicator, as code.
    pub api_token_lead: &'static str,
    pub audience: &'static str,
    pub scope: &'static str,
    pub expires_at: &'static str,
    /// Heading of the table of a verified access token's claims.
    pub token_claims: &'static str,
    /// `{variable}`: `LOGTO_RESOURCES`, as code.
    pub organization_token: &'static str,
    pub organization_token_lead: &'static str,
    pub no_api_resource: &'static str,
    /// `{example}`: an API resource indicator, as code.
    pub api_resource_example: &'static str,

    // Error pages.
    /// `{status}`: the HTTP status code.
    pub error_status: &'static str,
    /// `{title}`: the title of a page that reports an error (an error page, a refused form).
    pub error_title: &'static str,
    pub details: &'static str,
    pub try_again: &'static str,
    pub back_to_store: &'static str,
    pub error_expired_title: &'static str,
    pub error_expired_message: &'static str,
    pub error_not_completed_title: &'static str,
    pub error_not_completed_message: &'static str,
    pub error_sign_in_failed_title: &'static str,
    pub error_code_rejected_message: &'static str,
    pub error_missing_code_message: &'static str,
    pub error_issuer_mismatch_message: &'static str,
    pub error_invalid_id_token_message: &'static str,
    pub error_provider_unavailable_title: &'static str,
    pub error_provider_unavailable_message: &'static str,
    pub error_provider_failed_title: &'static str,
    pub error_provider_failed_message: &'static str,
    pub error_userinfo_mismatch_message: &'static str,
    pub error_sign_in_required_title: &'static str,
    pub error_sign_in_required_message: &'static str,
    pub error_unknown_option_title: &'static str,
    pub error_unknown_option_message: &'static str,
    pub error_invalid_logout_token_title: &'static str,
    pub error_invalid_logout_token_message: &'static str,
    pub error_session_ended_title: &'static str,
    pub error_session_ended_message: &'static str,
    pub error_form_expired_title: &'static str,
    pub error_form_expired_message: &'static str,
    pub error_cross_site_title: &'static str,
    pub error_cross_site_message: &'static str,
    pub error_store_unavailable_title: &'static str,
    pub error_store_unavailable_message: &'static str,
    pub error_session_too_large_title: &'static str,
    /// `{bytes}`: the cookie's size; `{limit}`: the most browsers keep.
    pub error_session_too_large_message: &'static str,
    pub error_bad_request_title: &'static str,
    pub error_bad_request_message: &'static str,
    pub error_not_found_title: &'static str,
    pub error_not_found_message: &'static str,
    pub error_method_not_allowed_title: &'static str,
    pub error_method_not_allowed_message: &'static str,
    pub error_organization_denied_title: &'static str,
    pub error_organization_denied_message: &'static str,
    pub error_internal_title: &'static str,
    pub error_internal_message: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fields that read the same in both languages: proper names only.
    const SAME_IN_BOTH: &[&str] = &["brand"];

    /// Every string of `texts`, by its path (`shelf[1].title`); numbers are skipped.
    fn strings(texts: &Texts) -> Vec<(String, String)> {
        fn walk(path: String, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
            match value {
                serde_json::Value::String(text) => out.push((path, text.clone())),
                serde_json::Value::Object(fields) => {
                    for (name, value) in fields {
                        let path = if path.is_empty() {
                            name.clone()
                        } else {
                            format!("{path}.{name}")
                        };
                        walk(path, value, out);
                    }
                }
                serde_json::Value::Array(items) => {
                    for (index, item) in items.iter().enumerate() {
                        walk(format!("{path}[{index}]"), item, out);
                    }
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(
            String::new(),
            &serde_json::to_value(texts).unwrap(),
            &mut out,
        );
        out
    }

    fn placeholders(mut text: &str) -> Vec<&str> {
        let mut names = Vec::new();
        while let Some((_, name, after)) = split_at_placeholder(text) {
            names.push(name);
            text = after;
        }
        names.sort_unstable();
        names
    }

    #[test]
    fn no_string_is_missing_or_left_untranslated() {
        let english = strings(Locale::En.texts());
        let japanese = strings(Locale::Ja.texts());
        assert!(english.len() > 50, "every field is serialized");
        assert_eq!(
            english.iter().map(|(path, _)| path).collect::<Vec<_>>(),
            japanese.iter().map(|(path, _)| path).collect::<Vec<_>>()
        );
        for ((path, en), (_, ja)) in english.iter().zip(&japanese) {
            assert!(!en.trim().is_empty(), "English {path} is empty");
            assert!(!ja.trim().is_empty(), "Japanese {path} is empty");
            if SAME_IN_BOTH.contains(&path.as_str()) {
                assert_eq!(en, ja, "{path} is a proper name");
            } else {
                assert_ne!(en, ja, "Japanese {path} is still English");
            }
        }
    }

    #[test]
    fn both_languages_use_the_same_placeholders() {
        let japanese = strings(Locale::Ja.texts());
        for ((path, en), (_, ja)) in strings(Locale::En.texts()).iter().zip(&japanese) {
            assert_eq!(placeholders(en), placeholders(ja), "{path}");
            for name in placeholders(en) {
                assert!(
                    !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase()),
                    "{path}: {{{name}}} is a lowercase name"
                );
            }
        }
    }

    #[test]
    fn both_languages_show_the_same_shelf() {
        let years = |locale: Locale| locale.texts().shelf.iter().map(|book| book.year).collect();
        let english: Vec<u16> = years(Locale::En);
        assert_eq!(english, years(Locale::Ja));
    }

    #[test]
    fn japanese_visitors_are_recognized_by_accept_language() {
        for header in [
            "ja",
            "ja-JP,en;q=0.5",
            "JA-jp",
            "fr, ja;q=0.8, en;q=0.7",
            "  ja  ",
            "ja ; q=0.5",
            "ja;Q=0.5",
            "ja;q=1.000",
            "ja-JP-u-ca-japanese",
            ",,ja,,",
        ] {
            assert_eq!(Locale::negotiate(header), Some(Locale::Ja), "{header:?}");
        }
    }

    #[test]
    fn the_preferred_supported_language_wins() {
        for (header, expected) in [
            ("en-US,ja;q=0.9", Some(Locale::En)),
            ("en;q=0.5, ja;q=0.6", Some(Locale::Ja)),
            ("ja;q=0.5, en;q=0.5", Some(Locale::Ja)),
            ("ja;q=0, en", Some(Locale::En)),
            ("ja;q=0", None),
            ("ja;q=0.000, en-GB;q=0.1", Some(Locale::En)),
        ] {
            assert_eq!(Locale::negotiate(header), expected, "{header:?}");
        }
    }

    #[test]
    fn unsupported_empty_or_malformed_headers_choose_nothing() {
        for header in [
            "",
            "fr",
            "fr-FR, de;q=0.9",
            "*",
            "garbage;;;,,,",
            "japanese",
            "ja;q=2",
            "ja;q=abc",
            "ja;q",
            "ja;q=NaN",
            "jp",
        ] {
            assert_eq!(Locale::negotiate(header), None, "{header:?}");
        }
    }

    /// The hand-written parser before actix-web's took these; RFC 9110's grammar refuses them.
    #[test]
    fn ranges_that_break_the_grammar_are_skipped() {
        for header in [
            "ja;q=.5",
            "ja;q=1e-1",
            "ja;q=0.0001",
            "ja; q = 0.5",
            "ja;level=1",
            "ja-",
            "ja-abcdefghi",
            "ja;q=0.5;q=0.9",
        ] {
            assert_eq!(Locale::negotiate(header), None, "{header:?}");
            assert_eq!(
                Locale::negotiate(&format!("{header}, en;q=0.1")),
                Some(Locale::En)
            );
        }
    }

    #[test]
    fn only_the_first_accept_language_line_counts() {
        let request = actix_web::test::TestRequest::default()
            .append_header((ACCEPT_LANGUAGE, "fr"))
            .append_header((ACCEPT_LANGUAGE, "ja"))
            .to_http_request();
        assert_eq!(Locale::of_request(&request), Locale::En);
    }

    #[test]
    fn codes_round_trip_and_others_are_refused() {
        for locale in Locale::ALL {
            assert_eq!(locale.code().parse(), Ok(locale));
            assert_eq!(locale.to_string(), locale.code());
        }
        for bad in ["", "EN", "ja-JP", "fr", "en "] {
            assert_eq!(bad.parse::<Locale>(), Err(UnsupportedLocale), "{bad:?}");
        }
    }

    #[test]
    fn the_cookie_lasts_a_year_on_the_whole_site() {
        let cookie = LanguageCookie::new(true).remembering(Locale::Ja);
        assert_eq!((cookie.name(), cookie.value()), ("lang", "ja"));
        assert_eq!(cookie.path(), Some("/"));
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(cookie.same_site(), Some(SameSite::Lax));
        assert_eq!(cookie.secure(), Some(true));
        assert_eq!(cookie.max_age(), Some(time::Duration::days(365)));
        let plain = LanguageCookie::new(false).remembering(Locale::En);
        assert_ne!(plain.secure(), Some(true));
    }

    #[test]
    fn placeholders_are_filled_or_split() {
        assert_eq!(
            fill("{bytes} of {limit}", &[("bytes", &5000), ("limit", &4096)]),
            "5000 of 4096"
        );
        assert_eq!(around("Signed in as {name}"), ("Signed in as ", ""));
        assert_eq!(around("{name} さん"), ("", " さん"));
        assert_eq!(around("no placeholder"), ("no placeholder", ""));
    }
}
