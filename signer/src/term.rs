//! What reaches the operator's terminal: every string that comes from a
//! file (or a file name) is escaped with coldsign-core's
//! [`coldsign_core::text`] rules before it is printed, and colour is used
//! only on a terminal.
//!
//! The command layer ([`crate::app`], `main`) prints through [`out`] and
//! [`err`], which escape terminal controls in the whole text (keeping its
//! line breaks, which are the program's own); values are escaped where they
//! are put into a line, with [`field`] (which also escapes line breaks, so a
//! value can never fake a line of its own). JSON output goes through
//! [`json`].

use coldsign_core::text::{
    escape_for_terminal, escape_json_for_terminal, escape_lines_for_terminal,
};
use std::{borrow::Cow, io::IsTerminal, io::Write, path::Path};

/// A value from a file, escaped to be shown inside a line.
pub fn field(text: &str) -> Cow<'_, str> {
    escape_for_terminal(text)
}

/// A value from a file, escaped and quoted (as `"W-1"`), for ids.
pub fn quoted(text: &str) -> String {
    format!("\"{}\"", escape_for_terminal(text))
}

/// A path, escaped to be shown inside a line (file names on a USB stick
/// come from whoever wrote the stick).
pub fn path(p: &Path) -> String {
    escape_for_terminal(&p.display().to_string()).into_owned()
}

/// Whether standard output is a terminal that takes colour (and `NO_COLOR`
/// is not set).
pub fn stdout_colour() -> bool {
    std::io::stdout().is_terminal() && no_colour_unset()
}

/// Whether standard error is a terminal that takes colour (and `NO_COLOR`
/// is not set).
pub fn stderr_colour() -> bool {
    std::io::stderr().is_terminal() && no_colour_unset()
}

fn no_colour_unset() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

const RED: &str = "\u{1b}[1;31m";
const RESET: &str = "\u{1b}[0m";

/// `text` in bold red when `colour`, else as it is.
pub fn red(text: &str, colour: bool) -> String {
    if colour {
        format!("{RED}{text}{RESET}")
    } else {
        text.to_owned()
    }
}

/// `text` with every terminal control escaped except this module's own
/// colour codes ([`red`]), and its line breaks kept.
pub fn escape_keeping_colour(text: &str) -> String {
    let mut o = String::with_capacity(text.len());
    for (i, plain) in text.split(RESET).enumerate() {
        if i > 0 {
            o.push_str(RESET);
        }
        for (j, piece) in plain.split(RED).enumerate() {
            if j > 0 {
                o.push_str(RED);
            }
            o.push_str(&escape_lines_for_terminal(piece));
        }
    }
    o
}

/// Prints `text` on standard output with every terminal control escaped
/// (its line breaks kept). A closed pipe is not an error.
pub fn out(text: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(escape_lines_for_terminal(text).as_bytes());
    let _ = o.flush();
}

/// [`out`] and a line feed.
pub fn outln(text: &str) {
    out(text);
    out("\n");
}

/// Prints `text` on standard output with every terminal control escaped
/// but this module's own colours ([`red`]), its line breaks kept.
pub fn out_painted(text: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(escape_keeping_colour(text).as_bytes());
    let _ = o.flush();
}

/// Prints a line on standard error with every terminal control escaped.
pub fn errln(text: &str) {
    let mut e = std::io::stderr().lock();
    let _ = e.write_all(escape_lines_for_terminal(text).as_bytes());
    let _ = e.write_all(b"\n");
}

/// Prints JSON text and a line feed on standard output, with every
/// terminal control inside its strings written as a JSON escape.
pub fn json(text: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(escape_json_for_terminal(text).as_bytes());
    let _ = o.write_all(b"\n");
    let _ = o.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_own_colours_survive() {
        let painted = format!("a{}\u{1b}[2J\rb\u{9b}c", red("NO POLICY", true));
        assert_eq!(
            escape_keeping_colour(&painted),
            "a\u{1b}[1;31mNO POLICY\u{1b}[0m\\u{1b}[2J\\u{d}b\\u{9b}c"
        );
        assert_eq!(red("x", false), "x");
        assert_eq!(quoted("W\u{1b}1\n"), "\"W\\u{1b}1\\u{a}\"");
    }
}
