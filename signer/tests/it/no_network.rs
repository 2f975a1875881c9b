//! The signer links no networking code: no HTTP, socket or async-runtime
//! crate among its normal (non-dev, non-build) dependencies, transitively.

use std::collections::{BTreeSet, HashMap};

const FORBIDDEN: [&str; 14] = [
    "tokio",
    "async-std",
    "hyper",
    "reqwest",
    "ureq",
    "mio",
    "socket2",
    "curl",
    "isahc",
    "surf",
    "h2",
    "rustls",
    "native-tls",
    "openssl",
];

#[test]
fn signer_dependency_tree_has_no_networking_crate() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages: HashMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let nodes: HashMap<&str, &serde_json::Value> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let root = packages
        .iter()
        .find(|(_, name)| **name == "coldsign-signer")
        .map(|(id, _)| *id)
        .unwrap();
    // Walk normal dependencies only (what is linked into the binary).
    let mut seen = BTreeSet::new();
    let mut stack = vec![root];
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        for dep in nodes[id]["deps"].as_array().unwrap() {
            let normal = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null());
            if normal {
                stack.push(dep["pkg"].as_str().unwrap());
            }
        }
    }
    let names: BTreeSet<&str> = seen.iter().map(|id| packages[id]).collect();
    assert!(
        names.contains("k256"),
        "walk found the dependency tree: {names:?}"
    );
    let found: Vec<&&str> = FORBIDDEN.iter().filter(|f| names.contains(**f)).collect();
    assert!(
        found.is_empty(),
        "networking crates in the signer: {found:?}"
    );
}
