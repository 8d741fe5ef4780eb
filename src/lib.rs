//! The Logto Bookstore: sign users in to a server-rendered actix-web app with Logto.
//!
//! Sign-in, the session and the auth routes (`/sign-in`, `/callback`, `/sign-out`,
//! `/backchannel-logout`) come from the `logto-actix` crate (`crates/logto-actix`), on top of
//! the framework-free `logto-client` (`crates/logto-client`).
//!
//! - [`routes`]: the Bookstore's own pages, probes and assets, one file each, and
//!   [`routes::configure`], which mounts them with the auth routes.
//! - [`state`]: what every worker shares, built once at start-up.
//! - [`i18n`]: the pages' strings in English and Japanese, and the visitor's language.
//! - [`configuration`] and [`startup`]: settings from the environment, and the server.
//! - [`assets`], [`content_coding`] and [`security_headers`]: fingerprinted static files,
//!   compressed for browsers that accept it, and the headers of every response.
//! - [`healthcheck`]: the container's health probe (`logto-bookstore healthcheck`).
//! - [`pages`]: the Bookstore's pages for `logto-actix`'s hook (error pages, sign-out), in
//!   the visitor's language.
//! - [`claim_time`]: readable UTC dates for timestamp claims.

pub mod assets;
pub mod bookstore_api;
pub mod claim_time;
pub mod configuration;
pub mod content_coding;
pub mod error;
pub mod healthcheck;
pub mod i18n;
pub mod pages;
pub mod routes;
pub mod security_headers;
pub mod startup;
pub mod state;
pub mod templates;
