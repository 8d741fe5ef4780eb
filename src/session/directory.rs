//! Which sessions have ended, so that no copy of them signs anyone in again.
//!
//! With the Redis store, every saved session is indexed under its Logto `sid` and the user's
//! `sub` (Redis sets that live as long as a session may); a logout token deletes the sessions
//! at once, and a sign-out deletes its own key. With the cookie store there is nothing
//! server-side to delete, so this process remembers what ended (a sign-out by its grant id, a
//! back-channel logout by `sid`, or by `sub` and time), until the sessions it names would have
//! expired anyway, and such a session counts as signed out the next time it is read.
//!
//! Logout-token `jti`s are remembered here too, in Redis or in memory, until the token expires.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::SignedInUser;
use crate::error::AppError;
use crate::shared_redis::SharedRedis;

/// Ends sessions by sign-out, Logto session id or user, and refuses replayed logout tokens.
pub struct SessionDirectory {
    redis: Option<SharedRedis>,
    /// The longest a session lives (`SESSION_TTL`): what must outlive a session lives as long.
    session_ttl: Duration,
    ended: Mutex<Ended>,
}

/// What ended, in this process (cookie store), each until the given instant.
#[derive(Default)]
struct Ended {
    /// Grants signed out here, by [`SignedInUser::grant_id`].
    grants: ExpiringMap<()>,
    /// Logto sessions ended by back-channel logout.
    sids: ExpiringMap<()>,
    /// Sessions of these users that signed in at or before this Unix time are ended.
    subs: ExpiringMap<i64>,
    /// Logout tokens already used (cookie store; Redis keeps its own).
    jtis: ExpiringMap<()>,
}

impl SessionDirectory {
    /// Sessions are indexed in `redis` when they live there; `session_ttl` is `SESSION_TTL`.
    pub fn new(redis: Option<SharedRedis>, session_ttl: Duration) -> Self {
        Self {
            redis,
            session_ttl,
            ended: Mutex::default(),
        }
    }

    /// How long a session may live, and so how long its index entries are kept.
    pub fn session_ttl(&self) -> Duration {
        self.session_ttl
    }

    /// Ends every session of the Logto session `sid`, or, when no `sid` is given, every session
    /// of the user `sub` that signed in at or before `issued_at` (the logout token's `iat`), so
    /// that a sign-in after the logout survives it. Returns how many stored sessions were
    /// deleted (always 0 with the cookie store, which has none).
    pub async fn end(
        &self,
        sid: Option<&str>,
        sub: Option<&str>,
        issued_at: i64,
    ) -> Result<usize, AppError> {
        let Some(redis) = &self.redis else {
            let expires = Instant::now() + self.session_ttl;
            let mut ended = self.lock();
            match (sid, sub) {
                (Some(sid), _) => ended.sids.insert(sid, (), expires),
                // Tokens may arrive out of order: the latest logout wins.
                (None, Some(sub)) => {
                    let latest = ended
                        .subs
                        .get(sub)
                        .map_or(issued_at, |at| issued_at.max(*at));
                    ended.subs.insert(sub, latest, expires);
                }
                (None, None) => {}
            }
            return Ok(0);
        };
        let (index_key, signed_in_by) = match (sid, sub) {
            (Some(sid), _) => (sid_key(sid), None),
            (None, Some(sub)) => (sub_key(sub), Some(issued_at)),
            (None, None) => return Ok(0),
        };
        let sessions: Vec<String> = redis
            .query(redis::cmd("SMEMBERS").arg(&index_key))
            .await
            .map_err(store_unavailable)?;
        let ending = match signed_in_by {
            None => sessions,
            Some(issued_at) => signed_in_by_then(redis, sessions, issued_at).await?,
        };
        let mut pipeline = redis::pipe();
        for session in &ending {
            pipeline.cmd("DEL").arg(session).ignore();
            pipeline.cmd("SREM").arg(&index_key).arg(session).ignore();
        }
        redis
            .query_pipeline::<()>(&pipeline)
            .await
            .map_err(store_unavailable)?;
        Ok(ending.len())
    }

    /// Remembers that `user` signed out here (cookie store): a copy of the old cookie, which
    /// is self-contained, must not sign anyone in again. Its grant id is random per sign-in,
    /// so this ends that session and no other. With Redis the deleted key already settles it.
    pub fn remember_sign_out(&self, user: &SignedInUser) {
        if self.redis.is_some() {
            return;
        }
        let expires = Instant::now() + self.session_ttl;
        self.lock().grants.insert(&user.grant_id, (), expires);
    }

    /// Whether the sign-in `grant_id` was signed out in this process (cookie store).
    pub fn is_grant_ended(&self, grant_id: &str) -> bool {
        self.redis.is_none() && self.lock().grants.contains(grant_id)
    }

    /// Whether `user`'s session was ended by a sign-out or back-channel logout (cookie store).
    pub fn is_ended(&self, user: &SignedInUser) -> bool {
        if self.redis.is_some() {
            return false;
        }
        let ended = self.lock();
        let by_grant = ended.grants.contains(&user.grant_id);
        let by_sid = user
            .profile
            .sid
            .as_ref()
            .is_some_and(|sid| ended.sids.contains(sid));
        let by_sub = ended
            .subs
            .get(&user.profile.sub)
            .is_some_and(|ended_at| user.signed_in_at <= *ended_at);
        by_grant || by_sid || by_sub
    }

    /// Records the logout token `jti` as used until `expires_at` (Unix seconds, its `exp` plus
    /// the clock leeway). `false` when it was used before: a replay.
    pub async fn first_use_of_logout_token(
        &self,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, AppError> {
        // A verified token expires within minutes; the cap only keeps the arithmetic sane.
        let remaining = Duration::from_secs(
            u64::try_from(expires_at.saturating_sub(now))
                .unwrap_or(0)
                .max(1),
        )
        .min(self.session_ttl);
        let Some(redis) = &self.redis else {
            let mut ended = self.lock();
            if ended.jtis.contains(jti) {
                return Ok(false);
            }
            ended.jtis.insert(jti, (), Instant::now() + remaining);
            return Ok(true);
        };
        let stored: Option<String> = redis
            .query(
                redis::cmd("SET")
                    .arg(jti_key(jti))
                    .arg(1)
                    .arg("NX")
                    .arg("EX")
                    .arg(remaining.as_secs()),
            )
            .await
            .map_err(store_unavailable)?;
        Ok(stored.is_some())
    }

    /// Forgets a logout token recorded by
    /// [`first_use_of_logout_token`](Self::first_use_of_logout_token), when ending its
    /// sessions failed: Logto may then send it again. Best effort.
    pub async fn forget_logout_token(&self, jti: &str) {
        let Some(redis) = &self.redis else {
            self.lock().jtis.remove(jti);
            return;
        };
        if let Err(error) = redis
            .query::<i64>(redis::cmd("DEL").arg(jti_key(jti)))
            .await
        {
            log::warn!("could not forget a logout token (it expires by itself): {error}");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ended> {
        // A poisoned lock only means a panic elsewhere; every map is whole after each call.
        self.ended.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The sessions among `sessions` (Redis keys) whose user signed in at or before `issued_at`.
/// A session that is gone or unreadable is included, so that its index entry goes too.
async fn signed_in_by_then(
    redis: &SharedRedis,
    sessions: Vec<String>,
    issued_at: i64,
) -> Result<Vec<String>, AppError> {
    if sessions.is_empty() {
        return Ok(sessions);
    }
    let mut get = redis::cmd("MGET");
    for session in &sessions {
        get.arg(session);
    }
    let states: Vec<Option<String>> = redis.query(&get).await.map_err(store_unavailable)?;
    Ok(sessions
        .into_iter()
        .zip(states)
        .filter(|(_, state)| {
            state
                .as_deref()
                .and_then(stored_user_of_state)
                .is_none_or(|user| user.signed_in_at <= issued_at)
        })
        .map(|(session, _)| session)
        .collect())
}

/// Entries that expire, swept as the map grows so that it never holds much more than its
/// live entries.
struct ExpiringMap<V> {
    entries: HashMap<String, (V, Instant)>,
    /// Sweep again once the map has grown to this size.
    sweep_at: usize,
}

impl<V> Default for ExpiringMap<V> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            sweep_at: 64,
        }
    }
}

impl<V> ExpiringMap<V> {
    fn insert(&mut self, key: &str, value: V, expires: Instant) {
        if self.entries.len() >= self.sweep_at {
            let now = Instant::now();
            self.entries.retain(|_, (_, expires)| *expires > now);
            self.sweep_at = (self.entries.len() * 2).max(64);
        }
        self.entries.insert(key.to_owned(), (value, expires));
    }

    fn get(&self, key: &str) -> Option<&V> {
        self.entries
            .get(key)
            .filter(|(_, expires)| *expires > Instant::now())
            .map(|(value, _)| value)
    }

    fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    fn remove(&mut self, key: &str) {
        self.entries.remove(key);
    }
}

/// What a stored session says about its user, read without the rest of the session.
#[derive(Deserialize)]
pub(crate) struct StoredUser {
    profile: StoredProfile,
    #[serde(default)]
    pub(crate) signed_in_at: i64,
    #[serde(default)]
    pub(crate) revision: u64,
}

#[derive(Deserialize)]
struct StoredProfile {
    sub: String,
    sid: Option<String>,
}

impl StoredUser {
    /// Reads the user entry of a session (its JSON, as actix-session stores it).
    pub(crate) fn from_json(user_json: &str) -> Option<Self> {
        serde_json::from_str(user_json).ok()
    }
}

/// The user of a whole stored session state (a map from entry names to their JSON).
fn stored_user_of_state(state_json: &str) -> Option<StoredUser> {
    let mut state: HashMap<String, String> = serde_json::from_str(state_json).ok()?;
    StoredUser::from_json(&state.remove(super::USER)?)
}

/// The index sets that a session of the stored user `user_json` belongs to: its Logto `sid`
/// (when the ID token had one) and its `sub`. Empty for unreadable data.
pub(crate) fn index_keys_of(user_json: &str) -> Vec<String> {
    let Some(stored) = StoredUser::from_json(user_json) else {
        return Vec::new();
    };
    stored
        .profile
        .sid
        .as_deref()
        .map(sid_key)
        .into_iter()
        .chain([sub_key(&stored.profile.sub)])
        .collect()
}

/// Indexes a just-saved Redis session under its `sid` and `sub` for `ttl`.
pub(crate) async fn index_session(
    redis: &SharedRedis,
    redis_key: &str,
    user_json: &str,
    ttl: Duration,
) -> Result<(), String> {
    let index_keys = index_keys_of(user_json);
    if index_keys.is_empty() {
        return Err("the stored user cannot be read".to_owned());
    }
    let mut pipeline = redis::pipe();
    for index_key in index_keys {
        pipeline
            .cmd("SADD")
            .arg(&index_key)
            .arg(redis_key)
            .ignore()
            .cmd("EXPIRE")
            .arg(&index_key)
            .arg(ttl.as_secs())
            .ignore();
    }
    redis
        .query_pipeline::<()>(&pipeline)
        .await
        .map_err(|e| e.to_string())
}

fn sid_key(sid: &str) -> String {
    format!("bookstore:sessions-by-sid:{sid}")
}

fn sub_key(sub: &str) -> String {
    format!("bookstore:sessions-by-sub:{sub}")
}

fn jti_key(jti: &str) -> String {
    format!("bookstore:logout-jti:{jti}")
}

fn store_unavailable(error: impl std::fmt::Display) -> AppError {
    log::debug!("Redis failed during back-channel logout: {error}");
    AppError::SessionStoreUnavailable
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_entries_count_as_absent_and_are_swept_as_the_map_grows() {
        let mut map = ExpiringMap::default();
        let past = Instant::now() - Duration::from_secs(1);
        let future = Instant::now() + Duration::from_secs(60);
        for index in 0..100 {
            map.insert(&format!("old-{index}"), (), past);
        }
        map.insert("live", (), future);
        assert!(!map.contains("old-1"));
        assert!(map.contains("live"));
        assert!(
            map.entries.len() < 100,
            "expired entries were swept: {}",
            map.entries.len()
        );
    }
}
