//! The process's one Redis connection: multiplexed (every request shares it, no pool and no
//! per-request `PING`), reconnecting by itself, and bounded in time so that a Redis outage
//! fails requests quickly instead of hanging them.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

/// How long a connection attempt or a command may take before Redis counts as unavailable.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

/// A cheap handle to the shared connection; clone it freely.
#[derive(Clone)]
pub struct SharedRedis {
    client: redis::Client,
    connection: Arc<OnceCell<ConnectionManager>>,
}

impl SharedRedis {
    /// Checks the URL. Redis is not contacted yet: the app starts while Redis is down, and
    /// the first request that needs it connects.
    pub fn new(url: &str) -> Result<Self, redis::RedisError> {
        Ok(Self {
            client: redis::Client::open(url)?,
            connection: Arc::default(),
        })
    }

    /// The shared connection, connecting first if nobody has yet. A failed first connect is
    /// retried by the next caller; after that, the manager reconnects in the background.
    pub async fn connection(&self) -> Result<ConnectionManager, redis::RedisError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(REDIS_TIMEOUT)
            .set_response_timeout(REDIS_TIMEOUT)
            .set_number_of_retries(1);
        self.connection
            .get_or_try_init(|| ConnectionManager::new_with_config(self.client.clone(), config))
            .await
            .cloned()
    }

    /// Runs `command` and decodes its answer. A command that meets a dropped connection (Redis
    /// restarted) is sent once more on the connection the manager makes anew.
    pub async fn query<T: redis::FromRedisValue>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T, redis::RedisError> {
        let mut connection = self.connection().await?;
        match command.query_async(&mut connection).await {
            Err(error) if is_connection_lost(&error) => command.query_async(&mut connection).await,
            answer => answer,
        }
    }

    /// Runs `pipeline` (one round trip) and decodes its answers, retried like [`Self::query`].
    pub async fn query_pipeline<T: redis::FromRedisValue>(
        &self,
        pipeline: &redis::Pipeline,
    ) -> Result<T, redis::RedisError> {
        let mut connection = self.connection().await?;
        match pipeline.query_async(&mut connection).await {
            Err(error) if is_connection_lost(&error) => pipeline.query_async(&mut connection).await,
            answer => answer,
        }
    }
}

fn is_connection_lost(error: &redis::RedisError) -> bool {
    error.is_connection_dropped() || error.is_io_error() || error.is_connection_refusal()
}
