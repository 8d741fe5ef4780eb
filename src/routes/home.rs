use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web;
use logto_actix::SignInMethods;

use crate::error::AppError;
use crate::i18n::Locale;
use crate::pages::connector_label;
use crate::session::UserSession;
use crate::templates::{EmailForm, HomePage, Layout, SocialButton, UserView, html_page};

/// `GET /`: shows whether the visitor is signed in. Reading an absent session creates
/// nothing, so anonymous visitors get no cookie and no Redis key.
pub async fn home(
    session: UserSession,
    methods: web::Data<SignInMethods>,
    locale: Locale,
) -> Result<HttpResponse, AppError> {
    render_home(&session, &methods, locale, None, StatusCode::OK).await
}

/// The home page; `rejected_email` re-renders the email form with an error.
pub(crate) async fn render_home(
    session: &UserSession,
    methods: &SignInMethods,
    locale: Locale,
    rejected_email: Option<&str>,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let t = locale.texts();
    let user = session.user().await?;
    let view = user.as_ref().map(|user| UserView::from(&user.profile));
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
        // Also for the home page re-rendered by `POST /sign-in`: a GET there would sign in.
        layout: Layout::new(
            locale,
            "/",
            user.as_ref().map(|user| user.csrf_token.as_str()),
        ),
        user: view.as_ref(),
        social: &social,
        email_form: email_form.as_ref(),
    };
    let mut response = html_page(&page)?;
    *response.status_mut() = status;
    Ok(response)
}
