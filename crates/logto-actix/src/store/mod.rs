//! Where sessions live: the store chosen at run time ([`WorkerStore`]: an encrypted cookie,
//! or Redis behind the `redis` feature), the protocol's records that go with it
//! ([`Records`]), and the session middleware around them.

#[cfg(feature = "redis")]
mod records;
#[cfg(feature = "redis")]
mod redis_sessions;
#[cfg(feature = "redis")]
mod shared_redis;

use std::time::Duration;

use actix_session::SessionMiddleware;
use actix_session::config::{PersistentSession, TtlExtensionPolicy};
use actix_session::storage::{
    CookieSessionStore, LoadError, SaveError, SessionKey, SessionStore, UpdateError,
};
use actix_web::body::MessageBody;
use actix_web::cookie::{Key, SameSite, time};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use logto_client::log_safe::Escaped;
use logto_client::session::{
    EndedSessions, GrantLock, LogoutTarget, LogoutTokenLedger, MemoryRecords, SessionData,
    SessionLifetimes, StoreError, TokenHandOff, TokenState,
};

use crate::error::AuthError;

#[cfg(feature = "redis")]
pub use records::{RedisLock, RedisRecords};
#[cfg(feature = "redis")]
pub use redis_sessions::RedisSessions;
#[cfg(feature = "redis")]
pub use shared_redis::{REDIS_TIMEOUT, SharedRedis};

/// actix-session's state: entry names to their JSON.
pub type SessionState = std::collections::HashMap<String, String>;

/// The session entry that holds the signed-in user ([`SessionData`] as JSON).
pub const USER_KEY: &str = "user";

/// The store behind `SESSION_STORE`: actix-session is generic over it, so this enum picks
/// one at run time.
#[derive(Clone)]
// Made once per app: the Redis handle's size does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum SessionBackend {
    Cookie,
    /// Sessions in Redis; the same connection serves the protocol's records (refresh locks,
    /// token hand-off, the back-channel logout index), under `prefix`.
    #[cfg(feature = "redis")]
    Redis {
        redis: SharedRedis,
        prefix: &'static str,
    },
}

impl SessionBackend {
    /// The Redis connection, when sessions live in Redis.
    #[cfg(feature = "redis")]
    pub(crate) fn redis(&self) -> Option<&SharedRedis> {
        match self {
            Self::Cookie => None,
            Self::Redis { redis, .. } => Some(redis),
        }
    }

    /// The records that go with this store: with Redis, a sign-out deletes the stored
    /// session, which is what lets [`RedisRecords`] say that no session has ended; a cookie
    /// must be remembered as ended, in this process ([`MemoryRecords`]).
    pub(crate) fn records(&self, lifetimes: SessionLifetimes) -> Records {
        match self {
            Self::Cookie => Records::Memory(MemoryRecords::new(lifetimes.absolute)),
            #[cfg(feature = "redis")]
            Self::Redis { redis, prefix } => {
                Records::Redis(RedisRecords::new(redis.clone(), prefix))
            }
        }
    }
}

/// The store actix-session talks to; each worker gets its own (the Redis connection is shared).
pub enum WorkerStore {
    /// The whole session in an encrypted cookie.
    Cookie(CookieSessionStore),
    /// The session in Redis, its id in the cookie.
    #[cfg(feature = "redis")]
    Redis(Box<RedisSessions>),
}

/// The Redis futures are boxed: actix-session keeps this store's futures inside the one it
/// allocates and moves for every request, and a Redis command's state is kilobytes.
impl SessionStore for WorkerStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<SessionState>, LoadError> {
        match self {
            Self::Cookie(store) => store.load(key).await,
            #[cfg(feature = "redis")]
            Self::Redis(store) => Box::pin(store.load(key)).await,
        }
    }

    async fn save(
        &self,
        state: SessionState,
        ttl: &time::Duration,
    ) -> Result<SessionKey, SaveError> {
        match self {
            Self::Cookie(store) => store.save(state, ttl).await,
            #[cfg(feature = "redis")]
            Self::Redis(store) => Box::pin(store.save(state, ttl)).await,
        }
    }

    async fn update(
        &self,
        key: SessionKey,
        state: SessionState,
        ttl: &time::Duration,
    ) -> Result<SessionKey, UpdateError> {
        match self {
            Self::Cookie(store) => store.update(key, state, ttl).await,
            #[cfg(feature = "redis")]
            Self::Redis(store) => Box::pin(store.update(key, state, ttl)).await,
        }
    }

    async fn update_ttl(
        &self,
        key: &SessionKey,
        ttl: &time::Duration,
    ) -> Result<(), anyhow::Error> {
        match self {
            Self::Cookie(store) => store.update_ttl(key, ttl).await,
            #[cfg(feature = "redis")]
            Self::Redis(store) => Box::pin(store.update_ttl(key, ttl)).await,
        }
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        match self {
            Self::Cookie(store) => store.delete(key).await,
            #[cfg(feature = "redis")]
            Self::Redis(store) => Box::pin(store.delete(key)).await,
        }
    }
}

/// The records of the store chosen at run time: the protocol is generic over them, so this
/// enum picks one. `MemoryRecords` goes with the cookie store and `RedisRecords` with the Redis
/// store: with Redis, a sign-out deletes the stored session, which is what lets
/// `RedisRecords` say that no session has ended.
#[derive(Clone)]
pub enum Records {
    /// In this process, with the cookie store.
    Memory(MemoryRecords),
    /// In Redis, with the Redis store.
    #[cfg(feature = "redis")]
    Redis(RedisRecords),
}

impl GrantLock for Records {
    /// No lock to release in this process.
    #[cfg(feature = "redis")]
    type Guard = Option<RedisLock>;
    /// No lock to release in this process.
    #[cfg(not(feature = "redis"))]
    type Guard = ();

    async fn acquire(
        &self,
        grant_id: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Option<Self::Guard>, StoreError> {
        match self {
            #[cfg(feature = "redis")]
            Self::Memory(memory) => Ok(memory.acquire(grant_id, ttl, wait).await?.map(|()| None)),
            #[cfg(not(feature = "redis"))]
            Self::Memory(memory) => memory.acquire(grant_id, ttl, wait).await,
            #[cfg(feature = "redis")]
            #[cfg(feature = "redis")]
            Self::Redis(redis) => Ok(redis.acquire(grant_id, ttl, wait).await?.map(Some)),
        }
    }

    async fn release(&self, guard: Self::Guard) {
        #[cfg(feature = "redis")]
        if let (Self::Redis(redis), Some(lock)) = (self, guard) {
            redis.release(lock).await;
        }
        #[cfg(not(feature = "redis"))]
        let () = guard;
    }
}

impl TokenHandOff for Records {
    async fn latest(&self, grant_id: &str) -> Result<Option<TokenState>, StoreError> {
        match self {
            Self::Memory(memory) => memory.latest(grant_id).await,
            #[cfg(feature = "redis")]
            Self::Redis(redis) => redis.latest(grant_id).await,
        }
    }

    async fn hand_on(
        &self,
        grant_id: &str,
        state: &TokenState,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        match self {
            Self::Memory(memory) => memory.hand_on(grant_id, state, ttl).await,
            #[cfg(feature = "redis")]
            Self::Redis(redis) => redis.hand_on(grant_id, state, ttl).await,
        }
    }

    async fn forget(&self, grant_id: &str) {
        match self {
            Self::Memory(memory) => TokenHandOff::forget(memory, grant_id).await,
            #[cfg(feature = "redis")]
            Self::Redis(redis) => TokenHandOff::forget(redis, grant_id).await,
        }
    }
}

impl EndedSessions for Records {
    async fn is_ended(&self, session: &SessionData) -> Result<bool, StoreError> {
        match self {
            Self::Memory(memory) => memory.is_ended(session).await,
            #[cfg(feature = "redis")]
            Self::Redis(redis) => redis.is_ended(session).await,
        }
    }

    async fn record_sign_out(&self, session: &SessionData) -> Result<(), StoreError> {
        match self {
            Self::Memory(memory) => memory.record_sign_out(session).await,
            #[cfg(feature = "redis")]
            Self::Redis(redis) => redis.record_sign_out(session).await,
        }
    }

    async fn end(&self, target: &LogoutTarget<'_>) -> Result<usize, StoreError> {
        match self {
            Self::Memory(memory) => memory.end(target).await,
            #[cfg(feature = "redis")]
            Self::Redis(redis) => redis.end(target).await,
        }
    }
}

impl LogoutTokenLedger for Records {
    async fn first_use(&self, jti: &str, ttl: Duration) -> Result<bool, StoreError> {
        match self {
            Self::Memory(memory) => memory.first_use(jti, ttl).await,
            #[cfg(feature = "redis")]
            Self::Redis(redis) => redis.first_use(jti, ttl).await,
        }
    }

    async fn forget(&self, jti: &str) {
        match self {
            Self::Memory(memory) => LogoutTokenLedger::forget(memory, jti).await,
            #[cfg(feature = "redis")]
            Self::Redis(redis) => LogoutTokenLedger::forget(redis, jti).await,
        }
    }
}

/// The session middleware: an encrypted, HttpOnly, `SameSite=Lax` cookie (`Strict` would
/// drop the session on the redirect back from Logto), `Secure` on https. The cookie and the
/// Redis key live as long as the idle timeout, renewed whenever the session is written;
/// the extractors enforce both lifetimes on every read.
pub(crate) fn session_middleware(
    backend: &SessionBackend,
    key: Key,
    cookie_name: &str,
    secure: bool,
    lifetimes: SessionLifetimes,
) -> SessionMiddleware<WorkerStore> {
    let store = match backend {
        SessionBackend::Cookie => WorkerStore::Cookie(CookieSessionStore::default()),
        #[cfg(feature = "redis")]
        SessionBackend::Redis { redis, prefix } => WorkerStore::Redis(Box::new(
            RedisSessions::new(redis.clone(), prefix, lifetimes.absolute),
        )),
    };
    let idle_ttl = time::Duration::try_from(lifetimes.idle).unwrap_or(time::Duration::MAX);
    SessionMiddleware::builder(store, key)
        .cookie_name(cookie_name.to_owned())
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .cookie_secure(secure)
        .session_lifecycle(
            PersistentSession::default()
                .session_ttl(idle_ttl)
                .session_ttl_extension_policy(TtlExtensionPolicy::OnStateChanges),
        )
        .build()
}

/// Wraps the session middleware: a store failure comes out of it as a bare error (an empty
/// 500). This swaps it for [`AuthError::SessionStoreUnavailable`], which actix renders as the
/// 503 page. The cause is logged here, because the access log skips such requests.
pub(crate) async fn render_session_store_failures(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // Copied only for the debug line: most requests never need them.
    let request_line = log::log_enabled!(log::Level::Debug)
        .then(|| (request.method().clone(), request.path().to_owned()));
    next.call(request).await.map_err(|error| {
        // The outage itself is logged once by `SharedRedis`, not per request.
        if let Some((method, path)) = request_line {
            log::debug!(
                "{method} {}: session store failure: {error:?}",
                Escaped(&path)
            );
        }
        AuthError::SessionStoreUnavailable.into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loading_a_session_is_a_small_future() {
        // actix-session moves this future into a box of its own on every request; a Redis
        // command inline would make that kilobytes (the future's type is the same for both
        // stores, so the cookie store measures it).
        let store = WorkerStore::Cookie(CookieSessionStore::default());
        let key = SessionKey::try_from("k".repeat(64)).expect("a valid key");
        let load = store.load(&key);
        let bytes = std::mem::size_of_val(&load);
        assert!(bytes <= 256, "loading is a {bytes}-byte future");
    }
}
