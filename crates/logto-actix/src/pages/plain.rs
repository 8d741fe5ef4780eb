//! [`PlainPages`]: minimal English pages, every value escaped.

use std::fmt::Write as _;

use super::{Pages, RejectedEmail, SignOutForm};
use crate::error::{ErrorKind, ErrorView, Retry};

/// The default pages: minimal HTML in English, without styles or scripts. Every value they
/// show is escaped with [`escape`].
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainPages;

impl Pages for PlainPages {}

/// `text` safe inside HTML text and quoted attribute values: `&`, `<`, `>`, `"` and `'`
/// become character references.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

impl PlainPages {
    /// The error page for `view`.
    pub fn page(view: &ErrorView) -> String {
        let (title, message) = words(view.kind);
        let mut body = format!(
            "<p>Error {}</p>\n<h1>{}</h1>\n<p>{}</p>\n",
            view.status.as_u16(),
            escape(title),
            escape(&message)
        );
        if let Some(detail) = &view.detail {
            let _ = writeln!(body, "<pre>{}</pre>", escape(detail));
        }
        let label = match view.retry {
            Retry::SignIn => "Sign in again",
            Retry::Home => "Back to the home page",
        };
        let _ = writeln!(
            body,
            "<p><a href=\"{}\">{}</a></p>",
            escape(view.retry.href()),
            label
        );
        document(title, &body)
    }

    /// The sign-out confirmation: one button posting the CSRF token.
    pub fn sign_out(form: &SignOutForm<'_>) -> String {
        let body = format!(
            "<h1>Sign out?</h1>\n<form method=\"post\" action=\"{}\">\n\
             <input type=\"hidden\" name=\"csrf_token\" value=\"{}\">\n\
             <button type=\"submit\">Sign out</button>\n</form>\n<p><a href=\"/\">Stay signed in</a></p>\n",
            escape(form.action),
            escape(form.csrf_token)
        );
        document("Sign out", &body)
    }

    /// The email form again, with the refused address and why.
    pub fn email_rejected(rejected: &RejectedEmail<'_>) -> String {
        let body = format!(
            "<h1>Sign in with an email code</h1>\n<form method=\"post\" action=\"{}\">\n\
             <label for=\"email\">Email</label>\n\
             <input id=\"email\" name=\"email\" type=\"email\" value=\"{}\" aria-invalid=\"true\" aria-describedby=\"email-error\">\n\
             <p id=\"email-error\">Enter a valid email address, like name@example.com.</p>\n\
             <button type=\"submit\">Email me a code</button>\n</form>\n",
            escape(rejected.action),
            escape(rejected.address)
        );
        document("Sign in", &body)
    }
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"robots\" content=\"noindex\">\n<title>{}</title>\n</head>\n\
         <body>\n<main>\n{body}</main>\n</body>\n</html>\n",
        escape(title)
    )
}

/// The plain pages' title and message for each kind.
fn words(kind: ErrorKind) -> (&'static str, String) {
    use ErrorKind as K;
    let (title, message) = match kind {
        K::SignInExpired => (
            "Sign-in expired",
            "This sign-in link has expired or was already used. Please sign in again.",
        ),
        K::SignInNotCompleted => (
            "Sign-in not completed",
            "The sign-in was cancelled or refused at the identity provider.",
        ),
        K::ProviderUnavailable => (
            "Sign-in is unavailable",
            "The identity provider cannot be reached right now. Please try again in a moment.",
        ),
        K::ProviderFailed => (
            "The identity provider failed",
            "The identity provider sent an answer that could not be used.",
        ),
        K::CodeRejected => (
            "Sign-in failed",
            "The identity provider refused to complete the sign-in.",
        ),
        K::MissingCode => (
            "Sign-in failed",
            "The identity provider sent no authorization code.",
        ),
        K::IssuerMismatch => (
            "Sign-in failed",
            "The answer did not come from the expected identity provider.",
        ),
        K::InvalidIdToken => (
            "Sign-in failed",
            "The identity provider's ID token could not be verified.",
        ),
        K::UserInfoMismatch => (
            "The identity provider failed",
            "The profile sent was about another user, so it was not used. You are still signed in.",
        ),
        K::SignInRequired => ("Sign-in required", "Please sign in to see this page."),
        K::InvalidSignInOption => (
            "Unknown sign-in option",
            "This way of signing in is not offered here.",
        ),
        K::InvalidLogoutToken => (
            "Invalid logout token",
            "The logout token was invalid or used before.",
        ),
        K::SessionEnded => (
            "Your session has ended",
            "The identity provider ended this session. Please sign in again.",
        ),
        K::OrganizationDenied => (
            "Organization access refused",
            "The identity provider refused a token for this organization.",
        ),
        K::FormExpired => (
            "This form has expired",
            "The form was sent without this session's token. Reload the page and try again.",
        ),
        K::CrossSite => (
            "Sent from another site",
            "Only forms sent from this site's own pages are accepted. Nothing was changed.",
        ),
        K::StoreUnavailable => (
            "Sessions are unavailable",
            "The session store cannot be reached right now. Please try again in a moment.",
        ),
        K::SessionTooLarge {
            cookie_bytes,
            limit,
        } => {
            return (
                "Session too large",
                format!(
                    "The session needs a {cookie_bytes}-byte cookie, over the {limit}-byte limit of browsers."
                ),
            );
        }
        K::BadRequest => ("Bad request", "The request could not be understood."),
        K::NotFound => ("Page not found", "There is no page at this address."),
        K::MethodNotAllowed => (
            "Method not allowed",
            "This address does not take this kind of request.",
        ),
        K::Internal => (
            "Something went wrong",
            "This server failed to answer. Please try again later.",
        ),
    };
    (title, message.to_owned())
}

#[cfg(test)]
mod tests {
    use actix_web::http::StatusCode;

    use super::*;

    const HOSTILE: &str = r#"<script>alert('x')</script>" onload="x" &amp;"#;

    /// Whether `html` holds none of `HOSTILE`'s markup: it was escaped.
    fn escaped(html: &str) {
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("\" onload"), "{html}");
        assert!(!html.contains("'x'"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot; onload=&quot;x&quot; &amp;amp;"), "{html}");
    }

    #[test]
    fn escape_replaces_every_character_that_means_something_in_html() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("plain text, é"), "plain text, é");
    }

    #[test]
    fn the_error_page_escapes_its_detail() {
        let view = ErrorView::new(StatusCode::BAD_REQUEST, ErrorKind::BadRequest, Retry::Home)
            .with_detail(HOSTILE);
        let html = PlainPages::page(&view);
        escaped(&html);
        assert!(html.contains("Error 400"));
        assert!(html.contains("<h1>Bad request</h1>"));
        assert!(html.contains(r#"<a href="/">Back to the home page</a>"#));
    }

    /// A signed-in user, as a session stores it.
    pub(crate) fn user() -> logto_client::session::SessionData {
        serde_json::from_str(
            r#"{"profile": {"sub": "user-1"},
                "tokens": {"id_token": "i", "access_token": "a", "access_token_expires_at": null,
                           "refresh_token": null, "scope": null},
                "grant_id": "g", "csrf_token": "t", "signed_in_at": 1, "last_seen_at": 2}"#,
        )
        .unwrap()
    }

    #[test]
    fn the_sign_out_form_escapes_its_action_and_token() {
        let html = PlainPages::sign_out(&SignOutForm::new(HOSTILE, HOSTILE, &user()));
        escaped(&html);
        assert_eq!(html.matches("&lt;script&gt;").count(), 2, "both values");
        let html = PlainPages::sign_out(&SignOutForm::new("/sign-out", "token-1", &user()));
        assert!(html.contains(r#"action="/sign-out""#));
        assert!(html.contains(r#"name="csrf_token" value="token-1""#));
    }

    #[test]
    fn the_email_form_escapes_the_refused_address() {
        let html = PlainPages::email_rejected(&RejectedEmail::new(HOSTILE, HOSTILE, None));
        escaped(&html);
        assert_eq!(html.matches("&lt;script&gt;").count(), 2, "both values");
    }

    #[test]
    fn every_kind_has_words_and_the_session_size_is_filled_in() {
        let too_large = ErrorKind::SessionTooLarge {
            cookie_bytes: 5120,
            limit: 4096,
        };
        let view = ErrorView::new(StatusCode::INTERNAL_SERVER_ERROR, too_large, Retry::Home);
        let html = PlainPages::page(&view);
        assert!(
            html.contains("5120-byte cookie, over the 4096-byte limit"),
            "{html}"
        );
        assert!(html.contains("<html lang=\"en\">"));
    }

    #[test]
    fn the_default_hook_methods_are_the_plain_pages() {
        let request = actix_web::test::TestRequest::default().to_http_request();
        let view = ErrorView::new(StatusCode::NOT_FOUND, ErrorKind::NotFound, Retry::Home);
        let hook: &dyn Pages = &PlainPages;
        assert_eq!(
            hook.error_page(request.head(), &view).unwrap(),
            PlainPages::page(&view)
        );
        assert_eq!(hook.ui_locales(request.head()), None);
        let user = user();
        let form = SignOutForm::new("/sign-out", "t", &user);
        assert_eq!(
            hook.sign_out_page(request.head(), &form).unwrap(),
            PlainPages::sign_out(&form)
        );
    }
}
