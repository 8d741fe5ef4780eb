//! Sign-in attempts between the sign-in redirect and the callback, and their cap.
//!
//! An attempt (`state`, PKCE verifier, `nonce`, where to return) belongs to a visitor who is
//! not signed in yet; a framework keeps the list in a short-lived encrypted cookie of its own
//! (or wherever it likes) as the JSON of [`SignInAttempts::to_json_within`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::return_to::safe_return_to;
use crate::types::PendingSignIn;

/// Attempts kept at once, so that sign-ins started in two tabs both finish.
pub const MAX_SIGN_IN_ATTEMPTS: usize = 3;

/// A sign-in attempt and where to go once it succeeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignInAttempt {
    /// What the callback needs to finish the sign-in.
    pub pending: PendingSignIn,
    /// A path on this site, checked with [`safe_return_to`] when the attempt starts.
    pub return_to: String,
}

/// The sign-in attempts a browser has in flight, at most [`MAX_SIGN_IN_ATTEMPTS`].
#[derive(Debug, Clone, Default)]
pub struct SignInAttempts {
    attempts: Vec<SignInAttempt>,
}

impl SignInAttempts {
    /// The attempts stored as `json` that are at most `lifetime` old at `now` (Unix seconds);
    /// none when there is no JSON or it does not parse. Use
    /// [`LogtoClient::sign_in_lifetime`](crate::LogtoClient::sign_in_lifetime) as `lifetime`:
    /// the callback refuses older attempts anyway.
    pub fn from_json(json: Option<&str>, lifetime: Duration, now: i64) -> Self {
        let attempts: Vec<SignInAttempt> = json
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default();
        Self {
            attempts: attempts
                .into_iter()
                .filter(|attempt| !attempt.pending.is_expired(lifetime, now))
                .collect(),
        }
    }

    /// Remembers a new attempt, forgetting the oldest beyond three. `return_to` is kept only
    /// when it is a path on this site (at most 512 bytes); otherwise the user returns to `/`.
    pub fn begin(&mut self, pending: PendingSignIn, return_to: &str) {
        self.attempts.push(SignInAttempt {
            pending,
            return_to: safe_return_to(return_to).unwrap_or("/").to_owned(),
        });
        let excess = self.attempts.len().saturating_sub(MAX_SIGN_IN_ATTEMPTS);
        self.attempts.drain(..excess);
    }

    /// Removes and returns the attempt with this `state`. Each attempt can be taken once.
    pub fn take(&mut self, state: &str) -> Option<SignInAttempt> {
        let index = self
            .attempts
            .iter()
            .position(|attempt| attempt.pending.state == state)?;
        Some(self.attempts.remove(index))
    }

    /// The attempts, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &SignInAttempt> {
        self.attempts.iter()
    }

    /// Whether no attempt is left.
    pub fn is_empty(&self) -> bool {
        self.attempts.is_empty()
    }

    /// The attempts as JSON whose length `fits`, dropping the oldest until it does; `None`
    /// once none is left (clear the cookie then).
    pub fn to_json_within(
        &mut self,
        fits: impl Fn(usize) -> bool,
    ) -> Result<Option<String>, serde_json::Error> {
        while !self.attempts.is_empty() {
            let json = serde_json::to_string(&self.attempts)?;
            if fits(json.len()) {
                return Ok(Some(json));
            }
            self.attempts.remove(0);
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFETIME: Duration = Duration::from_secs(600);
    const NOW: i64 = 1_700_000_000;

    fn attempt(state: &str, started_at: i64) -> PendingSignIn {
        PendingSignIn {
            state: state.to_owned(),
            code_verifier: "v".repeat(43),
            nonce: "n".repeat(22),
            started_at,
        }
    }

    fn states(attempts: &SignInAttempts) -> Vec<&str> {
        attempts.iter().map(|a| a.pending.state.as_str()).collect()
    }

    #[test]
    fn at_most_three_attempts_are_kept_the_oldest_forgotten() {
        let mut attempts = SignInAttempts::default();
        for state in ["s1", "s2", "s3", "s4"] {
            attempts.begin(attempt(state, NOW), "/books");
        }
        assert_eq!(states(&attempts), ["s2", "s3", "s4"]);
    }

    #[test]
    fn an_attempt_is_taken_once() {
        let mut attempts = SignInAttempts::default();
        attempts.begin(attempt("s1", NOW), "/");
        assert!(attempts.take("s1").is_some());
        assert!(attempts.take("s1").is_none());
        assert!(attempts.is_empty());
        assert_eq!(attempts.to_json_within(|_| true).unwrap(), None);
    }

    #[test]
    fn an_unsafe_or_overlong_return_to_becomes_the_home_page() {
        let mut attempts = SignInAttempts::default();
        attempts.begin(attempt("s1", NOW), "//evil.example");
        attempts.begin(attempt("s2", NOW), &format!("/{}", "a".repeat(512)));
        attempts.begin(attempt("s3", NOW), "/books?page=2");
        let kept: Vec<_> = attempts.iter().map(|a| a.return_to.as_str()).collect();
        assert_eq!(kept, ["/", "/", "/books?page=2"]);
    }

    #[test]
    fn expired_and_unreadable_attempts_are_dropped_when_read() {
        let mut attempts = SignInAttempts::default();
        attempts.begin(attempt("old", NOW - 601), "/");
        attempts.begin(attempt("edge", NOW - 600), "/");
        let json = attempts.to_json_within(|_| true).unwrap();
        let read = SignInAttempts::from_json(json.as_deref(), LIFETIME, NOW);
        assert_eq!(states(&read), ["edge"]);
        assert!(SignInAttempts::from_json(Some("not json"), LIFETIME, NOW).is_empty());
        assert!(SignInAttempts::from_json(None, LIFETIME, NOW).is_empty());
    }

    #[test]
    fn the_oldest_attempts_are_dropped_until_the_json_fits() {
        let mut attempts = SignInAttempts::default();
        for state in ["s1", "s2", "s3"] {
            attempts.begin(attempt(state, NOW), "/");
        }
        let one = serde_json::to_string(&[attempts.iter().next().unwrap()]).unwrap();
        let json = attempts.to_json_within(|bytes| bytes <= one.len()).unwrap();
        assert_eq!(states(&attempts), ["s3"]);
        assert!(json.unwrap().contains("\"s3\""));
    }
}
