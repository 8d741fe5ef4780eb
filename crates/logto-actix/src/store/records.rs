//! The session protocol's records in Redis ([`RedisRecords`]), shared by every instance.
//!
//! With the Redis store, every saved session is indexed under its Logto `sid` and the user's
//! `sub` (Redis sets that live as long as a session may); a logout token deletes the sessions
//! at once, and a sign-out deletes its own key. Refresh locks, token hand-offs and
//! logout-token `jti`s live in Redis too, until they expire.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use logto_client::session::{
    EndedSessions, GrantLock, LogoutTarget, LogoutTokenLedger, SessionData, StoreError,
    TokenHandOff, TokenState,
};

use super::{SharedRedis, USER_KEY};

/// The protocol's records in Redis, on the process's shared connection.
#[derive(Clone)]
pub struct RedisRecords {
    redis: SharedRedis,
    keys: KeyScheme,
}

/// The names of every Redis key, under one prefix (`logto:` by default).
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyScheme {
    prefix: &'static str,
}

/// A refresh lock held in Redis: its key, and the random value that says it is ours.
pub struct RedisLock {
    key: String,
    owner: String,
}

impl RedisRecords {
    /// The records on `redis`, every key starting with `prefix`.
    pub fn new(redis: SharedRedis, prefix: &'static str) -> Self {
        Self {
            redis,
            keys: KeyScheme { prefix },
        }
    }

    /// Deletes `key`, which holds `what`; a failure is only logged, since the key expires by
    /// itself.
    async fn delete_or_let_expire(&self, key: String, what: &str) {
        if let Err(error) = self.redis.query::<i64>(redis::cmd("DEL").arg(key)).await {
            log::warn!("could not delete {what} (it expires by itself): {error}");
        }
    }
}

/// A refresh of one grant at a time across instances: `SET NX PX`, polled.
impl GrantLock for RedisRecords {
    type Guard = RedisLock;

    async fn acquire(
        &self,
        grant_id: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Option<RedisLock>, StoreError> {
        let lock = RedisLock {
            key: self.keys.refresh_lock(grant_id),
            owner: logto_client::session::random_token(),
        };
        let started = Instant::now();
        loop {
            let acquired: Option<String> = self
                .redis
                .query(
                    redis::cmd("SET")
                        .arg(&lock.key)
                        .arg(&lock.owner)
                        .arg("NX")
                        .arg("PX")
                        .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)),
                )
                .await
                .map_err(refresh_failed)?;
            if acquired.is_some() {
                return Ok(Some(lock));
            }
            if started.elapsed() > wait {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn release(&self, lock: RedisLock) {
        // Delete only our own lock: it may have expired and been taken by another instance.
        const RELEASE: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";
        let released = self
            .redis
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
}

/// The latest refresh of a grant, at `<prefix>grant-tokens:<grant>`.
impl TokenHandOff for RedisRecords {
    async fn latest(&self, grant_id: &str) -> Result<Option<TokenState>, StoreError> {
        let json: Option<String> = self
            .redis
            .query(redis::cmd("GET").arg(self.keys.handoff_key(grant_id)))
            .await
            .map_err(refresh_failed)?;
        Ok(json.and_then(|json| serde_json::from_str(&json).ok()))
    }

    async fn hand_on(
        &self,
        grant_id: &str,
        state: &TokenState,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(state).map_err(StoreError::new)?;
        self.redis
            .query::<()>(
                redis::cmd("SET")
                    .arg(self.keys.handoff_key(grant_id))
                    .arg(json)
                    .arg("EX")
                    .arg(ttl.as_secs()),
            )
            .await
            .map_err(refresh_failed)
    }

    async fn forget(&self, grant_id: &str) {
        self.delete_or_let_expire(self.keys.handoff_key(grant_id), "a token hand-off")
            .await;
    }
}

/// A sign-out deletes the session's key, which settles it: nothing ends here but by
/// back-channel logout, which deletes the sessions it names.
impl EndedSessions for RedisRecords {
    async fn is_ended(&self, _session: &SessionData) -> Result<bool, StoreError> {
        Ok(false)
    }

    async fn record_sign_out(&self, _session: &SessionData) -> Result<(), StoreError> {
        Ok(())
    }

    /// Deletes every session of the Logto session `sid`, or every session of the user `sub`
    /// that signed in at or before the logout token's `iat`, so that a sign-in after the
    /// logout survives it.
    async fn end(&self, target: &LogoutTarget<'_>) -> Result<usize, StoreError> {
        let (index_key, signed_in_by) = match *target {
            LogoutTarget::LogtoSession { sid } => (self.keys.sid_key(sid), None),
            LogoutTarget::User { sub, issued_at } => (self.keys.sub_key(sub), Some(issued_at)),
        };
        let sessions: Vec<String> = self
            .redis
            .query(redis::cmd("SMEMBERS").arg(&index_key))
            .await
            .map_err(logout_failed)?;
        let ending = match signed_in_by {
            None => sessions,
            Some(issued_at) => signed_in_by_then(&self.redis, sessions, issued_at).await?,
        };
        let mut pipeline = redis::pipe();
        for session in &ending {
            pipeline.cmd("DEL").arg(session).ignore();
            pipeline.cmd("SREM").arg(&index_key).arg(session).ignore();
        }
        self.redis
            .query_pipeline::<()>(&pipeline)
            .await
            .map_err(logout_failed)?;
        Ok(ending.len())
    }
}

/// Logout-token `jti`s at `<prefix>logout-jti:<jti>`, until the token expires.
impl LogoutTokenLedger for RedisRecords {
    async fn first_use(&self, jti: &str, ttl: Duration) -> Result<bool, StoreError> {
        let stored: Option<String> = self
            .redis
            .query(
                redis::cmd("SET")
                    .arg(self.keys.jti_key(jti))
                    .arg(1)
                    .arg("NX")
                    .arg("EX")
                    .arg(ttl.as_secs()),
            )
            .await
            .map_err(logout_failed)?;
        Ok(stored.is_some())
    }

    async fn forget(&self, jti: &str) {
        self.delete_or_let_expire(self.keys.jti_key(jti), "a logout token")
            .await;
    }
}

/// The sessions among `sessions` (Redis keys) whose user signed in at or before `issued_at`.
/// A session that is gone or unreadable is included, so that its index entry goes too.
async fn signed_in_by_then(
    redis: &SharedRedis,
    sessions: Vec<String>,
    issued_at: i64,
) -> Result<Vec<String>, StoreError> {
    if sessions.is_empty() {
        return Ok(sessions);
    }
    let mut get = redis::cmd("MGET");
    for session in &sessions {
        get.arg(session);
    }
    let states: Vec<Option<String>> = redis.query(&get).await.map_err(logout_failed)?;
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

/// The user of a whole stored session state (a map from entry names to their JSON).
fn stored_user_of_state(state_json: &str) -> Option<logto_client::session::StoredSummary> {
    let mut state: HashMap<String, String> = serde_json::from_str(state_json).ok()?;
    SessionData::summary(&state.remove(USER_KEY)?)
}

/// The index sets that a session of the stored user `user_json` belongs to: its Logto `sid`
/// (when the ID token had one) and its `sub`. Empty for unreadable data.
pub(crate) fn index_keys_of(keys: KeyScheme, user_json: &str) -> Vec<String> {
    let Some(stored) = SessionData::summary(user_json) else {
        return Vec::new();
    };
    stored
        .sid()
        .map(|sid| keys.sid_key(sid))
        .into_iter()
        .chain([keys.sub_key(stored.sub())])
        .collect()
}

/// Indexes a just-saved Redis session under its `sid` and `sub` for `ttl`.
pub(crate) async fn index_session(
    redis: &SharedRedis,
    keys: KeyScheme,
    redis_key: &str,
    user_json: &str,
    ttl: Duration,
) -> Result<(), String> {
    let index_keys = index_keys_of(keys, user_json);
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

impl KeyScheme {
    pub(crate) fn new(prefix: &'static str) -> Self {
        Self { prefix }
    }

    /// A session's own key.
    pub(crate) fn session(self, session_key: &str) -> String {
        format!("{}session:{session_key}", self.prefix)
    }

    fn sid_key(self, sid: &str) -> String {
        format!("{}sessions-by-sid:{sid}", self.prefix)
    }

    fn sub_key(self, sub: &str) -> String {
        format!("{}sessions-by-sub:{sub}", self.prefix)
    }

    fn jti_key(self, jti: &str) -> String {
        format!("{}logout-jti:{jti}", self.prefix)
    }

    fn handoff_key(self, grant_id: &str) -> String {
        format!("{}grant-tokens:{grant_id}", self.prefix)
    }

    fn refresh_lock(self, grant_id: &str) -> String {
        format!("{}refresh-lock:{grant_id}", self.prefix)
    }
}

fn refresh_failed(error: redis::RedisError) -> StoreError {
    log::debug!("Redis failed during a token refresh: {error}");
    StoreError::new(error)
}

fn logout_failed(error: redis::RedisError) -> StoreError {
    log::debug!("Redis failed during back-channel logout: {error}");
    StoreError::new(error)
}
