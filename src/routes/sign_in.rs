use actix_web::{HttpResponse, web};
use logto_actix::sign_in_methods::{SignInMethods, valid_email};
use serde::Deserialize;

use crate::error::AppError;
use crate::i18n::Locale;
use crate::logto::{DirectSignIn, FirstScreen, Identifier, LogtoClient, SignInOptions};
use crate::routes::{home::render_home, see_other};
use crate::session::{SignInAttempts, UserSession};

/// What `/sign-in` accepts, from a link's query string or the email form. Anything else is a
/// 400: nothing unknown is passed through to Logto.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
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
pub async fn sign_in(
    logto: web::Data<LogtoClient>,
    methods: web::Data<SignInMethods>,
    attempts: SignInAttempts,
    request: web::Query<SignInRequest>,
    locale: Locale,
) -> Result<HttpResponse, AppError> {
    start(&logto, &methods, attempts, locale, request.into_inner()).await
}

/// `POST /sign-in`: the "Email me a code" form. A bad address re-renders the form with an error.
pub async fn sign_in_with_form(
    logto: web::Data<LogtoClient>,
    methods: web::Data<SignInMethods>,
    session: UserSession,
    attempts: SignInAttempts,
    form: web::Form<SignInRequest>,
    locale: Locale,
) -> Result<HttpResponse, AppError> {
    let request = form.into_inner();
    if let Some(email) = &request.email
        && methods.email_sign_in
        && !valid_email(email)
    {
        return render_home(
            &session,
            &methods,
            locale,
            Some(email),
            actix_web::http::StatusCode::BAD_REQUEST,
        )
        .await;
    }
    start(&logto, &methods, attempts, locale, request).await
}

async fn start(
    logto: &LogtoClient,
    methods: &SignInMethods,
    mut attempts: SignInAttempts,
    locale: Locale,
    request: SignInRequest,
) -> Result<HttpResponse, AppError> {
    let mut options = sign_in_options(methods, &request)?;
    // Logto's sign-in page then speaks the language the visitor reads here.
    options.ui_locales = Some(locale.code().to_owned());
    let start = logto.start_sign_in(&options).await?;
    attempts.begin(start.pending, request.return_to.as_deref().unwrap_or("/"));
    let mut response = see_other(start.url.as_str());
    attempts.write_to(&mut response)?;
    Ok(response)
}

/// Maps the request to Logto's authorization parameters, refusing anything not offered.
fn sign_in_options(
    methods: &SignInMethods,
    request: &SignInRequest,
) -> Result<SignInOptions, AppError> {
    let invalid = |reason: &str| Err(AppError::InvalidSignInOption(reason.to_owned()));
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
