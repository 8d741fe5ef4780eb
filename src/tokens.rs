//! Access tokens for the signed-in user, refreshed at most once at a time per grant: the
//! protocol of [`crate::logto::session`] on this app's session and records.
//!
//! Logto may rotate the refresh token at any refresh and revokes the whole grant when a
//! rotated-away one is used again, so two requests of one session must never both refresh.
//! [`AccessTokens`](crate::logto::session::AccessTokens) runs a refresh under a lock per grant
//! (a mutex in this process and, with Redis, a short Redis lock that every instance shares),
//! and says whether to store or end the session afterwards; this adapter does what it says.

use std::sync::Arc;

use crate::error::AppError;
use crate::logto::session::{
    BackchannelError, SessionData, SessionError, SessionGuard, SessionLifetimes, StoreError,
};
use crate::logto::{LogtoClient, TokenTarget};
use crate::session::{AppRecords, UserSession};

/// Hands out access tokens, refreshing them single-flight, and checks sessions. Register one
/// per app.
pub struct TokenService {
    guard: SessionGuard<AppRecords>,
}

impl TokenService {
    /// Locks and hand-off records live in `records` (Redis, shared by every instance, or this
    /// process). Self-contained (cookie) sessions are checked with Logto whenever their
    /// userinfo token is due.
    pub fn new(
        logto: Arc<LogtoClient>,
        records: AppRecords,
        lifetimes: SessionLifetimes,
        self_contained: bool,
    ) -> Self {
        Self {
            guard: SessionGuard::new(logto, records, lifetimes).recheck_when_due(self_contained),
        }
    }

    /// The session protocol: checks, sign-out, back-channel logout.
    pub fn guard(&self) -> &SessionGuard<AppRecords> {
        &self.guard
    }

    /// A valid access token for `target`, refreshed first when it expires within a minute.
    /// A refresh that Logto refuses (`invalid_grant`) ends the session.
    pub async fn access_token(
        &self,
        session: &UserSession,
        user: &mut SessionData,
        target: &TokenTarget,
    ) -> Result<String, AppError> {
        let outcome = self
            .guard
            .tokens()
            .access_token(user, target, &session.capacity())
            .await;
        session.write(user, outcome.write)?;
        Ok(outcome.token?)
    }

    /// A valid organization token (audience `urn:logto:organization:<id>`), from the refresh
    /// grant with `organization_id`. Logto answers `access_denied` when the user is not a member
    /// and `insufficient_scope` without `urn:logto:scope:organizations`; neither ends the session.
    pub async fn organization_token(
        &self,
        session: &UserSession,
        user: &mut SessionData,
        organization_id: &str,
    ) -> Result<String, AppError> {
        let target = TokenTarget::Organization(organization_id.to_owned());
        self.access_token(session, user, &target).await
    }

    /// Forgets what a refresh of `grant_id` handed on: called when its session ends, so that
    /// nothing of it can be adopted after the sign-out.
    pub async fn forget(&self, grant_id: &str) {
        self.guard.tokens().forget(grant_id).await;
    }
}

impl From<SessionError> for AppError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::Logto(error) => Self::Logto(error),
            SessionError::Ended => Self::SessionEnded,
            SessionError::TooLarge(too_large) => Self::SessionTooLarge {
                cookie_bytes: too_large.cookie_bytes,
                limit: too_large.limit,
            },
            SessionError::Store(_) | SessionError::LockTimeout => Self::SessionStoreUnavailable,
            other => Self::SessionWrite(other.to_string()),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(_: StoreError) -> Self {
        Self::SessionStoreUnavailable
    }
}

impl From<BackchannelError> for AppError {
    fn from(error: BackchannelError) -> Self {
        match error {
            BackchannelError::Invalid(error) => Self::Logto(error),
            BackchannelError::Replayed => Self::ReplayedLogoutToken,
            BackchannelError::Store(_) => Self::SessionStoreUnavailable,
            other => Self::SessionWrite(other.to_string()),
        }
    }
}
