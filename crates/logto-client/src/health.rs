//! Logto's health as this client sees it, from its public documents (discovery and JWKS) and
//! its token endpoint.
//!
//! These are asked on behalf of anonymous requests (a sign-in, a callback, a back-channel
//! logout naming an unknown key), so a failing Logto must not be asked again on every such
//! request. After a failure, no request goes to Logto until the backoff has passed: it starts
//! at [`Backoff::initial`] and doubles with each failure in a row up to [`Backoff::max`]. A
//! success ends the outage. [`ProviderHealth`] is the one place that knows; the public view is
//! [`LogtoHealth`], from [`LogtoClient::health`](super::LogtoClient::health).

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use crate::LogtoError;

/// The wait when a configured one does not fit the clock.
const ONE_DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// How long to leave Logto alone after failed requests for its public documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub initial: Duration,
    /// The longest wait, however many failures follow.
    pub max: Duration,
}

impl Default for Backoff {
    /// 1 s, doubling to at most 60 s.
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The wait after `failures` failures in a row: none for 0, then `initial`, doubled with
    /// each further failure, never over `max`.
    pub fn after(&self, failures: u32) -> Duration {
        let Some(doublings) = failures.checked_sub(1) else {
            return Duration::ZERO;
        };
        1_u32
            .checked_shl(doublings)
            .and_then(|factor| self.initial.checked_mul(factor))
            .map_or(self.max, |wait| wait.min(self.max))
    }
}

/// Logto's health as last seen: a copy, for pages that tell visitors Logto is down and for
/// monitoring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogtoHealth {
    /// When the current run of failures began; `None` while Logto is considered up (its last
    /// answer was good, or it has not been asked yet).
    pub down_since: Option<SystemTime>,
    /// Failed requests in a row; 0 while Logto is up.
    pub consecutive_failures: u32,
    /// How long, from when this copy was taken, until the client asks Logto again. Zero when
    /// the next request that needs Logto's documents may ask.
    pub retry_in: Duration,
}

impl LogtoHealth {
    /// Whether the last request for Logto's discovery document, keys or a token failed.
    pub fn is_down(&self) -> bool {
        self.down_since.is_some()
    }
}

/// The current run of failures.
#[derive(Debug, Clone, Copy)]
struct Outage {
    since: SystemTime,
    failures: u32,
    /// No request goes to Logto before this.
    retry_at: Instant,
}

/// The shared record of Logto's health, used by discovery, the JWKS cache and token requests.
#[derive(Debug)]
pub(crate) struct ProviderHealth {
    backoff: Backoff,
    outage: Mutex<Option<Outage>>,
}

impl ProviderHealth {
    pub(crate) fn new(backoff: Backoff) -> Self {
        Self {
            backoff,
            outage: Mutex::new(None),
        }
    }

    /// `Ok` when a request for `document` may go to Logto now; else the error to answer with
    /// at once, without asking Logto.
    pub(crate) fn allow_request(&self, document: &'static str) -> Result<(), LogtoError> {
        match self.retry_in(Instant::now()) {
            Duration::ZERO => Ok(()),
            retry_in => Err(LogtoError::ProviderBackingOff { document, retry_in }),
        }
    }

    /// Records how a request for Logto's documents ended, and passes its result on.
    pub(crate) fn record<T>(&self, result: Result<T, LogtoError>) -> Result<T, LogtoError> {
        match &result {
            Ok(_) => self.record_success(),
            Err(error) => self.record_failure(Instant::now(), SystemTime::now(), error),
        }
        result
    }

    /// Records how a request to one of Logto's endpoints ended, where only the failures that
    /// `is_outage` picks count against it: a refusal such as `invalid_grant` is an answer,
    /// and Logto is up.
    pub(crate) fn record_outcome<T>(
        &self,
        result: Result<T, LogtoError>,
        is_outage: impl FnOnce(&LogtoError) -> bool,
    ) -> Result<T, LogtoError> {
        match &result {
            Err(error) if is_outage(error) => {
                self.record_failure(Instant::now(), SystemTime::now(), error);
            }
            _ => self.record_success(),
        }
        result
    }

    /// A copy of the current health.
    pub(crate) fn report(&self) -> LogtoHealth {
        self.report_at(Instant::now())
    }

    fn report_at(&self, now: Instant) -> LogtoHealth {
        let outage = *self.lock();
        LogtoHealth {
            down_since: outage.map(|outage| outage.since),
            consecutive_failures: outage.map_or(0, |outage| outage.failures),
            retry_in: retry_in(outage, now),
        }
    }

    fn retry_in(&self, now: Instant) -> Duration {
        retry_in(*self.lock(), now)
    }

    fn record_success(&self) {
        if let Some(outage) = self.lock().take() {
            log::info!(
                "Logto answers again, after {} failed requests",
                outage.failures
            );
        }
    }

    fn record_failure(&self, now: Instant, wall_clock: SystemTime, error: &LogtoError) {
        let mut outage = self.lock();
        let failures = outage.map_or(0, |outage| outage.failures).saturating_add(1);
        let wait = self.backoff.after(failures);
        *outage = Some(Outage {
            since: outage.map_or(wall_clock, |outage| outage.since),
            failures,
            // A wait too long for the clock (a misconfigured backoff) means a day.
            retry_at: now
                .checked_add(wait)
                .or_else(|| now.checked_add(ONE_DAY))
                .unwrap_or(now),
        });
        log::warn!(
            "Logto failed {failures} time(s) in a row, not asking it again for {wait:?}: {}",
            crate::error_chain(error)
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Outage>> {
        // A poisoned lock only means a panic elsewhere; the record is always whole.
        self.outage
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn retry_in(outage: Option<Outage>, now: Instant) -> Duration {
    outage.map_or(Duration::ZERO, |outage| {
        outage.retry_at.saturating_duration_since(now)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn failed() -> LogtoError {
        LogtoError::ProviderStatus {
            document: "JWKS",
            status: 503,
        }
    }

    #[test]
    fn the_wait_doubles_from_the_initial_one_up_to_the_cap() {
        let backoff = Backoff::default();
        let waits: Vec<u64> = (0..=9).map(|n| backoff.after(n).as_secs()).collect();
        assert_eq!(waits, [0, 1, 2, 4, 8, 16, 32, 60, 60, 60]);
        for failures in [31, 32, 33, 1_000, u32::MAX] {
            assert_eq!(backoff.after(failures), 60 * SECOND, "{failures}");
        }
    }

    #[test]
    fn short_initial_waits_double_too_and_the_cap_wins_over_a_larger_start() {
        let fast = Backoff {
            initial: Duration::from_millis(200),
            max: SECOND,
        };
        assert_eq!(fast.after(1), Duration::from_millis(200));
        assert_eq!(fast.after(2), Duration::from_millis(400));
        assert_eq!(fast.after(3), Duration::from_millis(800));
        assert_eq!(fast.after(4), SECOND);
        let odd = Backoff {
            initial: 10 * SECOND,
            max: 3 * SECOND,
        };
        assert_eq!(odd.after(1), 3 * SECOND);
        let huge = Backoff {
            initial: Duration::MAX,
            max: Duration::MAX,
        };
        assert_eq!(huge.after(2), Duration::MAX, "no overflow");
        let health = ProviderHealth::new(huge);
        let now = Instant::now();
        health.record_failure(now, SystemTime::now(), &failed());
        assert_eq!(health.report_at(now).retry_in, ONE_DAY, "no panic either");
    }

    #[test]
    fn a_failure_closes_the_door_until_its_wait_has_passed() {
        let health = ProviderHealth::new(Backoff::default());
        let start = Instant::now();
        let wall_clock = SystemTime::now();
        assert_eq!(health.report_at(start).down_since, None);
        assert_eq!(health.retry_in(start), Duration::ZERO);

        health.record_failure(start, wall_clock, &failed());
        let report = health.report_at(start);
        assert!(report.is_down());
        assert_eq!(report.down_since, Some(wall_clock));
        assert_eq!(report.consecutive_failures, 1);
        assert_eq!(report.retry_in, SECOND);
        assert_eq!(
            health.retry_in(start + Duration::from_millis(999)),
            Duration::from_millis(1)
        );
        assert_eq!(health.retry_in(start + SECOND), Duration::ZERO);

        let later = start + SECOND;
        health.record_failure(later, wall_clock + SECOND, &failed());
        let report = health.report_at(later);
        assert_eq!(report.consecutive_failures, 2);
        assert_eq!(report.retry_in, 2 * SECOND, "doubled");
        assert_eq!(
            report.down_since,
            Some(wall_clock),
            "still down since the first failure"
        );
        assert!(
            health.report_at(later + 3 * SECOND).is_down(),
            "down until Logto answers, even once the wait has passed"
        );
    }

    #[test]
    fn a_success_ends_the_outage_and_resets_the_wait() {
        let health = ProviderHealth::new(Backoff::default());
        let start = Instant::now();
        for _ in 0..5 {
            health.record_failure(start, SystemTime::now(), &failed());
        }
        assert_eq!(health.report_at(start).retry_in, 16 * SECOND);

        assert_eq!(health.record(Ok(())).ok(), Some(()));
        let report = health.report_at(start);
        assert_eq!(
            report,
            LogtoHealth {
                down_since: None,
                consecutive_failures: 0,
                retry_in: Duration::ZERO
            }
        );
        health.record_failure(start, SystemTime::now(), &failed());
        assert_eq!(health.report_at(start).retry_in, SECOND, "from the start");
    }

    #[test]
    fn requests_are_refused_with_a_typed_error_while_backing_off() {
        let health = ProviderHealth::new(Backoff {
            initial: 60 * SECOND,
            max: 60 * SECOND,
        });
        assert!(health.allow_request("JWKS").is_ok());
        assert!(health.record::<()>(Err(failed())).is_err());
        match health.allow_request("discovery document") {
            Err(LogtoError::ProviderBackingOff { document, retry_in }) => {
                assert_eq!(document, "discovery document");
                assert!(retry_in > 59 * SECOND && retry_in <= 60 * SECOND);
            }
            other => panic!("{other:?}"),
        }
    }
}
