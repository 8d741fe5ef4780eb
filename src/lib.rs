//! The Logto Bookstore: sign users in to a server-rendered actix-web app with Logto.
//!
//! - [`logto`]: the OpenID Connect client, free of actix types: the `logto-client` crate
//!   (`crates/logto-client`), with [`log_safe`] and [`return_to`].
//! - [`routes`]: `/`, `/sign-in`, `/callback` and `/sign-out`, one file each.
//! - [`session`]: the typed session on top of actix-session (cookie or Redis).
//! - [`i18n`]: the pages' strings in English and Japanese, and the visitor's language.
//! - [`configuration`] and [`startup`]: settings from the environment, and the server.
//! - [`assets`], [`content_coding`] and [`security_headers`]: fingerprinted static files,
//!   compressed for browsers that accept it, and the headers of every response.
//! - [`healthcheck`]: the container's health probe (`logto-bookstore healthcheck`).
//! - [`pages`]: the Bookstore's pages for `logto-actix`'s hook (error pages, sign-out), in
//!   the visitor's language.
//! - [`claim_time`]: readable UTC dates for timestamp claims.

pub mod assets;
pub mod claim_time;
pub mod configuration;
pub mod content_coding;
pub mod error;
pub mod healthcheck;
pub mod i18n;
/// The Logto client lives in its own crate; these paths keep `crate::logto::…`,
/// `crate::log_safe::…` and `crate::return_to::…` working in the app.
pub use logto_client as logto;
pub use logto_client::{log_safe, return_to};
pub mod pages;
pub mod routes;
pub mod security_headers;
pub mod session;
pub mod shared_redis;
pub mod startup;
pub mod templates;
pub mod tokens;
