//! The typed session: what this app keeps per browser, on top of actix-session.
//!
//! One entry, the signed-in user. A visitor who never signs in has none, so no cookie is set
//! and no Redis key is written for them; sign-in attempts live in a cookie of their own
//! ([`SignInAttempts`]) until the callback. Every read checks that the session has not ended
//! (sign-out, back-channel logout) and is within its two lifetimes: `SESSION_TTL` from the
//! sign-in, and `SESSION_IDLE_TIMEOUT` since it was last used.

mod cookie_budget;
mod directory;
mod redis_store;
mod sign_in_attempts;
mod store;

use std::collections::BTreeMap;
use std::future::{Ready, ready};
use std::pin::Pin;
use std::time::Duration;

use actix_session::{Session, SessionExt};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::logto::{SignedIn, TokenSet, TokenTarget, UserProfile, unix_now};
use crate::tokens::{TokenService, is_due};

pub use cookie_budget::{CookieBudget, MAX_COOKIE_BYTES};
pub use directory::SessionDirectory;
pub use sign_in_attempts::{
    SIGN_IN_ATTEMPT_LIFETIME, SIGN_IN_COOKIE_NAME, SignInAttempt, SignInAttempts, SignInCookie,
};
pub use store::{
    SESSION_COOKIE_NAME, SessionBackend, render_session_store_failures, session_middleware,
};

const USER: &str = "user";

/// The idle stamp is renewed at most this often, so that signed-in pages do not rewrite the
/// cookie or the Redis key on every request.
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
    /// Why `user`'s session is over at `now`, if it is.
    fn expiry(&self, user: &SignedInUser, now: i64) -> Option<&'static str> {
        if now.saturating_sub(user.signed_in_at) > secs(self.absolute) {
            Some("it reached SESSION_TTL")
        } else if now.saturating_sub(user.last_seen_at) > secs(self.idle) {
            Some("it was idle for longer than SESSION_IDLE_TIMEOUT")
        } else {
            None
        }
    }

    /// Whether the idle stamp is old enough to be renewed: every 5 minutes, or every half of a
    /// shorter idle timeout.
    fn stamp_is_stale(&self, user: &SignedInUser, now: i64) -> bool {
        let renewal = IDLE_STAMP_RENEWAL.min(self.idle / 2);
        now.saturating_sub(user.last_seen_at) >= secs(renewal)
    }
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// How this app's sessions behave, registered once as app data.
pub struct SessionConfig {
    pub lifetimes: SessionLifetimes,
    /// Set with the cookie store, whose whole state must fit in one cookie, and whose sessions
    /// are checked with Logto whenever their access token is due.
    pub cookie_budget: Option<CookieBudget>,
}

/// The signed-in user, as stored in the session.
///
/// Take it as a handler argument to protect a route: an anonymous visitor is redirected to
/// `/sign-in?return_to=<this path>` and comes back here after signing in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignedInUser {
    pub profile: UserProfile,
    pub tokens: TokenSet,
    /// Access tokens for API resources and organizations, by [`TokenTarget`] key.
    ///
    /// [`TokenTarget`]: crate::logto::TokenTarget
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

impl SignedInUser {
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

    /// The key of the cached access token that expires soonest, other than `except`.
    pub fn soonest_expiring_token(&self, except: Option<&str>) -> Option<String> {
        self.extra_tokens
            .iter()
            .filter(|(key, _)| Some(key.as_str()) != except)
            .min_by_key(|(_, cached)| cached.expires_at.unwrap_or(i64::MAX))
            .map(|(key, _)| key.clone())
    }
}

/// 128 random bits, base64url, from the same CSPRNG `oauth2` uses for `state`.
fn random_token() -> String {
    oauth2::CsrfToken::new_random().into_secret()
}

impl FromRequest for SignedInUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session = UserSession::from_request(request, payload).into_inner();
        let return_to = request
            .uri()
            .path_and_query()
            .map_or("/", |path| path.as_str())
            .to_owned();
        Box::pin(async move {
            session?
                .user()
                .await?
                .ok_or(AppError::SignInRequired { return_to })
        })
    }
}

/// The browser's session, as this app uses it. Extract it in a handler like `Session`.
pub struct UserSession {
    session: Session,
    config: web::Data<SessionConfig>,
    directory: web::Data<SessionDirectory>,
    tokens: web::Data<TokenService>,
}

impl FromRequest for UserSession {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready((|| {
            Ok(Self {
                session: request.get_session(),
                config: app_data(request, "SessionConfig")?,
                directory: app_data(request, "SessionDirectory")?,
                tokens: app_data(request, "TokenService")?,
            })
        })())
    }
}

/// App data that the session cannot work without: missing, it is a wiring bug, and every
/// request says so rather than run without a check.
fn app_data<T: 'static>(
    request: &HttpRequest,
    name: &'static str,
) -> Result<web::Data<T>, AppError> {
    request
        .app_data::<web::Data<T>>()
        .cloned()
        .ok_or(AppError::MissingAppData(name))
}

impl UserSession {
    /// The signed-in user, if any. A session that ended (sign-out, back-channel logout) or
    /// outlived `SESSION_TTL` or `SESSION_IDLE_TIMEOUT` is removed, and so is unreadable data
    /// (for example from an older release): the visitor is then signed out.
    ///
    /// With the cookie store, a session whose access token is due is checked with Logto
    /// through the refresh grant; if Logto refused it, this is [`AppError::SessionEnded`].
    pub async fn user(&self) -> Result<Option<SignedInUser>, AppError> {
        let mut user = match self.session.get::<SignedInUser>(USER) {
            Ok(Some(user)) => user,
            Ok(None) => return Ok(None),
            Err(error) => {
                log::warn!("dropping an unreadable session: {error}");
                self.session.purge();
                return Ok(None);
            }
        };
        if self.directory.is_ended(&user) {
            log::info!(
                "ending a session of user {}: it was signed out",
                user.profile.sub
            );
            self.session.purge();
            return Ok(None);
        }
        let now = unix_now();
        if let Some(reason) = self.config.lifetimes.expiry(&user, now) {
            log::info!("ending a session of user {}: {reason}", user.profile.sub);
            self.session.purge();
            return Ok(None);
        }
        let renew_stamp = self.config.lifetimes.stamp_is_stale(&user, now);
        if renew_stamp {
            user.last_seen_at = now;
        }
        if self.is_self_contained() && is_due(&user, &TokenTarget::UserInfo) {
            // A copy of this cookie may outlive a sign-out elsewhere: ask Logto.
            match self
                .tokens
                .access_token(self, &mut user, &TokenTarget::UserInfo)
                .await
            {
                // Stored, new idle stamp included.
                Ok(_) => return Ok(Some(user)),
                // The session was ended on the way (a refused grant, a cookie that could not hold
                // the rotated refresh token): nobody is signed in any more.
                Err(error @ (AppError::SessionEnded | AppError::SessionTooLarge { .. })) => {
                    return Err(error);
                }
                Err(error) => log::warn!(
                    "could not check the session of user {} with Logto, keeping it until the \
                     next request: {}",
                    user.profile.sub,
                    crate::logto::error_chain(&error)
                ),
            }
        }
        if renew_stamp {
            // Another request may have refreshed since this one read the session.
            self.tokens.adopt_handed_on(&mut user).await?;
            self.update_user(&user)?;
        }
        Ok(Some(user))
    }

    /// Whether the whole session lives in the cookie (the cookie store).
    fn is_self_contained(&self) -> bool {
        self.config.cookie_budget.is_some()
    }

    /// Signs the user in under a new session id (against session fixation).
    pub fn sign_in(&self, user: &SignedInUser) -> Result<(), AppError> {
        self.session.renew();
        self.insert_within_budget(USER, user).inspect_err(|_| {
            // Leave nothing half-written behind.
            self.session.purge();
        })
    }

    /// Ends the session: the Redis key is deleted and the cookie expires. With the cookie
    /// store, the session is also remembered as ended, so that a copy of the cookie is refused.
    pub fn sign_out(&self) {
        if let Ok(Some(user)) = self.session.get::<SignedInUser>(USER) {
            self.directory.remember_sign_out(&user);
        }
        self.session.purge();
    }

    /// Stores the user again after their tokens changed (a refresh).
    pub fn update_user(&self, user: &SignedInUser) -> Result<(), AppError> {
        self.insert_within_budget(USER, user)
    }

    /// Stores `user` after a refresh, making room in a full cookie by dropping cached access
    /// tokens (they can be fetched again), soonest to expire first and `keep` last. The
    /// refresh token is never dropped: Logto may have rotated it, and then the old one is spent.
    pub fn store_refreshed(
        &self,
        user: &mut SignedInUser,
        keep: Option<&str>,
    ) -> Result<(), AppError> {
        loop {
            match self.update_user(user) {
                Err(AppError::SessionTooLarge { .. }) if !user.extra_tokens.is_empty() => {
                    let evicted = user
                        .soonest_expiring_token(keep)
                        .or_else(|| keep.map(str::to_owned));
                    log::info!("dropping a cached access token to fit the session cookie");
                    if let Some(evicted) = evicted {
                        user.extra_tokens.remove(&evicted);
                    }
                }
                result => return result,
            }
        }
    }

    /// Whether `user`, with one more access token as large as `token_bytes`, still fits in
    /// the session cookie. Always true with Redis.
    pub fn has_room_for_token(&self, user: &SignedInUser, token_bytes: usize) -> bool {
        self.cookie_bytes_with_token(user, token_bytes)
            .is_none_or(|bytes| bytes <= MAX_COOKIE_BYTES)
    }

    /// The error for a session that would not fit with one more token of `token_bytes`.
    pub fn too_large_for(&self, user: &SignedInUser, token_bytes: usize) -> AppError {
        AppError::SessionTooLarge {
            cookie_bytes: self
                .cookie_bytes_with_token(user, token_bytes)
                .unwrap_or(usize::MAX),
            limit: MAX_COOKIE_BYTES,
        }
    }

    /// The session cookie's size with `user` and one more token of `token_bytes` (cached
    /// tokens cost their JSON around them too, well under 100 bytes); `None` with Redis.
    fn cookie_bytes_with_token(&self, user: &SignedInUser, token_bytes: usize) -> Option<usize> {
        const CACHED_TOKEN_OVERHEAD: usize = 100;
        let budget = self.config.cookie_budget?;
        let json = self.state_json_with(USER, user).ok()?;
        Some(budget.cookie_bytes(json.len() + token_bytes + CACHED_TOKEN_OVERHEAD))
    }

    /// The whole session's JSON, as the cookie store would encrypt it, with `value` at `key`.
    fn state_json_with<T: Serialize>(&self, key: &str, value: &T) -> Result<String, AppError> {
        let serialized = serde_json::to_string(value)
            .map_err(|error| AppError::SessionWrite(error.to_string()))?;
        let mut state = self.session.entries().clone();
        state.insert(key.to_owned(), serialized);
        serde_json::to_string(&state).map_err(|error| AppError::SessionWrite(error.to_string()))
    }

    /// Inserts `value` unless, with the cookie store, the cookie would outgrow what browsers
    /// keep: they drop such a cookie silently, and sign-in would loop.
    fn insert_within_budget<T: Serialize>(&self, key: &str, value: &T) -> Result<(), AppError> {
        if let Some(budget) = self.config.cookie_budget {
            let cookie_bytes = budget.cookie_bytes(self.state_json_with(key, value)?.len());
            if cookie_bytes > MAX_COOKIE_BYTES {
                return Err(AppError::SessionTooLarge {
                    cookie_bytes,
                    limit: MAX_COOKIE_BYTES,
                });
            }
        }
        self.session
            .insert(key, value)
            .map_err(|error| AppError::SessionWrite(error.to_string()))
    }
}
