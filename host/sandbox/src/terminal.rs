//! Text from a plugin or a server, made safe to print: the one place that
//! decides which characters a terminal must not receive as they are.
//!
//! A plugin's error, a server's `NO` text, a dead letter's error or a
//! progress label could otherwise move the cursor, retitle the window,
//! write the clipboard (OSC 52), erase the screen, start a line that looks
//! like the host's own (`wasimap: ...`, a log record), or reorder what is
//! shown (U+202E shows `txt.exe` as `exe.txt`). Escaped here:
//!
//! - control characters (Unicode Cc): C0 (`\0`..`\x1f`, ESC among them),
//!   DEL and C1 (U+0080..U+009F, CSI and OSC among them);
//! - format characters (Unicode Cf, [`FORMAT`]): the bidirectional
//!   embeddings, overrides and isolates (U+202A..U+202E, U+2066..U+2069),
//!   the marks U+200E, U+200F and U+061C, zero-width characters, tags;
//! - the line and paragraph separators U+2028 and U+2029;
//! - `\` itself, so that every `\` shown starts an escape and a reader can
//!   tell an escape from the same characters written literally.
//!
//! Every other character (letters of any script, marks, symbols, spaces)
//! is kept: text that is merely not ASCII is shown as written.
//!
//! Escapes are Rust's: `\\`, `\n`, `\r`, `\t`, and `\u{HEX}` for the rest
//! (and `\"` inside [`quote`]). JSON keeps JSON's own escapes: [`json`]
//! writes the same characters as `\uXXXX`, so that JSON is still valid and
//! means the same, and `cat`ing it is as safe as the text form.
//!
//! A plugin's own stdout and stderr (its WASI streams) are not the host's
//! words and pass through untouched: a plugin may write binary data to a
//! redirected stdout.

use std::borrow::Cow;
use std::fmt::Write;

/// The format characters (Unicode general category Cf, Unicode 16.0), as
/// inclusive ranges in order.
pub const FORMAT: &[(char, char)] = &[
    ('\u{ad}', '\u{ad}'),
    ('\u{600}', '\u{605}'),
    ('\u{61c}', '\u{61c}'),
    ('\u{6dd}', '\u{6dd}'),
    ('\u{70f}', '\u{70f}'),
    ('\u{890}', '\u{891}'),
    ('\u{8e2}', '\u{8e2}'),
    ('\u{180e}', '\u{180e}'),
    ('\u{200b}', '\u{200f}'),
    ('\u{202a}', '\u{202e}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206f}'),
    ('\u{feff}', '\u{feff}'),
    ('\u{fff9}', '\u{fffb}'),
    ('\u{110bd}', '\u{110bd}'),
    ('\u{110cd}', '\u{110cd}'),
    ('\u{13430}', '\u{1343f}'),
    ('\u{1bca0}', '\u{1bca3}'),
    ('\u{1d173}', '\u{1d17a}'),
    ('\u{e0001}', '\u{e0001}'),
    ('\u{e0020}', '\u{e007f}'),
];

/// Whether `c` is a format character (Unicode Cf).
fn is_format(c: char) -> bool {
    FORMAT
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Whether `c` is escaped: a control, a format character, a line or
/// paragraph separator, or `\`.
pub fn is_escaped(c: char) -> bool {
    c == '\\' || c.is_control() || is_format(c) || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Appends `text` to `out` escaped; `quote` (`"`) is escaped too when
/// given.
fn escape_into(out: &mut String, text: &str, quote: Option<char>) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if Some(c) == quote => {
                out.push('\\');
                out.push(c);
            }
            c if is_escaped(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

/// `text` safe to print on one line of a terminal: every character
/// [`is_escaped`] says is written as an escape; the result holds no line
/// break, control or format character. Borrowed when nothing needed it.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    escape_into(&mut out, text, None);
    Cow::Owned(out)
}

/// `text` between double quotes, escaped as by [`escape`] and with `"` as
/// `\"`: one token however many spaces, quotes or `=` it holds (a log
/// field's value).
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    escape_into(&mut out, text, Some('"'));
    out.push('"');
    out
}

/// A message of several lines (an error chain that carries a tool's
/// output or a wasm backtrace) for the terminal: each line escaped by
/// [`escape`], every line after the first indented by two spaces, so no
/// line of it starts where the host's own lines (`wasimap: ...`) do.
pub fn escape_lines(text: &str) -> String {
    let mut lines = text.split('\n').map(escape);
    let mut out = lines.next().unwrap_or_default().into_owned();
    for line in lines {
        out.push_str("\n  ");
        out.push_str(&line);
    }
    out
}

/// A JSON text with every escaped character outside ASCII (C1 controls,
/// format characters, U+2028/U+2029) and DEL written as a `\uXXXX` escape
/// (a surrogate pair above U+FFFF), so it can be shown on a terminal.
/// Still valid JSON with the same meaning: outside strings a JSON text is
/// ASCII without DEL, so every such character is inside a string, where
/// its escape stands for it; serde_json has already escaped C0, `"` and
/// `\`, which are left as they are.
pub fn json(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| (!c.is_ascii() || c == '\u{7f}') && is_escaped(c);
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inverse of [`escape_into`] (test only): that every escaped
    /// text decodes to its source is what makes the escaping unambiguous.
    fn unescape(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next().expect("a complete escape") {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                'u' => {
                    assert_eq!(chars.next(), Some('{'));
                    let hex: String = chars.by_ref().take_while(|&c| c != '}').collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
                }
                other => panic!("no escape \\{other}"),
            }
        }
        out
    }

    /// Every character [`escape`] must not let through, one per class.
    const HOSTILE: &str = "\0\x07\x08\n\r\t\x1b\x1f\x7f\u{80}\u{85}\u{9b}\u{9d}\u{9f}\
                           \u{202a}\u{202b}\u{202c}\u{202d}\u{202e}\u{2066}\u{2067}\u{2068}\u{2069}\
                           \u{200e}\u{200f}\u{61c}\u{200b}\u{200d}\u{2060}\u{feff}\u{ad}\u{e0001}\u{e0041}\
                           \u{2028}\u{2029}";

    #[test]
    fn every_control_format_and_separator_character_is_escaped() {
        for c in HOSTILE.chars() {
            let shown = escape(&format!("a{c}b")).into_owned();
            assert!(shown.starts_with("a\\") && shown.ends_with('b'), "{c:?} -> {shown:?}");
            assert!(!shown.chars().any(is_escaped_but_backslash), "{c:?} -> {shown:?}");
        }
        assert_eq!(escape("\x1b]52;c;SGVsbG8=\x07"), "\\u{1b}]52;c;SGVsbG8=\\u{7}");
        assert_eq!(escape("a\r\nb\tc"), "a\\r\\nb\\tc");
        assert_eq!(escape("\u{202e}exe.txt"), "\\u{202e}exe.txt");
        assert_eq!(escape("\u{9b}2J"), "\\u{9b}2J");
        assert_eq!(escape("\u{e0041}"), "\\u{e0041}");
    }

    fn is_escaped_but_backslash(c: char) -> bool {
        c != '\\' && is_escaped(c)
    }

    #[test]
    fn ordinary_text_is_unchanged_and_borrowed() {
        for text in [
            "",
            "login refused: [AUTHENTICATIONFAILED] Authentication failed.",
            "Büro/Entwürfe ÄÖÜ ß",
            "日本語のメール",
            "Ελληνικά кириллица עברית العربية",
            "e\u{301} combining, emoji 📬, spaces\u{a0}and\u{3000}wide",
            "quotes \" ' ` and = signs",
        ] {
            assert!(matches!(escape(text), Cow::Borrowed(t) if t == text), "{text:?}");
            assert!(matches!(json(text), Cow::Borrowed(t) if t == text), "{text:?}");
        }
    }

    #[test]
    fn escaping_is_unambiguous() {
        // What an escape looks like, written literally, is escaped itself.
        assert_eq!(escape("\\u{1b}"), "\\\\u{1b}");
        assert_ne!(escape("\\u{1b}"), escape("\x1b"));
        assert_eq!(escape("C:\\n"), "C:\\\\n");
        assert_eq!(quote("say \"hi\\\""), "\"say \\\"hi\\\\\\\"\"");
        let mut samples: Vec<String> = HOSTILE.chars().map(|c| format!("x{c}\\{c}\"y")).collect();
        samples.push("\\\\n\\u{1b}\"\"\\".into());
        samples.push(HOSTILE.into());
        for s in &samples {
            assert_eq!(unescape(&escape(s)), *s);
            let quoted = quote(s);
            let inner = &quoted[1..quoted.len() - 1];
            assert!(!inner.replace("\\\"", "").contains('"'), "{quoted}");
            assert_eq!(unescape(inner), *s);
        }
    }

    #[test]
    fn the_format_table_is_ordered_and_std_agrees_each_is_unprintable() {
        assert!(FORMAT.windows(2).all(|w| w[0].1 < w[1].0));
        for &(lo, hi) in FORMAT {
            assert!(lo <= hi);
            for c in lo..=hi {
                assert!(is_escaped(c), "{c:?}");
                // Rust's own Debug escapes every Cf character.
                assert!(c.escape_debug().count() > 1, "{c:?}");
            }
        }
        assert!(!is_escaped('\u{2010}') && !is_escaped('\u{206}') && !is_escaped('\u{e0080}'));
    }

    #[test]
    fn several_lines_stay_lines_but_never_start_like_the_host() {
        let shown = escape_lines("build failed:\nTraceback\n\x1b[2Jwasimap: done\u{202e}");
        assert_eq!(shown, "build failed:\n  Traceback\n  \\u{1b}[2Jwasimap: done\\u{202e}");
        assert!(shown.lines().skip(1).all(|l| l.starts_with("  ")));
        assert_eq!(escape_lines("one line"), "one line");
    }

    #[test]
    fn json_stays_json_with_its_meaning_and_shows_no_format_character() {
        let value = serde_json::json!({
            "error": "\u{1b}]52;c;eA==\u{7}\n\u{7f}\u{9b}\u{202e}exe.txt\u{2028}\u{e0041}\\ Büro",
        });
        let text = serde_json::to_string_pretty(&value).unwrap();
        let shown = json(&text);
        assert!(
            !shown.chars().any(|c| c != '\n' && is_escaped_but_backslash(c)),
            "{shown}"
        );
        assert!(shown.contains("\\u202e") && shown.contains("\\udb40\\udc41") && shown.contains("Büro"));
        assert_eq!(serde_json::from_str::<serde_json::Value>(&shown).unwrap(), value);
    }
}
