//! The checks every read of a session gets, and what sign-out and back-channel logout must do
//! besides the framework's own session handling.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::{
    AccessTokens, EndedSessions, GrantLock, LogoutTarget, LogoutTokenLedger, SessionCapacity,
    SessionData, SessionError, SessionLifetimes, SessionWrite, StoreError, TokenHandOff, is_due,
    secs,
};
use crate::client::LogtoClient;
use crate::error::{LogtoError, error_chain};
use crate::time::unix_now;
use crate::types::TokenTarget;

/// The session checks and the sign-out and back-channel logout steps of one app. Make one per
/// app and share it: it holds the app's [`AccessTokens`].
#[derive(Debug)]
pub struct SessionGuard<R> {
    tokens: AccessTokens<R>,
    lifetimes: SessionLifetimes,
    recheck_when_due: bool,
}

/// What [`SessionGuard::check`] found.
#[must_use = "delete or store the session as it says"]
#[derive(Debug)]
pub enum Checked {
    /// The session is over (ended elsewhere, or past a lifetime): delete it; nobody is signed
    /// in. `reason` says why, for a log line.
    Ended {
        /// Why, in words, such as "it reached SESSION_TTL".
        reason: &'static str,
    },
    /// The session is good: store it first when `write` says so (a renewed idle stamp, a
    /// rotated refresh token).
    Valid {
        /// The session, as it now is.
        session: Box<SessionData>,
        /// What to do with it.
        write: SessionWrite,
    },
    /// Checking failed: store or end the session as `write` says, then fail the request with
    /// `error`.
    Failed {
        /// The session, as it now is.
        session: Box<SessionData>,
        /// What went wrong.
        error: SessionError,
        /// What to do with the session.
        write: SessionWrite,
    },
}

/// What [`SessionGuard::sign_out`] leaves to do: delete the session, and send the browser to
/// `end_session_url` (Logto's end-session endpoint), or home when it is unknown.
#[derive(Debug, Clone)]
pub struct SignOut {
    /// Logto's end-session URL; `None` when it is unknown (Logto unreachable): the local
    /// session is gone either way, and Logto's own session ends at its next sign-in.
    pub end_session_url: Option<Url>,
}

/// A back-channel logout that was carried out.
#[derive(Debug, Clone)]
pub struct BackchannelLogout {
    /// The user the logout token named, if it named one.
    pub sub: Option<String>,
    /// How many stored sessions were deleted (0 for self-contained sessions, which are refused
    /// when next read).
    pub deleted: usize,
}

/// Why a back-channel logout was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackchannelError {
    /// The logout token did not verify (or Logto's keys could not be had: see
    /// [`LogtoError::status_code`]).
    #[error(transparent)]
    Invalid(LogtoError),
    /// The logout token was used before (its `jti` is remembered until it expires).
    #[error("the logout token was used before")]
    Replayed,
    /// The records could not be read or written; nothing was ended, so Logto may send the
    /// token again.
    #[error(transparent)]
    Store(StoreError),
}

impl<R: GrantLock + TokenHandOff + EndedSessions + LogoutTokenLedger> SessionGuard<R> {
    /// The guard of sessions that live `lifetimes`, signed in with `client`, with their records
    /// in `records`.
    pub fn new(client: Arc<LogtoClient>, records: R, lifetimes: SessionLifetimes) -> Self {
        Self {
            tokens: AccessTokens::new(client, records),
            lifetimes,
            recheck_when_due: false,
        }
    }

    /// Whether a read of a session whose userinfo access token is due checks the session with
    /// Logto (through the refresh grant). Turn it on for self-contained (cookie) sessions: a
    /// copy of the cookie may outlive a sign-out elsewhere.
    pub fn recheck_when_due(mut self, yes: bool) -> Self {
        self.recheck_when_due = yes;
        self
    }

    /// The access tokens of the sessions.
    pub fn tokens(&self) -> &AccessTokens<R> {
        &self.tokens
    }

    /// The sessions' lifetimes.
    pub fn lifetimes(&self) -> SessionLifetimes {
        self.lifetimes
    }

    /// The Logto client.
    pub fn client(&self) -> &LogtoClient {
        self.tokens.client()
    }

    /// The records.
    pub fn records(&self) -> &R {
        self.tokens.records()
    }

    /// Checks a session just read from its store: ended (sign-out, back-channel logout)? past
    /// `SESSION_TTL`? idle past `SESSION_IDLE_TIMEOUT`? Renews a stale idle stamp (every 5
    /// minutes, or half a shorter idle timeout), adopting what another request's refresh handed
    /// on first. With [`recheck_when_due`](Self::recheck_when_due), a session whose userinfo
    /// token is due is checked with Logto; if Logto refused it, this is
    /// [`SessionError::Ended`].
    pub async fn check(&self, session: SessionData, capacity: &impl SessionCapacity) -> Checked {
        let mut session = session;
        match self.tokens.records().is_ended(&session).await {
            Ok(false) => {}
            Ok(true) => {
                return Checked::Ended {
                    reason: "it was signed out",
                };
            }
            Err(error) => {
                return Checked::Failed {
                    session: Box::new(session),
                    error: error.into(),
                    write: SessionWrite::Unchanged,
                };
            }
        }
        let now = unix_now();
        if let Some(reason) = self.lifetimes.expiry(&session, now) {
            return Checked::Ended { reason };
        }
        let renew_stamp = self.lifetimes.stamp_is_stale(&session, now);
        if renew_stamp {
            session.last_seen_at = now;
        }
        let mut write = SessionWrite::Unchanged;
        if self.recheck_when_due && is_due(&session, &TokenTarget::UserInfo) {
            // A copy of this cookie may outlive a sign-out elsewhere: ask Logto. Boxed: the
            // refresh's state is kilobytes, which every page would otherwise carry and copy.
            let outcome = Box::pin(self.tokens.access_token(
                &mut session,
                &TokenTarget::UserInfo,
                capacity,
            ))
            .await;
            match outcome.token {
                // Stored as `write` says, new idle stamp included.
                Ok(_) => {
                    return Checked::Valid {
                        session: Box::new(session),
                        write: outcome.write,
                    };
                }
                // The session was ended on the way (a refused grant, a cookie that could not
                // hold the rotated refresh token): nobody is signed in any more.
                Err(error @ (SessionError::Ended | SessionError::TooLarge(_))) => {
                    return Checked::Failed {
                        session: Box::new(session),
                        error,
                        write: outcome.write,
                    };
                }
                Err(error) => {
                    log::warn!(
                        "could not check the session of user {} with Logto, keeping it until \
                         the next request: {}",
                        session.profile.sub,
                        error_chain(&error)
                    );
                    write = outcome.write;
                }
            }
        }
        if renew_stamp {
            // Another request may have refreshed since this one read the session.
            // Boxed, like the recheck above: at most once per idle-stamp period.
            if let Err(error) = Box::pin(self.tokens.adopt_handed_on(&mut session)).await {
                return Checked::Failed {
                    session: Box::new(session),
                    error: error.into(),
                    write,
                };
            }
            write = SessionWrite::Store;
        }
        Checked::Valid {
            session: Box::new(session),
            write,
        }
    }

    /// Signs `session` out, besides deleting it (which is the caller's): records the sign-out
    /// (so that a copy of a self-contained session is refused), revokes the refresh token
    /// (logged on failure), forgets the grant's hand-off, and finds Logto's end-session URL
    /// (with `id_token_hint` only while Logto still publishes the key it was signed with).
    pub async fn sign_out(&self, session: &SessionData) -> Result<SignOut, StoreError> {
        self.records().record_sign_out(session).await?;
        if let Some(refresh_token) = &session.tokens.refresh_token
            && let Err(error) = self.client().revoke_refresh_token(refresh_token).await
        {
            log::warn!(
                "could not revoke the refresh token of user {}: {}",
                session.profile.sub,
                error_chain(&error)
            );
        }
        self.tokens.forget(&session.grant_id).await;
        let end_session_url = match self
            .client()
            .sign_out_url(Some(&session.tokens.id_token))
            .await
        {
            Ok(url) => Some(url),
            Err(error) => {
                log::warn!(
                    "signed out locally only, Logto's end-session URL is unknown: {}",
                    error_chain(&error)
                );
                None
            }
        };
        Ok(SignOut { end_session_url })
    }

    /// Carries out a back-channel logout (OIDC Back-Channel Logout 1.0): verifies the logout
    /// token like an ID token, accepts each `jti` once (§2.6 step 10, remembered until the
    /// token expires), and ends the sessions it names: its Logto session (`sid`), or the
    /// user's sessions signed in at or before its `iat`. If ending them fails, the `jti` is
    /// forgotten again, so that Logto's retry is not refused as a replay.
    pub async fn backchannel_logout(
        &self,
        logout_token: &str,
    ) -> Result<BackchannelLogout, BackchannelError> {
        let claims = self
            .client()
            .verify_logout_token(logout_token)
            .await
            .map_err(BackchannelError::Invalid)?;
        // Past `exp` plus the leeway the token is refused anyway, so remembering it ends there.
        // A verified token expires within minutes; the cap only keeps the arithmetic sane.
        let expires_at = claims
            .exp
            .saturating_add(secs(self.client().clock_leeway()));
        let remaining = Duration::from_secs(
            u64::try_from(expires_at.saturating_sub(unix_now()))
                .unwrap_or(0)
                .max(1),
        )
        .min(self.lifetimes.absolute);
        let records = self.records();
        if !records
            .first_use(&claims.jti, remaining)
            .await
            .map_err(BackchannelError::Store)?
        {
            return Err(BackchannelError::Replayed);
        }
        let target = match (claims.sid.as_deref(), claims.sub.as_deref()) {
            (Some(sid), _) => Some(LogoutTarget::LogtoSession { sid }),
            (None, Some(sub)) => Some(LogoutTarget::User {
                sub,
                issued_at: claims.iat,
            }),
            (None, None) => None,
        };
        let deleted = match target {
            None => 0,
            Some(target) => match records.end(&target).await {
                Ok(deleted) => deleted,
                Err(error) => {
                    // Nothing was ended: Logto's retry must not be refused as a replay.
                    LogoutTokenLedger::forget(records, &claims.jti).await;
                    return Err(BackchannelError::Store(error));
                }
            },
        };
        Ok(BackchannelLogout {
            sub: claims.sub,
            deleted,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use super::*;
    use crate::session::{MemoryRecords, Unbounded};
    use crate::types::{CallbackParams, PendingSignIn};

    fn assert_send(_: impl Future + Send) {}

    /// Compiles only while the public futures are `Send`, which a multi-threaded runtime
    /// (axum on tokio) needs. Never run: building the futures is the test.
    #[allow(dead_code)]
    fn the_public_futures_are_send(
        client: &LogtoClient,
        guard: &SessionGuard<MemoryRecords>,
        session: &mut SessionData,
        pending: &PendingSignIn,
        callback: &CallbackParams,
    ) {
        assert_send(client.finish_sign_in(pending, callback));
        assert_send(client.refresh("refresh", &TokenTarget::UserInfo, "sub"));
        assert_send(
            guard
                .tokens()
                .access_token(session, &TokenTarget::UserInfo, &Unbounded),
        );
        assert_send(guard.tokens().adopt_handed_on(session));
        assert_send(guard.check(session.clone(), &Unbounded));
        assert_send(guard.sign_out(session));
        assert_send(guard.backchannel_logout("token"));
    }
}
