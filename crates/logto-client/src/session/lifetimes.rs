//! How long sessions last: from the sign-in, and since they were last used.

use std::time::Duration;

use super::{SessionData, secs};

/// The idle stamp is renewed at most this often, so that signed-in pages do not rewrite the
/// cookie or the stored session on every request.
const IDLE_STAMP_RENEWAL: Duration = Duration::from_secs(5 * 60);

/// How long sessions last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLifetimes {
    /// From the sign-in, whatever happens (`SESSION_TTL`).
    pub absolute: Duration,
    /// Since the session was last used (`SESSION_IDLE_TIMEOUT`).
    pub idle: Duration,
}

impl SessionLifetimes {
    /// A session's longest life by default: Logto's refresh token lives 14 days.
    pub const DEFAULT_ABSOLUTE: Duration = Duration::from_secs(14 * 24 * 60 * 60);
    /// An unused session ends after a day by default, like express-openid-connect's
    /// `rollingDuration`.
    pub const DEFAULT_IDLE: Duration = Duration::from_secs(24 * 60 * 60);
    /// The longest lifetime accepted: browsers cap a cookie's lifetime at 400 days.
    pub const MAX: Duration = Duration::from_secs(400 * 24 * 60 * 60);

    /// Checks that both lifetimes are positive, at most 400 days (what browsers keep a cookie
    /// for), and that the idle timeout is at most the absolute lifetime.
    pub fn validate(&self) -> Result<(), InvalidLifetimes> {
        for lifetime in [self.absolute, self.idle] {
            if lifetime.is_zero() || lifetime > Self::MAX {
                return Err(InvalidLifetimes::OutOfRange(lifetime));
            }
        }
        if self.idle > self.absolute {
            return Err(InvalidLifetimes::IdleLongerThanAbsolute {
                idle: self.idle,
                absolute: self.absolute,
            });
        }
        Ok(())
    }

    /// Why `session` is over at `now` (Unix seconds), if it is.
    pub fn expiry(&self, session: &SessionData, now: i64) -> Option<&'static str> {
        if now.saturating_sub(session.signed_in_at) > secs(self.absolute) {
            Some("it reached SESSION_TTL")
        } else if now.saturating_sub(session.last_seen_at) > secs(self.idle) {
            Some("it was idle for longer than SESSION_IDLE_TIMEOUT")
        } else {
            None
        }
    }

    /// Whether the idle stamp is old enough to be renewed at `now`: every 5 minutes, or every
    /// half of a shorter idle timeout.
    pub fn stamp_is_stale(&self, session: &SessionData, now: i64) -> bool {
        let renewal = IDLE_STAMP_RENEWAL.min(self.idle / 2);
        now.saturating_sub(session.last_seen_at) >= secs(renewal)
    }
}

impl Default for SessionLifetimes {
    /// 14 days from the sign-in, 24 hours idle.
    fn default() -> Self {
        Self {
            absolute: Self::DEFAULT_ABSOLUTE,
            idle: Self::DEFAULT_IDLE,
        }
    }
}

/// Session lifetimes that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidLifetimes {
    /// Zero, or longer than the 400 days browsers keep a cookie.
    #[error("a session lifetime of {0:?} is not between 1 second and 400 days")]
    OutOfRange(Duration),
    /// The idle timeout is longer than the absolute lifetime, which bounds every session anyway.
    #[error("the idle timeout ({idle:?}) is longer than the session lifetime ({absolute:?})")]
    IdleLongerThanAbsolute {
        /// The idle timeout.
        idle: Duration,
        /// The absolute lifetime.
        absolute: Duration,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn session_at(signed_in_at: i64, last_seen_at: i64) -> SessionData {
        serde_json::from_value(serde_json::json!({
            "profile": {"sub": "u"},
            "tokens": {"id_token": "i", "access_token": "a", "access_token_expires_at": null,
                       "refresh_token": null, "scope": null},
            "grant_id": "g", "csrf_token": "c",
            "signed_in_at": signed_in_at, "last_seen_at": last_seen_at
        }))
        .unwrap()
    }

    #[test]
    fn the_defaults_are_fourteen_days_and_a_day_and_valid() {
        let lifetimes = SessionLifetimes::default();
        assert_eq!(lifetimes.absolute, Duration::from_secs(14 * 24 * 3600));
        assert_eq!(lifetimes.idle, Duration::from_secs(24 * 3600));
        assert_eq!(lifetimes.validate(), Ok(()));
    }

    #[test]
    fn lifetimes_that_cannot_work_are_refused() {
        let valid = SessionLifetimes::default();
        for (absolute, idle) in [
            (Duration::ZERO, Duration::ZERO),
            (HOUR, Duration::ZERO),
            (SessionLifetimes::MAX + Duration::from_secs(1), HOUR),
            (HOUR, 2 * HOUR),
        ] {
            let lifetimes = SessionLifetimes { absolute, idle };
            assert!(lifetimes.validate().is_err(), "{lifetimes:?}");
        }
        let longest = SessionLifetimes {
            absolute: SessionLifetimes::MAX,
            idle: SessionLifetimes::MAX,
        };
        assert_eq!(longest.validate(), Ok(()));
        assert_eq!(valid.validate(), Ok(()));
    }

    #[test]
    fn a_session_ends_past_either_lifetime_to_the_second() {
        let lifetimes = SessionLifetimes {
            absolute: 10 * HOUR,
            idle: HOUR,
        };
        let signed_in = 1_000_000;
        let session = session_at(signed_in, signed_in + 9 * 3600);
        assert_eq!(lifetimes.expiry(&session, signed_in + 10 * 3600), None);
        assert_eq!(
            lifetimes.expiry(&session, signed_in + 10 * 3600 + 1),
            Some("it reached SESSION_TTL")
        );
        let idle = session_at(signed_in, signed_in);
        assert_eq!(lifetimes.expiry(&idle, signed_in + 3600), None);
        assert_eq!(
            lifetimes.expiry(&idle, signed_in + 3601),
            Some("it was idle for longer than SESSION_IDLE_TIMEOUT")
        );
    }

    #[test]
    fn the_idle_stamp_is_renewed_every_five_minutes_or_half_a_shorter_idle_timeout() {
        let seen = 1_000_000;
        let session = session_at(seen, seen);
        let long = SessionLifetimes::default();
        assert!(!long.stamp_is_stale(&session, seen + 299));
        assert!(long.stamp_is_stale(&session, seen + 300));
        let short = SessionLifetimes {
            absolute: HOUR,
            idle: Duration::from_secs(4),
        };
        assert!(!short.stamp_is_stale(&session, seen + 1));
        assert!(short.stamp_is_stale(&session, seen + 2));
    }
}
