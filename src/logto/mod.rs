//! A Logto (OpenID Connect) client for server-rendered web apps.
//!
//! Nothing in this module depends on actix-web: lift it into an axum, Rocket or warp app as it
//! is. It does discovery (cached), the authorization-code flow with PKCE S256, `state` and
//! `nonce`, `client_secret_basic` at the token endpoint, ID token verification against the
//! JWKS (cached, re-fetched on an unknown `kid`) and the end-session URL.
//!
//! ```no_run
//! # async fn demo(config: logto_bookstore::logto::LogtoConfig) -> Result<(), logto_bookstore::logto::LogtoError> {
//! use logto_bookstore::logto::{CallbackParams, LogtoClient};
//!
//! let client = LogtoClient::new(config)?;
//! let start = client.start_sign_in().await?;
//! // Keep `start.pending` in the user's session and redirect the browser to `start.url`.
//! // On the callback, find the attempt by the `state` query parameter, then:
//! # let callback = CallbackParams::default();
//! let signed_in = client.finish_sign_in(&start.pending, &callback).await?;
//! println!("signed in: {}", signed_in.claims.sub);
//! # Ok(()) }
//! ```

mod client;
mod discovery;
mod error;
mod id_token;
mod jwks;
mod types;

pub use client::{LogtoClient, LogtoConfig};
pub use discovery::ProviderMetadata;
pub use error::{LogtoError, error_chain};
pub use id_token::{ALLOWED_ALGORITHMS, Audience, IdTokenClaims, IdTokenError};
pub use types::{CallbackParams, PendingSignIn, SignInStart, SignedIn, TokenSet, UserProfile};
