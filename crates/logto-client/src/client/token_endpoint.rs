//! The token endpoint through `oauth2`: Logto's token response with its `id_token`, the status
//! of each answer (to tell an outage from a refusal), and how its failures become
//! [`LogtoError`]s.

use std::pin::Pin;
use std::sync::atomic::{AtomicU16, Ordering};

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    EndpointNotSet, EndpointSet, ExtraTokenFields, HttpClientError, HttpRequest, HttpResponse,
    RequestTokenError, StandardRevocableToken, StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};

use super::LogtoClient;
use crate::LogtoError;
use crate::error::error_chain;

/// The `id_token` field of the token response, which `oauth2` does not know about.
#[derive(Clone, Deserialize, Serialize)]
pub(super) struct IdTokenField {
    pub(super) id_token: Option<String>,
}

impl std::fmt::Debug for IdTokenField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdTokenField([redacted])")
    }
}

impl ExtraTokenFields for IdTokenField {}

pub(super) type LogtoTokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;

/// An `oauth2` client whose authorization and token endpoints are set (from discovery).
pub(super) type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    LogtoTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// What the token endpoint is called in errors and in the health record.
pub(super) const TOKEN_ENDPOINT: &str = "token endpoint";

pub(super) type HttpResult = Result<HttpResponse, HttpClientError<reqwest::Error>>;

/// The HTTP status of a token-endpoint answer; 0 until one arrives.
#[derive(Default)]
pub(super) struct AnswerStatus(AtomicU16);

impl AnswerStatus {
    /// Notes the status of the answer that arrived.
    fn note(&self, status: u16) {
        self.0.store(status, Ordering::Relaxed);
    }

    /// Whether a failed token request says that Logto is down rather than no: no answer, a
    /// 5xx, Logto's own `server_error` or `temporarily_unavailable`, or a 2xx that is not a
    /// token response. Never a 4xx otherwise: anyone can make a callback's code exchange end
    /// in one (a forged code, a front end that refuses it), and that must not hold back
    /// everyone else's sign-in.
    pub(super) fn says_logto_is_down(&self, error: &LogtoError) -> bool {
        let status = self.0.load(Ordering::Relaxed);
        let server_failed = status >= 500;
        match error {
            LogtoError::TokenEndpointUnreachable(_) => true,
            LogtoError::TokenRejected { .. } => server_failed || error.is_token_endpoint_failure(),
            _ => status == 0 || server_failed || (200..300).contains(&status),
        }
    }

    /// A gateway's 502, 503 or 504 in front of Logto says that Logto is unreachable, whatever
    /// page came with it.
    pub(super) fn unreachable_if_gateway_failed(&self, error: LogtoError) -> LogtoError {
        let status = self.0.load(Ordering::Relaxed);
        match error {
            LogtoError::InvalidTokenResponse(_) if (502..=504).contains(&status) => {
                LogtoError::TokenEndpointUnreachable(format!("Logto answered HTTP {status}"))
            }
            error => error,
        }
    }
}

impl LogtoClient {
    /// The HTTP client for one token request, noting the answer's status in `status`: oauth2
    /// keeps it to itself, and Logto's health needs it to tell an outage from a refusal.
    pub(super) fn noting_status<'a>(
        &'a self,
        status: &'a AnswerStatus,
    ) -> impl Fn(HttpRequest) -> Pin<Box<dyn Future<Output = HttpResult> + Send + 'a>> + 'a {
        move |request| {
            Box::pin(async move {
                let response = self.http.call(request).await?;
                status.note(response.status().as_u16());
                Ok(response)
            })
        }
    }
}

/// When the access token expires, in Unix seconds, from the response's `expires_in`, counted
/// from `issued_at_ms` (Unix milliseconds).
pub(super) fn expires_at(response: &LogtoTokenResponse, issued_at_ms: i64) -> Option<i64> {
    response.expires_in().map(|lifetime| {
        (issued_at_ms / 1_000).saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX))
    })
}

/// The response's `scope`, space-separated as Logto sent it.
pub(super) fn granted_scope(response: &LogtoTokenResponse) -> Option<String> {
    response.scopes().map(|scopes| {
        scopes
            .iter()
            .map(|scope| scope.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    })
}

pub(super) fn token_request_error(
    error: RequestTokenError<HttpClientError<reqwest::Error>, BasicErrorResponse>,
) -> LogtoError {
    match error {
        RequestTokenError::ServerResponse(response) => LogtoError::TokenRejected {
            error: response.error().to_string(),
            description: response.error_description().cloned(),
        },
        RequestTokenError::Request(error) => {
            LogtoError::TokenEndpointUnreachable(error_chain(&error))
        }
        // Only the JSON path: the parser's message can quote values, and values are tokens.
        RequestTokenError::Parse(error, _body) => LogtoError::InvalidTokenResponse(format!(
            "it is not a token response (at {})",
            error.path()
        )),
        RequestTokenError::Other(message) => LogtoError::InvalidTokenResponse(message),
    }
}
