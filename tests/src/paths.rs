//! Where the workspace, its test tools and its built binaries are.

use std::path::{Path, PathBuf};

/// The workspace root (the folder holding `Cargo.toml`, `fixtures/`, `.tools/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the test kit lives one level below the workspace root")
        .to_path_buf()
}

/// The test tools folder `just tools` fills (`COLDSIGN_TOOLS` overrides it).
pub fn tools_dir() -> PathBuf {
    match std::env::var_os("COLDSIGN_TOOLS") {
        Some(d) => PathBuf::from(d),
        None => workspace_root().join(".tools"),
    }
}

/// A binary of the workspace (`signer`, `hub-cli`) from the same build as the
/// running test or bench executable (`target/<profile>/deps/..` -> `target/<profile>/NAME`).
///
/// `cargo test --workspace` and `cargo bench --workspace` build every binary
/// of the workspace first; when run alone, build them with `cargo build --bins`.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current executable");
    let mut dir = exe.parent().expect("executable has a folder");
    if dir.ends_with("deps") {
        dir = dir.parent().expect("deps has a parent");
    }
    let bin = dir.join(name);
    assert!(
        bin.exists(),
        "{} not found: build the workspace binaries first (`cargo build --bins`, \
         or run through `cargo test --workspace`)",
        bin.display()
    );
    bin
}
