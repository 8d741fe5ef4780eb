//! Readable UTC dates beside the timestamp claims that the pages show.
//!
//! JWT and OpenID Connect timestamps are Unix seconds; Logto's profile timestamps
//! (`created_at`, `updated_at`) are Unix milliseconds. A value that is not a whole number, or
//! lies before 1970 or after the year 9999, gets no date: the page shows it raw.

use serde_json::Value;
use time::OffsetDateTime;

/// Claims in Unix seconds (RFC 7519 §4.1, OpenID Connect Core §2).
const SECONDS_CLAIMS: [&str; 4] = ["exp", "iat", "auth_time", "nbf"];
/// Logto's profile timestamps, in Unix milliseconds.
const MILLISECONDS_CLAIMS: [&str; 2] = ["created_at", "updated_at"];

/// A moment, to the second, in UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UtcTime {
    /// For `<time datetime>`: `2025-11-29T19:00:00Z`.
    pub machine: String,
    /// For people: `2025-11-29 19:00:00 UTC`.
    pub text: String,
}

impl UtcTime {
    /// The moment `secs` after the Unix epoch; `None` before 1970 or after 9999.
    pub fn from_unix_seconds(secs: i64) -> Option<Self> {
        if secs < 0 {
            return None;
        }
        let at = OffsetDateTime::from_unix_timestamp(secs).ok()?;
        let date = format!(
            "{:04}-{:02}-{:02}",
            at.year(),
            u8::from(at.month()),
            at.day()
        );
        let clock = format!("{:02}:{:02}:{:02}", at.hour(), at.minute(), at.second());
        Some(Self {
            machine: format!("{date}T{clock}Z"),
            text: format!("{date} {clock} UTC"),
        })
    }

    /// The date of a timestamp claim, by its name and unit; `None` for any other claim, and
    /// for a value that is not a plausible timestamp.
    pub fn of_claim(name: &str, value: &Value) -> Option<Self> {
        let number = value.as_i64()?;
        if SECONDS_CLAIMS.contains(&name) {
            Self::from_unix_seconds(number)
        } else if MILLISECONDS_CLAIMS.contains(&name) {
            Self::from_unix_seconds(number.div_euclid(1_000))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::UtcTime;
    use serde_json::json;

    fn text(name: &str, value: serde_json::Value) -> Option<String> {
        UtcTime::of_claim(name, &value).map(|time| time.text)
    }

    #[test]
    fn seconds_claims_read_as_utc() {
        for name in ["exp", "iat", "auth_time", "nbf"] {
            assert_eq!(
                text(name, json!(1_764_442_800)).as_deref(),
                Some("2025-11-29 19:00:00 UTC"),
                "{name}"
            );
        }
        assert_eq!(
            UtcTime::of_claim("exp", &json!(1_764_442_800))
                .unwrap()
                .machine,
            "2025-11-29T19:00:00Z"
        );
    }

    #[test]
    fn logto_profile_timestamps_are_milliseconds() {
        assert_eq!(
            text("created_at", json!(1_700_000_000_999_i64)).as_deref(),
            Some("2023-11-14 22:13:20 UTC")
        );
        assert_eq!(
            text("updated_at", json!(1_764_442_800_000_i64)).as_deref(),
            Some("2025-11-29 19:00:00 UTC")
        );
    }

    #[test]
    fn the_range_ends_with_the_year_9999() {
        assert_eq!(
            text("exp", json!(0)).as_deref(),
            Some("1970-01-01 00:00:00 UTC")
        );
        assert_eq!(
            text("exp", json!(253_402_300_799_i64)).as_deref(),
            Some("9999-12-31 23:59:59 UTC")
        );
        assert_eq!(text("exp", json!(253_402_300_800_i64)), None);
    }

    #[test]
    fn implausible_values_and_other_claims_get_no_date() {
        for (name, value) in [
            ("exp", json!(-1)),
            ("exp", json!(i64::MAX)),
            ("exp", json!(u64::MAX)),
            ("exp", json!(1e300)),
            ("iat", json!(1_764_442_800.5)),
            ("iat", json!("1764442800")),
            ("auth_time", json!(null)),
            ("created_at", json!(i64::MIN)),
            ("updated_at", json!([1])),
            ("sub", json!(1_764_442_800)),
        ] {
            assert_eq!(text(name, value.clone()), None, "{name}: {value}");
        }
    }
}
