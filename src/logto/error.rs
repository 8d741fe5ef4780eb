//! Everything that can go wrong while talking to Logto.

use super::id_token::IdTokenError;

/// A failed step of the sign-in protocol. Messages never contain tokens or secrets.
#[derive(Debug, thiserror::Error)]
pub enum LogtoError {
    /// The HTTP client could not be built (TLS back-end initialisation).
    #[error("the HTTP client could not be built")]
    HttpClient(#[source] reqwest::Error),

    /// Logto could not be reached for its discovery document or its JWKS.
    #[error("the identity provider is unreachable for its {document}")]
    ProviderUnreachable {
        document: &'static str,
        #[source]
        source: reqwest::Error,
    },

    /// Logto answered the discovery or JWKS request with an error status.
    #[error("the identity provider answered HTTP {status} for its {document}")]
    ProviderStatus { document: &'static str, status: u16 },

    /// The discovery document or the JWKS could not be used.
    #[error("the identity provider's {document} is unusable: {reason}")]
    InvalidProviderDocument {
        document: &'static str,
        reason: String,
    },

    /// The authorization response carried `error=` (for example `access_denied`).
    #[error("the identity provider refused the sign-in: {error}")]
    AuthorizationDenied {
        error: String,
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
        expected: String,
        received: Option<String>,
    },

    /// The token endpoint answered with an OAuth error (for example `invalid_grant`).
    #[error("the token endpoint rejected the request: {error}")]
    TokenRejected {
        error: String,
        description: Option<String>,
    },

    /// The token endpoint could not be reached.
    #[error("the token endpoint is unreachable: {0}")]
    TokenEndpointUnreachable(String),

    /// The token endpoint answered, but not with a usable token response.
    #[error("the token endpoint sent an invalid response: {0}")]
    InvalidTokenResponse(String),

    /// The ID token failed verification.
    #[error("the ID token is invalid")]
    InvalidIdToken(#[from] IdTokenError),
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
