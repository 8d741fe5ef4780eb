#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod access_token;
pub mod api;
mod client;
mod config;
mod crypto;
mod discovery;
mod error;
mod health;
mod http;
mod id_token;
mod jwks;
mod jwt;
pub mod log_safe;
mod logout_token;
mod options;
pub mod return_to;
pub mod session;
pub mod settings;
mod time;
mod types;

/// The HTTP client crate this one is built on, for an injected client
/// ([`LogtoClientBuilder::http_client`]) of the very version it takes.
pub use reqwest;

pub use access_token::AccessTokenClaims;
pub use client::{DEFAULT_VERIFIED_TOKEN_CAPACITY, LogtoClient, LogtoClientBuilder, MachineToken};
pub use config::LogtoConfig;
pub use discovery::ProviderMetadata;
pub use error::{LogtoError, error_chain};
pub use health::{Backoff, LogtoHealth};
pub use id_token::{IdTokenClaims, decode_stored_id_token};
pub use jwt::{ALLOWED_ALGORITHMS, Audience, TokenError};
pub use logout_token::{BACKCHANNEL_LOGOUT_EVENT, LOGOUT_TOKEN_MAX_AGE, LogoutTokenClaims};
pub use options::{DirectSignIn, FirstScreen, Identifier, InvalidSignInOption, SignInOptions};
pub use time::{unix_now, unix_now_ms};
pub use types::{
    CallbackParams, ORGANIZATIONS_RESOURCE, ORGANIZATIONS_SCOPE, PendingSignIn, Refreshed,
    SignInStart, SignedIn, TokenSet, TokenTarget, UserProfile,
};
