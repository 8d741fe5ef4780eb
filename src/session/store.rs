//! The session store chosen at run time, and the middleware around it.

use actix_session::SessionMiddleware;
use actix_session::config::{PersistentSession, TtlExtensionPolicy};
use actix_session::storage::{
    CookieSessionStore, LoadError, SaveError, SessionKey, SessionStore, UpdateError,
};
use actix_web::body::MessageBody;
use actix_web::cookie::{Key, SameSite, time};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use super::SessionLifetimes;
use super::redis_store::RedisSessions;
use crate::configuration::SessionStoreKind;
use crate::error::AppError;
use crate::log_safe::Escaped;
use crate::shared_redis::SharedRedis;

/// The session cookie's name.
pub const SESSION_COOKIE_NAME: &str = "bookstore_session";

type SessionState = std::collections::HashMap<String, String>;

/// The store behind `SESSION_STORE`: actix-session is generic over it, so this enum picks
/// one at run time.
#[derive(Clone)]
pub enum SessionBackend {
    Cookie,
    /// Sessions in Redis; the same connection serves the app's own keys (refresh locks, token
    /// hand-off, the back-channel logout index).
    Redis(SharedRedis),
}

impl SessionBackend {
    /// Prepares the store. Redis is not contacted yet: the app starts while Redis is down
    /// and recovers when it comes back.
    pub fn new(kind: &SessionStoreKind) -> Result<Self, String> {
        match kind {
            SessionStoreKind::Cookie => Ok(Self::Cookie),
            SessionStoreKind::Redis { url } => SharedRedis::new(url)
                .map(Self::Redis)
                .map_err(|error| error.to_string()),
        }
    }

    /// The Redis connection, when sessions live in Redis.
    pub fn redis(&self) -> Option<&SharedRedis> {
        match self {
            Self::Cookie => None,
            Self::Redis(redis) => Some(redis),
        }
    }
}

/// The store actix-session talks to; each worker gets its own (the Redis connection is shared).
pub enum WorkerStore {
    Cookie(CookieSessionStore),
    Redis(Box<RedisSessions>),
}

impl SessionStore for WorkerStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<SessionState>, LoadError> {
        match self {
            Self::Cookie(store) => store.load(key).await,
            Self::Redis(store) => store.load(key).await,
        }
    }

    async fn save(
        &self,
        state: SessionState,
        ttl: &time::Duration,
    ) -> Result<SessionKey, SaveError> {
        match self {
            Self::Cookie(store) => store.save(state, ttl).await,
            Self::Redis(store) => store.save(state, ttl).await,
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
            Self::Redis(store) => store.update(key, state, ttl).await,
        }
    }

    async fn update_ttl(
        &self,
        key: &SessionKey,
        ttl: &time::Duration,
    ) -> Result<(), anyhow::Error> {
        match self {
            Self::Cookie(store) => store.update_ttl(key, ttl).await,
            Self::Redis(store) => store.update_ttl(key, ttl).await,
        }
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        match self {
            Self::Cookie(store) => store.delete(key).await,
            Self::Redis(store) => store.delete(key).await,
        }
    }
}

/// The session middleware: an encrypted, HttpOnly, `SameSite=Lax` cookie (`Strict` would
/// drop the session on the redirect back from Logto), `Secure` on https. The cookie and the
/// Redis key live as long as the idle timeout, renewed whenever the session is written;
/// [`UserSession`](super::UserSession) enforces both lifetimes on every read.
pub fn session_middleware(
    backend: &SessionBackend,
    key: Key,
    secure: bool,
    lifetimes: SessionLifetimes,
) -> SessionMiddleware<WorkerStore> {
    let store = match backend {
        SessionBackend::Cookie => WorkerStore::Cookie(CookieSessionStore::default()),
        SessionBackend::Redis(redis) => WorkerStore::Redis(Box::new(RedisSessions::new(
            redis.clone(),
            lifetimes.absolute,
        ))),
    };
    let idle_ttl = time::Duration::try_from(lifetimes.idle).unwrap_or(time::Duration::MAX);
    SessionMiddleware::builder(store, key)
        .cookie_name(SESSION_COOKIE_NAME.to_owned())
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
/// 500). This swaps it for [`AppError::SessionStoreUnavailable`], which actix renders as the
/// templated 503 page. The cause is logged here, because the access log skips such requests.
pub async fn render_session_store_failures(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let method = request.method().clone();
    let path = request.path().to_owned();
    next.call(request).await.map_err(|error| {
        // The outage itself is logged once by `SharedRedis`, not per request.
        log::debug!(
            "{method} {}: session store failure: {error:?}",
            Escaped(&path)
        );
        AppError::SessionStoreUnavailable.into()
    })
}
