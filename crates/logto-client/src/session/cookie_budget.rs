//! How big a session cookie gets, computed before anything is stored.
//!
//! A private cookie jar (the `cookie` crate's, which actix-web's cookie session store and
//! axum-extra's `PrivateCookieJar` use) encrypts the session state (JSON) with AES-GCM, prepends a 12-byte nonce,
//! appends a 16-byte tag, encodes it as padded base64 and percent-encodes `/` and `=` in the
//! `Set-Cookie` header. Browsers keep a cookie only when its name and value together are at
//! most 4096 bytes; a bigger one is dropped without a word.

/// The most bytes a browser keeps for a cookie's name and value together (RFC 6265 §6.1).
pub const MAX_COOKIE_BYTES: usize = 4096;

const NONCE_BYTES: usize = 12;
const TAG_BYTES: usize = 16;

/// The cookie-size arithmetic of a private (encrypted) cookie: what a [`SessionCapacity`]
/// of a cookie store computes.
///
/// [`SessionCapacity`]: super::SessionCapacity
#[derive(Debug, Clone, Copy)]
pub struct CookieBudget {
    cookie_name_bytes: usize,
}

impl CookieBudget {
    /// The budget for a session cookie called `cookie_name`.
    pub fn new(cookie_name: &str) -> Self {
        Self {
            cookie_name_bytes: cookie_name.len(),
        }
    }

    /// An upper bound of `name=value` for a session state serialized to `state_json_bytes`.
    pub fn cookie_bytes(&self, state_json_bytes: usize) -> usize {
        let base64_bytes = base64::encoded_len(NONCE_BYTES + state_json_bytes + TAG_BYTES, true)
            .unwrap_or(usize::MAX);
        // The ciphertext is random: 1 base64 character in 64 is `/`, which becomes `%2F`
        // (2 more bytes). Allowing for twice that average, plus a floor for short values where
        // chance dominates, keeps the bound safe; padding `=` is inside the floor.
        let percent_encoding = base64_bytes / 16 + 32;
        self.cookie_name_bytes + 1 + base64_bytes + percent_encoding
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cookie::{Cookie, CookieJar, Key};

    /// `name=value` exactly as the session middleware would send it.
    fn real_cookie_bytes(name: &str, state_json: &str, key: &Key) -> usize {
        let mut jar = CookieJar::new();
        jar.private_mut(key)
            .add(Cookie::new(name.to_owned(), state_json.to_owned()));
        let cookie = jar.delta().next().expect("the cookie just added").clone();
        let encoded = cookie.encoded().stripped().to_string();
        encoded.len()
    }

    #[test]
    fn the_bound_is_never_below_the_real_cookie_and_close_to_it() {
        let key = Key::generate();
        let budget = CookieBudget::new("bookstore_session");
        for size in [2, 100, 1_000, 2_500, 2_900, 3_500] {
            for round in 0..50 {
                let state_json = format!("{{\"user\":\"{}{round}\"}}", "x".repeat(size));
                let real = real_cookie_bytes("bookstore_session", &state_json, &key);
                let bound = budget.cookie_bytes(state_json.len());
                assert!(bound >= real, "size {size}: bound {bound} < real {real}");
                assert!(
                    bound <= real + real / 20 + 40,
                    "size {size}: bound {bound} far above real {real}"
                );
            }
        }
    }

    #[test]
    fn about_2_9_kb_of_state_is_the_most_a_browser_keeps() {
        let budget = CookieBudget::new("bookstore_session");
        assert!(budget.cookie_bytes(2_800) <= MAX_COOKIE_BYTES);
        assert!(budget.cookie_bytes(3_000) > MAX_COOKIE_BYTES);
    }
}
