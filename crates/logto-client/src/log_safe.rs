//! Text from a request (a query field's name, a path segment, an IdP's `error_description`)
//! written to the log as data: it must never start a line of its own, nor hide the rest of
//! one. [`Escaped`] writes it with line breaks, other control characters, the invisible
//! characters that reorder or break a line in a viewer, and backslashes escaped, as Rust
//! escapes them (`\r`, `\n`, `\u{202e}`, `\\`); everything else stays as it is.

use std::fmt;

/// `text`, escaped for a log line. `log::warn!("{}", Escaped(&text))`.
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut plain = 0;
        for (index, character) in self.0.char_indices() {
            if needs_escape(character) {
                f.write_str(&self.0[plain..index])?;
                write!(f, "{}", character.escape_default())?;
                plain = index + character.len_utf8();
            }
        }
        f.write_str(&self.0[plain..])
    }
}

/// Backslash (so that an escape in the log is always ours), control characters (C0, DEL and
/// C1, which hold CR, LF and NEL), the Unicode line and paragraph separators, and the
/// bidirectional formatting characters (which make a viewer show text out of order).
fn needs_escape(character: char) -> bool {
    character == '\\'
        || character.is_control()
        || matches!(
            character,
            '\u{2028}'
                | '\u{2029}'
                | '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(text: &str) -> String {
        Escaped(text).to_string()
    }

    #[test]
    fn line_breaks_become_visible_escapes() {
        assert_eq!(
            escaped("unknown field `\r\ninjected`"),
            r"unknown field `\r\ninjected`"
        );
        assert_eq!(
            escaped("a\u{85}b\u{2028}c\u{2029}d"),
            r"a\u{85}b\u{2028}c\u{2029}d"
        );
    }

    #[test]
    fn other_control_and_reordering_characters_are_escaped() {
        assert_eq!(escaped("\u{1b}[2Jcleared"), r"\u{1b}[2Jcleared");
        assert_eq!(escaped("\t\u{7f}\0"), r"\t\u{7f}\u{0}");
        assert_eq!(escaped("user\u{202e}nimda"), r"user\u{202e}nimda");
    }

    #[test]
    fn a_backslash_cannot_fake_an_escape() {
        assert_eq!(escaped(r"fake \n break"), r"fake \\n break");
    }

    #[test]
    fn ordinary_text_is_unchanged() {
        for text in [
            "",
            "bad request: missing field `email`",
            "本棚 café «ok» \"quoted\"",
        ] {
            assert_eq!(escaped(text), text);
        }
    }
}
