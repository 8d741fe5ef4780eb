//! The process's one Redis connection: multiplexed (every request shares it, no pool and no
//! per-request `PING`), reconnecting by itself, and bounded in time so that a Redis outage
//! fails requests quickly instead of hanging them.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

/// The longest any use of Redis may take, connecting included, before Redis counts as
/// unavailable and the request fails.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

/// While Redis stays unavailable, how often the log says so again.
const OUTAGE_REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// A cheap handle to the shared connection; clone it freely.
#[derive(Clone)]
pub struct SharedRedis {
    client: redis::Client,
    connection: Arc<OnceCell<ConnectionManager>>,
    outage: Arc<OutageLog>,
}

/// Logs a Redis outage once when it starts, with a count every
/// [`OUTAGE_REPORT_INTERVAL`] while it lasts, and once when it ends, rather than once per
/// failed request.
#[derive(Default)]
struct OutageLog(Mutex<Option<Outage>>);

struct Outage {
    since: Instant,
    failed_calls: u64,
    reported_at: Instant,
}

impl OutageLog {
    fn record<T>(&self, result: &Result<T, redis::RedisError>) {
        let mut outage = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match (result, outage.as_mut()) {
            (Ok(_), None) => {}
            (Ok(_), Some(ended)) => {
                log::info!(
                    "Redis answers again, after {:.1?} and {} failed calls",
                    ended.since.elapsed(),
                    ended.failed_calls
                );
                *outage = None;
            }
            (Err(error), None) => {
                log::error!(
                    "Redis is unavailable ({error}): pages that need the session answer 503 \
                     until it is back"
                );
                let now = Instant::now();
                *outage = Some(Outage {
                    since: now,
                    failed_calls: 1,
                    reported_at: now,
                });
            }
            (Err(_), Some(ongoing)) => {
                ongoing.failed_calls += 1;
                if ongoing.reported_at.elapsed() >= OUTAGE_REPORT_INTERVAL {
                    log::warn!(
                        "Redis is still unavailable, for {:.0?} now: {} failed calls",
                        ongoing.since.elapsed(),
                        ongoing.failed_calls
                    );
                    ongoing.reported_at = Instant::now();
                }
            }
        }
    }
}

impl SharedRedis {
    /// Checks the URL. Redis is not contacted yet: the app starts while Redis is down, and
    /// the first request that needs it connects.
    pub fn new(url: &str) -> Result<Self, redis::RedisError> {
        Ok(Self {
            client: redis::Client::open(url)?,
            connection: Arc::default(),
            outage: Arc::default(),
        })
    }

    /// The shared connection, connecting first if nobody has yet. A failed first connect is
    /// retried by the next caller; after that, the manager reconnects in the background.
    async fn connection(&self) -> Result<ConnectionManager, redis::RedisError> {
        // No retries of its own: a caller waiting through backoff would outlast REDIS_TIMEOUT.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(REDIS_TIMEOUT)
            .set_response_timeout(REDIS_TIMEOUT)
            .set_number_of_retries(0);
        self.connection
            .get_or_try_init(|| ConnectionManager::new_with_config(self.client.clone(), config))
            .await
            .cloned()
    }

    /// Runs `command` and decodes its answer, within [`REDIS_TIMEOUT`]. A command that meets
    /// a dropped connection (Redis restarted) is sent once more, on the connection the manager
    /// makes anew; a command that timed out is not, since it may have been carried out.
    pub async fn query<T: redis::FromRedisValue>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T, redis::RedisError> {
        let result = within_timeout(async {
            let mut connection = self.connection().await?;
            match command.query_async(&mut connection).await {
                Err(error) if is_connection_lost(&error) => {
                    command.query_async(&mut connection).await
                }
                answer => answer,
            }
        })
        .await;
        self.outage.record(&result);
        result
    }

    /// Runs `pipeline` (one round trip) and decodes its answers, bounded and retried like
    /// [`Self::query`].
    pub async fn query_pipeline<T: redis::FromRedisValue>(
        &self,
        pipeline: &redis::Pipeline,
    ) -> Result<T, redis::RedisError> {
        let result = within_timeout(async {
            let mut connection = self.connection().await?;
            match pipeline.query_async(&mut connection).await {
                Err(error) if is_connection_lost(&error) => {
                    pipeline.query_async(&mut connection).await
                }
                answer => answer,
            }
        })
        .await;
        self.outage.record(&result);
        result
    }
}

async fn within_timeout<T>(
    work: impl Future<Output = Result<T, redis::RedisError>>,
) -> Result<T, redis::RedisError> {
    tokio::time::timeout(REDIS_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("Redis did not answer within {REDIS_TIMEOUT:?}"),
            )
            .into())
        })
}

/// The connection broke before the command reached Redis, so sending it again is safe.
fn is_connection_lost(error: &redis::RedisError) -> bool {
    error.is_connection_dropped() || error.is_connection_refusal()
}
