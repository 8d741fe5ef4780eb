use actix_web::HttpResponse;
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
    auth: actix_web::web::Data<logto_actix::LogtoAuth>,
    locale: Locale,
) -> Result<HttpResponse, AppError> {
    let user = visitor.user().map(|user| user.data());
    let page = home_page(locale, user, auth.sign_in_methods(), None)?;
    let mut response = HttpResponse::Ok().body(page);
    crate::templates::mark_as_private_html(&mut response);
    Ok(response)
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
