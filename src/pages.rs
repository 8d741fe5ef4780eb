//! The Bookstore's pages for logto-actix's hook ([`logto_actix::Pages`]): its askama
//! templates, in the visitor's language.

use actix_web::dev::RequestHead;
use askama::Template;
use logto_actix::{
    ErrorView, PageError, Pages, PlainPages, RejectedEmail, SignInMethods, SignOutForm,
};

use crate::error::AppError;
use crate::i18n::Locale;
use crate::routes::home_page;
use crate::templates::{ErrorPage, Layout, SignOutPage};

/// The Bookstore's look and languages for the pages logto-actix answers with: the error
/// pages, the sign-out confirmation, and the home page again after a refused email address.
#[derive(Debug, Clone, Default)]
pub struct BookstorePages {
    /// What the home page offers.
    methods: SignInMethods,
}

impl BookstorePages {
    /// The pages of a Bookstore that offers `methods`.
    pub fn new(methods: SignInMethods) -> Self {
        Self { methods }
    }
}

impl Pages for BookstorePages {
    fn error_page(&self, request: &RequestHead, view: &ErrorView) -> Result<String, PageError> {
        Ok(render_error_page(Locale::of_head(request), view)?)
    }

    fn sign_out_page(
        &self,
        request: &RequestHead,
        form: &SignOutForm<'_>,
    ) -> Result<String, PageError> {
        let locale = Locale::of_head(request);
        let page = SignOutPage {
            layout: Layout::signed_in(locale, form.action, form.csrf_token),
        };
        Ok(page.render()?)
    }

    /// The home page again, its email form showing the refused address and why.
    fn email_rejected_page(
        &self,
        request: &RequestHead,
        rejected: &RejectedEmail<'_>,
    ) -> Result<String, PageError> {
        Ok(home_page(
            Locale::of_head(request),
            rejected.visitor,
            &self.methods,
            Some(rejected.address),
        )?)
    }

    /// Logto's sign-in page then speaks the language the visitor reads here.
    fn ui_locales(&self, request: &RequestHead) -> Option<String> {
        Some(Locale::of_head(request).code().to_owned())
    }

    fn view_of(&self, error: &actix_web::Error) -> Option<ErrorView> {
        error.as_error::<AppError>().map(AppError::view)
    }
}

fn render_error_page(locale: Locale, view: &ErrorView) -> Result<String, askama::Error> {
    let t = locale.texts();
    let text = t.error_text(view.kind);
    ErrorPage {
        // The failed address may not be worth returning to (a spent callback, a POST).
        layout: Layout::new(locale, "/", None),
        status: view.status.as_u16(),
        title: text.title,
        message: &text.message,
        detail: view.detail.as_deref(),
        retry_href: view.retry.href(),
        retry_label: t.retry_label(view.retry),
    }
    .render()
}

/// The error page for `view` in `locale`; the plain one should the template fail.
pub fn error_page_in(locale: Locale, view: &ErrorView) -> String {
    render_error_page(locale, view).unwrap_or_else(|error| {
        log::error!("the error page failed to render, the plain one is used instead: {error}");
        PlainPages::page(view)
    })
}

/// A connector target as a button label: `github` → `GitHub`.
pub fn connector_label(target: &str) -> String {
    match target {
        "github" => "GitHub".to_owned(),
        "xiaomi" => "Xiaomi".to_owned(),
        "google" => "Google".to_owned(),
        "wechat" => "WeChat".to_owned(),
        other => {
            let mut chars = other.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::StatusCode;
    use actix_web::test::TestRequest;
    use logto_actix::{AuthError, ErrorKind, Retry};

    use super::*;

    fn japanese_visitor() -> RequestHead {
        TestRequest::default()
            .insert_header(("accept-language", "ja-JP,ja;q=0.9"))
            .to_http_request()
            .head()
            .clone()
    }

    #[test]
    fn error_pages_are_rendered_in_the_language_asked_for() {
        let too_large = AuthError::SessionTooLarge {
            cookie_bytes: 5120,
            limit: 4096,
        }
        .view();
        let english = error_page_in(Locale::En, &too_large);
        assert!(english.contains(r#"<html lang="en">"#));
        assert!(english.contains("Session too large for a cookie"));
        assert!(english.contains("a 5120-byte session cookie"));
        let japanese = error_page_in(Locale::Ja, &too_large);
        assert!(japanese.contains(r#"<html lang="ja">"#));
        assert!(japanese.contains("セッションが大きすぎて Cookie に収まりません"));
        assert!(japanese.contains("5120 バイト"));
        assert!(japanese.contains("4096 バイト"));
        assert!(japanese.contains("Bookstore に戻る"));
        assert!(!japanese.contains('{'), "every placeholder is filled");
    }

    #[test]
    fn the_hook_s_error_page_speaks_the_visitor_s_language_and_escapes_the_detail() {
        let view = AuthError::InvalidSignInOption("<script>alert(1)</script>".into()).view();
        let page = BookstorePages::default()
            .error_page(&japanese_visitor(), &view)
            .unwrap();
        assert!(page.contains(r#"<html lang="ja">"#));
        assert!(page.contains(Locale::Ja.texts().error_unknown_option_title));
        assert!(!page.contains("<script>alert"), "the detail is escaped");
        assert!(page.contains("&#60;script&#62;") || page.contains("&lt;script&gt;"));
    }

    #[test]
    fn the_retry_link_follows_the_view() {
        let sign_in = ErrorView::new(
            StatusCode::UNAUTHORIZED,
            ErrorKind::SessionEnded,
            Retry::SignIn,
        );
        let page = error_page_in(Locale::En, &sign_in);
        assert!(page.contains(r#"href="/sign-in">Try again"#), "{page}");
    }

    #[test]
    fn the_sign_out_page_posts_the_csrf_token_in_the_visitor_s_language() {
        let user: logto_client::session::SessionData = serde_json::from_str(
            r#"{"profile": {"sub": "user-1"},
                "tokens": {"id_token": "i", "access_token": "a", "access_token_expires_at": null,
                           "refresh_token": null, "scope": null},
                "grant_id": "g", "csrf_token": "token-123", "signed_in_at": 1, "last_seen_at": 2}"#,
        )
        .unwrap();
        let form = SignOutForm::new("/sign-out", "token-123", &user);
        let page = BookstorePages::default()
            .sign_out_page(&japanese_visitor(), &form)
            .unwrap();
        assert!(page.contains(r#"<html lang="ja">"#));
        assert!(page.contains("token-123"));
    }

    #[test]
    fn logto_s_sign_in_page_gets_the_visitor_s_language() {
        assert_eq!(
            BookstorePages::default()
                .ui_locales(&japanese_visitor())
                .as_deref(),
            Some("ja")
        );
        let anyone = TestRequest::default().to_http_request();
        assert_eq!(
            BookstorePages::default()
                .ui_locales(anyone.head())
                .as_deref(),
            Some("en")
        );
    }

    #[test]
    fn the_app_s_errors_have_views_and_others_do_not() {
        let not_found: actix_web::Error = AppError::NotFound.into();
        assert_eq!(
            BookstorePages::default()
                .view_of(&not_found)
                .map(|view| view.kind),
            Some(ErrorKind::NotFound)
        );
        let other = actix_web::error::ErrorBadRequest("not ours");
        assert_eq!(BookstorePages::default().view_of(&other), None);
    }

    #[test]
    fn connector_targets_become_button_labels() {
        assert_eq!(connector_label("github"), "GitHub");
        assert_eq!(connector_label("xiaomi"), "Xiaomi");
        assert_eq!(connector_label("discord"), "Discord");
    }
}
