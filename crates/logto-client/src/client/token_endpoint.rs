//! The token endpoint through `oauth2`: Logto's token response with its `id_token`, the status
//! of each answer (to tell an outage from a refusal), and how its failures become
//! [`LogtoError`]s.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, Ordering};

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AsyncHttpClient, EndpointNotSet, EndpointSet, ExtraTokenFields, HttpClientError, HttpRequest,
    HttpResponse, RequestTokenError, StandardRevocableToken, StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};

use super::LogtoClient;
use crate::LogtoError;
use crate::error::error_chain;
use crate::http::Http;

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
    pub(super) fn noting_status<'a>(&'a self, status: &'a AnswerStatus) -> NotingStatus<'a> {
        NotingStatus {
            http: &self.http,
            status,
        }
    }

    /// A token request's answer as sent through [`noting_status`](Self::noting_status) with
    /// `status`: its failure as a [`LogtoError`], recorded in Logto's health when it is an
    /// outage rather than a refusal.
    pub(super) fn token_outcome<T>(
        &self,
        status: &AnswerStatus,
        answer: Result<T, RequestTokenError<HttpClientError<reqwest::Error>, BasicErrorResponse>>,
    ) -> Result<T, LogtoError> {
        let answer = answer
            .map_err(|error| status.unreachable_if_gateway_failed(token_request_error(error)));
        self.health
            .record_outcome(answer, |error| status.says_logto_is_down(error))
    }
}

/// [`LogtoClient::noting_status`]: a named type rather than a closure, so that the futures of
/// the token requests are `Send` for every lifetime (a closure capturing the client made them
/// `Send` for one lifetime only, which a multi-threaded runtime cannot spawn).
pub(super) struct NotingStatus<'a> {
    http: &'a Http,
    status: &'a AnswerStatus,
}

impl<'c> AsyncHttpClient<'c> for NotingStatus<'_> {
    type Error = HttpClientError<reqwest::Error>;
    type Future = Pin<Box<dyn Future<Output = HttpResult> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let response = self.http.call(request).await?;
            self.status.note(response.status().as_u16());
            Ok(response)
        })
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

#[cfg(test)]
mod tests {
    use oauth2::StandardErrorResponse;
    use oauth2::basic::BasicErrorResponseType;

    use super::*;

    fn answered(status: u16) -> AnswerStatus {
        let answer = AnswerStatus::default();
        if status != 0 {
            answer.note(status);
        }
        answer
    }

    fn rejected(error: &str) -> LogtoError {
        LogtoError::TokenRejected {
            error: error.to_owned(),
            description: None,
        }
    }

    #[test]
    fn only_an_outage_counts_against_logto_never_a_refusal() {
        let unreachable = || LogtoError::TokenEndpointUnreachable("timed out".to_owned());
        let unparsable = || LogtoError::InvalidTokenResponse("not JSON".to_owned());
        let table = [
            (0, unreachable(), true),
            (0, unparsable(), true),
            (500, rejected("invalid_grant"), true),
            (400, rejected("server_error"), true),
            (400, rejected("temporarily_unavailable"), true),
            (200, unparsable(), true),
            (502, unparsable(), true),
            // Anyone can make a code exchange end in these: they must not hold back others.
            (400, rejected("invalid_grant"), false),
            (401, rejected("invalid_client"), false),
            (400, unparsable(), false),
            (404, unparsable(), false),
        ];
        for (status, error, down) in table {
            assert_eq!(
                answered(status).says_logto_is_down(&error),
                down,
                "HTTP {status}, {error:?}"
            );
        }
    }

    #[test]
    fn a_gateway_failure_reads_as_logto_unreachable_whatever_page_came_with_it() {
        for status in [502, 503, 504] {
            let error = answered(status).unreachable_if_gateway_failed(
                LogtoError::InvalidTokenResponse("an HTML page".to_owned()),
            );
            assert!(
                matches!(&error, LogtoError::TokenEndpointUnreachable(reason) if reason == &format!("Logto answered HTTP {status}")),
                "{error:?}"
            );
        }
        for status in [0, 200, 500] {
            let error = answered(status).unreachable_if_gateway_failed(
                LogtoError::InvalidTokenResponse("an HTML page".to_owned()),
            );
            assert!(
                matches!(error, LogtoError::InvalidTokenResponse(_)),
                "HTTP {status}"
            );
        }
        let refusal = answered(503).unreachable_if_gateway_failed(rejected("invalid_grant"));
        assert!(
            refusal.is_invalid_grant(),
            "an OAuth error is kept as it is"
        );
    }

    #[test]
    fn token_endpoint_failures_map_to_errors_that_quote_no_token() {
        let refusal = token_request_error(RequestTokenError::ServerResponse(
            StandardErrorResponse::new(
                BasicErrorResponseType::InvalidGrant,
                Some("grant request is invalid".to_owned()),
                None,
            ),
        ));
        assert!(refusal.is_invalid_grant());
        assert!(matches!(
            &refusal,
            LogtoError::TokenRejected { description: Some(description), .. }
                if description == "grant request is invalid"
        ));

        let unreachable = token_request_error(RequestTokenError::Request(HttpClientError::Other(
            "connection reset".to_owned(),
        )));
        assert!(
            matches!(&unreachable, LogtoError::TokenEndpointUnreachable(reason) if reason.contains("connection reset")),
            "{unreachable:?}"
        );
        assert!(unreachable.is_unavailable());

        let body = br#"{"access_token": "a-secret-token", "token_type": 7}"#.to_vec();
        let mut parser = serde_json::Deserializer::from_slice(&body);
        let path_error =
            serde_path_to_error::deserialize::<_, LogtoTokenResponse>(&mut parser).unwrap_err();
        let unparsable = token_request_error(RequestTokenError::Parse(path_error, body));
        let message = crate::error_chain(&unparsable);
        assert!(matches!(unparsable, LogtoError::InvalidTokenResponse(_)));
        assert!(!message.contains("a-secret-token"), "{message}");
    }

    #[test]
    fn expiry_counts_from_arrival_and_the_scope_reads_as_sent() {
        let response: LogtoTokenResponse = serde_json::from_str(
            r#"{"access_token": "a", "token_type": "Bearer", "expires_in": 3600,
                "scope": "openid profile offline_access", "id_token": "h.c.s"}"#,
        )
        .unwrap();
        assert_eq!(
            expires_at(&response, 1_700_000_000_999),
            Some(1_700_003_600)
        );
        assert_eq!(
            granted_scope(&response).as_deref(),
            Some("openid profile offline_access")
        );
        assert_eq!(response.extra_fields().id_token.as_deref(), Some("h.c.s"));
        assert!(!format!("{:?}", response.extra_fields()).contains("h.c.s"));

        let bare: LogtoTokenResponse =
            serde_json::from_str(r#"{"access_token": "a", "token_type": "Bearer"}"#).unwrap();
        assert_eq!(expires_at(&bare, 1_700_000_000_000), None);
        assert_eq!(granted_scope(&bare), None);
    }
}
