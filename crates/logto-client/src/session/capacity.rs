//! How much room a session's stored form has.

use super::SessionData;

/// How much room the session's stored form has: a cookie store's 4 KB, or none to speak of.
/// Synchronous and cheap: called in the refresh loop.
pub trait SessionCapacity {
    /// `Err` with the would-be size when `session` plus `extra_bytes` more would not fit.
    fn check(&self, session: &SessionData, extra_bytes: usize) -> Result<(), TooLarge>;
}

/// The capacity of a server-side store: every session fits.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unbounded;

impl SessionCapacity for Unbounded {
    fn check(&self, _session: &SessionData, _extra_bytes: usize) -> Result<(), TooLarge> {
        Ok(())
    }
}

/// A session that would not fit where it is stored (a browser drops a cookie over 4 KB
/// without a word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the session needs a {cookie_bytes}-byte cookie, over the {limit}-byte browser limit")]
pub struct TooLarge {
    /// The size it would take, in bytes.
    pub cookie_bytes: usize,
    /// The most that is kept, in bytes.
    pub limit: usize,
}
