//! A Logto (OpenID Connect) client for server-rendered web apps, free of any web framework.
//!
//! The Bookstore's `src/logto/` moves here (issue 14, step 3).

#![deny(missing_docs)]
#![forbid(unsafe_code)]
