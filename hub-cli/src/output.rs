//! Everything a command shows: tables for people, a versioned JSON envelope
//! for machines, notes and progress bars. The library never prints: what a
//! command shows goes to the [`Sink`] its [`Output`] was given (the
//! `hub-cli` binary's terminal), or is kept as data ([`Output::captured`],
//! as the service runs the commands).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, OnceLock};

/// Text for a terminal or a log with every character that could steer a
/// terminal made visible as `\u{XX}` (control characters but newline and
/// tab, DEL, C1 controls, bidi overrides and isolates, invisible format
/// characters): core's one implementation, shared with the signer. Every
/// string for a person passes through here, so a hostile order id or node
/// message cannot clear the screen or fake a line.
pub(crate) fn sanitize(text: &str) -> std::borrow::Cow<'_, str> {
    coldsign_core::text::escape_lines_for_terminal(text)
}

/// Where a command's output goes. The `hub-cli` binary writes it to its
/// standard output and error; everything handed over is already sanitized.
pub trait Sink: Send + Sync {
    /// Text for standard output (the result: a table, lines, or the JSON
    /// envelope), complete with its line ends.
    fn stdout(&self, text: &str);
    /// One line for people on standard error (a note, an error), without
    /// its line end.
    fn stderr(&self, line: &str);
    /// Where progress bars are drawn, if anywhere (a terminal on stderr).
    fn progress_target(&self) -> Option<ProgressDrawTarget>;
}

/// The sink of notes from code that runs outside a command's [`Output`]
/// (a node being retried deep in a call), set once by the binary.
static NOTICES: OnceLock<Arc<dyn Sink>> = OnceLock::new();

/// Sends the notes of code that has no [`Output`] at hand to `sink`
/// (without one, they go to the `tracing` log). The first call wins.
pub fn set_notice_sink(sink: Arc<dyn Sink>) {
    let _ = NOTICES.set(sink);
}

/// A line for people from anywhere in the program (a node being retried, a
/// wait): sanitized like every other output.
pub(crate) fn notice(message: &str) {
    match NOTICES.get() {
        Some(sink) => sink.stderr(&sanitize(message)),
        None => tracing::info!(target: "hub", "{}", sanitize(message)),
    }
}

/// The version of the `--json` envelope.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// How a command shows its result: for people or as JSON, and where to.
#[derive(Clone, Default)]
pub struct Output {
    /// `--json` was given.
    pub(crate) json: bool,
    /// Where the text goes; nowhere without one.
    sink: Option<Arc<dyn Sink>>,
    /// Print nothing; keep the command's data instead (the service runs
    /// the CLI's commands this way and answers with their data).
    pub(crate) capture: Option<Arc<Mutex<Option<Value>>>>,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("json", &self.json)
            .field("sink", &self.sink.is_some())
            .field("capture", &self.capture.is_some())
            .finish()
    }
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
    /// An output for people (or JSON with `json`) that goes to `sink`.
    pub fn new(json: bool, sink: Arc<dyn Sink>) -> Self {
        Self {
            json,
            sink: Some(sink),
            capture: None,
        }
    }

    /// An output that shows nothing and keeps the last result's data.
    pub(crate) fn captured() -> Self {
        Self {
            json: true,
            sink: None,
            capture: Some(Arc::default()),
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

    fn stdout(&self, text: &str) {
        if let Some(sink) = &self.sink {
            sink.stdout(text);
        }
    }

    /// `human` for people, sanitized, ending in a line end.
    fn human(&self, human: &str) {
        if human.is_empty() {
            return;
        }
        let mut text = sanitize(human).into_owned();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        self.stdout(&text);
    }

    /// Shows a command's result: `data` as the JSON envelope with `--json`,
    /// otherwise `human` (tables and lines).
    pub(crate) fn result(&self, data: Value, human: &str) {
        if self.keep(&data) {
            return;
        }
        if self.json {
            let envelope = json!({"schema_version": SCHEMA_VERSION, "success": true, "data": data});
            self.stdout(&format!("{envelope}\n"));
        } else {
            self.human(human);
        }
    }

    /// Ends a command: on success shows `data` / `human` like
    /// [`Output::result`]; on failure shows `human` for people and attaches
    /// `data` to the error, so `--json` shows one envelope either way.
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
                if self.capture.is_none() && !self.json {
                    self.human(human);
                }
                Err(e.with_details(data))
            }
        }
    }

    /// A table's text (people only).
    pub(crate) fn table(table: &Table) -> String {
        table.render()
    }

    /// Shows a command's failure: on stderr for people, and also as the
    /// envelope on stdout with `--json`.
    pub fn error(&self, failure: &crate::Failure) {
        if self.json {
            let envelope = json!({"schema_version": SCHEMA_VERSION, "success": false,
                   "error": {"kind": failure.kind, "exit_code": failure.exit_code,
                             "message": failure.message, "details": failure.details}});
            self.stdout(&format!("{envelope}\n"));
        }
        if let Some(sink) = &self.sink {
            sink.stderr(&format!("error: {}", sanitize(&failure.message)));
        }
    }

    /// A note for people on stderr (never in `--json` stdout); in the
    /// service's captured outputs, a log line.
    pub(crate) fn note(&self, message: &str) {
        match &self.sink {
            Some(sink) if self.capture.is_none() => sink.stderr(&sanitize(message)),
            _ => tracing::info!(target: "hub", "{}", sanitize(message)),
        }
    }

    /// A progress bar over `len` steps, hidden unless the sink draws them
    /// and the work is large enough to be worth one.
    pub(crate) fn progress(&self, what: &str, len: u64) -> ProgressBar {
        let target = match &self.sink {
            Some(sink) if self.capture.is_none() && len >= 20 => sink.progress_target(),
            _ => None,
        };
        let Some(target) = target else {
            return ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
        };
        let bar = ProgressBar::with_draw_target(Some(len), target);
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
