use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use logto_client::{DirectSignIn, FirstScreen, Identifier, SignInOptions};
use serde::Deserialize;

use super::{SIGN_IN_PATH, auth_of, see_other};
use crate::attempts_cookie::SignInAttempts;
use crate::auth::LogtoAuth;
use crate::error::AuthError;
use crate::pages::{PlainPages, RejectedEmail, page_response};
use crate::session::MaybeUser;
use crate::sign_in_methods::{SignInMethods, valid_email};

/// What `/sign-in` accepts, from a link's query string or the email form. Anything else is a
/// 400: nothing unknown is passed through to Logto.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignInRequest {
    /// A path on this site to return to after signing in.
    return_to: Option<String>,
    /// `register` opens Logto's "Create account" screen.
    first_screen: Option<String>,
    /// A social connector target from `LOGTO_SOCIAL_CONNECTORS`, for example `github`.
    social: Option<String>,
    /// An address for passwordless sign-in with an email code (`LOGTO_EMAIL_SIGN_IN`).
    email: Option<String>,
}

/// `GET /sign-in`: starts the authorization-code flow and sends the browser to Logto.
/// The attempt's `state`, PKCE verifier and `nonce` stay in the sign-in attempts cookie until
/// `/callback`; the session is not touched.
pub(crate) async fn sign_in(
    request: HttpRequest,
    query: web::Query<SignInRequest>,
) -> Result<HttpResponse, AuthError> {
    let auth = auth_of(&request)?;
    start(&auth, &request, query.into_inner()).await
}

/// `POST /sign-in`: the "Email me a code" form. A bad address shows the form again with an
/// error ([`Pages::email_rejected_page`](crate::Pages::email_rejected_page)), answered 400.
pub(crate) async fn sign_in_with_form(
    request: HttpRequest,
    visitor: MaybeUser,
    form: web::Form<SignInRequest>,
) -> Result<HttpResponse, AuthError> {
    let auth = auth_of(&request)?;
    let form = form.into_inner();
    if let Some(email) = &form.email
        && auth.sign_in_methods().email_sign_in
        && !valid_email(email)
    {
        let rejected =
            RejectedEmail::new(SIGN_IN_PATH, email, visitor.user().map(|user| user.data()));
        let page = auth
            .pages()
            .email_rejected_page(request.head(), &rejected)
            .unwrap_or_else(|error| {
                log::error!(
                    "the email form failed to render, the plain one is used instead: {error}"
                );
                PlainPages::email_rejected(&rejected)
            });
        return Ok(page_response(StatusCode::BAD_REQUEST, page));
    }
    start(&auth, &request, form).await
}

async fn start(
    auth: &LogtoAuth,
    http_request: &HttpRequest,
    request: SignInRequest,
) -> Result<HttpResponse, AuthError> {
    let mut options = sign_in_options(auth.sign_in_methods(), &request)?;
    // Logto's sign-in page then speaks the language the visitor reads here.
    options.ui_locales = auth.pages().ui_locales(http_request.head());
    let start = auth.client().start_sign_in(&options).await?;
    let mut attempts = SignInAttempts::of(http_request, auth);
    attempts.begin(start.pending, request.return_to.as_deref().unwrap_or("/"));
    let mut response = see_other(start.url.as_str());
    attempts.write_to(&mut response)?;
    Ok(response)
}

/// Maps the request to Logto's authorization parameters, refusing anything not offered.
fn sign_in_options(
    methods: &SignInMethods,
    request: &SignInRequest,
) -> Result<SignInOptions, AuthError> {
    let invalid = |reason: &str| Err(AuthError::InvalidSignInOption(reason.to_owned()));
    let chosen = [&request.first_screen, &request.social, &request.email]
        .iter()
        .filter(|option| option.is_some())
        .count();
    if chosen > 1 {
        return invalid("choose one of first_screen, social and email");
    }
    let mut options = SignInOptions::default();
    if let Some(screen) = &request.first_screen {
        if screen != "register" {
            return invalid("first_screen can only be register");
        }
        options.first_screen = Some(FirstScreen::Register);
    }
    if let Some(target) = &request.social {
        if !methods.social_connectors.contains(target) {
            return invalid("this social connector is not offered");
        }
        options.direct_sign_in = Some(DirectSignIn::Social(target.clone()));
    }
    if let Some(email) = &request.email {
        if !methods.email_sign_in {
            return invalid("email sign-in is not offered");
        }
        if !valid_email(email) {
            return invalid("the email address is not valid");
        }
        options.first_screen = Some(FirstScreen::IdentifierSignIn);
        options.identifiers = vec![Identifier::Email];
        options.login_hint = Some(email.trim().to_owned());
    }
    Ok(options)
}
