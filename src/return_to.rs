//! Where to send the user after sign-in: only to a path on this site.

/// The longest `return_to` accepted.
const MAX_LEN: usize = 1024;

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
fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = raw.get(index + 1..index + 3)?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).ok()
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
        ] {
            assert_eq!(safe_return_to(hostile), None, "{hostile:?}");
        }
        assert_eq!(safe_return_to(&format!("/{}", "a".repeat(MAX_LEN))), None);
    }
}
