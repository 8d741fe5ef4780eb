//! The typed session: what this app keeps per browser, on top of actix-session.
//!
//! Two entries, never more: the pending sign-in attempts (between `/sign-in` and
//! `/callback`) and the signed-in user. A visitor who never signs in has neither, so no cookie
//! is set and no Redis key is written for them.

mod cookie_budget;
mod store;

use std::future::{Ready, ready};

use actix_session::{Session, SessionExt};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::logto::{PendingSignIn, SignedIn, TokenSet, UserProfile};

pub use cookie_budget::{CookieBudget, MAX_COOKIE_BYTES};
pub use store::{
    SESSION_COOKIE_NAME, SessionBackend, render_session_store_failures, session_middleware,
};

const PENDING_SIGN_INS: &str = "pending_sign_ins";
const USER: &str = "user";

/// Attempts kept at once, so that sign-ins started in two tabs both finish.
const MAX_PENDING_SIGN_INS: usize = 3;

/// The signed-in user, as stored in the session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignedInUser {
    pub profile: UserProfile,
    pub tokens: TokenSet,
}

impl From<SignedIn> for SignedInUser {
    fn from(signed_in: SignedIn) -> Self {
        Self {
            profile: UserProfile::from(&signed_in.claims),
            tokens: signed_in.tokens,
        }
    }
}

/// The browser's session, as this app uses it. Extract it in a handler like `Session`.
pub struct UserSession {
    session: Session,
    /// Set with the cookie store, whose whole state must fit in one cookie.
    cookie_budget: Option<CookieBudget>,
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
        }))
    }
}

impl UserSession {
    /// The signed-in user, if any. Unreadable data (for example from an older release) is
    /// dropped and the visitor is treated as signed out.
    pub fn user(&self) -> Option<SignedInUser> {
        match self.session.get::<SignedInUser>(USER) {
            Ok(user) => user,
            Err(error) => {
                log::warn!("dropping an unreadable session: {error}");
                self.session.purge();
                None
            }
        }
    }

    /// Remembers a sign-in attempt until its callback. The oldest attempts are forgotten.
    pub fn begin_sign_in(&self, attempt: PendingSignIn) -> Result<(), AppError> {
        let mut attempts = self.pending_sign_ins();
        attempts.push(attempt);
        let excess = attempts.len().saturating_sub(MAX_PENDING_SIGN_INS);
        attempts.drain(..excess);
        self.insert_within_budget(PENDING_SIGN_INS, &attempts)
    }

    /// Removes and returns the attempt with this `state`. Each attempt can be taken once.
    pub fn take_sign_in(&self, state: &str) -> Option<PendingSignIn> {
        let mut attempts = self.pending_sign_ins();
        let index = attempts.iter().position(|attempt| attempt.state == state)?;
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

    /// Ends the session: the Redis key is deleted and the cookie expires.
    pub fn sign_out(&self) {
        self.session.purge();
    }

    fn pending_sign_ins(&self) -> Vec<PendingSignIn> {
        self.session
            .get::<Vec<PendingSignIn>>(PENDING_SIGN_INS)
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
