//! Which sessions belong to which Logto session, so that back-channel logout can end them.
//!
//! With the Redis store, every saved session is indexed under its Logto `sid` and the user's
//! `sub` (Redis sets with the session TTL); a logout token deletes the sessions at once. With
//! the cookie store there is nothing server-side to delete, so the ended `sid`s and `sub`s are
//! remembered here until the sessions they name would have expired, and such a session counts
//! as signed out the next time it is read.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::SignedInUser;
use crate::error::AppError;
use crate::shared_redis::SharedRedis;

/// How long an index entry or a revocation is kept: the session lifetime.
pub(crate) const SESSION_LIFETIME: Duration = Duration::from_secs(14 * 24 * 60 * 60);

/// Ends sessions by Logto session id or user.
pub struct SessionDirectory {
    redis: Option<SharedRedis>,
    revoked: Mutex<Revocations>,
}

#[derive(Default)]
struct Revocations {
    sids: HashMap<String, Instant>,
    /// Sessions of these users that signed in before this Unix time are ended.
    subs: HashMap<String, (i64, Instant)>,
}

impl SessionDirectory {
    /// Sessions are indexed in `redis` when they live there.
    pub fn new(redis: Option<SharedRedis>) -> Self {
        Self {
            redis,
            revoked: Mutex::default(),
        }
    }

    /// Ends every session of the Logto session `sid`, or of the user `sub` when no `sid` is
    /// given. Returns how many server-side sessions were deleted.
    pub async fn end(
        &self,
        sid: Option<&str>,
        sub: Option<&str>,
        now: i64,
    ) -> Result<usize, AppError> {
        let index_key = match (sid, sub) {
            (Some(sid), _) => sid_key(sid),
            (None, Some(sub)) => sub_key(sub),
            (None, None) => return Ok(0),
        };
        let Some(redis) = &self.redis else {
            let mut revoked = self.revoked.lock().unwrap_or_else(|p| p.into_inner());
            revoked.sids.retain(|_, at| at.elapsed() < SESSION_LIFETIME);
            revoked
                .subs
                .retain(|_, (_, at)| at.elapsed() < SESSION_LIFETIME);
            match (sid, sub) {
                (Some(sid), _) => revoked
                    .sids
                    .insert(sid.to_owned(), Instant::now())
                    .map(drop),
                (None, Some(sub)) => revoked
                    .subs
                    .insert(sub.to_owned(), (now, Instant::now()))
                    .map(drop),
                (None, None) => None,
            };
            return Ok(0);
        };
        let sessions: Vec<String> = redis
            .query(redis::cmd("SMEMBERS").arg(&index_key))
            .await
            .map_err(store_unavailable)?;
        let mut delete = redis::cmd("DEL");
        delete.arg(&index_key);
        for session in &sessions {
            delete.arg(session);
        }
        redis
            .query::<i64>(&delete)
            .await
            .map_err(store_unavailable)?;
        Ok(sessions.len())
    }

    /// Remembers that `user` signed out here (cookie store): a copy of the old cookie, which
    /// is self-contained, must not sign anyone in again. The session's Logto `sid` identifies
    /// it; without one there is nothing narrower than the user to go by, so nothing is kept.
    /// With Redis the deleted key already settles it.
    pub fn remember_sign_out(&self, user: &SignedInUser) {
        if self.redis.is_some() {
            return;
        }
        let Some(sid) = &user.profile.sid else { return };
        let mut revoked = self.revoked.lock().unwrap_or_else(|p| p.into_inner());
        revoked.sids.retain(|_, at| at.elapsed() < SESSION_LIFETIME);
        revoked.sids.insert(sid.clone(), Instant::now());
    }

    /// Whether `user`'s session was ended by back-channel logout or a sign-out (cookie store).
    pub fn is_ended(&self, user: &SignedInUser) -> bool {
        if self.redis.is_some() {
            return false;
        }
        let revoked = self.revoked.lock().unwrap_or_else(|p| p.into_inner());
        let by_sid = user
            .profile
            .sid
            .as_ref()
            .is_some_and(|sid| revoked.sids.contains_key(sid));
        let by_sub = revoked
            .subs
            .get(&user.profile.sub)
            .is_some_and(|(ended_at, _)| user.signed_in_at <= *ended_at);
        by_sid || by_sub
    }
}

/// The index sets that a session of the stored user `user_json` belongs to: its Logto `sid`
/// (when the ID token had one) and its `sub`. Empty for unreadable data.
pub(crate) fn index_keys_of(user_json: &str) -> Vec<String> {
    #[derive(Deserialize)]
    struct Stored {
        profile: StoredProfile,
    }
    #[derive(Deserialize)]
    struct StoredProfile {
        sub: String,
        sid: Option<String>,
    }
    let Ok(stored) = serde_json::from_str::<Stored>(user_json) else {
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

/// Indexes a just-saved Redis session under its `sid` and `sub`.
pub(crate) async fn index_session(
    redis: &SharedRedis,
    redis_key: &str,
    user_json: &str,
) -> Result<(), String> {
    let index_keys = index_keys_of(user_json);
    if index_keys.is_empty() {
        return Err("the stored user cannot be read".to_owned());
    }
    let ttl = SESSION_LIFETIME.as_secs();
    let mut pipeline = redis::pipe();
    for index_key in index_keys {
        pipeline
            .cmd("SADD")
            .arg(&index_key)
            .arg(redis_key)
            .ignore()
            .cmd("EXPIRE")
            .arg(&index_key)
            .arg(ttl)
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

fn store_unavailable(error: impl std::fmt::Display) -> AppError {
    log::error!("Redis failed during back-channel logout: {error}");
    AppError::SessionStoreUnavailable
}
