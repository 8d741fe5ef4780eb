//! The values that travel between the app and the Logto client.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::id_token::IdTokenClaims;

/// A started sign-in: where to send the browser, and what to remember until the callback.
#[derive(Debug)]
pub struct SignInStart {
    /// Logto's authorization URL with every parameter: send the browser there.
    pub url: Url,
    /// What to keep (in the visitor's session) until the callback.
    pub pending: PendingSignIn,
}

/// The secrets of one sign-in attempt, kept server-side (in the session) until its callback.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSignIn {
    /// The `state` sent to Logto; the callback must bring it back.
    pub state: String,
    /// The PKCE verifier whose S256 challenge was sent.
    pub code_verifier: String,
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// Unix seconds.
    pub started_at: i64,
}

impl PendingSignIn {
    /// Whether the attempt is older than `lifetime` at `now` (Unix seconds).
    pub fn is_expired(&self, lifetime: Duration, now: i64) -> bool {
        let lifetime = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
        now.saturating_sub(self.started_at) > lifetime
    }
}

impl std::fmt::Debug for PendingSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingSignIn")
            .field("started_at", &self.started_at)
            .finish_non_exhaustive()
    }
}

/// The query string Logto appends to the redirect URI. Every field is optional so that a
/// malformed callback is reported by the client, not by the web framework.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct CallbackParams {
    /// The authorization code to exchange.
    pub code: Option<String>,
    /// The `state` the attempt was started with: find the attempt by it.
    pub state: Option<String>,
    /// RFC 9207 issuer identification.
    pub iss: Option<String>,
    /// An OAuth error code, when Logto refused (for example `access_denied`).
    pub error: Option<String>,
    /// Logto's description of the error, if any.
    pub error_description: Option<String>,
}

/// A finished sign-in: verified claims and the tokens to keep.
#[derive(Debug)]
pub struct SignedIn {
    /// The verified claims of the ID token.
    pub claims: IdTokenClaims,
    /// The tokens to keep in the session.
    pub tokens: TokenSet,
}

/// The tokens of a signed-in user.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSet {
    /// Kept for `id_token_hint` at sign-out.
    pub id_token: String,
    /// Opaque without an API resource; good for `/oidc/me`.
    pub access_token: String,
    /// Unix seconds.
    pub access_token_expires_at: Option<i64>,
    /// Unix milliseconds, when the access token arrived: with the expiry, its lifetime.
    #[serde(default)]
    pub access_token_issued_at_ms: Option<i64>,
    /// Present when `offline_access` was granted.
    pub refresh_token: Option<String>,
    /// The granted scopes, space-separated, as Logto sent them.
    pub scope: Option<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token_expires_at", &self.access_token_expires_at)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// The scope that lets a sign-in ask for organization tokens (and puts the `organizations`
/// claim in the ID token).
pub const ORGANIZATIONS_SCOPE: &str = "urn:logto:scope:organizations";

/// Logto's reserved resource for organization permissions. Only when a sign-in requests it
/// (besides the permissions themselves, as scopes) do organization tokens carry the user's
/// organization permissions; without it their `scope` is empty. Logto's own SDKs request it
/// whenever [`ORGANIZATIONS_SCOPE`] is requested, and so does [`LogtoClient`](super::LogtoClient).
pub const ORGANIZATIONS_RESOURCE: &str = "urn:logto:resource:organizations";

/// What the access token from a refresh is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TokenTarget {
    /// No resource: an opaque token, good only at `/oidc/me`.
    UserInfo,
    /// A JWT for an API resource, sent as `resource=`. It must be one of
    /// [`LogtoConfig::resources`](super::LogtoConfig::resources), requested at sign-in;
    /// otherwise Logto answers `invalid_target`.
    Resource(String),
    /// A Logto organization token, sent as `organization_id=`. Its audience is
    /// `urn:logto:organization:<id>`, and it needs the scope [`ORGANIZATIONS_SCOPE`]; its
    /// `scope` holds the requested organization permissions the user has there.
    Organization(String),
}

impl TokenTarget {
    /// The `aud` of the JWT access token issued for this target; `None` for the opaque
    /// userinfo token. Pass it to [`verify_access_token`](super::LogtoClient::verify_access_token).
    pub fn audience(&self) -> Option<String> {
        match self {
            Self::UserInfo => None,
            Self::Resource(resource) => Some(resource.clone()),
            Self::Organization(id) => Some(format!("urn:logto:organization:{id}")),
        }
    }
}

/// The result of a refresh-token grant.
#[derive(Clone, PartialEq, Eq)]
pub struct Refreshed {
    /// Opaque for [`TokenTarget::UserInfo`], a JWT otherwise.
    pub access_token: String,
    /// Unix seconds.
    pub expires_at: Option<i64>,
    /// Unix milliseconds, when the access token arrived.
    pub issued_at_ms: i64,
    /// The refresh token to use next: a rotated one, or the one just used when Logto did not
    /// rotate it. Store it at once: Logto revokes the whole grant when a rotated-away refresh
    /// token is used again.
    pub refresh_token: String,
    /// The new ID token, when Logto sent one.
    pub id_token: Option<String>,
    /// The verified claims of `id_token`, for the same `sub` as before.
    pub claims: Option<IdTokenClaims>,
    /// The granted scopes, space-separated, as Logto sent them.
    pub scope: Option<String>,
}

impl std::fmt::Debug for Refreshed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refreshed")
            .field("expires_at", &self.expires_at)
            .field("claims", &self.claims)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Who the user is, from the verified ID token. Profile claims may be absent or `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserProfile {
    /// The user's ID in Logto.
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The user's full name.
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The user's username in Logto.
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The URL of the user's picture.
    pub picture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The user's email address.
    pub email: Option<String>,
    /// Logto's session id, for back-channel logout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl UserProfile {
    /// The name to greet the user by: name, else username, else the subject id.
    pub fn display_name(&self) -> &str {
        [&self.name, &self.username]
            .into_iter()
            .flatten()
            .map(|value| value.trim())
            .find(|value| !value.is_empty())
            .unwrap_or(&self.sub)
    }
}

impl From<&IdTokenClaims> for UserProfile {
    fn from(claims: &IdTokenClaims) -> Self {
        Self {
            sub: claims.sub.clone(),
            name: claims.name.clone(),
            username: claims.username.clone(),
            picture: claims.picture.clone(),
            email: claims.email.clone(),
            sid: claims.sid.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(name: Option<&str>, username: Option<&str>) -> UserProfile {
        UserProfile {
            sub: "user_1".into(),
            name: name.map(Into::into),
            username: username.map(Into::into),
            picture: None,
            email: None,
            sid: None,
        }
    }

    #[test]
    fn display_name_prefers_name_then_username_then_sub() {
        assert_eq!(
            profile(Some("Alice"), Some("alice")).display_name(),
            "Alice"
        );
        assert_eq!(profile(None, Some("alice")).display_name(), "alice");
        assert_eq!(profile(Some("  "), None).display_name(), "user_1");
        assert_eq!(profile(None, None).display_name(), "user_1");
    }

    #[test]
    fn attempts_expire_after_their_lifetime() {
        let attempt = PendingSignIn {
            state: "s".into(),
            code_verifier: "v".into(),
            nonce: "n".into(),
            started_at: 1_000,
        };
        let ten_minutes = Duration::from_secs(600);
        assert!(!attempt.is_expired(ten_minutes, 1_600));
        assert!(attempt.is_expired(ten_minutes, 1_601));
    }

    #[test]
    fn debug_output_hides_tokens_and_attempt_secrets() {
        let tokens = TokenSet {
            id_token: "header.payload.signature".into(),
            access_token: "opaque-access".into(),
            access_token_expires_at: Some(1),
            access_token_issued_at_ms: None,
            refresh_token: Some("opaque-refresh".into()),
            scope: None,
        };
        let debug = format!("{tokens:?}");
        assert!(!debug.contains("payload") && !debug.contains("opaque"));
        let attempt = PendingSignIn {
            state: "the-state".into(),
            code_verifier: "the-verifier".into(),
            nonce: "the-nonce".into(),
            started_at: 0,
        };
        let debug = format!("{attempt:?}");
        assert!(!debug.contains("the-"));
        let refreshed = Refreshed {
            access_token: "opaque-access".into(),
            expires_at: Some(1),
            issued_at_ms: 0,
            refresh_token: "opaque-refresh".into(),
            id_token: Some("header.payload.signature".into()),
            claims: None,
            scope: None,
        };
        let debug = format!("{refreshed:?}");
        assert!(!debug.contains("payload") && !debug.contains("opaque"));
    }

    #[test]
    fn targets_name_the_audience_of_their_access_token() {
        assert_eq!(TokenTarget::UserInfo.audience(), None);
        assert_eq!(
            TokenTarget::Resource("https://api.example".into()).audience(),
            Some("https://api.example".into())
        );
        assert_eq!(
            TokenTarget::Organization("org_1".into()).audience(),
            Some("urn:logto:organization:org_1".into())
        );
    }
}
