//! A Logto (OpenID Connect) client for server-rendered web apps.
//!
//! Nothing in this module depends on actix-web: lift it into an axum, Rocket or warp app as it
//! is. It does discovery (cached), the authorization-code flow with PKCE S256, `state` and
//! `nonce` and Logto's extra sign-in parameters, `client_secret_basic` at the token endpoint,
//! ID token verification against the JWKS (cached, re-fetched on an unknown `kid`), the
//! refresh-token grant (for userinfo, an API resource or an organization), userinfo, token
//! revocation, verification of JWT access tokens and back-channel logout tokens, and the
//! end-session URL. Every JWT goes through one verification core. When Logto's discovery
//! document or keys cannot be fetched, it is left alone for a growing while
//! ([`LogtoClient::health`] tells).
//!
//! ```no_run
//! # async fn demo(config: logto_bookstore::logto::LogtoConfig) -> Result<(), logto_bookstore::logto::LogtoError> {
//! use logto_bookstore::logto::{CallbackParams, LogtoClient, SignInOptions, TokenTarget};
//!
//! let client = LogtoClient::new(config)?;
//! let start = client.start_sign_in(&SignInOptions::default()).await?;
//! // Keep `start.pending` in the user's session and redirect the browser to `start.url`.
//! // On the callback, find the attempt by the `state` query parameter, then:
//! # let callback = CallbackParams::default();
//! let signed_in = client.finish_sign_in(&start.pending, &callback).await?;
//! println!("signed in: {}", signed_in.claims.sub);
//!
//! // Later, when the access token has expired:
//! if let Some(refresh_token) = &signed_in.tokens.refresh_token {
//!     match client
//!         .refresh(refresh_token, &TokenTarget::UserInfo, &signed_in.claims.sub)
//!         .await
//!     {
//!         Ok(refreshed) => println!("new tokens until {:?}", refreshed.expires_at),
//!         Err(error) if error.is_invalid_grant() => println!("the session is over"),
//!         Err(error) => return Err(error),
//!     }
//! }
//! # Ok(()) }
//! ```

mod access_token;
mod client;
mod discovery;
mod error;
mod health;
mod id_token;
mod jwks;
mod jwt;
mod logout_token;
mod options;
mod types;

pub use access_token::AccessTokenClaims;
pub use client::{LogtoClient, LogtoConfig, unix_now, unix_now_ms};
pub use discovery::ProviderMetadata;
pub use error::{LogtoError, error_chain};
pub use health::{Backoff, LogtoHealth};
pub use id_token::{IdTokenClaims, decode_stored_id_token};
pub use jwt::{ALLOWED_ALGORITHMS, Audience, TokenError};
pub use logout_token::{BACKCHANNEL_LOGOUT_EVENT, LOGOUT_TOKEN_MAX_AGE, LogoutTokenClaims};
pub use options::{DirectSignIn, FirstScreen, Identifier, InvalidSignInOption, SignInOptions};
pub use types::{
    CallbackParams, ORGANIZATIONS_RESOURCE, ORGANIZATIONS_SCOPE, PendingSignIn, Refreshed,
    SignInStart, SignedIn, TokenSet, TokenTarget, UserProfile,
};
