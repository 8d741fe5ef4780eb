//! The API guard's cache of verified access tokens: a signature check (ES384 by default in
//! Logto) costs far more than the rest of an API request, and a caller sends the same token
//! until it expires.
//!
//! An entry is keyed by the SHA-256 of the whole token (never the token itself), holds the
//! claims of a token that passed every check that does not depend on the route (signature,
//! algorithm, `typ`, `iss`, `exp`/`nbf`), and is served only while `now < exp`: no leeway,
//! so a cached token never outlives what verifying it again would allow. The route's checks
//! (`aud`, scopes, organization) run on every request, cached or not. Failures are never
//! cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};

/// How many verified tokens a client keeps by default.
pub const DEFAULT_VERIFIED_TOKEN_CAPACITY: usize = 1024;

type TokenHash = [u8; 32];

struct Entry<T> {
    claims: Arc<T>,
    expires_at: i64,
}

/// A bounded map from a token's hash to its verified claims, until the token's `exp`.
pub(crate) struct VerifiedTokens<T> {
    capacity: usize,
    entries: Mutex<HashMap<TokenHash, Entry<T>>>,
}

impl<T> VerifiedTokens<T> {
    /// A cache of at most `capacity` tokens; 0 turns it off.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The claims of `raw` if it was verified and `now` is before its `exp`. An entry at or
    /// past its `exp` is dropped: the token must be verified again, which applies the leeway.
    pub(crate) fn get(&self, raw: &str, now: i64) -> Option<Arc<T>> {
        if self.capacity == 0 {
            return None;
        }
        let key = hash(raw);
        let mut entries = self.lock();
        match entries.get(&key) {
            Some(entry) if now < entry.expires_at => Some(Arc::clone(&entry.claims)),
            Some(_) => {
                entries.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Remembers `claims`, verified from `raw`, until `expires_at`. When full, drops the
    /// expired entries first, then the one that expires soonest.
    pub(crate) fn insert(&self, raw: &str, claims: Arc<T>, expires_at: i64, now: i64) {
        if self.capacity == 0 || expires_at <= now {
            return;
        }
        let key = hash(raw);
        let mut entries = self.lock();
        if !entries.contains_key(&key) && entries.len() >= self.capacity {
            entries.retain(|_, entry| now < entry.expires_at);
            if entries.len() >= self.capacity {
                // The key breaks ties, so the choice does not depend on the map's order.
                let soonest = entries
                    .iter()
                    .min_by_key(|(key, entry)| (entry.expires_at, **key))
                    .map(|(key, _)| *key);
                if let Some(soonest) = soonest {
                    entries.remove(&soonest);
                }
            }
        }
        entries.insert(key, Entry { claims, expires_at });
    }

    /// How many tokens are kept now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// The map, even after a panic elsewhere: every entry is complete on its own.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TokenHash, Entry<T>>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn hash(raw: &str) -> TokenHash {
    Sha256::digest(raw.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn cache(capacity: usize) -> VerifiedTokens<&'static str> {
        VerifiedTokens::new(capacity)
    }

    #[test]
    fn a_token_is_served_until_its_exp_and_not_at_it() {
        let tokens = cache(4);
        tokens.insert("a.b.c", Arc::new("claims"), NOW + 10, NOW);
        assert_eq!(tokens.get("a.b.c", NOW + 9).as_deref(), Some(&"claims"));
        assert_eq!(tokens.get("a.b.c", NOW + 10), None);
        assert_eq!(tokens.len(), 0, "the expired entry is dropped");
    }

    #[test]
    fn the_whole_token_is_the_key() {
        let tokens = cache(4);
        tokens.insert("a.b.c", Arc::new("claims"), NOW + 10, NOW);
        for other in ["a.b.d", "a.b.c ", "a.b", "A.b.c"] {
            assert_eq!(tokens.get(other, NOW), None, "{other}");
        }
    }

    #[test]
    fn an_expired_token_is_not_kept() {
        let tokens = cache(4);
        tokens.insert("a.b.c", Arc::new("claims"), NOW, NOW);
        assert_eq!(tokens.len(), 0);
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let tokens = cache(8);
        for n in 0..1000 {
            tokens.insert(&format!("t.{n}.s"), Arc::new("claims"), NOW + 100 + n, NOW);
            assert!(tokens.len() <= 8);
        }
        // The latest tokens stay: the one that expires soonest was dropped each time.
        assert!(tokens.get("t.999.s", NOW).is_some());
        assert!(tokens.get("t.0.s", NOW).is_none());
    }

    #[test]
    fn every_expired_entry_goes_first_when_full() {
        let tokens = cache(3);
        tokens.insert("short.lived.one", Arc::new("short"), NOW + 5, NOW);
        tokens.insert("short.lived.two", Arc::new("short"), NOW + 6, NOW);
        tokens.insert("long.lived.token", Arc::new("long"), NOW + 500, NOW);
        // Later, both short-lived tokens have expired: both make room.
        tokens.insert("new.token.here", Arc::new("new"), NOW + 100, NOW + 10);
        assert_eq!(tokens.len(), 2);
        assert!(tokens.get("long.lived.token", NOW + 10).is_some());
        assert!(tokens.get("new.token.here", NOW + 10).is_some());
    }

    #[test]
    fn capacity_zero_keeps_nothing() {
        let tokens = cache(0);
        tokens.insert("a.b.c", Arc::new("claims"), NOW + 10, NOW);
        assert_eq!(tokens.get("a.b.c", NOW), None);
        assert_eq!(tokens.len(), 0);
    }
}
