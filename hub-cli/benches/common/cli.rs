//! The part of the hub benches' shared helpers that all three use, the
//! scanner bench included: the real `hub-cli` binary on one database, hex,
//! the report's number format and the report fragment.
//!
//! The hub and service benches reach it through `common`; the scanner bench,
//! which needs none of the rest (the batch setup on anvil, the CLI's node
//! counters), includes this file alone, so that every bench uses what it
//! compiles.

use coldsign_e2e::{binary, load_average, workspace_root, TestDb};
use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// The real `hub-cli` binary on one database, in one working directory.
pub(crate) struct Hub {
    /// The `hub-cli` binary.
    pub(crate) bin: PathBuf,
    /// Its database (a SQLite path or a PostgreSQL URL).
    pub(crate) db: String,
    /// Its working directory.
    pub(crate) dir: PathBuf,
}

impl Hub {
    /// A hub on `db`, working in `dir`.
    pub(crate) fn new(db: &TestDb, dir: &Path) -> Self {
        Self {
            bin: binary("hub-cli"),
            db: db.url.clone(),
            dir: dir.to_path_buf(),
        }
    }

    /// `hub-cli ARGS --db DB`, with the environment every run gets.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args)
            .arg("--db")
            .arg(&self.db)
            .current_dir(&self.dir)
            .env("HUB_OPERATOR", "bench")
            .env_remove("HUB_DATABASE_URL")
            .env_remove("HUB_RPC_STATS");
        c
    }
}

/// The last `max` bytes of a text (from a character boundary), for a
/// failure message.
pub(crate) fn last_bytes(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// `data` as 0x-hex.
pub(crate) fn hex(data: &[u8]) -> String {
    coldsign_core::hex_data::encode(data)
}

/// A number rounded and with thousands separators.
pub(crate) fn group(x: f64) -> String {
    let digits = (x.round() as u64).to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The report's load line, without its end: the 1-minute load average at
/// the start of the benchmark (`before`) and now.
pub(crate) fn load_note(before: &str) -> String {
    format!(
        "- Load average (1 min) at the start and the end of this benchmark: {before} and {}",
        load_average()
    )
}

/// Writes the markdown fragment `<workspace>/target/bench-report/NAME` and
/// says where.
pub(crate) fn write_fragment(name: &str, md: &str) {
    let dir = workspace_root().join("target/bench-report");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), md).unwrap();
    println!("written to {}", dir.join(name).display());
}
