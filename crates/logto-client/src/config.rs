//! [`LogtoConfig`]: how to reach Logto and which application to sign in as.

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::health::Backoff;
use crate::types::{ORGANIZATIONS_RESOURCE, ORGANIZATIONS_SCOPE};

/// How to reach Logto and which application to sign in as.
#[derive(Debug, Clone)]
pub struct LogtoConfig {
    /// Logto's endpoint without `/oidc`, for example `http://localhost:3001/`: what browsers
    /// are sent to, and the base of the issuer.
    pub endpoint: Url,
    /// Where this server reaches Logto when that differs from [`endpoint`](Self::endpoint),
    /// as inside Docker Compose (`http://logto:3001/`). Discovery, JWKS, token, userinfo and
    /// revocation requests go there; the issuer and browser redirects keep `endpoint`.
    pub internal_endpoint: Option<Url>,
    /// The application's ID in Logto (a Traditional web application).
    pub app_id: String,
    /// The application's secret, sent with `client_secret_basic` to the token and revocation
    /// endpoints. Its `Debug` does not show it.
    pub app_secret: SecretString,
    /// Registered in Logto as the app's redirect URI.
    pub redirect_uri: Url,
    /// Registered in Logto as the app's post sign-out redirect URI.
    pub post_sign_out_redirect_uri: Url,
    /// Sent as `scope`, in this order.
    pub scopes: Vec<String>,
    /// Sent as `prompt` when set (`consent` makes Logto issue a refresh token).
    pub prompt: Option<String>,
    /// API resource indicators, each sent as a `resource` parameter at sign-in. Their JWT
    /// access tokens come from [`LogtoClient::refresh`](crate::LogtoClient::refresh) with [`TokenTarget::Resource`](crate::TokenTarget::Resource); the
    /// code exchange itself still yields the opaque userinfo token. With
    /// [`ORGANIZATIONS_SCOPE`] among the scopes, [`ORGANIZATIONS_RESOURCE`] is sent too
    /// ([`sign_in_resources`](Self::sign_in_resources)).
    pub resources: Vec<String>,
    /// Limit for every request to Logto, connection included (default 5 s).
    pub http_timeout: Duration,
    /// How long a connection to Logto may sit unused and still be reused (default 4 s).
    /// Logto runs on Node.js, whose HTTP server closes a keep-alive connection after 5 s
    /// idle: a request sent on it just as it closes is reset, and a token request cannot be
    /// sent again (its code or refresh token may have been used). Keeping idle connections for
    /// less than the server does, as Node's own `fetch` does, avoids that race.
    pub idle_connection_timeout: Duration,
    /// How long a sign-in attempt stays valid between `/sign-in` and the callback.
    pub sign_in_lifetime: Duration,
    /// The JWKS is fetched again for an unknown `kid` at most this often.
    pub jwks_min_refetch_interval: Duration,
    /// How long to leave Logto alone after a failed request for its discovery document, its
    /// JWKS or its token endpoint (no answer, a 5xx or `server_error`; not a refusal): 1 s,
    /// doubling with each failure in a row up to 60 s. Requests that need Logto meanwhile fail
    /// at once with [`LogtoError::ProviderBackingOff`](crate::LogtoError::ProviderBackingOff).
    pub provider_backoff: Backoff,
    /// Tolerated clock skew when checking `exp`, `nbf` and `iat`.
    pub clock_leeway: Duration,
    /// A machine-to-machine token ([`LogtoClient::client_credentials_token`]) is reused until
    /// this long before it expires (default 60 s), then requested anew. A token that lives no
    /// longer than this is requested for every call.
    ///
    /// [`LogtoClient::client_credentials_token`]: crate::LogtoClient::client_credentials_token
    pub machine_token_refresh_margin: Duration,
}

impl LogtoConfig {
    /// A configuration with the defaults for timeouts, lifetimes and leeway.
    pub fn new(
        endpoint: Url,
        app_id: String,
        app_secret: SecretString,
        redirect_uri: Url,
        post_sign_out_redirect_uri: Url,
    ) -> Self {
        Self {
            endpoint,
            internal_endpoint: None,
            app_id,
            app_secret,
            redirect_uri,
            post_sign_out_redirect_uri,
            scopes: vec!["openid".into(), "offline_access".into(), "profile".into()],
            prompt: Some("consent".into()),
            resources: Vec::new(),
            http_timeout: Duration::from_secs(5),
            idle_connection_timeout: Duration::from_secs(4),
            sign_in_lifetime: Duration::from_secs(10 * 60),
            jwks_min_refetch_interval: Duration::from_secs(5),
            provider_backoff: Backoff::default(),
            clock_leeway: Duration::from_secs(60),
            machine_token_refresh_margin: Duration::from_secs(60),
        }
    }

    /// A configuration for a machine-to-machine application, which signs no one in and only
    /// gets its own tokens ([`LogtoClient::client_credentials_token`]) or verifies others'.
    /// Its redirect URIs are placeholders (the endpoint): Logto registers none for such apps,
    /// so a sign-in with this configuration is refused.
    ///
    /// [`LogtoClient::client_credentials_token`]: crate::LogtoClient::client_credentials_token
    pub fn machine_to_machine(endpoint: Url, app_id: String, app_secret: SecretString) -> Self {
        let unused = endpoint.clone();
        Self::new(endpoint, app_id, app_secret, unused.clone(), unused)
    }

    /// Whether reaching Logto needs TLS: the endpoint this server calls is `https`.
    pub(crate) fn endpoint_needs_tls(&self) -> bool {
        let reachable_at = self.internal_endpoint.as_ref().unwrap_or(&self.endpoint);
        reachable_at.scheme() == "https"
    }

    /// `{endpoint}/oidc`, the issuer Logto puts in its tokens.
    pub fn issuer(&self) -> String {
        format!("{}oidc", self.endpoint)
    }

    /// The `resource` parameters of the authorization request: [`resources`](Self::resources),
    /// then [`ORGANIZATIONS_RESOURCE`] when [`ORGANIZATIONS_SCOPE`] is requested and the
    /// resource is not configured already. Like Logto's own SDKs: without that resource,
    /// Logto issues organization tokens with an empty scope.
    pub fn sign_in_resources(&self) -> Vec<&str> {
        let mut resources: Vec<&str> = self.resources.iter().map(String::as_str).collect();
        let wants_organizations = self.scopes.iter().any(|scope| scope == ORGANIZATIONS_SCOPE);
        if wants_organizations && !resources.contains(&ORGANIZATIONS_RESOURCE) {
            resources.push(ORGANIZATIONS_RESOURCE);
        }
        resources
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(scopes: &[&str], resources: &[&str]) -> LogtoConfig {
        let url = |value: &str| Url::parse(value).unwrap();
        let mut config = LogtoConfig::new(
            url("http://localhost:3001/"),
            "app".to_owned(),
            SecretString::from("secret"),
            url("http://localhost:3000/callback"),
            url("http://localhost:3000/"),
        );
        config
            .scopes
            .extend(scopes.iter().map(|&scope| scope.to_owned()));
        config.resources = resources
            .iter()
            .map(|&resource| resource.to_owned())
            .collect();
        config
    }

    #[test]
    fn the_organizations_scope_brings_the_organizations_resource_once() {
        let api = "https://api.bookstore.example";
        assert_eq!(config(&[], &[api]).sign_in_resources(), [api]);
        assert_eq!(
            config(&[ORGANIZATIONS_SCOPE, "read:club-shelf"], &[api]).sign_in_resources(),
            [api, ORGANIZATIONS_RESOURCE]
        );
        assert_eq!(
            config(&[ORGANIZATIONS_SCOPE], &[ORGANIZATIONS_RESOURCE, api]).sign_in_resources(),
            [ORGANIZATIONS_RESOURCE, api],
            "configured already: not sent twice"
        );
        assert_eq!(
            config(&["urn:logto:scope:organization_roles"], &[]).sign_in_resources(),
            Vec::<&str>::new(),
            "organization roles alone carry no permissions"
        );
    }
}
