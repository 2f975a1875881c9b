//! Text from files, made safe to show on a terminal or to store as a message.
//!
//! Anything read from a file (an order id, an asset symbol, a key or enum
//! value a parser echoes in its error, a file name) may hold characters that
//! a terminal obeys rather than shows: ESC starts a control sequence that
//! can clear the screen and print a fake "OK"; CR returns to the start of
//! the line and overwrites it; C1 controls (U+0080 to U+009F, such as U+009B,
//! a one-character CSI) do the same on some terminals; bidirectional
//! overrides and isolates reorder what follows them, so `0xabc…` can read as
//! another address. Invisible format characters make two different strings
//! look the same.
//!
//! These functions write each such character as a visible escape,
//! `\u{1b}`, and leave everything else as it is. The escape uses only
//! printable ASCII, so escaping twice gives the same text as escaping once.
//! A backslash is not escaped: text that already reads `\u{1b}` shows as it
//! is, harmlessly.
//!
//! - [`escape_for_terminal`]: for a value shown inside a line. It escapes
//!   line feeds and tabs too, so a value can never start a line of its own.
//! - [`escape_lines_for_terminal`]: for a message of several lines, whose
//!   line feeds and tabs are the program's own. Values inside it should have
//!   been escaped with [`escape_for_terminal`] first.
//! - [`escape_json_for_terminal`]: for JSON text (such as `serde_json`
//!   writes), with every such character inside its strings written as a
//!   `\uXXXX` JSON escape: a JSON reader gets the same values.

use std::borrow::Cow;

/// Whether `c` is escaped by [`escape_lines_for_terminal`]: a control
/// character (C0 but line feed and tab, DEL, C1), a bidirectional control
/// (embeddings, overrides, isolates, marks), a line or paragraph separator,
/// or an invisible format character (soft hyphen, zero-width characters,
/// word joiner and invisible operators, byte order mark, interlinear
/// annotation marks).
pub fn is_hostile(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(
            c,
            '\u{00ad}'
                | '\u{061c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
        )
}

fn escape_where(text: &str, escape: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if escape(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `text` with every [hostile](is_hostile) character, line feed and tab
/// written as `\u{…}`: safe to show inside a line, and it cannot start a
/// line of its own. Borrowed when nothing needed escaping.
///
/// ```
/// use coldsign_core::text::escape_for_terminal;
/// assert_eq!(escape_for_terminal("W-1"), "W-1");
/// assert_eq!(escape_for_terminal("a\u{1b}[2J\nOK"), "a\\u{1b}[2J\\u{a}OK");
/// ```
pub fn escape_for_terminal(text: &str) -> Cow<'_, str> {
    escape_where(text, |c| is_hostile(c) || c == '\n' || c == '\t')
}

/// `text` with every [hostile](is_hostile) character written as `\u{…}`,
/// keeping line feeds and tabs: for a message of several lines whose line
/// breaks are the program's own. Borrowed when nothing needed escaping.
///
/// ```
/// use coldsign_core::text::escape_lines_for_terminal;
/// assert_eq!(escape_lines_for_terminal("one\n\ttwo"), "one\n\ttwo");
/// assert_eq!(escape_lines_for_terminal("\rOK"), "\\u{d}OK");
/// ```
pub fn escape_lines_for_terminal(text: &str) -> Cow<'_, str> {
    escape_where(text, is_hostile)
}

/// JSON text with every [hostile](is_hostile) character written as a
/// `\uXXXX` JSON escape, so that printing it cannot drive a terminal and a
/// JSON reader still gets the same values. `json` must be valid JSON (such
/// as `serde_json` writes: it already escapes C0 controls), where such
/// characters can only be inside strings. Borrowed when nothing needed
/// escaping.
///
/// ```
/// use coldsign_core::text::escape_json_for_terminal;
/// let json = serde_json::to_string("x\u{9b}2J\u{202e}").unwrap();
/// let safe = escape_json_for_terminal(&json);
/// assert_eq!(safe, r#""x\u009b2J\u202e""#);
/// assert_eq!(serde_json::from_str::<String>(&safe).unwrap(), "x\u{9b}2J\u{202e}");
/// ```
pub fn escape_json_for_terminal(json: &str) -> Cow<'_, str> {
    if !json.chars().any(is_hostile) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_hostile(c) {
            // Every hostile character is in the Basic Multilingual Plane,
            // so one `\uXXXX` is enough.
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn plain_text_is_borrowed_and_unchanged() {
        for t in [
            "",
            "W-1002",
            "0xdAC17F958D2ee523a2206206994597C13D831ec7",
            "Zürich €5",
        ] {
            assert!(matches!(escape_for_terminal(t), Cow::Borrowed(_)), "{t}");
            assert!(matches!(escape_lines_for_terminal(t), Cow::Borrowed(_)));
            assert!(matches!(escape_json_for_terminal(t), Cow::Borrowed(_)));
        }
    }

    #[test]
    fn terminal_controls_become_visible() {
        let cases = [
            ("a\u{1b}[2Jb", "a\\u{1b}[2Jb"),
            ("\rOK: signed", "\\u{d}OK: signed"),
            ("x\u{202e}y\u{2066}z\u{9b}", "x\\u{202e}y\\u{2066}z\\u{9b}"),
            ("\u{7f}\u{0}\u{7}\u{8}", "\\u{7f}\\u{0}\\u{7}\\u{8}"),
            ("\u{85}\u{2028}\u{2029}", "\\u{85}\\u{2028}\\u{2029}"),
            (
                "a\u{200b}b\u{feff}c\u{200f}\u{61c}",
                "a\\u{200b}b\\u{feff}c\\u{200f}\\u{61c}",
            ),
        ];
        for (raw, want) in cases {
            assert_eq!(escape_for_terminal(raw), want);
            assert_eq!(escape_lines_for_terminal(raw), want);
        }
        assert_eq!(escape_for_terminal("a\nb\tc"), "a\\u{a}b\\u{9}c");
        assert_eq!(escape_lines_for_terminal("a\nb\tc"), "a\nb\tc");
    }

    #[test]
    fn escaping_is_idempotent_and_leaves_nothing_hostile() {
        let nasty: String = (0u32..0x3000)
            .filter_map(char::from_u32)
            .chain(['\u{feff}', '\u{fff9}', '\u{fffb}'])
            .collect();
        let once = escape_for_terminal(&nasty).into_owned();
        assert_eq!(escape_for_terminal(&once), once);
        assert!(!once
            .chars()
            .any(|c| is_hostile(c) || c == '\n' || c == '\t'));
        let lines = escape_lines_for_terminal(&nasty).into_owned();
        assert!(!lines.chars().any(is_hostile));
        assert_eq!(escape_lines_for_terminal(&lines), lines);
    }

    #[test]
    fn json_escapes_read_back_as_the_same_values() {
        let value = serde_json::json!({
            "unknown\u{1b}[2J": ["\u{9b}31m", "\u{202e}evil", "ok", "\u{7f}\u{2028}"],
        });
        let text = serde_json::to_string(&value).unwrap();
        let safe = escape_json_for_terminal(&text);
        assert!(
            !safe.chars().any(|c| c.is_control() || is_hostile(c)),
            "{safe}"
        );
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, value);
    }
}
