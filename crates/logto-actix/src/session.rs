//! The typed session on top of actix-session, and the extractors a product's handlers take:
//! [`SignedInUser`] and [`MaybeUser`].
//!
//! One entry, the signed-in user ([`SessionData`] as JSON). A visitor who never signs in has
//! none, so no cookie is set and no Redis key is written for them; sign-in attempts live in a
//! cookie of their own until the callback. Every read checks that the session has not ended
//! (sign-out, back-channel logout) and is within its two lifetimes.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use logto_client::session::{
    BackchannelError, Checked, CookieBudget, EndedSessions, MAX_COOKIE_BYTES, SessionCapacity,
    SessionData, SessionError, SessionWrite, StoreError, TooLarge,
};
use logto_client::{IdTokenClaims, LogtoClient, LogtoError, TokenTarget, decode_stored_id_token};
use serde::Serialize;

use crate::auth::LogtoAuth;
use crate::error::AuthError;
use crate::routes::auth_of;
use crate::settings::SessionStoreKind;
use crate::store::USER_KEY;

/// The browser's session, as this crate uses it.
pub(crate) struct UserSession {
    session: Session,
    pub(crate) auth: LogtoAuth,
}

impl UserSession {
    /// The session of `request`; fails loudly when the auth middleware is not around it.
    pub(crate) fn of(request: &HttpRequest) -> Result<Self, AuthError> {
        let auth = auth_of(request)?;
        Ok(Self {
            session: request.get_session(),
            auth,
        })
    }

    /// The signed-in user, if any. A session that ended (sign-out, back-channel logout) or
    /// outlived a lifetime is removed, and so is unreadable data (for example from an older
    /// release): the visitor is then signed out.
    ///
    /// With the cookie store, a session whose access token is due is checked with Logto
    /// through the refresh grant; if Logto refused it, this is [`AuthError::SessionEnded`].
    pub(crate) async fn user(&self) -> Result<Option<SessionData>, AuthError> {
        let user = match self.session.get::<SessionData>(USER_KEY) {
            Ok(Some(user)) => user,
            Ok(None) => return Ok(None),
            Err(error) => {
                log::warn!("dropping an unreadable session: {error}");
                self.session.purge();
                return Ok(None);
            }
        };
        let sub = user.profile.sub.clone();
        match self.auth.guard().check(user, &self.capacity()).await {
            Checked::Ended { reason } => {
                log::info!("ending a session of user {sub}: {reason}");
                self.session.purge();
                Ok(None)
            }
            Checked::Valid { session, write } => {
                self.write(&session, write)?;
                Ok(Some(*session))
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
    fn write(&self, user: &SessionData, write: SessionWrite) -> Result<(), AuthError> {
        match write {
            SessionWrite::Store => self.insert_within_budget(user),
            // Its end is already recorded.
            SessionWrite::End => {
                self.session.purge();
                Ok(())
            }
            SessionWrite::Unchanged => Ok(()),
        }
    }

    /// The room the session has: a cookie's with the cookie store, unbounded with Redis.
    fn capacity(&self) -> CookieCapacity<'_> {
        CookieCapacity {
            session: self,
            budget: (self.auth.store() == &SessionStoreKind::Cookie)
                .then(|| CookieBudget::new(self.auth.cookie_names().session)),
        }
    }

    /// Signs the user in under a new session id (against session fixation).
    pub(crate) fn sign_in(&self, user: &SessionData) -> Result<(), AuthError> {
        self.session.renew();
        self.insert_within_budget(user).inspect_err(|_| {
            // Leave nothing half-written behind.
            self.session.purge();
        })
    }

    /// Ends the session: the Redis key is deleted and the cookie expires. With the cookie
    /// store, the session is also remembered as ended, so that a copy of the cookie is
    /// refused.
    async fn sign_out(&self, user: &SessionData) {
        if let Err(error) = self.auth.guard().records().record_sign_out(user).await {
            log::warn!(
                "could not record the sign-out of user {}: {}",
                user.profile.sub,
                logto_client::error_chain(&error)
            );
        }
        self.session.purge();
    }

    /// Deletes the session (the Redis key, the cookie), for a sign-out already recorded.
    pub(crate) fn purge(&self) {
        self.session.purge();
    }

    /// The whole session's JSON, as the cookie store would encrypt it, with `user` in it.
    fn state_json_with<T: Serialize>(&self, user: &T) -> Result<String, AuthError> {
        let serialized = serde_json::to_string(user)
            .map_err(|error| AuthError::SessionWrite(error.to_string()))?;
        let mut state = self.session.entries().clone();
        state.insert(USER_KEY.to_owned(), serialized);
        serde_json::to_string(&state).map_err(|error| AuthError::SessionWrite(error.to_string()))
    }

    /// Stores `user` unless, with the cookie store, the cookie would outgrow what browsers
    /// keep: they drop such a cookie silently, and sign-in would loop.
    fn insert_within_budget(&self, user: &SessionData) -> Result<(), AuthError> {
        if let Some(budget) = self.capacity().budget {
            let cookie_bytes = budget.cookie_bytes(self.state_json_with(user)?.len());
            if cookie_bytes > MAX_COOKIE_BYTES {
                return Err(AuthError::SessionTooLarge {
                    cookie_bytes,
                    limit: MAX_COOKIE_BYTES,
                });
            }
        }
        self.session
            .insert(USER_KEY, user)
            .map_err(|error| AuthError::SessionWrite(error.to_string()))
    }
}

/// The session cookie's room, with the cookie store: what the protocol checks before it asks
/// Logto for a token that must be stored. Without a budget (Redis), every session fits.
struct CookieCapacity<'a> {
    session: &'a UserSession,
    budget: Option<CookieBudget>,
}

impl SessionCapacity for CookieCapacity<'_> {
    fn check(&self, user: &SessionData, extra_bytes: usize) -> Result<(), TooLarge> {
        let Some(budget) = self.budget else {
            return Ok(());
        };
        // Unserializable: storing it reports that.
        let Ok(json) = self.session.state_json_with(user) else {
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

/// The signed-in user. Take it as a handler argument to protect a route: an anonymous
/// visitor is redirected to `/sign-in?return_to=<this path>` and comes back here after
/// signing in. A session store that cannot be read is the 503 page, never an anonymous
/// visitor.
///
/// It derefs to the stored [`SessionData`]. Its token methods refresh single-flight and
/// store the session as the protocol says (a rotated refresh token is never lost).
///
/// Used where the auth middleware is not around the route ([`LogtoAuth::scope`]), it fails
/// every request with [`AuthError::NotMounted`] (a 500 whose log line says how to fix it).
pub struct SignedInUser {
    data: SessionData,
    session: UserSession,
}

impl std::fmt::Debug for SignedInUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedInUser")
            .field("sub", &self.data.profile.sub)
            .finish_non_exhaustive()
    }
}

impl Deref for SignedInUser {
    type Target = SessionData;

    fn deref(&self) -> &SessionData {
        &self.data
    }
}

/// `path?query` of the request, to come back to after signing in.
fn return_to_of(request: &HttpRequest) -> String {
    request
        .uri()
        .path_and_query()
        .map_or("/", |path| path.as_str())
        .to_owned()
}

impl FromRequest for SignedInUser {
    type Error = AuthError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AuthError>>>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let session = UserSession::of(request);
        let return_to = return_to_of(request);
        Box::pin(async move {
            let session = session?;
            match session.user().await? {
                Some(data) => Ok(Self { data, session }),
                None => Err(AuthError::SignInRequired { return_to }),
            }
        })
    }
}

impl SignedInUser {
    /// Who is signed in.
    pub fn profile(&self) -> &logto_client::UserProfile {
        &self.data.profile
    }

    /// The name to show: the user's name, else their username, else their ID.
    pub fn display_name(&self) -> &str {
        self.data.profile.display_name()
    }

    /// The session's CSRF token, for forms that change state (sign-out).
    pub fn csrf_token(&self) -> &str {
        &self.data.csrf_token
    }

    /// The stored session.
    pub fn data(&self) -> &SessionData {
        &self.data
    }

    /// The Logto client, to verify an access token for an API, for example.
    pub fn client(&self) -> &LogtoClient {
        self.session.auth.client()
    }

    /// The claims of the ID token, verified at sign-in (or refresh) and kept since.
    pub fn id_token_claims(&self) -> Result<IdTokenClaims, AuthError> {
        Ok(decode_stored_id_token(&self.data.tokens.id_token)?)
    }

    /// A valid access token for `target`, refreshed first when it expires within a minute.
    /// A refresh that Logto refuses (`invalid_grant`) ends the session
    /// ([`AuthError::SessionEnded`]).
    pub async fn access_token(&mut self, target: &TokenTarget) -> Result<String, AuthError> {
        let outcome = self
            .session
            .auth
            .guard()
            .tokens()
            .access_token(&mut self.data, target, &self.session.capacity())
            .await;
        self.session.write(&self.data, outcome.write)?;
        Ok(outcome.token?)
    }

    /// A valid organization token (audience `urn:logto:organization:<id>`). Logto answers
    /// `access_denied` when the user is not a member and `insufficient_scope` without
    /// `urn:logto:scope:organizations`: [`AuthError::OrganizationDenied`], and the session
    /// stays.
    pub async fn organization_token(&mut self, organization_id: &str) -> Result<String, AuthError> {
        let target = TokenTarget::Organization(organization_id.to_owned());
        match self.access_token(&target).await {
            Err(AuthError::Logto(LogtoError::TokenRejected { error, description }))
                if error == "access_denied" || error == "insufficient_scope" =>
            {
                Err(AuthError::OrganizationDenied {
                    organization_id: organization_id.to_owned(),
                    reason: description.map_or(error.clone(), |text| format!("{error}: {text}")),
                })
            }
            other => other,
        }
    }

    /// Fresh userinfo from Logto (`/oidc/me`), about this user only. A token that Logto
    /// refuses there (the grant was revoked) ends the session.
    pub async fn userinfo(
        &mut self,
    ) -> Result<serde_json::Map<String, serde_json::Value>, AuthError> {
        let access_token = self.access_token(&TokenTarget::UserInfo).await?;
        let sub = self.data.profile.sub.clone();
        match self.client().userinfo(&access_token, &sub).await {
            Ok(userinfo) => Ok(userinfo),
            Err(LogtoError::AccessTokenRejected) => {
                self.session.sign_out(&self.data).await;
                self.session
                    .auth
                    .guard()
                    .tokens()
                    .forget(&self.data.grant_id)
                    .await;
                Err(AuthError::SessionEnded)
            }
            Err(error) => Err(error.into()),
        }
    }
}

/// The visitor, signed in or not: for pages that show either. A session store that cannot be
/// read is the 503 page, never an anonymous visitor.
#[derive(Debug)]
pub struct MaybeUser(Option<SignedInUser>);

impl MaybeUser {
    /// The signed-in user, if any.
    pub fn user(&self) -> Option<&SignedInUser> {
        self.0.as_ref()
    }

    /// The signed-in user, if any, to keep.
    pub fn into_user(self) -> Option<SignedInUser> {
        self.0
    }
}

impl FromRequest for MaybeUser {
    type Error = AuthError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AuthError>>>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let session = UserSession::of(request);
        if let Ok(session) = &session
            && !session.session.contains_key(USER_KEY)
        {
            // Anonymous: nothing to check. The checking future is kilobytes large, and boxing
            // it was a good share of an anonymous page's cost.
            return Box::pin(std::future::ready(Ok(Self(None))));
        }
        Box::pin(async move {
            let session = session?;
            Ok(Self(
                session
                    .user()
                    .await?
                    .map(|data| SignedInUser { data, session }),
            ))
        })
    }
}

impl From<SessionError> for AuthError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::Logto(error) => Self::Logto(error),
            SessionError::Ended => Self::SessionEnded,
            SessionError::TooLarge(too_large) => Self::SessionTooLarge {
                cookie_bytes: too_large.cookie_bytes,
                limit: too_large.limit,
            },
            SessionError::Store(_) | SessionError::LockTimeout => Self::SessionStoreUnavailable,
            other => Self::SessionWrite(other.to_string()),
        }
    }
}

impl From<StoreError> for AuthError {
    fn from(_: StoreError) -> Self {
        Self::SessionStoreUnavailable
    }
}

impl From<BackchannelError> for AuthError {
    fn from(error: BackchannelError) -> Self {
        match error {
            BackchannelError::Invalid(error) => Self::Logto(error),
            BackchannelError::Replayed => Self::ReplayedLogoutToken,
            BackchannelError::Store(_) => Self::SessionStoreUnavailable,
            other => Self::SessionWrite(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use logto_client::session::Unbounded;

    use crate::scope::tests::auth;

    #[test]
    fn checking_a_page_s_session_is_a_small_future_whichever_the_store() {
        // Every signed-in page boxes this future; with the Redis records inline, its rare
        // paths (a refresh, the hand-off read) made it kilobytes, copied on every request.
        let auth = auth();
        let user = serde_json::from_value(serde_json::json!({
            "profile": {"sub": "user-1"},
            "tokens": {"id_token": "i", "access_token": "a", "access_token_expires_at": null,
                       "refresh_token": null, "scope": null},
            "grant_id": "g", "csrf_token": "t", "signed_in_at": 1, "last_seen_at": 2
        }))
        .expect("a session");
        let check = auth.guard().check(user, &Unbounded);
        let bytes = std::mem::size_of_val(&check);
        assert!(bytes <= 1_024, "the check is a {bytes}-byte future");
    }
}
