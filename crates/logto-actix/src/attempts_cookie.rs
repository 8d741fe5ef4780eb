//! Sign-in attempts between `/sign-in` and `/callback`, in a short-lived encrypted cookie of
//! their own rather than in the session.
//!
//! An attempt (`state`, PKCE verifier, `nonce`, where to return) belongs to a visitor who is
//! not signed in yet. Keeping it out of the session store means that anonymous traffic,
//! `/sign-in` included, writes nothing to Redis, and that the cookie store's budget stays for
//! the signed-in session. The cookie is encrypted and authenticated with the session key
//! (AES-256-GCM, its name bound in), HttpOnly, `SameSite=Lax` so that it comes back with
//! Logto's redirect, and lives 10 minutes. Its path is `/`: the narrowest that both
//! `/sign-in` (which adds attempts) and `/callback` (which takes them) share.

use std::time::Duration;

use actix_web::cookie::{Cookie, CookieJar, Key, SameSite, time};
use actix_web::{HttpRequest, HttpResponse};
use logto_client::session::SignInAttempts as Attempts;
use logto_client::session::{CookieBudget, MAX_COOKIE_BYTES, SignInAttempt};
use logto_client::{PendingSignIn, unix_now};

use crate::auth::LogtoAuth;
use crate::error::AuthError;

/// How the attempts cookie is sealed and sent.
#[derive(Clone)]
pub(crate) struct SignInCookie {
    name: &'static str,
    key: Key,
    secure: bool,
}

impl SignInCookie {
    /// The attempts cookie of `auth`: its name, sealed with the session key, `Secure` on https.
    pub(crate) fn of(auth: &LogtoAuth) -> Self {
        Self {
            name: auth.cookie_names().sign_in,
            key: auth.key().clone(),
            secure: auth.inner.secure,
        }
    }
}

/// The sign-in attempts this browser has in flight. Read them in `/sign-in` and `/callback`,
/// change them, then [`write_to`](Self::write_to) the response.
pub(crate) struct SignInAttempts {
    attempts: Attempts,
    config: SignInCookie,
    /// How long an attempt may take, from `/sign-in` to `/callback`: the Logto client's.
    lifetime: Duration,
    /// Whether the browser sent the cookie (so that an empty list must clear it).
    had_cookie: bool,
    changed: bool,
}

impl SignInAttempts {
    /// The attempts in `request`'s cookie that are still young enough to finish.
    pub(crate) fn of(request: &HttpRequest, auth: &LogtoAuth) -> Self {
        let config = SignInCookie::of(auth);
        let lifetime = auth.client().sign_in_lifetime();
        let sent = request.cookie(config.name);
        let had_cookie = sent.is_some();
        let json = sent.and_then(|cookie| open(&config.key, config.name, cookie));
        let attempts = Attempts::from_json(json.as_deref(), lifetime, unix_now());
        Self {
            attempts,
            config,
            lifetime,
            had_cookie,
            changed: false,
        }
    }

    /// Remembers a new attempt, forgetting the oldest beyond three. `return_to` is kept only
    /// when it is a path on this site (at most 512 bytes); otherwise the user returns to `/`.
    pub(crate) fn begin(&mut self, pending: PendingSignIn, return_to: &str) {
        self.attempts.begin(pending, return_to);
        self.changed = true;
    }

    /// Removes and returns the attempt with this `state`. Each attempt can be taken once.
    pub(crate) fn take(&mut self, state: &str) -> Option<SignInAttempt> {
        let attempt = self.attempts.take(state)?;
        self.changed = true;
        Some(attempt)
    }

    /// Sets the cookie on `response` when the attempts changed: sealed, or cleared when none
    /// is left.
    pub(crate) fn write_to(mut self, response: &mut HttpResponse) -> Result<(), AuthError> {
        if !self.changed {
            return Ok(());
        }
        let budget = CookieBudget::new(self.config.name);
        // Three attempts with the longest `return_to` fit; this guards against a change.
        let json = self
            .attempts
            .to_json_within(|json_bytes| budget.cookie_bytes(json_bytes) <= MAX_COOKIE_BYTES)
            .map_err(|error| AuthError::SessionWrite(error.to_string()))?;
        let cookie = match json {
            Some(json) => self.sealed(json),
            None if self.had_cookie => self.removal(),
            None => return Ok(()),
        };
        response
            .add_cookie(&cookie)
            .map_err(|error| AuthError::SessionWrite(error.to_string()))
    }

    fn sealed(&self, json: String) -> Cookie<'static> {
        let mut jar = CookieJar::new();
        jar.private_mut(&self.config.key)
            .add(self.attributes(Cookie::new(self.config.name, json)));
        match jar.get(self.config.name) {
            Some(sealed) => sealed.clone(),
            // The private jar always stores what it was given.
            None => self.removal(),
        }
    }

    fn removal(&self) -> Cookie<'static> {
        let mut cookie = self.attributes(Cookie::new(self.config.name, ""));
        cookie.make_removal();
        cookie
    }

    fn attributes(&self, mut cookie: Cookie<'static>) -> Cookie<'static> {
        cookie.set_path("/");
        cookie.set_http_only(true);
        cookie.set_same_site(SameSite::Lax);
        cookie.set_secure(self.config.secure);
        cookie
            .set_max_age(time::Duration::try_from(self.lifetime).unwrap_or(time::Duration::MINUTE));
        cookie
    }
}

/// The attempts' JSON in a cookie the browser sent; `None` when it was not sealed with `key`
/// (forged, tampered with, or from before a key change).
fn open(key: &Key, name: &str, sent: Cookie<'static>) -> Option<String> {
    let mut jar = CookieJar::new();
    jar.add_original(sent);
    let opened = jar.private(key).get(name)?;
    Some(opened.value().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(state: &str) -> PendingSignIn {
        PendingSignIn {
            state: state.to_owned(),
            code_verifier: "v".repeat(43),
            nonce: "n".repeat(22),
            started_at: unix_now(),
        }
    }

    const SIGN_IN_COOKIE_NAME: &str = "logto_sign_in";

    fn attempts(key: &Key) -> SignInAttempts {
        SignInAttempts {
            attempts: Attempts::default(),
            config: SignInCookie {
                name: SIGN_IN_COOKIE_NAME,
                key: key.clone(),
                secure: false,
            },
            lifetime: Duration::from_secs(600),
            had_cookie: false,
            changed: false,
        }
    }

    fn cookie_of(response: &HttpResponse) -> Cookie<'static> {
        response
            .cookies()
            .find(|cookie| cookie.name() == SIGN_IN_COOKIE_NAME)
            .expect("the attempts cookie")
            .into_owned()
    }

    #[test]
    fn three_attempts_with_the_longest_return_to_fit_in_one_cookie() {
        let key = Key::generate();
        let mut sign_in = attempts(&key);
        let longest = format!("/{}", "a".repeat(511));
        for state in ["s1", "s2", "s3", "s4"] {
            sign_in.begin(attempt(state), &longest);
        }
        let mut response = HttpResponse::Ok().finish();
        sign_in.write_to(&mut response).unwrap();

        let cookie = cookie_of(&response);
        assert!(cookie.encoded().to_string().len() <= MAX_COOKIE_BYTES);
        let json = open(&key, SIGN_IN_COOKIE_NAME, cookie).expect("the cookie opens with its key");
        let kept: Vec<SignInAttempt> = serde_json::from_str(&json).unwrap();
        let states: Vec<_> = kept.iter().map(|a| a.pending.state.as_str()).collect();
        assert_eq!(states, ["s2", "s3", "s4"], "the oldest is forgotten");
        assert!(kept.iter().all(|a| a.return_to == longest));
    }

    #[test]
    fn a_cookie_sealed_with_another_key_opens_to_nothing() {
        let mut sign_in = attempts(&Key::generate());
        sign_in.begin(attempt("s1"), "/");
        let mut response = HttpResponse::Ok().finish();
        sign_in.write_to(&mut response).unwrap();

        assert!(open(&Key::generate(), SIGN_IN_COOKIE_NAME, cookie_of(&response)).is_none());
    }

    #[test]
    fn an_unsafe_or_overlong_return_to_becomes_the_home_page() {
        let mut sign_in = attempts(&Key::generate());
        sign_in.begin(attempt("s1"), "//evil.example");
        sign_in.begin(attempt("s2"), &format!("/{}", "a".repeat(512)));
        assert!(sign_in.attempts.iter().all(|a| a.return_to == "/"));
    }

    #[test]
    fn taking_the_last_attempt_clears_the_cookie() {
        let mut sign_in = attempts(&Key::generate());
        sign_in.had_cookie = true;
        sign_in.begin(attempt("s1"), "/");
        assert!(sign_in.take("s1").is_some());
        assert!(sign_in.take("s1").is_none(), "an attempt is taken once");
        let mut response = HttpResponse::Ok().finish();
        sign_in.write_to(&mut response).unwrap();

        let cookie = cookie_of(&response);
        assert_eq!(cookie.value(), "");
        assert_eq!(cookie.max_age(), Some(time::Duration::ZERO));
    }
}
