//! The records of [`records`](super::records) in this process: for self-contained (cookie)
//! sessions on a single instance.
//!
//! There is nothing server-side to delete for such a session, so this remembers what ended (a
//! sign-out by its grant id, a back-channel logout by `sid`, or by `sub` and time) until the
//! sessions it names would have expired anyway, and such a session counts as ended the next
//! time it is read. Logout-token `jti`s and token hand-offs are kept here too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{
    EndedSessions, GrantLock, LogoutTarget, LogoutTokenLedger, SessionData, SessionLifetimes,
    StoreError, TokenHandOff, TokenState,
};

/// Locks, hand-offs, ended sessions and used logout tokens, in this process. Cheap to clone:
/// clones share the records.
///
/// Only right for one instance: a second process knows nothing of what this one recorded.
#[derive(Clone)]
pub struct MemoryRecords {
    inner: Arc<Inner>,
}

struct Inner {
    /// The longest a session lives (`SESSION_TTL`): what must outlive a session lives as long.
    session_ttl: Duration,
    records: Mutex<Records>,
}

/// What ended, and what was handed on, each until the given instant.
#[derive(Default)]
struct Records {
    /// Grants signed out here, by [`SessionData::grant_id`].
    grants: ExpiringMap<()>,
    /// Logto sessions ended by back-channel logout.
    sids: ExpiringMap<()>,
    /// Sessions of these users that signed in at or before this Unix time are ended.
    subs: ExpiringMap<i64>,
    /// Logout tokens already used.
    jtis: ExpiringMap<()>,
    /// The latest refresh of each grant, for requests that started before it.
    handoff: ExpiringMap<TokenState>,
}

impl MemoryRecords {
    /// Records that last `session_ttl` (`SESSION_TTL`), the longest a session lives.
    pub fn new(session_ttl: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                session_ttl,
                records: Mutex::default(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Records> {
        // A poisoned lock only means a panic elsewhere; every map is whole after each call.
        self.inner.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn ended_expiry(&self) -> Instant {
        Instant::now() + self.inner.session_ttl
    }
}

impl Default for MemoryRecords {
    /// Records that last the default session lifetime (14 days).
    fn default() -> Self {
        Self::new(SessionLifetimes::DEFAULT_ABSOLUTE)
    }
}

impl std::fmt::Debug for MemoryRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryRecords")
            .field("session_ttl", &self.inner.session_ttl)
            .finish_non_exhaustive()
    }
}

/// No lock to take: within one process, [`AccessTokens`](super::AccessTokens)' own mutex per
/// grant already serialises its refreshes.
impl GrantLock for MemoryRecords {
    type Guard = ();

    async fn acquire(
        &self,
        _grant_id: &str,
        _ttl: Duration,
        _wait: Duration,
    ) -> Result<Option<()>, StoreError> {
        Ok(Some(()))
    }

    async fn release(&self, _guard: ()) {}
}

impl TokenHandOff for MemoryRecords {
    async fn latest(&self, grant_id: &str) -> Result<Option<TokenState>, StoreError> {
        Ok(self.lock().handoff.get(grant_id).cloned())
    }

    async fn hand_on(
        &self,
        grant_id: &str,
        state: &TokenState,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.lock()
            .handoff
            .insert(grant_id, state.clone(), Instant::now() + ttl);
        Ok(())
    }

    async fn forget(&self, grant_id: &str) {
        self.lock().handoff.remove(grant_id);
    }
}

impl EndedSessions for MemoryRecords {
    async fn is_ended(&self, session: &SessionData) -> Result<bool, StoreError> {
        let records = self.lock();
        let by_grant = records.grants.contains(&session.grant_id);
        let by_sid = session
            .profile
            .sid
            .as_ref()
            .is_some_and(|sid| records.sids.contains(sid));
        let by_sub = records
            .subs
            .get(&session.profile.sub)
            .is_some_and(|ended_at| session.signed_in_at <= *ended_at);
        Ok(by_grant || by_sid || by_sub)
    }

    /// Its grant id is random per sign-in, so this ends that session and no other.
    async fn record_sign_out(&self, session: &SessionData) -> Result<(), StoreError> {
        let expires = self.ended_expiry();
        self.lock().grants.insert(&session.grant_id, (), expires);
        Ok(())
    }

    async fn end(&self, target: &LogoutTarget<'_>) -> Result<usize, StoreError> {
        let expires = self.ended_expiry();
        let mut records = self.lock();
        match *target {
            LogoutTarget::LogtoSession { sid } => records.sids.insert(sid, (), expires),
            // Tokens may arrive out of order: the latest logout wins.
            LogoutTarget::User { sub, issued_at } => {
                let latest = records
                    .subs
                    .get(sub)
                    .map_or(issued_at, |at| issued_at.max(*at));
                records.subs.insert(sub, latest, expires);
            }
        }
        Ok(0)
    }
}

impl LogoutTokenLedger for MemoryRecords {
    async fn first_use(&self, jti: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut records = self.lock();
        if records.jtis.contains(jti) {
            return Ok(false);
        }
        records.jtis.insert(jti, (), Instant::now() + ttl);
        Ok(true)
    }

    async fn forget(&self, jti: &str) {
        self.lock().jtis.remove(jti);
    }
}

/// Entries that expire, swept as the map grows so that it never holds much more than its
/// live entries.
struct ExpiringMap<V> {
    entries: HashMap<String, (V, Instant)>,
    /// Sweep again once the map has grown to this size.
    sweep_at: usize,
}

impl<V> Default for ExpiringMap<V> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            sweep_at: 64,
        }
    }
}

impl<V> ExpiringMap<V> {
    fn insert(&mut self, key: &str, value: V, expires: Instant) {
        if self.entries.len() >= self.sweep_at {
            let now = Instant::now();
            self.entries.retain(|_, (_, expires)| *expires > now);
            self.sweep_at = (self.entries.len() * 2).max(64);
        }
        self.entries.insert(key.to_owned(), (value, expires));
    }

    fn get(&self, key: &str) -> Option<&V> {
        self.entries
            .get(key)
            .filter(|(_, expires)| *expires > Instant::now())
            .map(|(value, _)| value)
    }

    fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    fn remove(&mut self, key: &str) {
        self.entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_entries_count_as_absent_and_are_swept_as_the_map_grows() {
        let mut map = ExpiringMap::default();
        let past = Instant::now() - Duration::from_secs(1);
        let future = Instant::now() + Duration::from_secs(60);
        for index in 0..100 {
            map.insert(&format!("old-{index}"), (), past);
        }
        map.insert("live", (), future);
        assert!(!map.contains("old-1"));
        assert!(map.contains("live"));
        assert!(
            map.entries.len() < 100,
            "expired entries were swept: {}",
            map.entries.len()
        );
    }
}
