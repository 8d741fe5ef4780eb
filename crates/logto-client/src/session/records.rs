//! The storage and locking that the protocol needs, as small traits.
//!
//! Each method returns a `Send` future, so that the protocol runs on multi-threaded runtimes
//! (axum); implementations may write `async fn`. The traits are generic rather than
//! dyn-compatible: an integration that picks its store at run time wraps its stores in an enum.

use std::future::Future;
use std::time::Duration;

use super::{SessionData, TokenState};

/// A store that could not be read or written (Redis down or slow). The protocol never guesses:
/// the request fails (a web app answers 503).
#[derive(Debug, thiserror::Error)]
#[error("the session records are unavailable")]
pub struct StoreError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

impl StoreError {
    /// Wraps what went wrong.
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(error.into())
    }
}

/// Serialises the refreshes of one grant across processes. Within a process,
/// [`AccessTokens`](super::AccessTokens) already runs one refresh per grant at a time; this
/// lock is what spans instances.
pub trait GrantLock: Send + Sync {
    /// Proof of holding the lock; given back to [`release`](Self::release).
    type Guard: Send;

    /// Takes the lock of `grant_id` for at most `ttl` (it expires if its holder dies), waiting
    /// at most `wait`. `Ok(None)`: the wait ran out.
    fn acquire(
        &self,
        grant_id: &str,
        ttl: Duration,
        wait: Duration,
    ) -> impl Future<Output = Result<Option<Self::Guard>, StoreError>> + Send;

    /// Releases the lock if it is still this holder's (it may have expired and been taken).
    fn release(&self, guard: Self::Guard) -> impl Future<Output = ()> + Send;
}

/// The latest tokens of a grant, handed from the request that refreshed to requests already
/// on their way with the old ones: what keeps a spent refresh token from being written back.
pub trait TokenHandOff: Send + Sync {
    /// What the last refresh of `grant_id` handed on, if it is still kept.
    fn latest(
        &self,
        grant_id: &str,
    ) -> impl Future<Output = Result<Option<TokenState>, StoreError>> + Send;

    /// Hands `state` on for `ttl`. Must be visible to every instance before the refreshing
    /// request answers.
    fn hand_on(
        &self,
        grant_id: &str,
        state: &TokenState,
        ttl: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// At sign-out or when a grant ends: nothing of it may be adopted afterwards. Best effort.
    fn forget(&self, grant_id: &str) -> impl Future<Output = ()> + Send;
}

/// Which sessions have ended, for sessions that can be copied (a cookie) or ended elsewhere
/// (back-channel logout).
///
/// A server-side store whose sign-out deletes the stored session may answer `is_ended` with
/// `false` and make `record_sign_out` a no-op: the deleted session settles it. A
/// self-contained (cookie) session must be remembered as ended, or a copy of the cookie signs
/// its user in again.
pub trait EndedSessions: Send + Sync {
    /// Whether `session` was ended by a sign-out or a back-channel logout. Checked on every
    /// read of a session: keep it cheap.
    fn is_ended(
        &self,
        session: &SessionData,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Remembers a local sign-out (by grant id) where deleting the stored session is not
    /// enough.
    fn record_sign_out(
        &self,
        session: &SessionData,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Ends what a logout token names; returns how many stored sessions were deleted (0 for
    /// self-contained sessions, which are refused when next read instead).
    fn end(
        &self,
        target: &LogoutTarget<'_>,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;
}

/// The sessions a logout token ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutTarget<'a> {
    /// Every session of this Logto session.
    LogtoSession {
        /// Logto's session id (`sid`).
        sid: &'a str,
    },
    /// The sessions of `sub` signed in at or before `issued_at` (the token's `iat`), so that a
    /// sign-in after the logout survives it; of several such logouts, the latest wins.
    User {
        /// The user's ID in Logto.
        sub: &'a str,
        /// The logout token's `iat` (Unix seconds).
        issued_at: i64,
    },
}

/// Logout tokens already used (Back-Channel Logout 1.0 §2.6 step 10).
pub trait LogoutTokenLedger: Send + Sync {
    /// Records `jti` for `ttl`; `false` when it was recorded before: a replay.
    fn first_use(
        &self,
        jti: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Forgets a `jti` whose sessions could not be ended, so that Logto's retry is accepted.
    /// Best effort.
    fn forget(&self, jti: &str) -> impl Future<Output = ()> + Send;
}
