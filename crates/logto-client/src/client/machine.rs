//! Machine-to-machine tokens: the client-credentials grant through `oauth2`
//! (`client_secret_basic`), cached per resource and scopes until shortly before they expire,
//! and requested single-flight.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use oauth2::{Scope, TokenResponse};

use super::LogtoClient;
use super::token_endpoint::{AnswerStatus, TOKEN_ENDPOINT, expires_at, granted_scope};
use crate::LogtoError;
use crate::time::{unix_now, unix_now_ms};

/// An access token of the application itself (the client-credentials grant), for one API
/// resource. There is no refresh token: a new one is requested when it runs out. Its `Debug`
/// does not show the token.
#[derive(Clone, PartialEq, Eq)]
pub struct MachineToken {
    /// The JWT to send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// When it expires, in Unix seconds (from `expires_in`, counted from its arrival).
    pub expires_at: Option<i64>,
    /// The granted scopes: those requested that the app's roles hold. Logto drops the others
    /// without an error.
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for MachineToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MachineToken")
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl MachineToken {
    /// Whether it can still be handed out at `now` (Unix seconds): more than `margin` seconds
    /// before it expires. A token without an expiry is never reused.
    fn is_fresh(&self, now: i64, margin: i64) -> bool {
        self.expires_at
            .is_some_and(|expires_at| now.saturating_add(margin) < expires_at)
    }
}

/// One cached token, and the lock that makes its renewal single-flight.
type Slot = Arc<tokio::sync::Mutex<Option<MachineToken>>>;

/// The machine tokens by resource and scope set.
#[derive(Default)]
pub(super) struct MachineTokens {
    slots: Mutex<HashMap<(String, BTreeSet<String>), Slot>>,
}

impl MachineTokens {
    fn slot(&self, resource: &str, scopes: &BTreeSet<String>) -> Slot {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(
            slots
                .entry((resource.to_owned(), scopes.clone()))
                .or_default(),
        )
    }
}

impl LogtoClient {
    /// An access token of this application itself for the API `resource`, with the `scopes`
    /// its machine-to-machine roles grant (the client-credentials grant, with
    /// `client_secret_basic`; build the client with the M2M app's id and secret, for example
    /// with [`LogtoConfig::machine_to_machine`](crate::LogtoConfig::machine_to_machine)).
    ///
    /// The token is cached per resource and scope set, and handed out until
    /// [`machine_token_refresh_margin`](crate::LogtoConfig::machine_token_refresh_margin)
    /// before it expires; then one request gets a new one while concurrent callers wait for
    /// it. Should that request fail without a refusal (Logto unreachable, a 5xx, a bad
    /// answer), the cached token is handed out while it has not expired yet.
    ///
    /// Logto needs `resource` (400 `invalid_target` without it, or for an unknown one:
    /// [`LogtoError::is_invalid_target`]), grants only the requested scopes the app's roles
    /// hold, and none when `scopes` is empty. A wrong id or secret is `invalid_client`
    /// ([`LogtoError::is_invalid_client`]). Keep the resources and scopes to a fixed few: each
    /// combination is cached for the client's life.
    pub async fn client_credentials_token(
        &self,
        resource: &str,
        scopes: &[&str],
    ) -> Result<MachineToken, LogtoError> {
        let scope_set: BTreeSet<String> = scopes.iter().map(|&scope| scope.to_owned()).collect();
        let slot = self.machine_tokens.slot(resource, &scope_set);
        let mut cached = slot.lock().await;
        let margin =
            i64::try_from(self.config.machine_token_refresh_margin.as_secs()).unwrap_or(i64::MAX);
        if let Some(token) = cached
            .as_ref()
            .filter(|token| token.is_fresh(unix_now(), margin))
        {
            return Ok(token.clone());
        }
        match self.request_client_credentials(resource, &scope_set).await {
            Ok(token) => {
                *cached = Some(token.clone());
                Ok(token)
            }
            // Logto failing is no reason to drop a token it issued; its refusal is.
            Err(error) if !is_refusal(&error) => match cached.as_ref() {
                Some(still_valid) if still_valid.is_fresh(unix_now(), 0) => {
                    log::warn!(
                        "reusing the machine token for {resource} until it expires: {}",
                        crate::error_chain(&error)
                    );
                    Ok(still_valid.clone())
                }
                _ => Err(error),
            },
            Err(error) => Err(error),
        }
    }

    async fn request_client_credentials(
        &self,
        resource: &str,
        scopes: &BTreeSet<String>,
    ) -> Result<MachineToken, LogtoError> {
        let provider = self.provider().await?;
        let request = provider
            .oauth
            .exchange_client_credentials()
            .add_scopes(scopes.iter().cloned().map(Scope::new))
            .add_extra_param("resource", resource);
        self.health.allow_request(TOKEN_ENDPOINT)?;
        let status = AnswerStatus::default();
        let response = request.request_async(&self.noting_status(&status)).await;
        let response = self.token_outcome(&status, response)?;
        let issued_at_ms = unix_now_ms();
        Ok(MachineToken {
            access_token: response.access_token().secret().clone(),
            expires_at: expires_at(&response, issued_at_ms),
            scopes: granted_scope(&response)
                .map(|scope| scope.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
        })
    }
}

/// Whether Logto refused the request (a wrong secret, an unknown resource), rather than
/// failed to answer it.
fn is_refusal(error: &LogtoError) -> bool {
    matches!(error, LogtoError::TokenRejected { .. }) && !error.is_token_endpoint_failure()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_fresh_until_the_margin_before_it_expires() {
        let token = MachineToken {
            access_token: "secret-jwt".into(),
            expires_at: Some(1_000),
            scopes: vec![],
        };
        assert!(token.is_fresh(939, 60));
        assert!(!token.is_fresh(940, 60));
        assert!(token.is_fresh(999, 0) && !token.is_fresh(1_000, 0));
        let endless = MachineToken {
            expires_at: None,
            ..token.clone()
        };
        assert!(!endless.is_fresh(0, 0), "without expires_in, never reused");
        assert!(!format!("{token:?}").contains("secret-jwt"));
    }
}
