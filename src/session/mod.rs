//! The typed session: what this app keeps per browser, on top of actix-session.
//!
//! Two entries, never more: the pending sign-in attempts (between `/sign-in` and
//! `/callback`) and the signed-in user. A visitor who never signs in has neither, so no cookie
//! is set and no Redis key is written for them.

mod cookie_budget;
mod directory;
mod redis_store;
mod store;

use std::collections::BTreeMap;
use std::future::{Ready, ready};

use actix_session::{Session, SessionExt};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::logto::{PendingSignIn, SignedIn, TokenSet, UserProfile};
use crate::return_to::safe_return_to;

pub use cookie_budget::{CookieBudget, MAX_COOKIE_BYTES};
pub use directory::SessionDirectory;
pub use store::{
    SESSION_COOKIE_NAME, SessionBackend, render_session_store_failures, session_middleware,
};

const PENDING_SIGN_INS: &str = "pending_sign_ins";
const USER: &str = "user";

/// Attempts kept at once, so that sign-ins started in two tabs both finish.
const MAX_PENDING_SIGN_INS: usize = 3;

/// A sign-in attempt and where to go once it succeeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignInAttempt {
    pub pending: PendingSignIn,
    /// A path on this site, checked with [`safe_return_to`].
    pub return_to: String,
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
    /// Random, per sign-in: names this grant for refresh locks, across refresh-token rotation.
    pub grant_id: String,
    /// Bumped on every refresh, so a request can tell that another one refreshed first.
    #[serde(default)]
    pub revision: u64,
    /// The synchronizer token that sign-out forms must carry (CSRF).
    pub csrf_token: String,
    /// Unix seconds; back-channel logout by `sub` ends sessions signed in before it.
    #[serde(default)]
    pub signed_in_at: i64,
}

/// An access token and when it expires (Unix seconds).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedToken {
    pub token: String,
    pub expires_at: Option<i64>,
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
        Self {
            profile: UserProfile::from(&signed_in.claims),
            tokens: signed_in.tokens,
            extra_tokens: BTreeMap::new(),
            grant_id: random_token(),
            revision: 0,
            csrf_token: random_token(),
            signed_in_at: crate::logto::unix_now(),
        }
    }
}

/// 128 random bits, base64url, from the same CSPRNG `oauth2` uses for `state`.
fn random_token() -> String {
    oauth2::CsrfToken::new_random().into_secret()
}

impl FromRequest for SignedInUser {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session = UserSession::from_request(request, payload).into_inner();
        let user = session.ok().and_then(|session| session.user());
        ready(user.ok_or_else(|| {
            AppError::SignInRequired {
                return_to: request
                    .uri()
                    .path_and_query()
                    .map_or("/", |path| path.as_str())
                    .to_owned(),
            }
        }))
    }
}

/// The browser's session, as this app uses it. Extract it in a handler like `Session`.
pub struct UserSession {
    session: Session,
    /// Set with the cookie store, whose whole state must fit in one cookie.
    cookie_budget: Option<CookieBudget>,
    /// Sessions ended by back-channel logout.
    directory: Option<web::Data<SessionDirectory>>,
}

impl FromRequest for UserSession {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Ok(Self {
            session: request.get_session(),
            cookie_budget: request
                .app_data::<web::Data<CookieBudget>>()
                .map(|budget| *budget.get_ref()),
            directory: request.app_data::<web::Data<SessionDirectory>>().cloned(),
        }))
    }
}

impl UserSession {
    /// The signed-in user, if any. Unreadable data (for example from an older release) is
    /// dropped and the visitor is treated as signed out.
    pub fn user(&self) -> Option<SignedInUser> {
        match self.session.get::<SignedInUser>(USER) {
            Ok(Some(user)) if self.directory.as_ref().is_some_and(|d| d.is_ended(&user)) => {
                log::info!(
                    "ending the session of user {}: Logto signed them out",
                    user.profile.sub
                );
                self.session.purge();
                None
            }
            Ok(user) => user,
            Err(error) => {
                log::warn!("dropping an unreadable session: {error}");
                self.session.purge();
                None
            }
        }
    }

    /// Remembers a sign-in attempt until its callback. The oldest attempts are forgotten.
    pub fn begin_sign_in(&self, pending: PendingSignIn, return_to: &str) -> Result<(), AppError> {
        let attempt = SignInAttempt {
            pending,
            return_to: safe_return_to(return_to).unwrap_or("/").to_owned(),
        };
        let mut attempts = self.pending_sign_ins();
        attempts.push(attempt);
        let excess = attempts.len().saturating_sub(MAX_PENDING_SIGN_INS);
        attempts.drain(..excess);
        self.insert_within_budget(PENDING_SIGN_INS, &attempts)
    }

    /// Removes and returns the attempt with this `state`. Each attempt can be taken once.
    pub fn take_sign_in(&self, state: &str) -> Option<SignInAttempt> {
        let mut attempts = self.pending_sign_ins();
        let index = attempts
            .iter()
            .position(|attempt| attempt.pending.state == state)?;
        let attempt = attempts.remove(index);
        if attempts.is_empty() || self.session.insert(PENDING_SIGN_INS, &attempts).is_err() {
            self.session.remove(PENDING_SIGN_INS);
        }
        Some(attempt)
    }

    /// Ends the session when nothing is left in it, rather than store an empty one: a failed
    /// callback must not leave a session behind.
    pub fn discard_if_empty(&self) {
        if self.session.entries().is_empty() {
            self.session.purge();
        }
    }

    /// Signs the user in under a new session id (against session fixation).
    pub fn sign_in(&self, user: &SignedInUser) -> Result<(), AppError> {
        self.session.renew();
        self.session.remove(PENDING_SIGN_INS);
        self.insert_within_budget(USER, user).inspect_err(|_| {
            // Leave nothing half-written behind.
            self.session.purge();
        })
    }

    /// Ends the session: the Redis key is deleted and the cookie expires. With the cookie
    /// store, the session is also remembered as ended, so that a copy of the cookie is refused.
    pub fn sign_out(&self) {
        if let (Some(directory), Ok(Some(user))) =
            (&self.directory, self.session.get::<SignedInUser>(USER))
        {
            directory.remember_sign_out(&user);
        }
        self.session.purge();
    }

    /// Stores the user again after their tokens changed (a refresh).
    pub fn update_user(&self, user: &SignedInUser) -> Result<(), AppError> {
        self.insert_within_budget(USER, user)
    }

    fn pending_sign_ins(&self) -> Vec<SignInAttempt> {
        self.session
            .get::<Vec<SignInAttempt>>(PENDING_SIGN_INS)
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// Inserts `value` unless, with the cookie store, the cookie would outgrow what browsers
    /// keep: they drop such a cookie silently, and sign-in would loop.
    fn insert_within_budget<T: Serialize>(&self, key: &str, value: &T) -> Result<(), AppError> {
        if let Some(budget) = self.cookie_budget {
            let serialized = serde_json::to_string(value)
                .map_err(|error| AppError::SessionWrite(error.to_string()))?;
            let mut state = self.session.entries().clone();
            state.insert(key.to_owned(), serialized);
            let state_json = serde_json::to_string(&state)
                .map_err(|error| AppError::SessionWrite(error.to_string()))?;
            let cookie_bytes = budget.cookie_bytes(state_json.len());
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
