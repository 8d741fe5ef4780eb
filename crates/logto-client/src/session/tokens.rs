//! Access tokens for a signed-in session, refreshed at most once at a time per grant.
//!
//! Logto may rotate the refresh token at any refresh (a Traditional web app's from about day 10
//! of its 14, a public client's every time) and revokes the whole grant when a rotated-away one
//! is used again, so two requests of one session must never both refresh. A refresh runs under
//! a lock per grant: a mutex in this process and a [`GrantLock`] that every instance shares.
//! Whoever holds the lock first adopts what an earlier holder handed on ([`TokenHandOff`]),
//! and refreshes only if the token is still stale.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::ExposeSecret;

use super::{
    CachedToken, EndedSessions, GrantLock, SessionCapacity, SessionData, StoreError, TokenHandOff,
    TokenState, TooLarge,
};
use crate::client::LogtoClient;
use crate::error::{LogtoError, error_chain};
use crate::time::unix_now_ms;
use crate::types::{Refreshed, TokenTarget, UserProfile};

/// A token this close to expiry is refreshed first (a quarter of its lifetime when shorter).
const EXPIRY_MARGIN_SECS: i64 = 60;
/// Requests to Logto a refresh may make, each bounded by the HTTP timeout: discovery, the
/// JWKS, the token request, and the JWKS again for an ID token under a new key.
const REQUESTS_PER_REFRESH: u32 = 4;
/// How long a request waits for another instance's refresh.
const LOCK_WAIT: Duration = Duration::from_secs(15);
/// How long a finished refresh stays available to requests that waited for it, or that were
/// already on their way with the old session: about as long as one waits for the lock.
pub(crate) const HANDOFF_TTL: Duration = Duration::from_secs(30);
/// What a new JWT access token from Logto is assumed to take when none is cached to go by:
/// a few hundred bytes of ES384 JWT, with room for scopes.
const TYPICAL_ACCESS_TOKEN_BYTES: usize = 1024;
/// What a cached token costs besides itself: its JSON around it, well under 100 bytes.
const CACHED_TOKEN_OVERHEAD: usize = 100;

/// Why a session's token could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// Logto failed or refused (but not the grant: that is [`Ended`](Self::Ended)).
    #[error(transparent)]
    Logto(#[from] LogtoError),
    /// The session has ended: Logto refused its refresh token (`invalid_grant`), it has none,
    /// or it was signed out elsewhere.
    #[error("the session ended because Logto refused to refresh its tokens")]
    Ended,
    /// The session would not fit where it is stored.
    #[error(transparent)]
    TooLarge(#[from] TooLarge),
    /// The records (locks, hand-off, ended sessions) could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another instance's refresh of this grant took longer than a request waits.
    #[error("gave up waiting for the refresh lock of this grant")]
    LockTimeout,
}

/// What the framework must do with the session after the protocol changed it in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionWrite {
    /// Nothing to store.
    Unchanged,
    /// Store the session as it now is: it holds tokens that exist nowhere else (a rotated
    /// refresh token).
    Store,
    /// Delete the session (it has ended; its sign-out is already recorded).
    End,
}

/// An access token, or why there is none, and what to do with the session either way.
#[must_use = "store or end the session as `write` says, or a rotated refresh token is lost"]
#[derive(Debug)]
pub struct TokenOutcome {
    /// The access token.
    pub token: Result<String, SessionError>,
    /// What to do with the session, whatever `token` is.
    pub write: SessionWrite,
}

impl TokenOutcome {
    fn token(token: String, write: SessionWrite) -> Self {
        Self {
            token: Ok(token),
            write,
        }
    }

    fn failed(error: impl Into<SessionError>, write: SessionWrite) -> Self {
        Self {
            token: Err(error.into()),
            write,
        }
    }
}

/// Hands out access tokens, refreshing them single-flight. Make one per app (and share it):
/// its mutexes are what serialise the refreshes of one process.
pub struct AccessTokens<R> {
    client: Arc<LogtoClient>,
    records: R,
    /// How long a grant lock lives if its holder dies: longer than any refresh takes, so that
    /// no other instance refreshes the same token while one is still running.
    lock_ttl: Duration,
    local_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl<R> std::fmt::Debug for AccessTokens<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokens")
            .field("lock_ttl", &self.lock_ttl)
            .finish_non_exhaustive()
    }
}

impl<R: GrantLock + TokenHandOff + EndedSessions> AccessTokens<R> {
    /// Tokens from `client`, with locks, hand-offs and ended sessions in `records`.
    pub fn new(client: Arc<LogtoClient>, records: R) -> Self {
        let lock_ttl = client.http_timeout() * REQUESTS_PER_REFRESH + Duration::from_secs(5);
        Self {
            client,
            records,
            lock_ttl,
            local_locks: Mutex::default(),
        }
    }

    /// The Logto client.
    pub fn client(&self) -> &Arc<LogtoClient> {
        &self.client
    }

    /// The records.
    pub fn records(&self) -> &R {
        &self.records
    }

    /// A valid access token for `target`, refreshed first when it expires within a minute (or
    /// a quarter of its life). `session` changes in place; store or end it as the outcome's
    /// `write` says, whether or not there is a token. A refresh that Logto refuses
    /// (`invalid_grant`) ends the session. A session that could not store a new token
    /// (`capacity`) drops cached tokens first, never the refresh token.
    pub async fn access_token(
        &self,
        session: &mut SessionData,
        target: &TokenTarget,
        capacity: &impl SessionCapacity,
    ) -> TokenOutcome {
        if let Some(token) = fresh_token(session, target) {
            return TokenOutcome::token(token, SessionWrite::Unchanged);
        }
        let grant_id = session.grant_id.clone();
        let local_lock = self.local_lock(&grant_id);
        let local = local_lock.lock().await;
        let outcome = match self
            .records
            .acquire(&grant_id, self.lock_ttl, LOCK_WAIT)
            .await
        {
            Ok(Some(guard)) => {
                let outcome = self.refresh_if_stale(session, target, capacity).await;
                self.records.release(guard).await;
                outcome
            }
            Ok(None) => {
                log::error!("gave up waiting for the refresh lock of grant {grant_id}");
                TokenOutcome::failed(SessionError::LockTimeout, SessionWrite::Unchanged)
            }
            Err(error) => TokenOutcome::failed(error, SessionWrite::Unchanged),
        };
        drop(local);
        self.forget_idle_lock(&grant_id, local_lock);
        outcome
    }

    /// Takes the tokens of a refresh that another request of this session finished meanwhile,
    /// if any: a session about to be written must not bring back a spent refresh token.
    /// Returns whether `session` changed.
    pub async fn adopt_handed_on(&self, session: &mut SessionData) -> Result<bool, StoreError> {
        let latest = self.records.latest(&session.grant_id).await?;
        Ok(latest.is_some_and(|latest| session.adopt(latest)))
    }

    /// Forgets what a refresh of `grant_id` handed on: called when its session ends, so that
    /// nothing of it can be adopted after the sign-out.
    pub async fn forget(&self, grant_id: &str) {
        TokenHandOff::forget(&self.records, grant_id).await;
    }

    /// Ends `session` for the records: a copy of a self-contained session is refused from now
    /// on. The caller deletes the session itself ([`SessionWrite::End`]).
    async fn record_end(&self, session: &SessionData) {
        if let Err(error) = self.records.record_sign_out(session).await {
            log::warn!(
                "could not record the end of a session of user {}: {}",
                session.profile.sub,
                error_chain(&error)
            );
        }
    }

    async fn refresh_if_stale(
        &self,
        session: &mut SessionData,
        target: &TokenTarget,
        capacity: &impl SessionCapacity,
    ) -> TokenOutcome {
        match self.records.is_ended(session).await {
            Ok(false) => {}
            Ok(true) => {
                self.record_end(session).await;
                return TokenOutcome::failed(SessionError::Ended, SessionWrite::End);
            }
            Err(error) => return TokenOutcome::failed(error, SessionWrite::Unchanged),
        }
        let keep = target_key(target);
        if let Err(error) = self.adopt_handed_on(session).await {
            return TokenOutcome::failed(error, SessionWrite::Unchanged);
        }
        if let Some(token) = fresh_token(session, target) {
            return match fit(session, keep.as_deref(), capacity) {
                Ok(()) => TokenOutcome::token(token, SessionWrite::Store),
                Err(too_large) => TokenOutcome::failed(too_large, SessionWrite::Unchanged),
            };
        }

        let Some(refresh_token) = session.tokens.refresh_token.clone() else {
            self.record_end(session).await;
            return TokenOutcome::failed(SessionError::Ended, SessionWrite::End);
        };
        if let Err(too_large) = ensure_room_for_refresh(session, target, capacity) {
            return TokenOutcome::failed(too_large, SessionWrite::Unchanged);
        }
        let refreshed = match self
            .client
            .refresh(&refresh_token, target, &session.profile.sub)
            .await
        {
            Ok(refreshed) => refreshed,
            Err(error) if error.is_invalid_grant() => {
                log::warn!(
                    "refresh refused for user {}; signing out",
                    session.profile.sub
                );
                self.record_end(session).await;
                self.forget(&session.grant_id).await;
                return TokenOutcome::failed(SessionError::Ended, SessionWrite::End);
            }
            Err(LogtoError::RefreshedIdTokenRejected {
                rotated_refresh_token,
                reason,
            }) => {
                // The request fails, but the rotated refresh token must not be lost with it.
                session.tokens.refresh_token =
                    Some(rotated_refresh_token.expose_secret().to_owned());
                session.revision += 1;
                if let Err(error) = self.hand_on(session).await {
                    return TokenOutcome::failed(error, SessionWrite::Unchanged);
                }
                return match fit(session, keep.as_deref(), capacity) {
                    Ok(()) => TokenOutcome::failed(*reason, SessionWrite::Store),
                    Err(too_large) => TokenOutcome::failed(too_large, SessionWrite::Unchanged),
                };
            }
            Err(error) => return TokenOutcome::failed(error, SessionWrite::Unchanged),
        };
        let token = refreshed.access_token.clone();
        apply_refresh(session, target, refreshed);
        if let Err(error) = self.hand_on(session).await {
            return TokenOutcome::failed(error, SessionWrite::Unchanged);
        }
        match fit(session, keep.as_deref(), capacity) {
            Ok(()) => TokenOutcome::token(token, SessionWrite::Store),
            Err(too_large) => {
                // Even without cached tokens the session no longer fits. Keeping the old one
                // would reuse a spent refresh token, which revokes the grant at Logto anyway:
                // end it cleanly instead.
                self.end_unstorable_session(session).await;
                TokenOutcome::failed(too_large, SessionWrite::End)
            }
        }
    }

    async fn hand_on(&self, session: &SessionData) -> Result<(), StoreError> {
        self.records
            .hand_on(&session.grant_id, &TokenState::of(session), HANDOFF_TTL)
            .await
    }

    async fn end_unstorable_session(&self, session: &SessionData) {
        if let Some(refresh_token) = &session.tokens.refresh_token
            && let Err(error) = self.client.revoke_refresh_token(refresh_token).await
        {
            log::warn!(
                "could not revoke the refresh token of user {}: {}",
                session.profile.sub,
                error_chain(&error)
            );
        }
        self.record_end(session).await;
        self.forget(&session.grant_id).await;
    }

    fn local_lock(&self, grant_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.local_locks.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(locks.entry(grant_id.to_owned()).or_default())
    }

    /// Drops the grant's mutex once nobody else holds or waits for it.
    fn forget_idle_lock(&self, grant_id: &str, lock: Arc<tokio::sync::Mutex<()>>) {
        let mut locks = self.local_locks.lock().unwrap_or_else(|p| p.into_inner());
        drop(lock);
        if locks
            .get(grant_id)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            locks.remove(grant_id);
        }
    }

    #[cfg(test)]
    pub(crate) fn local_lock_count(&self) -> usize {
        self.local_locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}

/// Makes `session` fit `capacity` by dropping cached access tokens (they can be fetched again),
/// soonest to expire first and `keep` last. The refresh token is never dropped: Logto may have
/// rotated it, and then the old one is spent.
fn fit(
    session: &mut SessionData,
    keep: Option<&str>,
    capacity: &impl SessionCapacity,
) -> Result<(), TooLarge> {
    loop {
        match capacity.check(session, 0) {
            Err(_) if !session.extra_tokens.is_empty() => {
                let evicted = session
                    .soonest_expiring_token(keep)
                    .or_else(|| keep.map(str::to_owned));
                log::info!("dropping a cached access token to fit the session cookie");
                if let Some(evicted) = evicted {
                    session.extra_tokens.remove(&evicted);
                }
            }
            result => return result,
        }
    }
}

/// Makes sure the session can hold the token a refresh for `target` brings, before Logto is
/// asked: what Logto rotates must be stored afterwards. Cached tokens for other targets are
/// dropped first, soonest to expire first (they can be fetched again). If a new token still
/// would not fit, nothing is asked of Logto and the refresh token stays unspent. A token that
/// replaces one already held (the userinfo token, a stale cached one) takes the room of the
/// old one.
fn ensure_room_for_refresh(
    session: &mut SessionData,
    target: &TokenTarget,
    capacity: &impl SessionCapacity,
) -> Result<(), TooLarge> {
    let Some(keep) = target_key(target) else {
        return Ok(());
    };
    if session.extra_tokens.contains_key(&keep) {
        return Ok(());
    }
    let expected = session
        .extra_tokens
        .values()
        .map(|cached| cached.token.len())
        .max()
        .unwrap_or(TYPICAL_ACCESS_TOKEN_BYTES);
    loop {
        let Err(too_large) = capacity.check(session, expected + CACHED_TOKEN_OVERHEAD) else {
            return Ok(());
        };
        let Some(evicted) = session.soonest_expiring_token(Some(&keep)) else {
            return Err(too_large);
        };
        log::info!("dropping a cached access token to make room for a refresh");
        session.extra_tokens.remove(&evicted);
    }
}

/// The key of `target` in [`SessionData::extra_tokens`]; `None` for the userinfo token.
pub fn target_key(target: &TokenTarget) -> Option<String> {
    match target {
        TokenTarget::UserInfo => None,
        TokenTarget::Resource(resource) => Some(format!("resource:{resource}")),
        TokenTarget::Organization(id) => Some(format!("organization:{id}")),
    }
}

/// Whether `session`'s access token for `target` is missing or expires within a minute (or a
/// quarter of its life).
pub fn is_due(session: &SessionData, target: &TokenTarget) -> bool {
    fresh_token(session, target).is_none()
}

fn fresh_token(session: &SessionData, target: &TokenTarget) -> Option<String> {
    let now_ms = unix_now_ms();
    match target_key(target) {
        None => is_fresh(
            session.tokens.access_token_issued_at_ms,
            session.tokens.access_token_expires_at,
            now_ms,
        )
        .then(|| session.tokens.access_token.clone()),
        Some(key) => session
            .extra_tokens
            .get(&key)
            .filter(|cached| is_fresh(cached.issued_at_ms, cached.expires_at, now_ms))
            .map(|cached| cached.token.clone()),
    }
}

/// Whether a token issued at `issued_at_ms` that expires at `expires_at` (Unix seconds, as
/// counted from its issue) is still good to use at `now_ms`: until a margin before expiry of
/// a minute, or a quarter of its lifetime when that is shorter, so that a token of a few
/// seconds is used too rather than refreshed on every request. A token of unknown issue time
/// gets the full minute; one without an expiry never expires.
fn is_fresh(issued_at_ms: Option<i64>, expires_at: Option<i64>, now_ms: i64) -> bool {
    let Some(expires_at) = expires_at else {
        return true;
    };
    let (expires_at_ms, margin_ms) = match issued_at_ms {
        Some(issued_at_ms) => {
            let lifetime_ms = expires_at
                .saturating_sub(issued_at_ms / 1_000)
                .saturating_mul(1_000);
            (
                issued_at_ms.saturating_add(lifetime_ms),
                (lifetime_ms / 4).clamp(0, EXPIRY_MARGIN_SECS * 1_000),
            )
        }
        None => (expires_at.saturating_mul(1_000), EXPIRY_MARGIN_SECS * 1_000),
    };
    now_ms < expires_at_ms.saturating_sub(margin_ms)
}

fn apply_refresh(session: &mut SessionData, target: &TokenTarget, refreshed: Refreshed) {
    match target_key(target) {
        None => {
            session.tokens.access_token = refreshed.access_token;
            session.tokens.access_token_expires_at = refreshed.expires_at;
            session.tokens.access_token_issued_at_ms = Some(refreshed.issued_at_ms);
        }
        Some(key) => {
            session.extra_tokens.insert(
                key,
                CachedToken {
                    token: refreshed.access_token,
                    expires_at: refreshed.expires_at,
                    issued_at_ms: Some(refreshed.issued_at_ms),
                },
            );
        }
    }
    session.tokens.refresh_token = Some(refreshed.refresh_token);
    if let Some(id_token) = refreshed.id_token {
        session.tokens.id_token = id_token;
    }
    if let Some(claims) = refreshed.claims {
        let sid = session.profile.sid.take();
        session.profile = UserProfile::from(&claims);
        session.profile.sid = session.profile.sid.take().or(sid);
    }
    session.revision += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token of `lifetime_secs` issued at `issued_at_ms`, as the client records it.
    fn token(issued_at_ms: i64, lifetime_secs: i64) -> (Option<i64>, Option<i64>) {
        (
            Some(issued_at_ms),
            Some(issued_at_ms / 1_000 + lifetime_secs),
        )
    }

    #[test]
    fn a_token_is_used_until_a_quarter_of_its_life_or_a_minute_is_left() {
        let issued = 1_700_000_000_400;
        for (lifetime, usable_ms) in [(1, 750), (30, 22_500), (66, 49_500), (3_600, 3_540_000)] {
            let (issued_at, expires_at) = token(issued, lifetime);
            assert!(
                is_fresh(issued_at, expires_at, issued + usable_ms - 1),
                "{lifetime} s: still fresh just before {usable_ms} ms"
            );
            assert!(
                !is_fresh(issued_at, expires_at, issued + usable_ms),
                "{lifetime} s: due at {usable_ms} ms"
            );
        }
    }

    #[test]
    fn a_token_of_unknown_issue_gets_the_minute_and_one_without_expiry_never_expires() {
        let now_ms = 1_700_000_000_000;
        assert!(is_fresh(None, Some(now_ms / 1_000 + 61), now_ms));
        assert!(!is_fresh(None, Some(now_ms / 1_000 + 60), now_ms));
        assert!(is_fresh(None, None, now_ms));
    }

    /// A session of `grant_id` whose userinfo token is due and that has no refresh token.
    fn due_session_without_refresh_token(grant_id: &str) -> SessionData {
        serde_json::from_value(serde_json::json!({
            "profile": {"sub": "u"},
            "tokens": {"id_token": "i", "access_token": "a", "access_token_expires_at": 0,
                       "refresh_token": null, "scope": null},
            "grant_id": grant_id, "csrf_token": "c", "signed_in_at": 0, "last_seen_at": 0
        }))
        .unwrap()
    }

    fn client() -> Arc<LogtoClient> {
        let url = |address: &str| url::Url::parse(address).unwrap();
        let config = crate::LogtoConfig::new(
            url("http://127.0.0.1:9/"),
            "app".to_owned(),
            "secret".to_owned().into(),
            url("http://127.0.0.1:8000/callback"),
            url("http://127.0.0.1:8000/"),
        );
        Arc::new(LogtoClient::new(config).unwrap())
    }

    #[tokio::test]
    async fn a_session_without_a_refresh_token_ends_and_leaves_no_lock_behind() {
        let records = crate::session::MemoryRecords::default();
        let tokens = AccessTokens::new(client(), records.clone());
        let mut session = due_session_without_refresh_token("grant-1");

        let outcome = tokens
            .access_token(
                &mut session,
                &TokenTarget::UserInfo,
                &super::super::Unbounded,
            )
            .await;

        assert!(matches!(outcome.token, Err(SessionError::Ended)));
        assert_eq!(outcome.write, SessionWrite::End);
        assert!(
            records.is_ended(&session).await.unwrap(),
            "a copy of it is refused"
        );
        assert_eq!(tokens.local_lock_count(), 0, "the grant's mutex is dropped");
    }

    #[test]
    fn checking_a_session_is_a_small_future_whose_rare_refresh_is_boxed() {
        // Every signed-in page moves this future into a box; the refresh it may start (an HTTP
        // request to Logto, locks, hand-offs) is tens of kilobytes of state, so it lives in a
        // box of its own, allocated only when a token is due.
        let guard = crate::session::SessionGuard::new(
            client(),
            crate::session::MemoryRecords::default(),
            crate::session::SessionLifetimes::default(),
        )
        .recheck_when_due(true);
        let session = due_session_without_refresh_token("grant-1");
        let check = guard.check(session, &super::super::Unbounded);
        let bytes = std::mem::size_of_val(&check);
        assert!(bytes <= 1_024, "the check's future is {bytes} bytes");
    }

    #[test]
    fn targets_have_their_own_keys_and_userinfo_none() {
        assert_eq!(target_key(&TokenTarget::UserInfo), None);
        assert_eq!(
            target_key(&TokenTarget::Resource("https://api".to_owned())).as_deref(),
            Some("resource:https://api")
        );
        assert_eq!(
            target_key(&TokenTarget::Organization("o1".to_owned())).as_deref(),
            Some("organization:o1")
        );
    }
}
