//! Shared helpers: fixture loading and tool discovery.

use coldsign_core::{amount::U256, Address};
use serde_json::Value;
use std::path::PathBuf;

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Reads `fixtures/vectors/NAME` as JSON.
pub fn vectors(name: &str) -> Value {
    let path = workspace().join("fixtures/vectors").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The folder `just tools` installs into.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("COLDSIGN_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".tools"))
}

/// A tool under `.tools`, or a failure telling how to install it.
pub fn tool(relative: &str) -> PathBuf {
    let path = tools_dir().join(relative);
    assert!(
        path.exists(),
        "{} is missing: run `just tools` to install the test tools",
        path.display()
    );
    path
}

pub fn hex(v: &Value) -> Vec<u8> {
    coldsign_core::hex_data::decode(v.as_str().unwrap()).unwrap()
}

pub fn dec(v: &Value) -> U256 {
    U256::from_dec_str(v.as_str().unwrap()).unwrap()
}

pub fn addr(v: &Value) -> Option<Address> {
    v.as_str().map(|s| s.parse().unwrap())
}
