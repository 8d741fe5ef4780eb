//! The session store chosen at run time, and the middleware around it.

use std::time::Duration;

use actix_session::SessionMiddleware;
use actix_session::config::{PersistentSession, TtlExtensionPolicy};
use actix_session::storage::{
    CookieSessionStore, LoadError, RedisSessionStore, SaveError, SessionKey, SessionStore,
    UpdateError,
};
use actix_web::body::MessageBody;
use actix_web::cookie::{Key, SameSite, time};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use deadpool_redis::{PoolConfig, Runtime, Timeouts};

use crate::configuration::SessionStoreKind;
use crate::error::AppError;

/// The session cookie's name.
pub const SESSION_COOKIE_NAME: &str = "bookstore_session";

/// How long a session lives: as long as Logto's refresh token (14 days).
const SESSION_TTL: time::Duration = time::Duration::days(14);

/// How long a request waits for Redis before the session store counts as unavailable.
/// Without it, a Redis outage would hang requests instead of failing them.
const REDIS_TIMEOUT: Duration = Duration::from_secs(1);

type SessionState = std::collections::HashMap<String, String>;

/// The store behind `SESSION_STORE`: actix-session is generic over it, so this enum picks
/// one at run time.
#[derive(Clone)]
pub enum SessionBackend {
    Cookie,
    Redis {
        store: RedisSessionStore,
        /// The same pool, for the app's own keys (refresh locks, token hand-off).
        pool: deadpool_redis::Pool,
    },
}

impl SessionBackend {
    /// Prepares the store. Redis is not contacted yet: the app starts while Redis is down
    /// and recovers when it comes back.
    pub async fn new(kind: &SessionStoreKind) -> Result<Self, String> {
        match kind {
            SessionStoreKind::Cookie => Ok(Self::Cookie),
            SessionStoreKind::Redis { url } => {
                let mut config = deadpool_redis::Config::from_url(url);
                let mut pool = PoolConfig::new(16);
                pool.timeouts = Timeouts {
                    wait: Some(REDIS_TIMEOUT),
                    create: Some(REDIS_TIMEOUT),
                    recycle: Some(REDIS_TIMEOUT),
                };
                config.pool = Some(pool);
                let pool = config
                    .create_pool(Some(Runtime::Tokio1))
                    .map_err(|error| error.to_string())?;
                let store = RedisSessionStore::builder_pooled(pool.clone())
                    .cache_keygen(redis_key)
                    .build()
                    .await
                    .map_err(|error| error.to_string())?;
                Ok(Self::Redis { store, pool })
            }
        }
    }
}

impl SessionBackend {
    /// The Redis pool, when sessions live in Redis.
    pub fn redis_pool(&self) -> Option<&deadpool_redis::Pool> {
        match self {
            Self::Cookie => None,
            Self::Redis { pool, .. } => Some(pool),
        }
    }
}

/// The store actix-session talks to; each worker gets its own (the Redis pool is shared).
pub enum WorkerStore {
    Cookie(CookieSessionStore),
    Redis {
        store: RedisSessionStore,
        pool: deadpool_redis::Pool,
    },
}

/// Indexes a saved session of a signed-in user for back-channel logout. A failure only costs
/// that index entry, so it is logged rather than failing the request.
async fn index(pool: &deadpool_redis::Pool, key: &SessionKey, user: Option<String>) {
    let Some(user) = user else { return };
    if let Err(error) = super::directory::index_session(pool, &redis_key(key.as_ref()), &user).await
    {
        log::warn!("could not index a session for back-channel logout: {error}");
    }
}

fn redis_key(session_key: &str) -> String {
    format!("bookstore:session:{session_key}")
}

impl SessionStore for WorkerStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<SessionState>, LoadError> {
        match self {
            Self::Cookie(store) => store.load(key).await,
            Self::Redis { store, .. } => store.load(key).await,
        }
    }

    async fn save(
        &self,
        state: SessionState,
        ttl: &time::Duration,
    ) -> Result<SessionKey, SaveError> {
        match self {
            Self::Cookie(store) => store.save(state, ttl).await,
            Self::Redis { store, pool } => {
                let user = state.get(super::USER).cloned();
                let key = store.save(state, ttl).await?;
                index(pool, &key, user).await;
                Ok(key)
            }
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
            Self::Redis { store, pool } => {
                let user = state.get(super::USER).cloned();
                let key = store.update(key, state, ttl).await?;
                index(pool, &key, user).await;
                Ok(key)
            }
        }
    }

    async fn update_ttl(
        &self,
        key: &SessionKey,
        ttl: &time::Duration,
    ) -> Result<(), anyhow::Error> {
        match self {
            Self::Cookie(store) => store.update_ttl(key, ttl).await,
            Self::Redis { store, .. } => store.update_ttl(key, ttl).await,
        }
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        match self {
            Self::Cookie(store) => store.delete(key).await,
            Self::Redis { store, .. } => store.delete(key).await,
        }
    }
}

/// The session middleware: an encrypted, HttpOnly, `SameSite=Lax` cookie (`Strict` would
/// lose the sign-in attempt on the redirect back from Logto), `Secure` on https.
pub fn session_middleware(
    backend: &SessionBackend,
    key: Key,
    secure: bool,
) -> SessionMiddleware<WorkerStore> {
    let store = match backend {
        SessionBackend::Cookie => WorkerStore::Cookie(CookieSessionStore::default()),
        SessionBackend::Redis { store, pool } => WorkerStore::Redis {
            store: store.clone(),
            pool: pool.clone(),
        },
    };
    SessionMiddleware::builder(store, key)
        .cookie_name(SESSION_COOKIE_NAME.to_owned())
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .cookie_secure(secure)
        .session_lifecycle(
            PersistentSession::default()
                .session_ttl(SESSION_TTL)
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
        log::error!("{method} {path}: session store failure: {error:?}");
        AppError::SessionStoreUnavailable.into()
    })
}
