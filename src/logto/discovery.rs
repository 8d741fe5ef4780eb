//! The OpenID Provider metadata served at `/oidc/.well-known/openid-configuration`.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::LogtoError;

/// The part of Logto's discovery document that this client uses.
#[derive(Debug, Clone, Deserialize)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    pub jwks_uri: Url,
    pub userinfo_endpoint: Option<Url>,
    pub end_session_endpoint: Option<Url>,
    pub revocation_endpoint: Option<Url>,
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// RFC 9207: when true, every authorization response must carry `iss`.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

/// GETs one of Logto's public JSON documents (discovery, JWKS), naming it in every error.
pub(crate) async fn fetch_document<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    document: &'static str,
) -> Result<T, LogtoError> {
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|source| LogtoError::ProviderUnreachable { document, source })?;
    if !response.status().is_success() {
        return Err(LogtoError::ProviderStatus {
            document,
            status: response.status().as_u16(),
        });
    }
    response
        .json()
        .await
        .map_err(|error| LogtoError::InvalidProviderDocument {
            document,
            reason: error.to_string(),
        })
}
