use std::time::Duration;

use actix_web::{HttpResponse, web};
use logto_actix::{LogtoAuth, StoreStatus};
use logto_client::error_chain;
use serde::Serialize;

/// How long one readiness check may take; probes usually give up after a few seconds.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

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

/// `GET /readyz` (readiness): `200` unless the session store (Redis, when it holds the
/// sessions) is unreachable, then `503`; each check is named. Whether Logto is reachable is
/// reported as `ok` or `degraded`, but never a reason to take the app out of rotation: its
/// pages, signed-in ones included, work without Logto until a token is due.
pub async fn readyz(auth: web::Data<LogtoAuth>) -> HttpResponse {
    let (identity_provider, session_store) =
        tokio::join!(identity_provider(&auth), session_store(&auth));
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
async fn identity_provider(auth: &LogtoAuth) -> Check {
    let logto = auth.client();
    match tokio::time::timeout(CHECK_TIMEOUT, logto.prefetch()).await {
        Ok(Ok(())) if logto.health().is_down() => Check::Degraded,
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

async fn session_store(auth: &LogtoAuth) -> Check {
    match auth.session_store_status(CHECK_TIMEOUT).await {
        StoreStatus::NotUsed => Check::NotUsed,
        StoreStatus::Ok => Check::Ok,
        StoreStatus::Unavailable => Check::Unavailable,
    }
}
