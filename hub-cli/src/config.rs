//! Per-machine settings from a TOML file: database URL, operator name and
//! node timeout. A flag or environment variable overrides the file, as in
//! cast and uv.
//!
//! The file is `--config FILE` (or `HUB_CONFIG`), else
//! `$XDG_CONFIG_HOME/coldsign/hub.toml` (`~/.config/coldsign/hub.toml`) when
//! it exists. Unknown keys are refused, so a typo is not silently ignored.

use crate::error::{HubError, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The settings a file may hold.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// Like `--db`.
    pub(crate) database_url: Option<String>,
    /// Like `--operator`.
    pub(crate) operator: Option<String>,
    /// Like `--rpc-timeout`, in seconds.
    pub(crate) rpc_timeout: Option<u64>,
    /// Like `serve --listen`.
    pub(crate) listen: Option<std::net::SocketAddr>,
}

/// The default file, if one exists.
fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    let path = base.join("coldsign").join("hub.toml");
    path.is_file().then_some(path)
}

/// Reads the file named by `explicit`, or the default file when there is
/// one; no file means no settings.
pub(crate) fn load(explicit: Option<&Path>) -> Result<Config> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => match default_path() {
            Some(p) => p,
            None => return Ok(Config::default()),
        },
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        HubError::Usage(format!(
            "cannot read the configuration file {}: {e}",
            path.display()
        ))
    })?;
    parse(&text).map_err(|e| HubError::Usage(format!("configuration file {}: {e}", path.display())))
}

/// Parses the file's text.
pub(crate) fn parse(text: &str) -> std::result::Result<Config, String> {
    toml::from_str(text).map_err(|e| e.to_string().trim().replace('\n', " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_known_keys_and_refuses_others() {
        let c =
            parse("database_url = \"postgres://h/db\"\noperator = \"alice\"\nrpc_timeout = 5\n");
        assert_eq!(
            c,
            Ok(Config {
                database_url: Some("postgres://h/db".into()),
                operator: Some("alice".into()),
                rpc_timeout: Some(5),
                listen: None,
            })
        );
        assert_eq!(parse(""), Ok(Config::default()));
        let err = parse("operater = \"typo\"").unwrap_err();
        assert!(err.contains("operater"), "{err}");
    }
}
