//! Names the commit in `hub-cli --version`: `COLDSIGN_COMMIT` from the
//! environment (the justfile sets it; a release build without git metadata
//! can too), else `git rev-parse`, else "unknown commit".

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=COLDSIGN_COMMIT");
    for head in ["../.git/HEAD", "../.git/index"] {
        if std::path::Path::new(head).exists() {
            println!("cargo:rerun-if-changed={head}");
        }
    }
    let commit = std::env::var("COLDSIGN_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| {
            let out = Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()?;
            let hash = String::from_utf8(out.stdout).ok()?.trim().to_owned();
            (out.status.success() && !hash.is_empty()).then_some(hash)
        })
        .unwrap_or_else(|| "unknown commit".to_owned());
    println!("cargo:rustc-env=COLDSIGN_COMMIT={}", commit.trim());
}
