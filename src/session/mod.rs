//! The typed session: what this app keeps per browser, on top of actix-session.
//!
//! One entry, the signed-in user. A visitor who never signs in has none, so no cookie is set
//! and no Redis key is written for them; sign-in attempts live in a cookie of their own
//! ([`SignInAttempts`]) until the callback. Every read checks that the session has not ended
//! (sign-out, back-channel logout) and is within its two lifetimes: `SESSION_TTL` from the
//! sign-in, and `SESSION_IDLE_TIMEOUT` since it was last used.

mod records;
mod redis_store;
mod sign_in_attempts;
mod store;

use std::future::{Ready, ready};
use std::ops::{Deref, DerefMut};
use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use serde::Serialize;

use crate::error::AppError;
use crate::logto::session::{
    Checked, EndedSessions, SessionCapacity, SessionData, SessionWrite, TooLarge,
};
use crate::tokens::TokenService;

pub use crate::logto::session::SessionLifetimes;
pub use crate::logto::session::{CookieBudget, MAX_COOKIE_BYTES};
pub use records::{AppRecords, RedisRecords};
pub use sign_in_attempts::{SIGN_IN_COOKIE_NAME, SignInAttempt, SignInAttempts, SignInCookie};
pub use store::{
    SESSION_COOKIE_NAME, SessionBackend, render_session_store_failures, session_middleware,
};

const USER: &str = "user";

/// How this app's sessions behave, registered once as app data.
pub struct SessionConfig {
    pub lifetimes: SessionLifetimes,
    /// Set with the cookie store, whose whole state must fit in one cookie, and whose sessions
    /// are checked with Logto whenever their access token is due.
    pub cookie_budget: Option<CookieBudget>,
}

/// The signed-in user, as stored in the session: [`SessionData`], which it derefs to.
///
/// Take it as a handler argument to protect a route: an anonymous visitor is redirected to
/// `/sign-in?return_to=<this path>` and comes back here after signing in.
#[derive(Debug, Clone)]
pub struct SignedInUser(pub SessionData);

impl Deref for SignedInUser {
    type Target = SessionData;

    fn deref(&self) -> &SessionData {
        &self.0
    }
}

impl DerefMut for SignedInUser {
    fn deref_mut(&mut self) -> &mut SessionData {
        &mut self.0
    }
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
        let user = match self.session.get::<SessionData>(USER) {
            Ok(Some(user)) => user,
            Ok(None) => return Ok(None),
            Err(error) => {
                log::warn!("dropping an unreadable session: {error}");
                self.session.purge();
                return Ok(None);
            }
        };
        let sub = user.profile.sub.clone();
        match self.tokens.guard().check(user, &self.capacity()).await {
            Checked::Ended { reason } => {
                log::info!("ending a session of user {sub}: {reason}");
                self.session.purge();
                Ok(None)
            }
            Checked::Valid { session, write } => {
                self.write(&session, write)?;
                Ok(Some(SignedInUser(*session)))
            }
            Checked::Failed {
                session,
                error,
                write,
            } => {
                self.write(&session, write)?;
                Err(error.into())
            }
        }
    }

    /// Stores or ends the session as the protocol says, after it changed `user`.
    pub fn write(&self, user: &SessionData, write: SessionWrite) -> Result<(), AppError> {
        match write {
            SessionWrite::Store => self.update_user(user),
            // Its end is already recorded.
            SessionWrite::End => {
                self.session.purge();
                Ok(())
            }
            SessionWrite::Unchanged => Ok(()),
        }
    }

    /// The room the session has: a cookie's with the cookie store, unbounded with Redis.
    pub fn capacity(&self) -> impl SessionCapacity + '_ {
        CookieCapacity { session: self }
    }

    /// Signs the user in under a new session id (against session fixation).
    pub fn sign_in(&self, user: &SessionData) -> Result<(), AppError> {
        self.session.renew();
        self.insert_within_budget(USER, user).inspect_err(|_| {
            // Leave nothing half-written behind.
            self.session.purge();
        })
    }

    /// Ends the session: the Redis key is deleted and the cookie expires. With the cookie
    /// store, the session is also remembered as ended, so that a copy of the cookie is refused.
    pub async fn sign_out(&self) {
        if let Ok(Some(user)) = self.session.get::<SessionData>(USER) {
            let records = self.tokens.guard().records();
            if let Err(error) = records.record_sign_out(&user).await {
                log::warn!(
                    "could not record the sign-out of user {}: {}",
                    user.profile.sub,
                    crate::logto::error_chain(&error)
                );
            }
        }
        self.session.purge();
    }

    /// Deletes the session (the Redis key, the cookie), for a sign-out already recorded.
    pub fn purge(&self) {
        self.session.purge();
    }

    /// Stores the user again after their tokens changed (a refresh).
    pub fn update_user(&self, user: &SessionData) -> Result<(), AppError> {
        self.insert_within_budget(USER, user)
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

/// The session cookie's room, with the cookie store: what the protocol checks before it asks
/// Logto for a token that must be stored.
struct CookieCapacity<'a> {
    session: &'a UserSession,
}

impl SessionCapacity for CookieCapacity<'_> {
    fn check(&self, user: &SessionData, extra_bytes: usize) -> Result<(), TooLarge> {
        let Some(budget) = self.session.config.cookie_budget else {
            return Ok(());
        };
        // Unserializable: storing it reports that.
        let Ok(json) = self.session.state_json_with(USER, user) else {
            return Ok(());
        };
        let cookie_bytes = budget.cookie_bytes(json.len() + extra_bytes);
        if cookie_bytes > MAX_COOKIE_BYTES {
            return Err(TooLarge {
                cookie_bytes,
                limit: MAX_COOKIE_BYTES,
            });
        }
        Ok(())
    }
}
