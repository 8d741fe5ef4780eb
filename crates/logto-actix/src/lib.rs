#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod auth;
mod builder;
pub mod cross_site;
pub mod error;
pub mod pages;
pub mod settings;
pub mod sign_in_methods;

/// The framework-free Logto client this crate builds on, so that a product needs one
/// dependency line.
pub use logto_client;

pub use auth::LogtoAuth;
pub use builder::{
    BuildError, CALLBACK_PATH, CookieStore, FromSettings, IntoSessionKey, LogtoAuthBuilder,
    NoStore, RedisStore, StoreChosen,
};
pub use error::{AuthError, ErrorKind, ErrorView, Retry};
pub use pages::{PageError, Pages, PlainPages, RejectedEmail, SignOutForm};
pub use sign_in_methods::SignInMethods;
