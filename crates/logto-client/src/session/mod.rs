//! The protocol logic every web framework needs around a signed-in session, free of any
//! framework: the session record, its two lifetimes, the sign-in attempts with their cap,
//! single-flight refresh that never drops a rotated refresh token, and back-channel logout
//! with its `jti` and ended-session records.
//!
//! Storage and locking sit behind small traits ([`GrantLock`], [`TokenHandOff`],
//! [`EndedSessions`], [`LogoutTokenLedger`], [`SessionCapacity`]); [`MemoryRecords`]
//! implements the first four in this process, for self-contained (cookie) sessions on a single
//! instance. A framework integration keeps [`SessionData`] in its session (under one key, as
//! JSON), runs every read through [`SessionGuard::check`], and stores or ends the session as
//! each [`SessionWrite`] says.

mod attempts;
mod capacity;
mod cookie_budget;
mod guard;
mod lifetimes;
mod memory;
mod records;
mod tokens;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::time::unix_now;
use crate::types::{SignedIn, TokenSet, UserProfile};

pub use attempts::{MAX_SIGN_IN_ATTEMPTS, SignInAttempt, SignInAttempts};
pub use capacity::{SessionCapacity, TooLarge, Unbounded};
pub use cookie_budget::{CookieBudget, MAX_COOKIE_BYTES};
pub use guard::{BackchannelError, BackchannelLogout, Checked, SessionGuard, SignOut};
pub use lifetimes::{InvalidLifetimes, SessionLifetimes};
pub use memory::MemoryRecords;
pub use records::{
    EndedSessions, GrantLock, LogoutTarget, LogoutTokenLedger, StoreError, TokenHandOff,
};
pub use tokens::{AccessTokens, SessionError, SessionWrite, TokenOutcome, is_due, target_key};

/// The signed-in user, as a session stores it (JSON).
///
/// The serde shape is the Logto Bookstore's session record from before this crate existed
/// (field names and defaults), so sessions written then still read, and a Redis script that
/// reads `revision` keeps working.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionData {
    /// Who is signed in, from the verified ID token.
    pub profile: UserProfile,
    /// The tokens of the sign-in, the latest refresh's once refreshed.
    pub tokens: TokenSet,
    /// Access tokens for API resources and organizations, by [`target_key`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra_tokens: BTreeMap<String, CachedToken>,
    /// Random, per sign-in: names this session for refresh locks (across refresh-token
    /// rotation) and, with the cookie store, for refusing its copies after sign-out.
    pub grant_id: String,
    /// Bumped on every refresh, so a request can tell that another one refreshed first.
    #[serde(default)]
    pub revision: u64,
    /// The synchronizer token that sign-out forms must carry (CSRF).
    pub csrf_token: String,
    /// Unix seconds; `SESSION_TTL` counts from here, and back-channel logout by `sub` ends
    /// sessions signed in before the logout.
    pub signed_in_at: i64,
    /// Unix seconds, renewed at most every 5 minutes; `SESSION_IDLE_TIMEOUT` counts from here.
    pub last_seen_at: i64,
}

/// An access token and when it expires (Unix seconds).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedToken {
    /// The access token itself.
    pub token: String,
    /// Unix seconds.
    pub expires_at: Option<i64>,
    /// Unix milliseconds, when it arrived.
    #[serde(default)]
    pub issued_at_ms: Option<i64>,
}

impl std::fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What a refresh changes, shared between the requests of one grant (the hand-off record).
#[derive(Clone, Serialize, Deserialize)]
pub struct TokenState {
    /// The session's tokens after the refresh.
    pub tokens: TokenSet,
    /// Its cached access tokens after the refresh.
    pub extra_tokens: BTreeMap<String, CachedToken>,
    /// Its revision after the refresh.
    pub revision: u64,
}

impl std::fmt::Debug for TokenState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenState")
            .field("revision", &self.revision)
            .finish_non_exhaustive()
    }
}

impl TokenState {
    /// The part of `session` that a refresh changes.
    pub fn of(session: &SessionData) -> Self {
        Self {
            tokens: session.tokens.clone(),
            extra_tokens: session.extra_tokens.clone(),
            revision: session.revision,
        }
    }
}

impl SessionData {
    /// A new sign-in, with fresh random grant id and CSRF token.
    pub fn new(signed_in: SignedIn) -> Self {
        let now = unix_now();
        Self {
            profile: UserProfile::from(&signed_in.claims),
            tokens: signed_in.tokens,
            extra_tokens: BTreeMap::new(),
            grant_id: random_token(),
            revision: 0,
            csrf_token: random_token(),
            signed_in_at: now,
            last_seen_at: now,
        }
    }

    /// Whether a form's `sent` CSRF token is this session's, compared in constant time.
    pub fn csrf_matches(&self, sent: &str) -> bool {
        bool::from(self.csrf_token.as_bytes().ct_eq(sent.as_bytes()))
    }

    /// The key of the cached access token that expires soonest, other than `except`.
    pub fn soonest_expiring_token(&self, except: Option<&str>) -> Option<String> {
        self.extra_tokens
            .iter()
            .filter(|(key, _)| Some(key.as_str()) != except)
            .min_by_key(|(_, cached)| cached.expires_at.unwrap_or(i64::MAX))
            .map(|(key, _)| key.clone())
    }

    /// Takes the tokens of `latest` when they are newer than this session's. Returns whether
    /// the session changed.
    pub fn adopt(&mut self, latest: TokenState) -> bool {
        if latest.revision <= self.revision {
            return false;
        }
        self.tokens = latest.tokens;
        self.extra_tokens = latest.extra_tokens;
        self.revision = latest.revision;
        true
    }

    /// What a stored session says about its user, read from its JSON without the rest.
    pub fn summary(json: &str) -> Option<StoredSummary> {
        serde_json::from_str(json).ok()
    }
}

/// What a stored [`SessionData`] says about its user, read without the rest of it (for
/// indexes, TTLs and conditional writes in a server-side store).
#[derive(Debug, Clone, Deserialize)]
pub struct StoredSummary {
    profile: StoredProfile,
    /// When the user signed in (Unix seconds); 0 when the record lacks it.
    #[serde(default)]
    pub signed_in_at: i64,
    /// The record's revision; 0 when it lacks one.
    #[serde(default)]
    pub revision: u64,
}

#[derive(Debug, Clone, Deserialize)]
struct StoredProfile {
    sub: String,
    sid: Option<String>,
}

impl StoredSummary {
    /// The user's ID in Logto.
    pub fn sub(&self) -> &str {
        &self.profile.sub
    }

    /// Logto's session id, when the ID token had one.
    pub fn sid(&self) -> Option<&str> {
        self.profile.sid.as_deref()
    }
}

/// 128 random bits, base64url, from the same CSPRNG `oauth2` uses for `state`.
pub fn random_token() -> String {
    oauth2::CsrfToken::new_random().into_secret()
}

/// Unix seconds of a duration, saturating.
fn secs(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A signed-in session as the Bookstore stored it before this crate existed (cookie or
    /// Redis), with a cached organization token.
    const STORED_BEFORE_THE_MOVE: &str = r#"{
        "profile": {"sub": "user-1", "name": "Ada", "email": "ada@example.com", "sid": "sid-1"},
        "tokens": {
            "id_token": "eyJ.id.token",
            "access_token": "opaque-access",
            "access_token_expires_at": 1700003600,
            "access_token_issued_at_ms": 1700000000123,
            "refresh_token": "refresh-1",
            "scope": "openid profile offline_access"
        },
        "extra_tokens": {
            "organization:org1": {"token": "org-jwt", "expires_at": 1700003600, "issued_at_ms": 1700000000456}
        },
        "grant_id": "grant-1",
        "revision": 3,
        "csrf_token": "csrf-1",
        "signed_in_at": 1700000000,
        "last_seen_at": 1700000100
    }"#;

    #[test]
    fn a_session_stored_before_the_move_still_reads_and_writes_back_the_same_shape() {
        let session: SessionData = serde_json::from_str(STORED_BEFORE_THE_MOVE).unwrap();
        assert_eq!(session.profile.sub, "user-1");
        assert_eq!(session.profile.sid.as_deref(), Some("sid-1"));
        assert_eq!(session.tokens.refresh_token.as_deref(), Some("refresh-1"));
        assert_eq!(session.extra_tokens["organization:org1"].token, "org-jwt");
        assert_eq!(
            (
                session.grant_id.as_str(),
                session.revision,
                session.csrf_token.as_str()
            ),
            ("grant-1", 3, "csrf-1")
        );
        assert_eq!(
            (session.signed_in_at, session.last_seen_at),
            (1700000000, 1700000100)
        );

        let written: serde_json::Value = serde_json::to_value(&session).unwrap();
        let before: serde_json::Value = serde_json::from_str(STORED_BEFORE_THE_MOVE).unwrap();
        assert_eq!(written, before, "the same JSON goes back");
        assert_eq!(written["revision"], 3, "where the Redis script reads it");
    }

    #[test]
    fn a_session_without_revision_issue_time_or_cached_tokens_reads_with_defaults() {
        let oldest = r#"{
            "profile": {"sub": "user-1"},
            "tokens": {"id_token": "i", "access_token": "a", "access_token_expires_at": null,
                       "refresh_token": null, "scope": null},
            "grant_id": "g", "csrf_token": "c", "signed_in_at": 1, "last_seen_at": 2
        }"#;
        let session: SessionData = serde_json::from_str(oldest).unwrap();
        assert_eq!(session.revision, 0);
        assert!(session.extra_tokens.is_empty());
        assert_eq!(session.tokens.access_token_issued_at_ms, None);
        let summary = SessionData::summary(oldest).unwrap();
        assert_eq!(
            (summary.sub(), summary.sid(), summary.revision),
            ("user-1", None, 0)
        );
    }

    #[test]
    fn the_summary_reads_who_when_and_which_revision() {
        let summary = SessionData::summary(STORED_BEFORE_THE_MOVE).unwrap();
        assert_eq!(summary.sub(), "user-1");
        assert_eq!(summary.sid(), Some("sid-1"));
        assert_eq!((summary.signed_in_at, summary.revision), (1700000000, 3));
        assert!(SessionData::summary("{\"not\": \"a session\"}").is_none());
    }

    #[test]
    fn the_csrf_token_must_match_exactly() {
        let session: SessionData = serde_json::from_str(STORED_BEFORE_THE_MOVE).unwrap();
        assert!(session.csrf_matches("csrf-1"));
        for wrong in ["", "csrf-", "csrf-10", "CSRF-1"] {
            assert!(!session.csrf_matches(wrong), "{wrong:?}");
        }
    }

    #[test]
    fn only_a_newer_hand_off_is_adopted() {
        let mut session: SessionData = serde_json::from_str(STORED_BEFORE_THE_MOVE).unwrap();
        let mut older = TokenState::of(&session);
        older.tokens.refresh_token = Some("older".to_owned());
        older.revision = 3;
        assert!(!session.adopt(older));
        let mut newer = TokenState::of(&session);
        newer.tokens.refresh_token = Some("rotated".to_owned());
        newer.revision = 4;
        assert!(session.adopt(newer));
        assert_eq!(session.tokens.refresh_token.as_deref(), Some("rotated"));
        assert_eq!(session.revision, 4);
    }
}
