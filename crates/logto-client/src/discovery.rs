//! The OpenID Provider metadata served at `/oidc/.well-known/openid-configuration`.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::LogtoError;
use crate::http::Http;

/// The part of Logto's discovery document that this client uses.
#[derive(Debug, Clone, Deserialize)]
pub struct ProviderMetadata {
    /// The issuer every token must name: `{endpoint}/oidc`.
    pub issuer: String,
    /// Where browsers are sent to sign in.
    pub authorization_endpoint: Url,
    /// Where codes and refresh tokens are exchanged for tokens.
    pub token_endpoint: Url,
    /// Logto's public signing keys.
    pub jwks_uri: Url,
    /// Where an opaque access token buys the user's claims (`/oidc/me`).
    pub userinfo_endpoint: Option<Url>,
    /// Where browsers are sent to end the Logto session (RP-initiated logout).
    pub end_session_endpoint: Option<Url>,
    /// Where refresh tokens are revoked (RFC 7009).
    pub revocation_endpoint: Option<Url>,
    #[serde(default)]
    /// The algorithms Logto signs ID tokens with.
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// RFC 9207: when true, every authorization response must carry `iss`.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

impl ProviderMetadata {
    /// Splits Logto's endpoints between its two addresses. Logto (oidc-provider) builds them
    /// from the `Host` of the discovery request, so fetched from `internal` they all name
    /// `internal`; only the issuer stays public. Browsers must be sent to `public`
    /// (authorization, end session), while this server calls `internal` (token, JWKS,
    /// userinfo, revocation). Endpoints on any other host are left as they are.
    pub(crate) fn call_through(&mut self, public: &Url, internal: &Url) {
        let rebase = |url: &mut Url, to: &Url| {
            let rest = [public, internal]
                .into_iter()
                .find_map(|from| url.as_str().strip_prefix(from.as_str()));
            if let Some(rebased) = rest.and_then(|rest| to.join(rest).ok()) {
                *url = rebased;
            }
        };
        rebase(&mut self.authorization_endpoint, public);
        if let Some(url) = &mut self.end_session_endpoint {
            rebase(url, public);
        }
        rebase(&mut self.token_endpoint, internal);
        rebase(&mut self.jwks_uri, internal);
        for url in [&mut self.userinfo_endpoint, &mut self.revocation_endpoint]
            .into_iter()
            .flatten()
        {
            rebase(url, internal);
        }
    }
}

/// GETs one of Logto's public JSON documents (discovery, JWKS), naming it in every error.
pub(crate) async fn fetch_document<T: DeserializeOwned>(
    http: &Http,
    url: &Url,
    document: &'static str,
) -> Result<T, LogtoError> {
    let response = http.send(http.get(url.clone()), document).await?;
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
    fn endpoints_named_after_the_internal_host_send_browsers_to_the_public_one() {
        // What Logto answers a discovery request sent to http://logto:3001.
        let mut metadata = ProviderMetadata {
            issuer: "http://localhost:3001/oidc".into(),
            authorization_endpoint: url("http://logto:3001/oidc/auth"),
            token_endpoint: url("http://logto:3001/oidc/token"),
            jwks_uri: url("http://logto:3001/oidc/jwks"),
            userinfo_endpoint: Some(url("http://logto:3001/oidc/me")),
            end_session_endpoint: Some(url("http://logto:3001/oidc/session/end")),
            revocation_endpoint: Some(url("http://logto:3001/oidc/token/revocation")),
            id_token_signing_alg_values_supported: vec![],
            authorization_response_iss_parameter_supported: true,
        };

        metadata.call_through(&url("http://localhost:3001/"), &url("http://logto:3001/"));

        assert_eq!(
            metadata.authorization_endpoint.as_str(),
            "http://localhost:3001/oidc/auth"
        );
        assert_eq!(
            metadata.end_session_endpoint.unwrap().as_str(),
            "http://localhost:3001/oidc/session/end"
        );
        assert_eq!(
            metadata.token_endpoint.as_str(),
            "http://logto:3001/oidc/token"
        );
        assert_eq!(metadata.jwks_uri.as_str(), "http://logto:3001/oidc/jwks");
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
