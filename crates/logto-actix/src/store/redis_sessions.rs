//! Sessions in Redis, one key each (`<prefix>session:<key>`), read with a single `GET` on the
//! process's shared multiplexed connection. actix-session's own Redis store checks every pooled
//! connection out with a `PING` first, which doubled the round trips of every signed-in page.

use actix_session::storage::{LoadError, SaveError, SessionKey, UpdateError};
use actix_web::cookie::time;

use std::time::Duration;

use logto_client::session::SessionData;
use logto_client::unix_now;

use super::records::{KeyScheme, index_keys_of, index_session};
use super::{SessionState, SharedRedis, USER_KEY};

/// The TTL of a session's key: the middleware's (the idle timeout), but never past the end of
/// the session's absolute lifetime.
fn ttl_for(
    state: &SessionState,
    idle_ttl: &time::Duration,
    session_ttl: Duration,
) -> time::Duration {
    let signed_in_at = state
        .get(USER_KEY)
        .and_then(|user| SessionData::summary(user))
        .map_or(0, |user| user.signed_in_at);
    let absolute_end =
        signed_in_at.saturating_add(i64::try_from(session_ttl.as_secs()).unwrap_or(i64::MAX));
    let remaining = time::Duration::seconds(absolute_end.saturating_sub(unix_now()).max(1));
    remaining.min(*idle_ttl)
}

/// Writes a session back unless it is gone, or unless another request stored a newer
/// refresh (a higher `revision`) since this one read it: a request that only renewed its idle
/// stamp must not bring back a spent refresh token, which Logto would answer by revoking the
/// grant. KEYS[1] the session, ARGV[1] its JSON, ARGV[2] its revision, ARGV[3] the TTL.
const UPDATE_UNLESS_NEWER: &str = r#"
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local ok, stored = pcall(function()
  return tonumber(cjson.decode(cjson.decode(current)['user'])['revision'])
end)
if ok and stored and stored > tonumber(ARGV[2]) then return 2 end
redis.call('SET', KEYS[1], ARGV[1], 'XX', 'EX', ARGV[3])
return 1
"#;
const UPDATED: i64 = 1;
const NEWER_STORED: i64 = 2;

/// actix-session's storage contract, on [`SharedRedis`].
#[derive(Clone)]
pub struct RedisSessions {
    redis: SharedRedis,
    keys: KeyScheme,
    /// `SESSION_TTL`: no key outlives it.
    session_ttl: Duration,
}

impl RedisSessions {
    /// Sessions on `redis` under `prefix`, none outliving `session_ttl`.
    pub fn new(redis: SharedRedis, prefix: &'static str, session_ttl: Duration) -> Self {
        Self {
            redis,
            keys: KeyScheme::new(prefix),
            session_ttl,
        }
    }

    pub(crate) async fn load(&self, key: &SessionKey) -> Result<Option<SessionState>, LoadError> {
        let json: Option<String> = self
            .run(redis::cmd("GET").arg(self.keys.session(key.as_ref())))
            .await
            .map_err(LoadError::Other)?;
        json.map(|json| serde_json::from_str(&json))
            .transpose()
            .map_err(|error| LoadError::Deserialization(error.into()))
    }

    pub(crate) async fn save(
        &self,
        state: SessionState,
        ttl: &time::Duration,
    ) -> Result<SessionKey, SaveError> {
        let json = serde_json::to_string(&state)
            .map_err(|error| SaveError::Serialization(error.into()))?;
        // 128 random bits: a collision is not a practical concern, but NX makes it an error.
        let key = new_session_key().map_err(SaveError::Other)?;
        let stored = self
            .set(&key, &json, "NX", &ttl_for(&state, ttl, self.session_ttl))
            .await
            .map_err(SaveError::Other)?;
        if stored.is_none() {
            return Err(SaveError::Other(anyhow::anyhow!("session key collision")));
        }
        self.index(&key, &state).await;
        Ok(key)
    }

    pub(crate) async fn update(
        &self,
        key: SessionKey,
        state: SessionState,
        ttl: &time::Duration,
    ) -> Result<SessionKey, UpdateError> {
        let json = serde_json::to_string(&state)
            .map_err(|error| UpdateError::Serialization(error.into()))?;
        let revision = state
            .get(USER_KEY)
            .and_then(|user| SessionData::summary(user))
            .map_or(0, |user| user.revision);
        let ttl = ttl_for(&state, ttl, self.session_ttl);
        let outcome: i64 = self
            .run(
                redis::cmd("EVAL")
                    .arg(UPDATE_UNLESS_NEWER)
                    .arg(1)
                    .arg(self.keys.session(key.as_ref()))
                    .arg(&json)
                    .arg(revision)
                    .arg(ttl.whole_seconds()),
            )
            .await
            .map_err(UpdateError::Other)?;
        match outcome {
            UPDATED => self.index(&key, &state).await,
            NEWER_STORED => log::debug!(
                "kept a session another request had refreshed meanwhile; this write is dropped"
            ),
            // Deleted meanwhile (a sign-out in another tab, back-channel logout) or expired:
            // the session stays gone, and the cookie now names nothing.
            _ => {}
        }
        Ok(key)
    }

    pub(crate) async fn update_ttl(
        &self,
        key: &SessionKey,
        ttl: &time::Duration,
    ) -> Result<(), anyhow::Error> {
        self.run::<()>(
            redis::cmd("EXPIRE")
                .arg(self.keys.session(key.as_ref()))
                .arg(ttl.whole_seconds()),
        )
        .await
    }

    /// Deletes the session and takes it out of its back-channel logout index, so that
    /// nothing of it is left behind.
    pub(crate) async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        let redis_key = self.keys.session(key.as_ref());
        let state: Option<String> = self.run(redis::cmd("GET").arg(&redis_key)).await?;
        let user = state
            .and_then(|json| serde_json::from_str::<SessionState>(&json).ok())
            .and_then(|mut state| state.remove(USER_KEY));
        let mut pipeline = redis::pipe();
        pipeline.cmd("DEL").arg(&redis_key).ignore();
        if let Some(user) = user {
            for index_key in index_keys_of(self.keys, &user) {
                pipeline.cmd("SREM").arg(index_key).arg(&redis_key).ignore();
            }
        }
        self.redis
            .query_pipeline::<()>(&pipeline)
            .await
            .map_err(anyhow::Error::from)
    }

    /// `SET` with `NX` (a new session) or `XX` (an existing one) and the TTL; `None` when the
    /// condition did not hold.
    async fn set(
        &self,
        key: &SessionKey,
        json: &str,
        condition: &str,
        ttl: &time::Duration,
    ) -> Result<Option<String>, anyhow::Error> {
        self.run(
            redis::cmd("SET")
                .arg(self.keys.session(key.as_ref()))
                .arg(json)
                .arg(condition)
                .arg("EX")
                .arg(ttl.whole_seconds()),
        )
        .await
    }

    /// Indexes a signed-in user's session for back-channel logout. A failure only costs that
    /// index entry, so it is logged rather than failing the request.
    async fn index(&self, key: &SessionKey, state: &SessionState) {
        let Some(user) = state.get(USER_KEY) else {
            return;
        };
        let redis_key = self.keys.session(key.as_ref());
        let indexed = index_session(&self.redis, self.keys, &redis_key, user, self.session_ttl);
        if let Err(error) = indexed.await {
            log::warn!("could not index a session for back-channel logout: {error}");
        }
    }

    /// One command; [`SharedRedis`] bounds it in time.
    async fn run<T: redis::FromRedisValue>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T, anyhow::Error> {
        self.redis.query(command).await.map_err(anyhow::Error::from)
    }
}

fn new_session_key() -> Result<SessionKey, anyhow::Error> {
    let key = logto_client::session::random_token();
    SessionKey::try_from(key).map_err(|error| anyhow::anyhow!("{error}"))
}
