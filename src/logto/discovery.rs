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

impl ProviderMetadata {
    /// Points the endpoints that this server calls itself (token, JWKS, userinfo, revocation)
    /// at `internal` where they start with `public`. The ones browsers are sent to
    /// (authorization, end session) keep the public address.
    pub(crate) fn call_through(&mut self, public: &Url, internal: &Url) {
        let rebase = |url: &mut Url| {
            if let Some(rest) = url.as_str().strip_prefix(public.as_str())
                && let Ok(rebased) = internal.join(rest)
            {
                *url = rebased;
            }
        };
        rebase(&mut self.token_endpoint);
        rebase(&mut self.jwks_uri);
        for url in [&mut self.userinfo_endpoint, &mut self.revocation_endpoint]
            .into_iter()
            .flatten()
        {
            rebase(url);
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn server_to_server_endpoints_go_through_the_internal_address() {
        let public = "http://localhost:3001/";
        let mut metadata = ProviderMetadata {
            issuer: format!("{public}oidc"),
            authorization_endpoint: url("http://localhost:3001/oidc/auth"),
            token_endpoint: url("http://localhost:3001/oidc/token"),
            jwks_uri: url("http://localhost:3001/oidc/jwks"),
            userinfo_endpoint: Some(url("http://localhost:3001/oidc/me")),
            end_session_endpoint: Some(url("http://localhost:3001/oidc/session/end")),
            revocation_endpoint: Some(url("http://localhost:3001/oidc/token/revocation")),
            id_token_signing_alg_values_supported: vec![],
            authorization_response_iss_parameter_supported: true,
        };

        metadata.call_through(&url(public), &url("http://logto:3001/"));

        assert_eq!(
            metadata.token_endpoint.as_str(),
            "http://logto:3001/oidc/token"
        );
        assert_eq!(metadata.jwks_uri.as_str(), "http://logto:3001/oidc/jwks");
        assert_eq!(
            metadata.userinfo_endpoint.unwrap().as_str(),
            "http://logto:3001/oidc/me"
        );
        assert_eq!(
            metadata.revocation_endpoint.unwrap().as_str(),
            "http://logto:3001/oidc/token/revocation"
        );
        assert_eq!(
            metadata.authorization_endpoint.as_str(),
            "http://localhost:3001/oidc/auth",
            "browsers keep the public address"
        );
        assert_eq!(
            metadata.end_session_endpoint.unwrap().as_str(),
            "http://localhost:3001/oidc/session/end"
        );
        assert_eq!(metadata.issuer, "http://localhost:3001/oidc");
    }

    #[test]
    fn endpoints_on_another_host_are_left_alone() {
        let mut metadata = ProviderMetadata {
            issuer: "http://localhost:3001/oidc".into(),
            authorization_endpoint: url("http://localhost:3001/oidc/auth"),
            token_endpoint: url("https://elsewhere.example/token"),
            jwks_uri: url("http://localhost:3001/oidc/jwks"),
            userinfo_endpoint: None,
            end_session_endpoint: None,
            revocation_endpoint: None,
            id_token_signing_alg_values_supported: vec![],
            authorization_response_iss_parameter_supported: false,
        };
        metadata.call_through(&url("http://localhost:3001/"), &url("http://logto:3001/"));
        assert_eq!(
            metadata.token_endpoint.as_str(),
            "https://elsewhere.example/token"
        );
    }
}
