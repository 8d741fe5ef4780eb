//! Access tokens for the signed-in user, refreshed at most once at a time per grant.
//!
//! Logto may rotate the refresh token at any refresh (a Traditional web app's from about day 10
//! of its 14, a public client's every time) and revokes the whole grant when a rotated-away one
//! is used again, so two requests of one session must never both refresh. A refresh runs under a lock per grant:
//! a mutex in this process and, with Redis, a short Redis lock that every instance shares.
//! Whoever holds the lock first adopts what an earlier holder stored in the hand-off record,
//! and refreshes only if the token is still stale.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::logto::{
    LogtoClient, LogtoError, Refreshed, TokenSet, TokenTarget, UserProfile, unix_now_ms,
};
use crate::session::{CachedToken, SessionDirectory, SignedInUser, UserSession};
use crate::shared_redis::SharedRedis;
use secrecy::ExposeSecret;

/// A token this close to expiry is refreshed first (a quarter of its lifetime when shorter).
const EXPIRY_MARGIN_SECS: i64 = 60;
/// Requests to Logto a refresh may make, each bounded by the HTTP timeout: discovery, the
/// JWKS, the token request, and the JWKS again for an ID token under a new key.
const REQUESTS_PER_REFRESH: u32 = 4;
/// How long a request waits for another instance's refresh.
const LOCK_WAIT: Duration = Duration::from_secs(15);
/// How long a finished refresh stays available to requests that waited for it, or that were
/// already on their way with the old cookie: about as long as one waits for the lock.
const HANDOFF_TTL: Duration = Duration::from_secs(30);

/// What a refresh changes, shared between the requests of one grant.
#[derive(Clone, Serialize, Deserialize)]
struct TokenState {
    tokens: TokenSet,
    extra_tokens: std::collections::BTreeMap<String, CachedToken>,
    revision: u64,
}

/// Hands out access tokens, refreshing them single-flight. Register one per app.
pub struct TokenService {
    logto: Arc<LogtoClient>,
    redis: Option<SharedRedis>,
    directory: Arc<SessionDirectory>,
    /// How long a Redis refresh lock lives if its holder dies: longer than any refresh takes,
    /// so that no other instance refreshes the same token while one is still running.
    lock_ttl: Duration,
    local_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    local_handoff: Mutex<HashMap<String, (TokenState, Instant)>>,
}

impl TokenService {
    /// Locks and hand-off records live in `redis` when given (shared by every instance),
    /// otherwise in this process. `directory` says which sessions have ended: their refreshes
    /// are never handed on.
    pub fn new(
        logto: Arc<LogtoClient>,
        redis: Option<SharedRedis>,
        directory: Arc<SessionDirectory>,
    ) -> Self {
        let lock_ttl = logto.http_timeout() * REQUESTS_PER_REFRESH + Duration::from_secs(5);
        Self {
            logto,
            redis,
            directory,
            lock_ttl,
            local_locks: Mutex::default(),
            local_handoff: Mutex::default(),
        }
    }

    /// A valid access token for `target`, refreshed first when it expires within a minute.
    /// A refresh that Logto refuses (`invalid_grant`) ends the session.
    pub async fn access_token(
        &self,
        session: &UserSession,
        user: &mut SignedInUser,
        target: &TokenTarget,
    ) -> Result<String, AppError> {
        if let Some(token) = fresh_token(user, target) {
            return Ok(token);
        }
        let local_lock = self.local_lock(&user.grant_id);
        let _local = local_lock.lock().await;
        let distributed = self.acquire_redis_lock(&user.grant_id).await?;
        let result = self.refresh_if_stale(session, user, target).await;
        if let Some(lock) = distributed {
            self.release_redis_lock(lock).await;
        }
        self.forget_idle_lock(&user.grant_id, local_lock.clone());
        result
    }

    /// A valid organization token (audience `urn:logto:organization:<id>`), from the refresh
    /// grant with `organization_id`. Logto answers `access_denied` when the user is not a member
    /// and `insufficient_scope` without `urn:logto:scope:organizations`; neither ends the session.
    pub async fn organization_token(
        &self,
        session: &UserSession,
        user: &mut SignedInUser,
        organization_id: &str,
    ) -> Result<String, AppError> {
        let target = TokenTarget::Organization(organization_id.to_owned());
        self.access_token(session, user, &target).await
    }

    /// Takes the tokens of a refresh that another request of this session finished meanwhile,
    /// if any: a session about to be written must not bring back a spent refresh token.
    /// Returns whether `user` changed.
    pub async fn adopt_handed_on(&self, user: &mut SignedInUser) -> Result<bool, AppError> {
        match self.handoff(&user.grant_id).await? {
            Some(latest) if latest.revision > user.revision => {
                user.tokens = latest.tokens;
                user.extra_tokens = latest.extra_tokens;
                user.revision = latest.revision;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Forgets what a refresh of `grant_id` handed on: called when its session ends, so that
    /// nothing of it can be adopted after the sign-out.
    pub async fn forget(&self, grant_id: &str) {
        match &self.redis {
            Some(redis) => {
                if let Err(error) = redis
                    .query::<i64>(redis::cmd("DEL").arg(handoff_key(grant_id)))
                    .await
                {
                    log::warn!("could not delete a token hand-off (it expires by itself): {error}");
                }
            }
            None => {
                self.local_handoff
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(grant_id);
            }
        }
    }

    async fn refresh_if_stale(
        &self,
        session: &UserSession,
        user: &mut SignedInUser,
        target: &TokenTarget,
    ) -> Result<String, AppError> {
        if self.directory.is_ended(user) {
            session.sign_out();
            return Err(AppError::SessionEnded);
        }
        let keep = target_key(target);
        self.adopt_handed_on(user).await?;
        if let Some(token) = fresh_token(user, target) {
            session.store_refreshed(user, keep.as_deref())?;
            return Ok(token);
        }

        let Some(refresh_token) = user.tokens.refresh_token.clone() else {
            session.sign_out();
            return Err(AppError::SessionEnded);
        };
        ensure_room_for_refresh(session, user, target)?;
        let refreshed = match self
            .logto
            .refresh(&refresh_token, target, &user.profile.sub)
            .await
        {
            Ok(refreshed) => refreshed,
            Err(error) if error.is_invalid_grant() => {
                log::warn!("refresh refused for user {}; signing out", user.profile.sub);
                session.sign_out();
                self.forget(&user.grant_id).await;
                return Err(AppError::SessionEnded);
            }
            Err(LogtoError::RefreshedIdTokenRejected {
                rotated_refresh_token,
                reason,
            }) => {
                // The request fails, but the rotated refresh token must not be lost with it.
                user.tokens.refresh_token = Some(rotated_refresh_token.expose_secret().to_owned());
                user.revision += 1;
                self.store_handoff(&user.grant_id, user).await?;
                session.store_refreshed(user, keep.as_deref())?;
                return Err(AppError::Logto(*reason));
            }
            Err(error) => return Err(error.into()),
        };
        let token = refreshed.access_token.clone();
        apply_refresh(user, target, refreshed);
        self.store_handoff(&user.grant_id, user).await?;
        if let Err(error) = session.store_refreshed(user, keep.as_deref()) {
            // Even without cached tokens the session no longer fits its cookie. Keeping the old
            // one would reuse a spent refresh token, which revokes the grant at Logto anyway:
            // end it cleanly instead.
            self.end_unstorable_session(session, user).await;
            return Err(error);
        }
        Ok(token)
    }

    async fn end_unstorable_session(&self, session: &UserSession, user: &SignedInUser) {
        if let Some(refresh_token) = &user.tokens.refresh_token
            && let Err(error) = self.logto.revoke_refresh_token(refresh_token).await
        {
            log::warn!(
                "could not revoke the refresh token of user {}: {}",
                user.profile.sub,
                crate::logto::error_chain(&error)
            );
        }
        session.sign_out();
        self.forget(&user.grant_id).await;
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

    async fn acquire_redis_lock(&self, grant_id: &str) -> Result<Option<RedisLock>, AppError> {
        let Some(redis) = &self.redis else {
            return Ok(None);
        };
        let lock = RedisLock {
            key: format!("bookstore:refresh-lock:{grant_id}"),
            owner: oauth2::CsrfToken::new_random().into_secret(),
        };
        let started = Instant::now();
        loop {
            let acquired: Option<String> = redis
                .query(
                    redis::cmd("SET")
                        .arg(&lock.key)
                        .arg(&lock.owner)
                        .arg("NX")
                        .arg("PX")
                        .arg(u64::try_from(self.lock_ttl.as_millis()).unwrap_or(u64::MAX)),
                )
                .await
                .map_err(store_unavailable)?;
            if acquired.is_some() {
                return Ok(Some(lock));
            }
            if started.elapsed() > LOCK_WAIT {
                log::error!("gave up waiting for the refresh lock of grant {grant_id}");
                return Err(AppError::SessionStoreUnavailable);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn release_redis_lock(&self, lock: RedisLock) {
        let Some(redis) = &self.redis else { return };
        // Delete only our own lock: it may have expired and been taken by another instance.
        const RELEASE: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";
        let released = redis
            .query::<i64>(
                redis::cmd("EVAL")
                    .arg(RELEASE)
                    .arg(1)
                    .arg(&lock.key)
                    .arg(&lock.owner),
            )
            .await;
        if let Err(error) = released {
            log::warn!(
                "could not release {} (it expires by itself): {error}",
                lock.key
            );
        }
    }

    async fn handoff(&self, grant_id: &str) -> Result<Option<TokenState>, AppError> {
        match &self.redis {
            Some(redis) => {
                let json: Option<String> = redis
                    .query(redis::cmd("GET").arg(handoff_key(grant_id)))
                    .await
                    .map_err(store_unavailable)?;
                Ok(json.and_then(|json| serde_json::from_str(&json).ok()))
            }
            None => {
                let mut records = self.local_handoff.lock().unwrap_or_else(|p| p.into_inner());
                records.retain(|_, (_, stored_at)| stored_at.elapsed() < HANDOFF_TTL);
                Ok(records.get(grant_id).map(|(state, _)| state.clone()))
            }
        }
    }

    async fn store_handoff(&self, grant_id: &str, user: &SignedInUser) -> Result<(), AppError> {
        let state = TokenState {
            tokens: user.tokens.clone(),
            extra_tokens: user.extra_tokens.clone(),
            revision: user.revision,
        };
        match &self.redis {
            Some(redis) => {
                let json = serde_json::to_string(&state)
                    .map_err(|error| AppError::SessionWrite(error.to_string()))?;
                redis
                    .query::<()>(
                        redis::cmd("SET")
                            .arg(handoff_key(grant_id))
                            .arg(json)
                            .arg("EX")
                            .arg(HANDOFF_TTL.as_secs()),
                    )
                    .await
                    .map_err(store_unavailable)
            }
            None => {
                let mut records = self.local_handoff.lock().unwrap_or_else(|p| p.into_inner());
                records.insert(grant_id.to_owned(), (state, Instant::now()));
                Ok(())
            }
        }
    }
}

struct RedisLock {
    key: String,
    owner: String,
}

fn handoff_key(grant_id: &str) -> String {
    format!("bookstore:grant-tokens:{grant_id}")
}

fn store_unavailable(error: impl std::fmt::Display) -> AppError {
    log::debug!("Redis failed during a token refresh: {error}");
    AppError::SessionStoreUnavailable
}

/// The key of `target` in [`SignedInUser::extra_tokens`]; `None` for the userinfo token.
pub fn target_key(target: &TokenTarget) -> Option<String> {
    match target {
        TokenTarget::UserInfo => None,
        TokenTarget::Resource(resource) => Some(format!("resource:{resource}")),
        TokenTarget::Organization(id) => Some(format!("organization:{id}")),
    }
}

/// Whether `user`'s access token for `target` is missing or expires within a minute.
pub fn is_due(user: &SignedInUser, target: &TokenTarget) -> bool {
    fresh_token(user, target).is_none()
}

/// What a new JWT access token from Logto is assumed to take when none is cached to go by:
/// a few hundred bytes of ES384 JWT, with room for scopes.
const TYPICAL_ACCESS_TOKEN_BYTES: usize = 1024;

/// Makes sure the session cookie can hold the token a refresh for `target` brings, before
/// Logto is asked: what Logto rotates must be stored afterwards. Cached tokens for other
/// targets are dropped first, soonest to expire first (they can be fetched again). If a new
/// token still would not fit, nothing is asked of Logto and the refresh token stays unspent.
/// A token that replaces one already held (the userinfo token, a stale cached one) takes the
/// room of the old one.
fn ensure_room_for_refresh(
    session: &UserSession,
    user: &mut SignedInUser,
    target: &TokenTarget,
) -> Result<(), AppError> {
    let Some(keep) = target_key(target) else {
        return Ok(());
    };
    if user.extra_tokens.contains_key(&keep) {
        return Ok(());
    }
    let expected = user
        .extra_tokens
        .values()
        .map(|cached| cached.token.len())
        .max()
        .unwrap_or(TYPICAL_ACCESS_TOKEN_BYTES);
    while !session.has_room_for_token(user, expected) {
        let Some(evicted) = user.soonest_expiring_token(Some(&keep)) else {
            return Err(session.too_large_for(user, expected));
        };
        log::info!("dropping a cached access token to make room for a refresh");
        user.extra_tokens.remove(&evicted);
    }
    Ok(())
}

fn fresh_token(user: &SignedInUser, target: &TokenTarget) -> Option<String> {
    let now_ms = unix_now_ms();
    match target_key(target) {
        None => is_fresh(
            user.tokens.access_token_issued_at_ms,
            user.tokens.access_token_expires_at,
            now_ms,
        )
        .then(|| user.tokens.access_token.clone()),
        Some(key) => user
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

fn apply_refresh(user: &mut SignedInUser, target: &TokenTarget, refreshed: Refreshed) {
    match target_key(target) {
        None => {
            user.tokens.access_token = refreshed.access_token;
            user.tokens.access_token_expires_at = refreshed.expires_at;
            user.tokens.access_token_issued_at_ms = Some(refreshed.issued_at_ms);
        }
        Some(key) => {
            user.extra_tokens.insert(
                key,
                CachedToken {
                    token: refreshed.access_token,
                    expires_at: refreshed.expires_at,
                    issued_at_ms: Some(refreshed.issued_at_ms),
                },
            );
        }
    }
    user.tokens.refresh_token = Some(refreshed.refresh_token);
    if let Some(id_token) = refreshed.id_token {
        user.tokens.id_token = id_token;
    }
    if let Some(claims) = refreshed.claims {
        let sid = user.profile.sid.take();
        user.profile = UserProfile::from(&claims);
        user.profile.sid = user.profile.sid.take().or(sid);
    }
    user.revision += 1;
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
}
