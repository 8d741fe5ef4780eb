//! The session protocol (`logto_client::session`) without any web framework: the in-process
//! records ([`MemoryRecords`]) and the in-process Logto-shaped IdP. These are the guarantees an
//! axum product gets as much as an actix one: single-flight refresh, a rotated refresh token
//! that is never dropped, ended sessions, `jti` replay, the lifetimes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use logto_client::session::{
    AccessTokens, BackchannelError, Checked, EndedSessions, GrantLock, LogoutTarget,
    LogoutTokenLedger, MemoryRecords, SessionCapacity, SessionData, SessionError, SessionGuard,
    SessionLifetimes, SessionWrite, StoreError, TokenHandOff, TokenState, TooLarge, Unbounded,
};
use logto_client::{Backoff, LogtoClient, LogtoConfig, SignInOptions, TokenTarget, unix_now};

use test_support::idp::{BOOKSTORE_API, LogoutTokenSpec, Misbehaviour, TestIdp};
use test_support::poll;

mod common;

/// The IdP, a client of it, and one app's protocol on in-process records.
struct Fixture<R = MemoryRecords> {
    idp: TestIdp,
    client: Arc<LogtoClient>,
    guard: Arc<SessionGuard<R>>,
}

async fn setup(adjust: impl FnOnce(&mut LogtoConfig)) -> Fixture {
    setup_with(adjust, MemoryRecords::default()).await
}

async fn setup_with<R>(adjust: impl FnOnce(&mut LogtoConfig), records: R) -> Fixture<R>
where
    R: GrantLock + TokenHandOff + EndedSessions + LogoutTokenLedger,
{
    let (idp, mut config) = common::idp_and_config(common::APP_SECRET).await;
    config.resources = vec![BOOKSTORE_API.to_owned()];
    config.scopes.extend(["email".into(), "read:books".into()]);
    adjust(&mut config);
    let client = Arc::new(LogtoClient::new(config).expect("the client builds"));
    let guard = Arc::new(SessionGuard::new(
        Arc::clone(&client),
        records,
        SessionLifetimes::default(),
    ));
    Fixture { idp, client, guard }
}

impl<R: GrantLock + TokenHandOff + EndedSessions + LogoutTokenLedger> Fixture<R> {
    /// Signs in by hand and makes the session record a framework would store.
    async fn sign_in(&self) -> SessionData {
        SessionData::new(common::sign_in_by_hand(&self.client, &SignInOptions::default()).await)
    }

    fn tokens(&self) -> &AccessTokens<R> {
        self.guard.tokens()
    }
}

/// Makes the session's userinfo access token due, as if an hour had passed.
fn make_due(session: &mut SessionData) {
    session.tokens.access_token_expires_at = Some(0);
}

/// A store that holds at most `limit` bytes of session JSON, like a cookie of a few KB.
struct Limit(usize);

impl SessionCapacity for Limit {
    fn check(&self, session: &SessionData, extra_bytes: usize) -> Result<(), TooLarge> {
        let bytes = serde_json::to_string(session).expect("JSON").len() + extra_bytes;
        if bytes > self.0 {
            return Err(TooLarge {
                cookie_bytes: bytes,
                limit: self.0,
            });
        }
        Ok(())
    }
}

fn json_len(session: &SessionData) -> usize {
    serde_json::to_string(session).expect("JSON").len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_of_one_session_refresh_once_and_all_keep_the_rotated_token() {
    let fixture = setup(|_| {}).await;
    let mut session = fixture.sign_in().await;
    let signed_in_with = session.tokens.refresh_token.clone();
    make_due(&mut session);
    // Slow enough that every request arrives while the first refresh is in flight.
    fixture.idp.set_token_delay(Duration::from_millis(300));

    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let guard = Arc::clone(&fixture.guard);
        let mut copy = session.clone();
        requests.spawn(async move {
            let outcome = guard
                .tokens()
                .access_token(&mut copy, &TokenTarget::UserInfo, &Unbounded)
                .await;
            (outcome.token.expect("a token"), outcome.write, copy)
        });
    }
    let answers = requests.join_all().await;

    assert_eq!(fixture.idp.refresh_grant_count(), 1, "one refresh for all");
    let (token, _, first) = &answers[0];
    for (other_token, write, copy) in &answers {
        assert_eq!(other_token, token, "every request got the refreshed token");
        assert_eq!(*write, SessionWrite::Store, "every copy must be stored");
        assert_eq!(copy.tokens.refresh_token, first.tokens.refresh_token);
        assert_eq!(copy.revision, 1);
    }
    assert_ne!(
        first.tokens.refresh_token, signed_in_with,
        "Logto rotated it"
    );

    fixture.idp.set_token_delay(Duration::ZERO);
    let mut stored = first.clone();
    make_due(&mut stored);
    let again = fixture
        .tokens()
        .access_token(&mut stored, &TokenTarget::UserInfo, &Unbounded)
        .await;
    assert!(again.token.is_ok(), "the grant is alive: {:?}", again.token);
}

#[tokio::test]
async fn a_request_on_its_way_with_the_old_session_adopts_the_rotated_token_before_storing() {
    let fixture = setup(|_| {}).await;
    let mut session = fixture.sign_in().await;
    // Read five minutes ago: its idle stamp is renewed, so it is about to be stored.
    session.last_seen_at -= 6 * 60;
    let old_copy = session.clone();
    make_due(&mut session);
    let refreshed = fixture
        .tokens()
        .access_token(&mut session, &TokenTarget::UserInfo, &Unbounded)
        .await;
    assert_eq!(refreshed.write, SessionWrite::Store);

    let Checked::Valid {
        session: checked,
        write,
    } = fixture.guard.check(old_copy.clone(), &Unbounded).await
    else {
        panic!("the old copy is still a valid session");
    };
    assert_eq!(write, SessionWrite::Store, "its new idle stamp is stored");
    assert_eq!(checked.tokens.refresh_token, session.tokens.refresh_token);
    assert_eq!(checked.revision, session.revision);
    assert!(checked.last_seen_at >= unix_now() - 1);

    let mut other_copy = old_copy;
    assert!(
        fixture
            .tokens()
            .adopt_handed_on(&mut other_copy)
            .await
            .unwrap()
    );
    assert_eq!(
        other_copy.tokens.refresh_token,
        session.tokens.refresh_token
    );
    assert!(
        !fixture
            .tokens()
            .adopt_handed_on(&mut other_copy)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_refresh_whose_id_token_cannot_be_verified_keeps_the_rotated_refresh_token() {
    let fixture = setup(|config| {
        config.jwks_min_refetch_interval = Duration::ZERO;
        config.provider_backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(100),
        };
    })
    .await;
    let mut session = fixture.sign_in().await;
    let signed_in_with = session.tokens.refresh_token.clone();
    make_due(&mut session);
    fixture.idp.rotate_signing_key();
    fixture.idp.set_misbehaviour(Misbehaviour::JwksUnavailable);

    let failed = fixture
        .tokens()
        .access_token(&mut session, &TokenTarget::UserInfo, &Unbounded)
        .await;

    assert!(
        matches!(failed.token, Err(SessionError::Logto(_))),
        "{:?}",
        failed.token
    );
    assert_eq!(
        failed.write,
        SessionWrite::Store,
        "the rotated token is stored"
    );
    assert_ne!(session.tokens.refresh_token, signed_in_with);
    assert_eq!(session.revision, 1);

    fixture.idp.set_misbehaviour(Misbehaviour::None);
    let client = Arc::clone(&fixture.client);
    poll::eventually("Logto's backoff to pass", Duration::from_secs(5), || {
        client.health().retry_in.is_zero()
    })
    .await;
    let again = fixture
        .tokens()
        .access_token(&mut session, &TokenTarget::UserInfo, &Unbounded)
        .await;
    assert!(
        again.token.is_ok(),
        "no spent refresh token was used: {:?}",
        again.token
    );
}

#[tokio::test]
async fn a_refused_grant_ends_the_session_and_every_copy_of_it() {
    let fixture = setup(|_| {}).await;
    let mut session = fixture.sign_in().await;
    let copy = session.clone();
    make_due(&mut session);
    fixture.idp.revoke_all_grants();

    let outcome = fixture
        .tokens()
        .access_token(&mut session, &TokenTarget::UserInfo, &Unbounded)
        .await;

    assert!(matches!(outcome.token, Err(SessionError::Ended)));
    assert_eq!(outcome.write, SessionWrite::End);
    assert!(matches!(
        fixture.guard.check(copy, &Unbounded).await,
        Checked::Ended {
            reason: "it was signed out"
        }
    ));
}

#[tokio::test]
async fn a_token_that_cannot_fit_is_not_asked_for_and_the_refresh_token_stays_unspent() {
    let fixture = setup(|_| {}).await;
    let mut session = fixture.sign_in().await;
    let room = Limit(json_len(&session) + 200);
    let api = TokenTarget::Resource(BOOKSTORE_API.to_owned());

    let outcome = fixture
        .tokens()
        .access_token(&mut session, &api, &room)
        .await;

    assert!(matches!(outcome.token, Err(SessionError::TooLarge(_))));
    assert_eq!(outcome.write, SessionWrite::Unchanged);
    assert_eq!(fixture.idp.refresh_grant_count(), 0, "Logto was not asked");
}

#[tokio::test]
async fn cached_tokens_make_room_soonest_to_expire_first_and_the_refresh_token_stays() {
    let fixture = setup(|_| {}).await;
    let mut session = fixture.sign_in().await;
    let now = unix_now();
    for (key, expires_in) in [("organization:soon", 600), ("organization:later", 3000)] {
        session.extra_tokens.insert(
            key.to_owned(),
            serde_json::from_value(serde_json::json!({
                "token": "t".repeat(1500), "expires_at": now + expires_in
            }))
            .unwrap(),
        );
    }
    let room = Limit(json_len(&session) + 300);
    let api = TokenTarget::Resource(BOOKSTORE_API.to_owned());

    let outcome = fixture
        .tokens()
        .access_token(&mut session, &api, &room)
        .await;

    assert!(outcome.token.is_ok(), "{:?}", outcome.token);
    assert_eq!(outcome.write, SessionWrite::Store);
    let kept: Vec<_> = session.extra_tokens.keys().map(String::as_str).collect();
    assert_eq!(
        kept,
        ["organization:later", &format!("resource:{BOOKSTORE_API}")]
    );
    assert!(session.tokens.refresh_token.is_some());
    assert!(room.check(&session, 0).is_ok());
}

#[tokio::test]
async fn a_session_that_cannot_store_its_rotated_token_is_revoked_and_ended() {
    let fixture = setup(|_| {}).await;
    let mut session = fixture.sign_in().await;
    make_due(&mut session);
    let copy = session.clone();
    // The userinfo token replaces the old one, so nothing is checked before asking Logto; the
    // answer is then too big to keep.
    let room = Limit(100);

    let outcome = fixture
        .tokens()
        .access_token(&mut session, &TokenTarget::UserInfo, &room)
        .await;

    assert!(matches!(outcome.token, Err(SessionError::TooLarge(_))));
    assert_eq!(outcome.write, SessionWrite::End);
    let rotated = session.tokens.refresh_token.clone().expect("rotated");
    let reused = fixture
        .client
        .refresh(&rotated, &TokenTarget::UserInfo, &session.profile.sub)
        .await;
    assert!(
        reused.is_err_and(|error| error.is_invalid_grant()),
        "revoked"
    );
    assert!(matches!(
        fixture.guard.check(copy, &Unbounded).await,
        Checked::Ended { .. }
    ));
}

#[tokio::test]
async fn signing_out_revokes_records_and_forgets_the_hand_off() {
    let fixture = setup(|_| {}).await;
    let mut session = fixture.sign_in().await;
    make_due(&mut session);
    let _ = fixture
        .tokens()
        .access_token(&mut session, &TokenTarget::UserInfo, &Unbounded)
        .await;
    let records = fixture.guard.records();
    assert!(records.latest(&session.grant_id).await.unwrap().is_some());

    let signed_out = fixture.guard.sign_out(&session).await.unwrap();

    let url = signed_out.end_session_url.expect("Logto's end-session URL");
    assert!(url.as_str().starts_with(&fixture.idp.issuer()), "{url}");
    assert!(records.latest(&session.grant_id).await.unwrap().is_none());
    assert!(matches!(
        fixture.guard.check(session.clone(), &Unbounded).await,
        Checked::Ended {
            reason: "it was signed out"
        }
    ));
    let refresh_token = session.tokens.refresh_token.clone().unwrap();
    let reused = fixture
        .client
        .refresh(&refresh_token, &TokenTarget::UserInfo, &session.profile.sub)
        .await;
    assert!(
        reused.is_err_and(|error| error.is_invalid_grant()),
        "revoked"
    );
}

#[tokio::test]
async fn a_logout_token_ends_its_logto_session_once_and_its_replay_is_refused() {
    let fixture = setup(|_| {}).await;
    let session = fixture.sign_in().await;
    let sid = session.profile.sid.clone().expect("Logto's sid");
    let other = fixture.sign_in().await;
    let logout_token = fixture.idp.logout_token(LogoutTokenSpec::session(&sid));

    let logout = fixture
        .guard
        .backchannel_logout(&logout_token)
        .await
        .unwrap();
    assert_eq!(logout.deleted, 0, "nothing stored server-side to delete");

    assert!(matches!(
        fixture.guard.backchannel_logout(&logout_token).await,
        Err(BackchannelError::Replayed)
    ));
    assert!(matches!(
        fixture.guard.check(session, &Unbounded).await,
        Checked::Ended { .. }
    ));
    assert!(
        matches!(
            fixture.guard.check(other, &Unbounded).await,
            Checked::Valid { .. }
        ),
        "another Logto session of the user lives on"
    );
}

#[tokio::test]
async fn a_logout_by_user_ends_the_sessions_signed_in_before_it_the_latest_logout_winning() {
    let records = MemoryRecords::default();
    let fixture = setup_with(|_| {}, records.clone()).await;
    let mut before = fixture.sign_in().await;
    before.profile.sid = None;
    let mut after = before.clone();
    after.signed_in_at = unix_now() + 60;
    let logout_token = fixture.idp.logout_token(LogoutTokenSpec {
        sub: Some(before.profile.sub.clone()),
        ..LogoutTokenSpec::default()
    });

    fixture
        .guard
        .backchannel_logout(&logout_token)
        .await
        .unwrap();
    // An older logout arriving late does not bring back what the newer one ended.
    let older = LogoutTarget::User {
        sub: &before.profile.sub,
        issued_at: before.signed_in_at - 60,
    };
    records.end(&older).await.unwrap();

    assert!(records.is_ended(&before).await.unwrap());
    assert!(
        !records.is_ended(&after).await.unwrap(),
        "signed in after it"
    );
}

/// Records whose `end` fails while `failing` is set, as Redis does when it goes away.
#[derive(Clone)]
struct FailingEnd {
    records: MemoryRecords,
    failing: Arc<AtomicBool>,
}

impl GrantLock for FailingEnd {
    type Guard = ();
    async fn acquire(
        &self,
        grant: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Option<()>, StoreError> {
        self.records.acquire(grant, ttl, wait).await
    }
    async fn release(&self, guard: ()) {
        self.records.release(guard).await;
    }
}

impl TokenHandOff for FailingEnd {
    async fn latest(&self, grant: &str) -> Result<Option<TokenState>, StoreError> {
        self.records.latest(grant).await
    }
    async fn hand_on(
        &self,
        grant: &str,
        state: &TokenState,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.records.hand_on(grant, state, ttl).await
    }
    async fn forget(&self, grant: &str) {
        TokenHandOff::forget(&self.records, grant).await;
    }
}

impl EndedSessions for FailingEnd {
    async fn is_ended(&self, session: &SessionData) -> Result<bool, StoreError> {
        self.records.is_ended(session).await
    }
    async fn record_sign_out(&self, session: &SessionData) -> Result<(), StoreError> {
        self.records.record_sign_out(session).await
    }
    async fn end(&self, target: &LogoutTarget<'_>) -> Result<usize, StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::new("the store went away"));
        }
        self.records.end(target).await
    }
}

impl LogoutTokenLedger for FailingEnd {
    async fn first_use(&self, jti: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.records.first_use(jti, ttl).await
    }
    async fn forget(&self, jti: &str) {
        LogoutTokenLedger::forget(&self.records, jti).await;
    }
}

#[tokio::test]
async fn a_logout_token_whose_sessions_could_not_be_ended_is_accepted_when_sent_again() {
    let failing = Arc::new(AtomicBool::new(true));
    let records = FailingEnd {
        records: MemoryRecords::default(),
        failing: Arc::clone(&failing),
    };
    let fixture = setup_with(|_| {}, records).await;
    let session = fixture.sign_in().await;
    let sid = session.profile.sid.clone().expect("Logto's sid");
    let logout_token = fixture.idp.logout_token(LogoutTokenSpec::session(&sid));

    assert!(matches!(
        fixture.guard.backchannel_logout(&logout_token).await,
        Err(BackchannelError::Store(_))
    ));
    failing.store(false, Ordering::SeqCst);

    assert!(
        fixture
            .guard
            .backchannel_logout(&logout_token)
            .await
            .is_ok(),
        "Logto's retry"
    );
    assert!(matches!(
        fixture.guard.check(session, &Unbounded).await,
        Checked::Ended { .. }
    ));
}

#[tokio::test]
async fn every_read_enforces_both_lifetimes_and_renews_a_stale_idle_stamp() {
    let fixture = setup(|_| {}).await;
    let fresh = fixture.sign_in().await;
    let now = unix_now();
    let day = 24 * 60 * 60;

    let mut too_old = fresh.clone();
    too_old.signed_in_at = now - 14 * day - 1;
    too_old.last_seen_at = now;
    assert!(matches!(
        fixture.guard.check(too_old, &Unbounded).await,
        Checked::Ended {
            reason: "it reached SESSION_TTL"
        }
    ));

    let mut idle = fresh.clone();
    idle.last_seen_at = now - day - 1;
    assert!(matches!(
        fixture.guard.check(idle, &Unbounded).await,
        Checked::Ended {
            reason: "it was idle for longer than SESSION_IDLE_TIMEOUT"
        }
    ));

    let mut stale_stamp = fresh.clone();
    stale_stamp.last_seen_at = now - 5 * 60;
    let Checked::Valid { session, write } = fixture.guard.check(stale_stamp, &Unbounded).await
    else {
        panic!("a session used five minutes ago is valid");
    };
    assert_eq!(write, SessionWrite::Store);
    assert!(session.last_seen_at >= now);

    assert!(matches!(
        fixture.guard.check(fresh, &Unbounded).await,
        Checked::Valid {
            write: SessionWrite::Unchanged,
            ..
        }
    ));
}

#[tokio::test]
async fn a_self_contained_session_whose_token_is_due_is_checked_with_logto() {
    let fixture = setup(|_| {}).await;
    let mut session = fixture.sign_in().await;
    make_due(&mut session);
    fixture.idp.revoke_all_grants();
    let rechecking = SessionGuard::new(
        Arc::clone(&fixture.client),
        MemoryRecords::default(),
        SessionLifetimes::default(),
    )
    .recheck_when_due(true);

    assert!(
        matches!(
            fixture.guard.check(session.clone(), &Unbounded).await,
            Checked::Valid { .. }
        ),
        "a server-side session is not checked on read"
    );
    let Checked::Failed { error, write, .. } = rechecking.check(session, &Unbounded).await else {
        panic!("Logto refused the grant");
    };
    assert!(matches!(error, SessionError::Ended));
    assert_eq!(write, SessionWrite::End);
    assert_eq!(fixture.idp.refresh_grant_count(), 1);
}
