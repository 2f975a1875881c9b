//! Everything the hub prints: tables for people, a versioned JSON envelope
//! for machines, progress bars (hidden when stderr is not a terminal).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};
use std::io::{IsTerminal, Write};

/// Text for a terminal or a log with every character that could steer a
/// terminal made visible as `\u{XX}` (control characters but newline and
/// tab, DEL, C1 controls, bidi overrides and isolates, invisible format
/// characters): core's one implementation, shared with the signer. Every
/// string for a person passes through here, so a hostile order id or node
/// message cannot clear the screen or fake a line.
pub(crate) fn sanitize(text: &str) -> std::borrow::Cow<'_, str> {
    coldsign_core::text::escape_lines_for_terminal(text)
}

/// Writes to stdout; a closed pipe (`hub-cli batch show 1 | head -2`) ends
/// the process quietly with success, as for any well-behaved filter, instead
/// of a panic. Other write errors are reported on stderr.
fn write_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: cannot write the output: {e}");
            std::process::exit(crate::error::exit::INTERNAL);
        }
    }
}

/// A line for people on stderr from anywhere in the program (a node being
/// retried, a wait): sanitized like every other output.
pub(crate) fn notice(message: &str) {
    write_stderr(&sanitize(message));
}

/// Writes a line to stderr, ignoring a closed stderr.
fn write_stderr(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.write_all(b"\n");
}

/// The version of the `--json` envelope.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// Where and how to print.
#[derive(Debug, Clone, Default)]
pub(crate) struct Output {
    /// `--json` was given.
    pub(crate) json: bool,
    /// Print nothing; keep the command's data instead (the service runs
    /// the CLI's commands this way and answers with their data).
    pub(crate) capture: Option<std::sync::Arc<std::sync::Mutex<Option<Value>>>>,
}

/// A table for people.
#[derive(Debug, Default)]
pub(crate) struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names.
    pub(crate) fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(c.chars().count());
                }
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                let w = widths.get(i).copied().unwrap_or(0);
                if i + 1 == cells.len() {
                    s.push_str(c);
                } else {
                    s.push_str(&format!("{c:<w$}  "));
                }
            }
            s.trim_end().to_owned()
        };
        let mut out = line(&self.headers);
        out.push('\n');
        for r in &self.rows {
            out.push_str(&line(r));
            out.push('\n');
        }
        out
    }
}

impl Output {
    /// An output that prints nothing and keeps the last result's data.
    pub(crate) fn captured() -> Self {
        Self {
            json: true,
            capture: Some(std::sync::Arc::default()),
        }
    }

    /// The data kept by a [`Output::captured`] output.
    pub(crate) fn take_captured(&self) -> Option<Value> {
        self.capture
            .as_ref()
            .and_then(|c| c.lock().ok().and_then(|mut v| v.take()))
    }

    fn keep(&self, data: &Value) -> bool {
        match &self.capture {
            Some(c) => {
                if let Ok(mut slot) = c.lock() {
                    *slot = Some(data.clone());
                }
                true
            }
            None => false,
        }
    }

    /// Prints a command's result: `data` as the JSON envelope with `--json`,
    /// otherwise `human` (tables and lines).
    pub(crate) fn result(&self, data: Value, human: &str) {
        if self.keep(&data) {
            return;
        }
        if self.json {
            let envelope = json!({"schema_version": SCHEMA_VERSION, "success": true, "data": data});
            write_stdout(&format!("{envelope}\n"));
        } else if !human.is_empty() {
            write_stdout(&sanitize(human));
            if !human.ends_with('\n') {
                write_stdout("\n");
            }
        }
    }

    /// Ends a command: on success prints `data` / `human` like
    /// [`Output::result`]; on failure prints `human` for people and attaches
    /// `data` to the error, so `--json` prints one envelope either way.
    pub(crate) fn finish(
        &self,
        data: Value,
        human: &str,
        outcome: Result<(), crate::error::HubError>,
    ) -> Result<(), crate::error::HubError> {
        match outcome {
            Ok(()) => {
                self.result(data, human);
                Ok(())
            }
            Err(e) => {
                if self.capture.is_none() && !self.json && !human.is_empty() {
                    write_stdout(&sanitize(human));
                    if !human.ends_with('\n') {
                        write_stdout("\n");
                    }
                }
                Err(e.with_details(data))
            }
        }
    }

    /// Prints a table (people only).
    pub(crate) fn table(table: &Table) -> String {
        table.render()
    }

    /// Prints an error: to stderr for people, also as the envelope on stdout
    /// with `--json`.
    pub(crate) fn error(&self, kind: &str, code: i32, message: &str, details: Option<Value>) {
        if self.json {
            let envelope = json!({"schema_version": SCHEMA_VERSION, "success": false,
                   "error": {"kind": kind, "exit_code": code, "message": message, "details": details}});
            write_stdout(&format!("{envelope}\n"));
        }
        write_stderr(&format!("error: {}", sanitize(message)));
    }

    /// A note for people on stderr (never in `--json` stdout).
    pub(crate) fn note(&self, message: &str) {
        if self.capture.is_some() {
            tracing::info!(target: "hub", "{}", sanitize(message));
            return;
        }
        write_stderr(&sanitize(message));
    }

    /// A progress bar over `len` steps, hidden unless stderr is a terminal
    /// and the work is large enough to be worth one.
    pub(crate) fn progress(&self, what: &str, len: u64) -> ProgressBar {
        if self.capture.is_some() || !std::io::stderr().is_terminal() || len < 20 {
            return ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
        }
        let bar = ProgressBar::new(len);
        if let Ok(style) = ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} {eta}") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_owned());
        bar
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_makes_terminal_controls_visible() {
        assert_eq!(
            sanitize("plain text\nline two\tok"),
            "plain text\nline two\tok"
        );
        assert_eq!(sanitize("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(sanitize("\rOK: signed"), "\\u{d}OK: signed");
        assert_eq!(
            sanitize("x\u{202e}y\u{2066}z\u{9b}"),
            "x\\u{202e}y\\u{2066}z\\u{9b}"
        );
        assert_eq!(sanitize("\u{7f}"), "\\u{7f}");
    }

    #[test]
    fn table_aligns_columns() {
        let mut t = Table::new(&["ID", "NAME"]);
        t.row(vec!["1".into(), "local".into()]);
        t.row(vec!["10".into(), "x".into()]);
        assert_eq!(Output::table(&t), "ID  NAME\n1   local\n10  x\n");
    }
}
