//! The words of the error pages: one match from what went wrong to its title and message.

use logto_actix::{ErrorKind, Retry};

use super::{Texts, fill};

/// An error page's title and message, in one language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorText {
    pub title: &'static str,
    pub message: String,
}

impl Texts {
    /// The title and message for `kind`.
    pub fn error_text(&self, kind: ErrorKind) -> ErrorText {
        use ErrorKind as K;
        let text = |title, message: &str| ErrorText {
            title,
            message: message.to_owned(),
        };
        match kind {
            K::SignInExpired => text(self.error_expired_title, self.error_expired_message),
            K::SignInNotCompleted => text(
                self.error_not_completed_title,
                self.error_not_completed_message,
            ),
            K::ProviderUnavailable => text(
                self.error_provider_unavailable_title,
                self.error_provider_unavailable_message,
            ),
            K::ProviderFailed => text(
                self.error_provider_failed_title,
                self.error_provider_failed_message,
            ),
            K::CodeRejected => text(
                self.error_sign_in_failed_title,
                self.error_code_rejected_message,
            ),
            K::MissingCode => text(
                self.error_sign_in_failed_title,
                self.error_missing_code_message,
            ),
            K::IssuerMismatch => text(
                self.error_sign_in_failed_title,
                self.error_issuer_mismatch_message,
            ),
            K::InvalidIdToken => text(
                self.error_sign_in_failed_title,
                self.error_invalid_id_token_message,
            ),
            K::UserInfoMismatch => text(
                self.error_provider_failed_title,
                self.error_userinfo_mismatch_message,
            ),
            K::SignInRequired => text(
                self.error_sign_in_required_title,
                self.error_sign_in_required_message,
            ),
            K::InvalidSignInOption => text(
                self.error_unknown_option_title,
                self.error_unknown_option_message,
            ),
            K::InvalidLogoutToken => text(
                self.error_invalid_logout_token_title,
                self.error_invalid_logout_token_message,
            ),
            K::SessionEnded => text(
                self.error_session_ended_title,
                self.error_session_ended_message,
            ),
            K::OrganizationDenied => text(
                self.error_organization_denied_title,
                self.error_organization_denied_message,
            ),
            K::FormExpired => text(
                self.error_form_expired_title,
                self.error_form_expired_message,
            ),
            K::CrossSite => text(self.error_cross_site_title, self.error_cross_site_message),
            K::StoreUnavailable => text(
                self.error_store_unavailable_title,
                self.error_store_unavailable_message,
            ),
            K::SessionTooLarge {
                cookie_bytes,
                limit,
            } => text(
                self.error_session_too_large_title,
                &fill(
                    self.error_session_too_large_message,
                    &[("bytes", &cookie_bytes), ("limit", &limit)],
                ),
            ),
            K::BadRequest => text(self.error_bad_request_title, self.error_bad_request_message),
            K::NotFound => text(self.error_not_found_title, self.error_not_found_message),
            K::MethodNotAllowed => text(
                self.error_method_not_allowed_title,
                self.error_method_not_allowed_message,
            ),
            // `ErrorKind` is `#[non_exhaustive]`: a kind added later reads as this server's
            // failure until it gets words of its own.
            K::Internal | _ => text(self.error_internal_title, self.error_internal_message),
        }
    }

    /// The label of an error page's way on.
    pub fn retry_label(&self, retry: Retry) -> &'static str {
        match retry {
            Retry::SignIn => self.try_again,
            Retry::Home => self.back_to_store,
        }
    }
}
