//! Where to send the user after sign-in: only to a path on this site.

/// The longest `return_to` accepted, in bytes: it rides in the sign-in attempts cookie.
const MAX_LEN: usize = 512;

/// `raw` when it is a relative path on this site, else `None`.
///
/// Browsers treat `//host`, `/\host` and backslashes as other sites, and decode percent
/// escapes before resolving, so those are checked both raw and decoded.
pub fn safe_return_to(raw: &str) -> Option<&str> {
    let decoded = percent_decode(raw)?;
    let safe = |path: &str| {
        path.starts_with('/')
            && !path.starts_with("//")
            && !path.contains('\\')
            && !path.chars().any(char::is_control)
    };
    let unescaped_space = raw.chars().any(char::is_whitespace);
    (raw.len() <= MAX_LEN && !unescaped_space && safe(raw) && safe(&decoded)).then_some(raw)
}

/// `raw` with `%XX` escapes decoded; `None` when an escape is malformed or not UTF-8.
///
/// `percent-encoding` passes a `%` that starts no escape through as it is, as browsers do; here
/// it is refused instead, since a browser and this check might then read the path differently.
/// Only two ASCII hex digits make an escape: not `%+f`, which a number parser would take.
fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let escapes_well_formed = bytes
        .iter()
        .enumerate()
        .filter(|&(_, &byte)| byte == b'%')
        .all(|(index, _)| {
            bytes
                .get(index + 1..index + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
        });
    if !escapes_well_formed {
        return None;
    }
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_on_this_site_are_kept() {
        for path in [
            "/",
            "/books",
            "/profile?tab=claims",
            "/books/42#reviews",
            "/a%20b",
        ] {
            assert_eq!(safe_return_to(path), Some(path), "{path}");
        }
    }

    #[test]
    fn anything_that_could_leave_the_site_is_refused() {
        for hostile in [
            "//evil.example",
            "https://evil.example",
            "http:evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/%2F/evil.example",
            "%2F%2Fevil.example",
            "/%5Cevil.example",
            "%5C%5Cevil.example",
            "/%09/evil.example",
            "/\t/evil.example",
            "javascript:alert(1)",
            "evil.example",
            "",
            "/%zz",
            "/%ff",
            "/%+f",
            "/%-f",
            "%+2F%+2Fevil.example",
            "/%2",
            "/a%",
        ] {
            assert_eq!(safe_return_to(hostile), None, "{hostile:?}");
        }
        assert_eq!(safe_return_to(&format!("/{}", "a".repeat(MAX_LEN))), None);
    }

    #[test]
    fn an_escape_is_a_percent_and_two_hex_digits_and_nothing_else() {
        assert_eq!(
            percent_decode("/a%20b%2F%e3%81%82").as_deref(),
            Some("/a b/あ")
        );
        for malformed in ["/%+f", "/%-1", "/%+0", "/% f", "/%f", "/%", "/%zz"] {
            assert_eq!(percent_decode(malformed), None, "{malformed:?}");
        }
        assert_eq!(percent_decode("/%ff"), None, "not UTF-8");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use url::Url;

    use super::*;

    /// Strings made of what matters to a browser resolving a URL (slashes, backslashes, their
    /// escapes, schemes, whitespace, broken escapes), so that both outcomes come up often.
    fn tricky() -> impl Strategy<Value = String> {
        let parts = "/|/|\\|%2F|%2f|%5C|%5c|%09|%0A|%00|%20|%|%zz|%ff|%E3%81%82|:|@|?|#|.|..|a|\
                     evil.example|http:|https://|javascript:| |\t|\n|\u{3000}|\u{202E}|é";
        let part = prop::sample::select(parts.split('|').collect::<Vec<_>>());
        proptest::collection::vec(part, 0..10).prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 2000,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// `safe_return_to` never panics, and whatever it accepts is `raw` itself: a path of at
        /// most `MAX_LEN` bytes without unescaped whitespace that, raw and percent-decoded,
        /// starts with one `/` (not `//`), has no backslash and no control character, and so
        /// resolves, both ways, to this site.
        #[test]
        fn an_accepted_return_to_is_a_path_on_this_site(
            raw in prop_oneof![
                any::<String>(),
                tricky(),
                tricky().prop_map(|path| format!("/{path}")),
            ]
        ) {
            let Some(path) = safe_return_to(&raw) else {
                return Ok(());
            };
            prop_assert_eq!(path, raw.as_str());
            prop_assert!(path.len() <= MAX_LEN);
            prop_assert!(!path.chars().any(char::is_whitespace));
            let decoded = percent_decode(path).expect("an accepted path decodes");
            let base = Url::parse("https://bookstore.example/books?shelf=1").unwrap();
            for form in [path, decoded.as_str()] {
                prop_assert!(form.starts_with('/') && !form.starts_with("//"), "{form:?}");
                prop_assert!(!form.contains('\\'), "{form:?}");
                prop_assert!(!form.chars().any(char::is_control), "{form:?}");
                let resolved = base.join(form);
                prop_assert!(
                    resolved.as_ref().is_ok_and(|url| url.origin() == base.origin()),
                    "{form:?} resolves to {resolved:?}"
                );
            }
        }

        /// Anything that does not start with `/` is refused, whatever follows.
        #[test]
        fn anything_but_a_path_is_refused(raw in "[^/]\\PC*|") {
            prop_assert_eq!(safe_return_to(&raw), None);
        }
    }
}
