//! Everything that can go wrong while talking to Logto.

use crate::jwt::TokenError;

/// A failed exchange with Logto, or a token that failed verification. Messages never contain
/// tokens or secrets.
///
/// New kinds of failure may be added in a minor release: match with a wildcard arm, or use
/// [`status_code`](Self::status_code) and the `is_…` methods.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogtoError {
    /// The HTTP client could not be built (TLS back-end initialisation).
    #[error("the HTTP client could not be built")]
    HttpClient(#[source] reqwest::Error),

    /// Logto could not be reached for its discovery document or its JWKS.
    #[error("the identity provider is unreachable for its {document}")]
    ProviderUnreachable {
        /// What was asked for: `discovery document`, `JWKS`, `userinfo`...
        document: &'static str,
        /// Why the request failed.
        #[source]
        source: reqwest::Error,
    },

    /// Logto answered the discovery or JWKS request with an error status.
    #[error("the identity provider answered HTTP {status} for its {document}")]
    ProviderStatus {
        /// What was asked for.
        document: &'static str,
        /// The HTTP status Logto answered.
        status: u16,
    },

    /// A request for the discovery document, the JWKS or a token failed recently, so Logto is
    /// not asked again before `retry_in` has passed (see [`LogtoClient::health`](super::LogtoClient::health)).
    #[error(
        "the identity provider failed recently; its {document} is not requested again for {retry_in:?}"
    )]
    ProviderBackingOff {
        /// What would have been asked for.
        document: &'static str,
        /// How long until Logto is asked again.
        retry_in: std::time::Duration,
    },

    /// The discovery document or the JWKS could not be used.
    #[error("the identity provider's {document} is unusable: {reason}")]
    InvalidProviderDocument {
        /// Which document.
        document: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// The authorization response carried `error=` (for example `access_denied`).
    #[error("the identity provider refused the sign-in: {error}")]
    AuthorizationDenied {
        /// The OAuth error code.
        error: String,
        /// Logto's `error_description`, if any. It comes from the request: escape it before
        /// logging or showing it.
        description: Option<String>,
    },

    /// The authorization response has no `code`.
    #[error("the authorization response has no code")]
    MissingCode,

    /// The sign-in attempt is older than its lifetime.
    #[error("the sign-in attempt has expired")]
    SignInExpired,

    /// The `iss` of the authorization response (RFC 9207) is missing or not Logto's issuer.
    #[error("the authorization response's issuer {received:?} is not {expected}")]
    IssuerMismatch {
        /// Logto's issuer.
        expected: String,
        /// The `iss` the response carried, if any.
        received: Option<String>,
    },

    /// The token endpoint answered with an OAuth error (for example `invalid_grant`).
    #[error("the token endpoint rejected the request: {error}")]
    TokenRejected {
        /// The OAuth error code (RFC 6749 §5.2).
        error: String,
        /// Logto's `error_description`, if any.
        description: Option<String>,
    },

    /// The token endpoint could not be reached.
    #[error("the token endpoint is unreachable: {0}")]
    TokenEndpointUnreachable(String),

    /// The token endpoint answered, but not with a usable token response.
    #[error("the token endpoint sent an invalid response: {0}")]
    InvalidTokenResponse(String),

    /// The ID token failed verification (at sign-in or after a refresh).
    #[error("the ID token is invalid")]
    InvalidIdToken(#[source] TokenError),

    /// A refresh succeeded, but the ID token that came with it could not be verified (for
    /// example, signed with a new key while the JWKS cannot be fetched). Logto may have rotated
    /// the refresh token already: store `rotated_refresh_token` (the token to use next), or the
    /// next refresh may reuse a rotated-away one, and Logto revokes the grant. Its `Debug`
    /// does not show the token.
    #[error("the ID token from a refresh could not be verified")]
    RefreshedIdTokenRejected {
        /// The refresh token to use next.
        rotated_refresh_token: secrecy::SecretString,
        /// Why the ID token was refused.
        #[source]
        reason: Box<LogtoError>,
    },

    /// A JWT access token failed verification.
    #[error("the access token is invalid")]
    InvalidAccessToken(#[source] TokenError),

    /// A back-channel logout token failed verification.
    #[error("the logout token is invalid")]
    InvalidLogoutToken(#[source] TokenError),

    /// The userinfo endpoint refused the access token (HTTP 401): it has expired or its grant
    /// was revoked, for example by a sign-out elsewhere.
    #[error("the identity provider rejected the access token")]
    AccessTokenRejected,

    /// The userinfo response is about another user than the signed-in one: its `sub` is not
    /// the ID token's (OpenID Connect Core §5.3.2), so none of it may be used.
    #[error("the userinfo response's sub is not the signed-in user's")]
    UserInfoSubjectMismatch,

    /// The revocation endpoint could not be reached or refused the request.
    #[error("the token could not be revoked: {0}")]
    Revocation(String),

    /// An answer came from another URL than the one asked: an injected HTTP client followed a
    /// redirect ([`LogtoClientBuilder::http_client`](crate::LogtoClientBuilder::http_client)).
    #[error("the identity provider's answer for its {document} came through a redirect")]
    Redirected {
        /// What was asked for.
        document: &'static str,
    },

    /// Logto's endpoint is `https`, but this build has no TLS backend (features `rustls-tls`,
    /// `rustls-tls-native-roots` or `native-tls`) and no HTTP client was injected.
    #[error(
        "the identity provider's endpoint needs TLS, and no TLS backend is enabled. Enable the rustls-tls, rustls-tls-native-roots or native-tls feature, or inject an HTTP client"
    )]
    NoTlsBackend,
}

impl LogtoError {
    /// True for `invalid_grant` (a spent, revoked or expired refresh token): the session must end.
    pub fn is_invalid_grant(&self) -> bool {
        matches!(self, Self::TokenRejected { error, .. } if error == "invalid_grant")
    }

    /// True for `invalid_target`: the API resource was not sent, or Logto does not know it
    /// (check the resource indicator against the Console's API resources).
    pub fn is_invalid_target(&self) -> bool {
        matches!(self, Self::TokenRejected { error, .. } if error == "invalid_target")
    }

    /// True for `invalid_client`: Logto does not know the app, or its secret is wrong.
    pub fn is_invalid_client(&self) -> bool {
        matches!(self, Self::TokenRejected { error, .. } if error == "invalid_client")
    }

    /// True when Logto could not be reached, did not answer in time, said it is unavailable
    /// (HTTP 502, 503 or 504 from it or its proxy, `temporarily_unavailable`), or is being
    /// left alone after such failures: try again later. Other failures of Logto's are bad
    /// answers.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::ProviderUnreachable { .. }
            | Self::ProviderBackingOff { .. }
            | Self::TokenEndpointUnreachable(_) => true,
            Self::ProviderStatus { status, .. } => (502..=504).contains(status),
            Self::TokenRejected { error, .. } => error == "temporarily_unavailable",
            _ => false,
        }
    }

    /// The HTTP status a web app should answer with when a request fails with this error:
    ///
    /// - 503 while Logto is unavailable ([`is_unavailable`](Self::is_unavailable));
    /// - 403 for `access_denied` at sign-in;
    /// - 400 for what the visitor's request caused (another authorization error, no code, an
    ///   expired attempt, a wrong issuer, a refused code or ID token, a bad logout token);
    /// - 401 when Logto refused the access token;
    /// - 502 for any other bad answer of Logto's, `server_error` from the token endpoint
    ///   included;
    /// - 500 for this server's own failures (its HTTP client).
    pub fn status_code(&self) -> u16 {
        match self {
            Self::AuthorizationDenied { error, .. } if error == "access_denied" => 403,
            unavailable if unavailable.is_unavailable() => 503,
            failure @ Self::TokenRejected { .. } if failure.is_token_endpoint_failure() => 502,
            Self::AuthorizationDenied { .. }
            | Self::MissingCode
            | Self::SignInExpired
            | Self::IssuerMismatch { .. }
            | Self::TokenRejected { .. }
            | Self::InvalidIdToken(_)
            | Self::InvalidLogoutToken(_) => 400,
            Self::AccessTokenRejected => 401,
            Self::HttpClient(_) | Self::NoTlsBackend => 500,
            Self::ProviderUnreachable { .. }
            | Self::ProviderStatus { .. }
            | Self::ProviderBackingOff { .. }
            | Self::InvalidProviderDocument { .. }
            | Self::TokenEndpointUnreachable(_)
            | Self::InvalidTokenResponse(_)
            | Self::RefreshedIdTokenRejected { .. }
            | Self::InvalidAccessToken(_)
            | Self::UserInfoSubjectMismatch
            | Self::Revocation(_)
            | Self::Redirected { .. } => 502,
        }
    }

    /// True for Logto's own `server_error` or `temporarily_unavailable` from the token
    /// endpoint (RFC 6749 §5.2, §4.1.2.1): Logto failed, not the request.
    pub fn is_token_endpoint_failure(&self) -> bool {
        matches!(
            self,
            Self::TokenRejected { error, .. }
                if error == "server_error" || error == "temporarily_unavailable"
        )
    }
}

/// `error` and its sources on one line, for logs.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(error: &str) -> LogtoError {
        LogtoError::TokenRejected {
            error: error.to_owned(),
            description: None,
        }
    }

    fn denied(error: &str) -> LogtoError {
        LogtoError::AuthorizationDenied {
            error: error.to_owned(),
            description: None,
        }
    }

    #[test]
    fn statuses_say_whose_fault_and_whether_to_retry() {
        let table = [
            (denied("access_denied"), 403),
            (denied("invalid_scope"), 400),
            (LogtoError::MissingCode, 400),
            (LogtoError::SignInExpired, 400),
            (rejected("invalid_grant"), 400),
            (rejected("temporarily_unavailable"), 503),
            (rejected("server_error"), 502),
            (
                LogtoError::TokenEndpointUnreachable("timed out".into()),
                503,
            ),
            (
                LogtoError::ProviderStatus {
                    document: "JWKS",
                    status: 503,
                },
                503,
            ),
            (
                LogtoError::ProviderStatus {
                    document: "JWKS",
                    status: 500,
                },
                502,
            ),
            (
                LogtoError::ProviderBackingOff {
                    document: "discovery document",
                    retry_in: std::time::Duration::from_secs(1),
                },
                503,
            ),
            (LogtoError::InvalidTokenResponse("not JSON".into()), 502),
            (LogtoError::InvalidIdToken(TokenError::Expired), 400),
            (LogtoError::InvalidLogoutToken(TokenError::Expired), 400),
            (LogtoError::InvalidAccessToken(TokenError::Expired), 502),
            (LogtoError::AccessTokenRejected, 401),
            (LogtoError::UserInfoSubjectMismatch, 502),
            (
                LogtoError::Redirected {
                    document: "userinfo",
                },
                502,
            ),
            (LogtoError::NoTlsBackend, 500),
        ];
        for (error, status) in table {
            assert_eq!(error.status_code(), status, "{error:?}");
        }
    }

    #[test]
    fn the_chain_joins_every_source_on_one_line() {
        let error = LogtoError::InvalidIdToken(TokenError::NonceMismatch);
        assert_eq!(
            error_chain(&error),
            "the ID token is invalid: its nonce does not match the sign-in attempt"
        );
    }
}
