use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::logto::{LogtoClient, error_chain};
use crate::shared_redis::SharedRedis;

/// How long one readiness check may take; probes usually give up after a few seconds.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What `/readyz` checks: Redis when it holds the sessions, and whether Logto is reachable
/// (reported, but never a reason to take the app out of rotation: its pages, signed-in ones
/// included, work without Logto until a token is due).
pub struct Readiness {
    pub logto: Arc<LogtoClient>,
    pub redis: Option<SharedRedis>,
}

#[derive(Serialize)]
struct Report {
    status: &'static str,
    checks: Checks,
}

#[derive(Serialize)]
struct Checks {
    identity_provider: Check,
    session_store: Check,
}

#[derive(Serialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum Check {
    Ok,
    /// Logto's documents cannot be loaded, or its last answer was a failure: sign-in shows the
    /// "identity provider unavailable" page until it is back.
    Degraded,
    Unavailable,
    /// The cookie store has nothing to reach.
    NotUsed,
}

/// `GET /healthz` (liveness): the process serves requests.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz` (readiness): `200` unless the session store is unreachable, then `503`; each
/// check is named, the identity provider as `ok` or `degraded`.
pub async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    let (identity_provider, session_store) =
        tokio::join!(identity_provider(&readiness), session_store(&readiness));
    let ready = ![identity_provider, session_store].contains(&Check::Unavailable);
    let report = Report {
        status: if ready { "ready" } else { "not_ready" },
        checks: Checks {
            identity_provider,
            session_store,
        },
    };
    if ready {
        HttpResponse::Ok().json(report)
    } else {
        HttpResponse::ServiceUnavailable().json(report)
    }
}

/// Loaded once, the discovery document stays cached: only a cold start asks Logto here, at
/// most once per backoff. A warm app reports what its last call to Logto found.
async fn identity_provider(readiness: &Readiness) -> Check {
    match tokio::time::timeout(CHECK_TIMEOUT, readiness.logto.prefetch()).await {
        Ok(Ok(())) if readiness.logto.health().is_down() => Check::Degraded,
        Ok(Ok(())) => Check::Ok,
        Ok(Err(error)) => {
            log::debug!("identity provider degraded: {}", error_chain(&error));
            Check::Degraded
        }
        Err(_) => {
            log::debug!("identity provider degraded: discovery took over {CHECK_TIMEOUT:?}");
            Check::Degraded
        }
    }
}

async fn session_store(readiness: &Readiness) -> Check {
    let Some(redis) = &readiness.redis else {
        return Check::NotUsed;
    };
    let ping = async {
        redis
            .query::<String>(&redis::cmd("PING"))
            .await
            .map_err(|error| error.to_string())
    };
    match tokio::time::timeout(CHECK_TIMEOUT, ping).await {
        Ok(Ok(_)) => Check::Ok,
        Ok(Err(error)) => {
            log::warn!("not ready: Redis: {error}");
            Check::Unavailable
        }
        Err(_) => {
            log::warn!("not ready: Redis took over {CHECK_TIMEOUT:?} to answer PING");
            Check::Unavailable
        }
    }
}
