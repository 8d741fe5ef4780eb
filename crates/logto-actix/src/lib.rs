#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod api;
mod attempts_cookie;
mod auth;
mod builder;
pub mod cross_site;
pub mod error;
pub mod pages;
pub mod routes;
mod scope;
mod session;
pub mod settings;
pub mod sign_in_methods;
pub mod store;

/// The framework-free Logto client this crate builds on, so that a product needs one
/// dependency line.
pub use logto_client;

pub use api::{ApiRefusal, ApiScope, ApiUser};
pub use auth::{CookieNames, LogtoAuth, StoreStatus};
pub use builder::{
    BuildError, CALLBACK_PATH, CookieStore, DEFAULT_REDIS_KEY_PREFIX, FromSettings, IntoSessionKey,
    LogtoAuthBuilder, NoStore, RedisStore, StoreChosen,
};
pub use error::{AuthError, ErrorKind, ErrorView, Retry};
pub use pages::{PageError, Pages, PlainPages, RejectedEmail, SignOutForm};
pub use scope::AuthScope;
pub use session::{MaybeUser, SignedInUser};
pub use sign_in_methods::SignInMethods;
