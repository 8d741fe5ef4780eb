//! The sign-in flow and what a signed-in session needs afterwards: the authorization URL, the
//! code exchange, refresh, userinfo, revocation and the end-session URL.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use oauth2::{
    AuthorizationCode, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RefreshToken, Scope,
    TokenResponse,
};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::LogtoClient;
use super::token_endpoint::{AnswerStatus, TOKEN_ENDPOINT, expires_at, granted_scope};
use crate::LogtoError;
use crate::discovery::ProviderMetadata;
use crate::error::error_chain;
use crate::id_token::IdTokenChecks;
use crate::options::SignInOptions;
use crate::time::{unix_now, unix_now_ms};
use crate::types::{
    CallbackParams, PendingSignIn, Refreshed, SignInStart, SignedIn, TokenSet, TokenTarget,
};

impl LogtoClient {
    /// Starts a sign-in: the URL to send the browser to, and the attempt to keep in the session.
    /// `options` are sent as Logto's extra parameters, and each of
    /// [`LogtoConfig::sign_in_resources`](crate::LogtoConfig::sign_in_resources) as a `resource` parameter.
    pub async fn start_sign_in(&self, options: &SignInOptions) -> Result<SignInStart, LogtoError> {
        let provider = self.reachable_provider().await?;
        let (pkce_challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = CsrfToken::new_random();

        let mut request = provider
            .oauth
            .authorize_url(CsrfToken::new_random)
            .add_scopes(self.config.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(pkce_challenge)
            .add_extra_param("nonce", nonce.secret());
        if let Some(prompt) = &self.config.prompt {
            request = request.add_extra_param("prompt", prompt);
        }
        for resource in self.config.sign_in_resources() {
            request = request.add_extra_param("resource", resource);
        }
        for (name, value) in options.to_params() {
            request = request.add_extra_param(name, value);
        }
        let (url, state) = request.url();

        Ok(SignInStart {
            url,
            pending: PendingSignIn {
                state: state.into_secret(),
                code_verifier: pkce_verifier.into_secret(),
                nonce: nonce.into_secret(),
                started_at: unix_now(),
            },
        })
    }

    /// Finishes a sign-in from the callback's query: checks it against the attempt, exchanges
    /// the code and verifies the ID token. The caller has found `pending` by `params.state`.
    pub async fn finish_sign_in(
        &self,
        pending: &PendingSignIn,
        params: &CallbackParams,
    ) -> Result<SignedIn, LogtoError> {
        if pending.is_expired(self.config.sign_in_lifetime, unix_now()) {
            return Err(LogtoError::SignInExpired);
        }
        if let Some(error) = &params.error {
            return Err(LogtoError::AuthorizationDenied {
                error: error.clone(),
                description: params.error_description.clone(),
            });
        }
        let code = params.code.as_deref().ok_or(LogtoError::MissingCode)?;
        let provider = self.provider().await?;
        self.check_response_issuer(&provider.metadata, params.iss.as_deref())?;

        self.health.allow_request(TOKEN_ENDPOINT)?;
        let status = AnswerStatus::default();
        let response = provider
            .oauth
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.code_verifier.clone()))
            .request_async(&self.noting_status(&status))
            .await;
        let response = self.token_outcome(&status, response)?;
        let issued_at_ms = unix_now_ms();

        let id_token = response
            .extra_fields()
            .id_token
            .clone()
            .ok_or_else(|| LogtoError::InvalidTokenResponse("it has no id_token".to_owned()))?;
        let access_token = response.access_token().secret().clone();
        let expected = IdTokenChecks {
            client_id: &self.config.app_id,
            nonce: Some(&pending.nonce),
            access_token: &access_token,
        };
        let claims = self.verify_id_token(&id_token, &expected, None).await?;

        let tokens = TokenSet {
            id_token,
            access_token_expires_at: expires_at(&response, issued_at_ms),
            access_token_issued_at_ms: Some(issued_at_ms),
            refresh_token: response.refresh_token().map(|token| token.secret().clone()),
            scope: granted_scope(&response),
            access_token,
        };
        Ok(SignedIn { claims, tokens })
    }

    /// Uses a refresh token (the refresh-token grant, `client_secret_basic`). `target` selects
    /// what the new access token is for. Any ID token that comes back is verified like the
    /// sign-in's, except for `nonce`, and its `sub` must be `expected_sub`.
    ///
    /// Logto may rotate the refresh token: a Traditional web app's once 70 % of its 14-day
    /// lifetime has passed (about day 10), then on every use; a public client's on every use.
    /// So store [`Refreshed::refresh_token`] before anything else can use the old one, and
    /// never run two refreshes of one token at once, since a rotated-away token used again
    /// revokes the whole grant ([`LogtoError::is_invalid_grant`]). When the grant succeeds but
    /// its ID token does not verify, the refresh token to use next comes with the error
    /// ([`LogtoError::RefreshedIdTokenRejected`]): store it all the same.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        target: &TokenTarget,
        expected_sub: &str,
    ) -> Result<Refreshed, LogtoError> {
        let provider = self.provider().await?;
        let spent = RefreshToken::new(refresh_token.to_owned());
        let request = provider.oauth.exchange_refresh_token(&spent);
        let request = match target {
            TokenTarget::UserInfo => request,
            TokenTarget::Resource(resource) => request.add_extra_param("resource", resource),
            TokenTarget::Organization(id) => request.add_extra_param("organization_id", id),
        };
        self.health.allow_request(TOKEN_ENDPOINT)?;
        let status = AnswerStatus::default();
        let response = request.request_async(&self.noting_status(&status)).await;
        let response = self.token_outcome(&status, response)?;
        let issued_at_ms = unix_now_ms();

        let access_token = response.access_token().secret().clone();
        let refresh_token = response.refresh_token().unwrap_or(&spent).secret().clone();
        let id_token = response.extra_fields().id_token.clone();
        let claims = match &id_token {
            Some(raw) => {
                let expected = IdTokenChecks {
                    client_id: &self.config.app_id,
                    nonce: None,
                    access_token: &access_token,
                };
                let verified = self.verify_id_token(raw, &expected, Some(expected_sub));
                Some(verified.await.map_err(|reason| {
                    // Logto may have rotated the refresh token already: hand it on with the error.
                    LogtoError::RefreshedIdTokenRejected {
                        rotated_refresh_token: SecretString::from(refresh_token.clone()),
                        reason: Box::new(reason),
                    }
                })?)
            }
            None => None,
        };
        Ok(Refreshed {
            expires_at: expires_at(&response, issued_at_ms),
            issued_at_ms,
            refresh_token,
            scope: granted_scope(&response),
            access_token,
            id_token,
            claims,
        })
    }

    /// Fetches `/oidc/me` with an opaque access token ([`TokenTarget::UserInfo`]): every claim
    /// the granted scopes allow, `custom_data` and `identities` included. Its `sub` must be
    /// `expected_sub`, the signed-in user's from the ID token (OpenID Connect Core §5.3.2);
    /// otherwise the answer is refused with [`LogtoError::UserInfoSubjectMismatch`].
    pub async fn userinfo(
        &self,
        access_token: &str,
        expected_sub: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, LogtoError> {
        const DOCUMENT: &str = "userinfo";
        let provider = self.provider().await?;
        let endpoint = provider.metadata.userinfo_endpoint.clone().ok_or_else(|| {
            LogtoError::InvalidProviderDocument {
                document: "discovery document",
                reason: "it has no userinfo_endpoint".to_owned(),
            }
        })?;
        let request = self.http.get(endpoint).bearer_auth(access_token);
        let response = self.http.send(request, DOCUMENT).await?;
        match response.status() {
            status if status.is_success() => {}
            StatusCode::UNAUTHORIZED => return Err(LogtoError::AccessTokenRejected),
            status => {
                return Err(LogtoError::ProviderStatus {
                    document: DOCUMENT,
                    status: status.as_u16(),
                });
            }
        }
        // The parser's message is left out: it can quote the user's claims.
        let claims: serde_json::Map<String, serde_json::Value> =
            response
                .json()
                .await
                .map_err(|_| LogtoError::InvalidProviderDocument {
                    document: DOCUMENT,
                    reason: "it is not a JSON object".to_owned(),
                })?;
        match claims.get("sub").and_then(serde_json::Value::as_str) {
            Some(sub) if sub == expected_sub => Ok(claims),
            Some(_) => Err(LogtoError::UserInfoSubjectMismatch),
            None => Err(LogtoError::InvalidProviderDocument {
                document: DOCUMENT,
                reason: "it has no sub".to_owned(),
            }),
        }
    }

    /// Revokes a refresh token at Logto's revocation endpoint (RFC 7009, `client_secret_basic`),
    /// which also revokes its grant. Logto answers success for an unknown or spent token too.
    pub async fn revoke_refresh_token(&self, refresh_token: &str) -> Result<(), LogtoError> {
        let provider = self.provider().await?;
        let endpoint = provider
            .metadata
            .revocation_endpoint
            .clone()
            .ok_or_else(|| LogtoError::InvalidProviderDocument {
                document: "discovery document",
                reason: "it has no revocation_endpoint".to_owned(),
            })?;
        // Sent with reqwest rather than `oauth2`, which refuses plain-HTTP revocation endpoints
        // and so a local Logto.
        let request = self
            .http
            .post(endpoint)
            .header(reqwest::header::AUTHORIZATION, self.client_secret_basic())
            .form(&[
                ("token", refresh_token),
                ("token_type_hint", "refresh_token"),
            ]);
        let response = match self.http.send(request, "revocation endpoint").await {
            Ok(response) => response,
            Err(LogtoError::ProviderUnreachable { source, .. }) => {
                return Err(LogtoError::Revocation(error_chain(&source)));
            }
            Err(other) => return Err(LogtoError::Revocation(error_chain(&other))),
        };
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // Only the OAuth error code is kept: the rest of the body is not ours to log.
        let reason = match response.json::<OAuthError>().await {
            Ok(body) => format!("Logto answered HTTP {} {}", status.as_u16(), body.error),
            Err(_) => format!("Logto answered HTTP {}", status.as_u16()),
        };
        Err(LogtoError::Revocation(reason))
    }

    /// Logto's end-session URL, which ends the Logto session and returns to the app.
    ///
    /// `id_token_hint` (the ID token from sign-in) goes along only while Logto still publishes
    /// the key that signed it: Logto answers a hint it cannot validate with a bare 400
    /// `invalid_request`, which would strand the user there, while `client_id` alone is enough
    /// for it to end the session. Whether the key is still published is checked against the
    /// JWKS, fetched again unless that happened within
    /// [`jwks_min_refetch_interval`](crate::LogtoConfig::jwks_min_refetch_interval); when Logto cannot
    /// be asked, the hint is left out too.
    pub async fn sign_out_url(&self, id_token_hint: Option<&str>) -> Result<Url, LogtoError> {
        let provider = self.provider().await?;
        let url = provider
            .metadata
            .end_session_endpoint
            .clone()
            .ok_or_else(|| LogtoError::InvalidProviderDocument {
                document: "discovery document",
                reason: "it has no end_session_endpoint".to_owned(),
            })?;
        let hint = match id_token_hint {
            Some(hint) => match self.check_id_token_hint(&provider, hint).await {
                Ok(()) => Some(hint),
                Err(reason) => {
                    log::info!(
                        "signing out without id_token_hint: {}",
                        error_chain(&reason)
                    );
                    None
                }
            },
            None => None,
        };
        Ok(self.end_session_url(url, hint))
    }

    /// `end_session_endpoint` with this app's `client_id`, where to come back, and `hint` when
    /// it is usable.
    pub(super) fn end_session_url(&self, mut end_session_endpoint: Url, hint: Option<&str>) -> Url {
        {
            let mut query = end_session_endpoint.query_pairs_mut();
            query
                .append_pair("client_id", &self.config.app_id)
                .append_pair(
                    "post_logout_redirect_uri",
                    self.config.post_sign_out_redirect_uri.as_str(),
                );
            if let Some(hint) = hint {
                query.append_pair("id_token_hint", hint);
            }
        }
        end_session_endpoint
    }

    /// RFC 9207: a provider that announces `iss` must send it, and it must be the issuer.
    pub(super) fn check_response_issuer(
        &self,
        metadata: &ProviderMetadata,
        received: Option<&str>,
    ) -> Result<(), LogtoError> {
        let required = metadata.authorization_response_iss_parameter_supported;
        match received {
            Some(iss) if iss == self.issuer => Ok(()),
            None if !required => Ok(()),
            _ => Err(LogtoError::IssuerMismatch {
                expected: self.issuer.clone(),
                received: received.map(str::to_owned),
            }),
        }
    }

    /// The `Authorization` header of `client_secret_basic`. RFC 6749 §2.3.1 has id and secret
    /// form-encoded before base64, which reqwest's `basic_auth` does not do.
    pub(super) fn client_secret_basic(&self) -> String {
        let encode = |value: &str| -> String {
            url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
        };
        let credentials = format!(
            "{}:{}",
            encode(&self.config.app_id),
            encode(self.config.app_secret.expose_secret())
        );
        format!("Basic {}", STANDARD.encode(credentials))
    }
}

/// The code of an OAuth error response (RFC 6749 §5.2).
#[derive(Deserialize)]
struct OAuthError {
    error: String,
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;
    use crate::LogtoConfig;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    fn client_for(app_id: &str, app_secret: &str) -> LogtoClient {
        let config = LogtoConfig::new(
            url("http://localhost:3001/"),
            app_id.to_owned(),
            SecretString::from(app_secret),
            url("http://localhost:3000/callback"),
            url("http://localhost:3000/"),
        );
        LogtoClient::new(config).unwrap()
    }

    fn metadata(iss_parameter_supported: bool) -> ProviderMetadata {
        ProviderMetadata {
            issuer: "http://localhost:3001/oidc".into(),
            authorization_endpoint: url("http://localhost:3001/oidc/auth"),
            token_endpoint: url("http://localhost:3001/oidc/token"),
            jwks_uri: url("http://localhost:3001/oidc/jwks"),
            userinfo_endpoint: None,
            end_session_endpoint: None,
            revocation_endpoint: None,
            id_token_signing_alg_values_supported: vec![],
            authorization_response_iss_parameter_supported: iss_parameter_supported,
        }
    }

    #[test]
    fn the_end_session_url_names_the_app_and_the_way_back_and_carries_a_usable_hint() {
        let client = client_for("app", "secret");
        let endpoint = url("http://localhost:3001/oidc/session/end?ui=1");

        let without = client.end_session_url(endpoint.clone(), None);
        assert_eq!(
            without.as_str(),
            "http://localhost:3001/oidc/session/end?ui=1&client_id=app\
             &post_logout_redirect_uri=http%3A%2F%2Flocalhost%3A3000%2F"
        );

        let with = client.end_session_url(endpoint, Some("header.claims.signature"));
        let pairs: Vec<(String, String)> = with.query_pairs().into_owned().collect();
        assert_eq!(
            pairs.last(),
            Some(&(
                "id_token_hint".to_owned(),
                "header.claims.signature".to_owned()
            ))
        );
        assert_eq!(
            pairs.len(),
            4,
            "the endpoint's own query is kept: {pairs:?}"
        );
    }

    #[test]
    fn client_secret_basic_form_encodes_id_and_secret_before_base64() {
        let client = client_for("app:1", "s p&c/é");
        let header = client.client_secret_basic();
        let encoded = header.strip_prefix("Basic ").expect("a Basic header");
        let decoded = String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap();
        // RFC 6749 §2.3.1: the colon inside the id is escaped, so the first colon splits.
        assert_eq!(decoded, "app%3A1:s+p%26c%2F%C3%A9");
    }

    #[test]
    fn the_authorization_response_issuer_is_required_only_when_announced() {
        let client = client_for("app", "secret");
        let issuer = client.issuer().to_owned();
        let wrong = "http://evil.example/oidc";
        for announced in [true, false] {
            let metadata = metadata(announced);
            assert!(
                client
                    .check_response_issuer(&metadata, Some(&issuer))
                    .is_ok()
            );
            assert!(matches!(
                client.check_response_issuer(&metadata, Some(wrong)),
                Err(LogtoError::IssuerMismatch { received: Some(received), .. }) if received == wrong
            ));
        }
        assert!(matches!(
            client.check_response_issuer(&metadata(true), None),
            Err(LogtoError::IssuerMismatch { received: None, .. })
        ));
        assert!(client.check_response_issuer(&metadata(false), None).is_ok());
    }
}
