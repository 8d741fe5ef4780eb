use std::sync::OnceLock;

use actix_web::HttpResponse;
use actix_web::web::{Bytes, Data};
use logto_actix::{MaybeUser, SignInMethods};
use logto_client::session::SessionData;

use crate::error::AppError;
use crate::i18n::Locale;
use crate::pages::connector_label;
use crate::templates::{EmailForm, HomePage, Layout, SocialButton, UserView};
use askama::Template;

/// `GET /`: shows whether the visitor is signed in. Reading an absent session creates
/// nothing, so anonymous visitors get no cookie and no Redis key.
pub async fn home(
    visitor: MaybeUser,
    auth: Data<logto_actix::LogtoAuth>,
    anonymous_pages: Data<AnonymousHomePages>,
    locale: Locale,
) -> Result<HttpResponse, AppError> {
    let page = match visitor.user() {
        Some(user) => Bytes::from(home_page(
            locale,
            Some(user.data()),
            auth.sign_in_methods(),
            None,
        )?),
        None => anonymous_pages.page(locale)?,
    };
    let mut response = HttpResponse::Ok().body(page);
    crate::templates::mark_as_private_html(&mut response);
    Ok(response)
}

/// The home page an anonymous visitor sees, rendered once per language and then served as
/// shared bytes. It depends on nothing but the language and the sign-in methods on offer,
/// which are fixed at start-up: no CSRF token, nothing from the request. The page shown
/// again after a refused email address is not this one; it is rendered each time.
#[derive(Debug)]
pub struct AnonymousHomePages {
    methods: SignInMethods,
    /// One page per [`Locale`], indexed by its position in [`Locale::ALL`].
    pages: [OnceLock<Bytes>; Locale::ALL.len()],
}

impl AnonymousHomePages {
    /// The pages of a Bookstore that offers `methods`; each is rendered when first asked for.
    pub fn new(methods: SignInMethods) -> Self {
        Self {
            methods,
            pages: Default::default(),
        }
    }

    /// The anonymous home page in `locale`.
    pub fn page(&self, locale: Locale) -> Result<Bytes, askama::Error> {
        let cell = Locale::ALL
            .iter()
            .position(|candidate| *candidate == locale)
            .and_then(|index| self.pages.get(index));
        if let Some(page) = cell.and_then(OnceLock::get) {
            return Ok(page.clone());
        }
        let page = Bytes::from(home_page(locale, None, &self.methods, None)?);
        Ok(match cell {
            Some(cell) => cell.get_or_init(|| page).clone(),
            None => page,
        })
    }
}

/// The home page's HTML; `rejected_email` shows the email form again with an error (the
/// Bookstore's [`Pages::email_rejected_page`](logto_actix::Pages::email_rejected_page)).
pub fn home_page(
    locale: Locale,
    user: Option<&SessionData>,
    methods: &SignInMethods,
    rejected_email: Option<&str>,
) -> Result<String, askama::Error> {
    let t = locale.texts();
    let view = user.map(|user| UserView::from(&user.profile));
    let social = methods
        .social_connectors
        .iter()
        .map(|target| SocialButton {
            target: target.clone(),
            label: connector_label(target),
        })
        .collect::<Vec<_>>();
    let email_form = methods.email_sign_in.then(|| EmailForm {
        value: rejected_email.unwrap_or_default().to_owned(),
        error: rejected_email.map(|_| t.invalid_email),
    });
    let page = HomePage {
        // Also for the home page shown again by `POST /sign-in`: a GET there would sign in.
        layout: Layout::new(locale, "/", user.map(|user| user.csrf_token.as_str())),
        user: view.as_ref(),
        social: &social,
        email_form: email_form.as_ref(),
    };
    page.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every combination of sign-in methods the home page shows differently.
    fn method_sets() -> Vec<SignInMethods> {
        let social = vec!["github".to_owned(), "google".to_owned()];
        vec![
            SignInMethods::default(),
            SignInMethods {
                social_connectors: social.clone(),
                email_sign_in: false,
            },
            SignInMethods {
                social_connectors: Vec::new(),
                email_sign_in: true,
            },
            SignInMethods {
                social_connectors: social,
                email_sign_in: true,
            },
        ]
    }

    #[test]
    fn the_cached_anonymous_page_is_byte_for_byte_the_page_rendered_per_request() {
        for methods in method_sets() {
            let cache = AnonymousHomePages::new(methods.clone());
            for locale in Locale::ALL {
                let fresh = home_page(locale, None, &methods, None).unwrap();
                assert_eq!(cache.page(locale).unwrap(), fresh.as_bytes(), "first");
                assert_eq!(cache.page(locale).unwrap(), fresh.as_bytes(), "cached");
            }
        }
    }

    #[test]
    fn the_anonymous_page_is_rendered_once_per_language_and_then_shared() {
        let cache = AnonymousHomePages::new(method_sets().pop().unwrap());
        let english = cache.page(Locale::En).unwrap();
        let japanese = cache.page(Locale::Ja).unwrap();
        assert_ne!(english, japanese);
        // The same bytes, not another rendering of them.
        assert_eq!(cache.page(Locale::En).unwrap().as_ptr(), english.as_ptr());
        assert_eq!(cache.page(Locale::Ja).unwrap().as_ptr(), japanese.as_ptr());
    }
}
